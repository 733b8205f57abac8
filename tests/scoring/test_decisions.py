"""Recommend, respond and continuous learning through the seed's scope hierarchy."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lifecycle.models import AlgorithmModel
from scoring import learning
from scoring.choices import Scope
from scoring.models import DecisionTrace, Interaction, ModelAdaptation
from tests.scoring.conftest import live_model, make_catalog

pytestmark = pytest.mark.django_db

C = learning.Cell


@pytest.mark.parametrize("scope,threshold", [
    (Scope.CHANNEL, 15), (Scope.DIRECTION, 10), (Scope.CATEGORY, 20), (Scope.GLOBAL, 10)])
def test_each_fallback_tier_at_its_threshold(scope, threshold):
    below = learning.propensity({scope: C(threshold - 1, (threshold - 1) * 0.8, (threshold - 1) * 0.2)})
    at = learning.propensity({scope: C(threshold, threshold * 0.8, threshold * 0.2)})
    assert (below.source, below.value) == ("default", 0.5)
    assert at.source == str(scope) and at.value == pytest.approx(0.8)


def test_offer_tier_at_49_and_50_and_the_blend():
    fallback = {Scope.GLOBAL: C(100, 20, 80)}  # 0.2
    at = learning.propensity({Scope.OFFER: C(50, 40, 10), **fallback})
    assert (at.source, at.value) == ("offer", pytest.approx(0.8))
    thin = learning.propensity({Scope.OFFER: C(49, 39.2, 9.8), **fallback})
    assert thin.source == "offer_blend"
    assert thin.value == pytest.approx((49 * 0.8 + 10 * 0.2) / 59)  # smoothingWeight 10 toward the fallback


def test_read_order_prefers_channel_over_direction_over_category():
    cells = {Scope.CHANNEL: C(15, 3, 12), Scope.DIRECTION: C(10, 9, 1), Scope.CATEGORY: C(20, 10, 10),
             Scope.GLOBAL: C(10, 5, 5)}
    assert learning.propensity(cells).source == "channel"
    del cells[Scope.CHANNEL]
    assert learning.propensity(cells).source == "direction"
    del cells[Scope.DIRECTION]
    assert learning.propensity(cells).source == "category"


def test_recommend_then_respond_teaches_every_cell(api, admin_user, catalog):
    model = live_model(admin_user, key="nbo", model_type="bayesian")
    r = api.post("/api/v1/recommend", {"customerId": "c1", "channel": "email", "family": "offers"}, format="json")
    assert r.status_code == 200, r.content
    body = r.json()
    assert len(body["offers"]) == 4 and body["offers"][0]["rank"] == 1
    assert body["offers"][0]["propensitySource"] == "default" and body["offers"][0]["modelKey"] == "nbo"
    offer = body["offers"][0]["offerId"]
    r = api.post("/api/v1/respond", {"customerId": "c1", "recommendationId": body["recommendationId"], "rank": 1,
                                     "outcome": "click"}, format="json", HTTP_IDEMPOTENCY_KEY="k-1")
    assert r.status_code == 201 and r.json()["weight"] == 1.0 and r.json()["learned"] is True
    cells = {(c.scope, c.scope_id): c.evidence for c in ModelAdaptation.objects.filter(model=model)}
    category = "cards" if int(offer.split("-")[1]) % 2 else "loans"
    assert cells == {("offer", offer): 1, ("category", category): 1, ("channel", "email"): 1,
                     ("direction", "outbound"): 1, ("global", ""): 1}
    model.refresh_from_db()
    assert model.last_learned_at is not None and model.last_trained_at is None  # continuous: learned, not trained
    assert model.training_samples == 1
    adaptations = api.get("/api/v1/algorithm-models/nbo/adaptations").json()
    assert [a["scope"] for a in adaptations] == ["offer", "channel", "direction", "category", "global"]
    assert adaptations[0]["threshold"] == 50 and adaptations[0]["trusted"] is False


def test_respond_is_idempotent_and_requires_a_key(api, admin_user, catalog):
    live_model(admin_user, key="nbo", model_type="thompson_bandit")
    rec = api.post("/api/v1/recommend", {"customerId": "c1", "family": "offers"}, format="json").json()
    body = {"customerId": "c1", "recommendationId": rec["recommendationId"], "rank": 2, "outcome": "convert"}
    r = api.post("/api/v1/respond", body, format="json")
    assert r.status_code == 400 and "idempotency key" in r.json()["error"]["message"].lower()
    first = api.post("/api/v1/respond", {**body, "idempotencyKey": "once"}, format="json")
    again = api.post("/api/v1/respond", {**body, "idempotencyKey": "once"}, format="json")
    assert first.status_code == 201 and again.status_code == 200 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert Interaction.objects.count() == 1
    assert ModelAdaptation.objects.get(scope="global").evidence == 1  # counted once


def test_default_weight_warning_for_a_neutral_outcome(api, admin_user, catalog):
    model = live_model(admin_user, key="nbo", model_type="thompson_bandit")
    rec = api.post("/api/v1/recommend", {"customerId": "c1", "family": "offers"}, format="json").json()
    r = api.post("/api/v1/respond", {"customerId": "c1", "recommendationId": rec["recommendationId"], "rank": 1,
                                     "outcome": "no_action", "idempotencyKey": "a"}, format="json")
    assert r.json()["weight"] == 0 and r.json()["warning"] == "no explicit weight for outcome no_action; using default (+0)"
    assert not ModelAdaptation.objects.exists()  # a neutral signal teaches nothing
    api.put("/api/v1/algorithm-models/nbo", {"outcomeWeights": {"no_action": -0.2, "convert": 2.0}}, format="json")
    r = api.post("/api/v1/respond", {"customerId": "c1", "recommendationId": rec["recommendationId"], "rank": 1,
                                     "outcome": "no_action", "idempotencyKey": "b"}, format="json")
    assert r.json()["weight"] == -0.2 and r.json()["warning"] is None
    r = api.post("/api/v1/respond", {"customerId": "c1", "recommendationId": rec["recommendationId"], "rank": 1,
                                     "outcome": "click", "idempotencyKey": "c"}, format="json")
    assert r.json()["weight"] == 1.0 and "no explicit weight for outcome click" in r.json()["warning"]
    cell = ModelAdaptation.objects.get(model=model, scope="global")
    assert (cell.evidence, cell.positives, cell.negatives) == (2, 1.0, 0.2)


def test_learned_evidence_moves_the_ranking(api, admin_user, catalog):
    live_model(admin_user, key="nbo", model_type="bayesian")
    for i in range(50):
        rec = api.post("/api/v1/recommend", {"customerId": f"c{i}", "family": "offers"}, format="json").json()
        for o in rec["offers"]:  # offer-3 converts, the others are dismissed
            outcome = "convert" if o["offerId"] == "offer-3" else "dismiss"
            api.post("/api/v1/respond", {"customerId": f"c{i}", "recommendationId": rec["recommendationId"],
                                         "rank": o["rank"], "outcome": outcome, "idempotencyKey": f"k{i}-{o['rank']}"},
                     format="json")
    top = api.post("/api/v1/recommend", {"customerId": "new", "family": "offers"}, format="json").json()["offers"][0]
    assert top["offerId"] == "offer-3" and top["propensitySource"] == "offer"


def test_shadows_score_silently_into_the_trace(api, admin_user, catalog):
    live_model(admin_user, key="nbo", model_type="bayesian")
    live_model(admin_user, key="shadow-ts", model_type="thompson_bandit", rung="shadow")
    rec = api.post("/api/v1/recommend", {"customerId": "c1", "family": "offers", "limit": 2}, format="json").json()
    assert {o["modelKey"] for o in rec["offers"]} == {"nbo"} and len(rec["offers"]) == 2
    trace = api.get(f"/api/v1/decision-traces/{rec['recommendationId']}").json()
    assert trace["funnel"] == {"candidateCount": 4, "afterQualification": 4, "afterSuppression": 4,
                               "afterContactPolicy": 4, "finalCount": 2}
    first = trace["scoringResults"][0]
    assert first["modelKey"] == "nbo" and first["shadowScores"][0]["modelKey"] == "shadow-ts"
    assert first["propensitySource"] == "default" and first["why"]
    listed = api.get("/api/v1/decision-traces?customerId=c1").json()
    assert listed["count"] == 1 and "scoringResults" not in listed["results"][0]
    assert api.get("/api/v1/decision-traces?limit=201").status_code == 400


def test_the_trace_list_api_pages_by_offset_and_by_cursor(api, db):
    from scoring.models import DecisionTrace
    from tests.bulk import bulk_traces

    bulk_traces(23, model_key="m")
    DecisionTrace.objects.filter(pk__in=list(DecisionTrace.objects.values_list("pk", flat=True)[:6])).update(
        created_at=DecisionTrace.objects.first().created_at)  # ties on the time: the key breaks them
    newest = [t["id"] for t in api.get("/api/v1/decision-traces?limit=200").json()["results"]]
    assert len(newest) == 23
    # The documented limit/offset contract is unchanged, and each answer also links to the next rows by keyset.
    by_offset = api.get("/api/v1/decision-traces?limit=10&offset=10").json()
    assert [t["id"] for t in by_offset["results"]] == newest[10:20] and by_offset["count"] == 23
    assert "offset=20" in by_offset["next"] and "offset" not in by_offset["nextCursor"]
    walked, url, answers = [], "/api/v1/decision-traces?limit=10", 0
    while url and answers < 5:
        answer = api.get(url).json()
        walked += [t["id"] for t in answer["results"]]
        url, answers = answer["nextCursor"], answers + 1
        assert answer["count"] == 23
        if answers > 1:
            assert answer["next"] == answer["nextCursor"] and answer["previous"] is None
    assert walked == newest and answers == 3
    cursor = api.get("/api/v1/decision-traces?limit=10").json()["nextCursor"].split("cursor=")[1]
    import base64
    import json as _json

    from urllib.parse import unquote

    token = unquote(cursor.split("&")[0])
    param = _json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))[0]
    out_of_range = base64.urlsafe_b64encode(_json.dumps([param, "0001-01-01T00:00:00+05:00", 1]).encode())
    for bad in ("?cursor=nope", f"?cursor={cursor}&offset=3"):
        refused = api.get("/api/v1/decision-traces" + bad)
        assert refused.status_code == 400 and "cursor" in str(refused.json()), bad
    # Year 1 at +05:00 is before year 1 in UTC: PostgreSQL pages from it, SQLite's driver cannot take it (400).
    odd = api.get(f"/api/v1/decision-traces?cursor={out_of_range.decode()}")
    assert odd.status_code in (200, 400), odd.content
    assert odd.status_code == 200 or "cursor" in str(odd.json())


def test_query_count_does_not_grow_with_candidates(api, admin_user, db):
    make_catalog(200)
    live_model(admin_user, key="nbo", model_type="bayesian")
    from scoring.models import Offer

    def queries(n):
        Offer.objects.filter(active=False).update(active=True)
        Offer.objects.exclude(key__in=[f"offer-{i}" for i in range(n)]).update(active=False)
        with CaptureQueriesContext(connection) as ctx:
            api.post("/api/v1/recommend", {"customerId": "c", "family": "offers", "channel": "email"}, format="json")
        return len(ctx.captured_queries)

    queries(10)  # warm: the version's artifact loads once per process
    assert queries(10) == queries(200)


def test_experiment_routes_customers_to_the_challenger(api, admin_user, analyst, catalog):
    from registry import experiments

    live_model(admin_user, key="champ", model_type="bayesian")
    live_model(admin_user, key="chal", model_type="thompson_bandit", rung="challenger")
    experiments.experiment_create(actor=analyst, key="ab", name="AB", status="active", family="offers",
                                  champion_model_id="champ", champion_pct=50,
                                  challengers=[{"modelId": "chal", "trafficPct": 50}])
    seen = {}
    for i in range(40):
        rec = api.post("/api/v1/recommend", {"customerId": f"c{i}", "family": "offers"}, format="json").json()
        seen[rec["experiment"]["arm"]] = rec["offers"][0]["modelKey"]
        again = api.post("/api/v1/recommend", {"customerId": f"c{i}", "family": "offers"}, format="json").json()
        assert again["experiment"]["arm"] == rec["experiment"]["arm"]  # sticky
    assert seen == {"__champion__": "champ", "chal": "chal"}


def test_tabular_champion_scores_offers_and_learns_as_samples(api, admin_user, analyst, catalog,
                                                              django_capture_on_commit_callbacks):
    from lifecycle.models import Sample
    from registry import services as registry_services
    from tests.factories import ready_model

    model = ready_model(analyst, django_capture_on_commit_callbacks, key="tab")
    registry_services.model_set_status(model=model, actor=admin_user, status="active")
    registry_services.model_promote(model=model, actor=admin_user, to_status="challenger", family="offers")
    registry_services.model_promote(model=model, actor=admin_user, to_status="champion", family="offers")
    rec = api.post("/api/v1/recommend", {"customerId": "c1", "family": "offers",
                                         "attributes": {"tenure": 3, "plan": "basic"}}, format="json").json()
    assert rec["offers"][0]["propensitySource"] == "model" and rec["offers"][0]["versionNo"] == 1
    api.post("/api/v1/respond", {"customerId": "c1", "recommendationId": rec["recommendationId"], "rank": 1,
                                 "outcome": "dismiss", "idempotencyKey": "t1"}, format="json")
    sample = Sample.objects.filter(model=model, source="response").get()
    assert sample.labels == {"churn": 0.0} and sample.features["offer"] == rec["offers"][0]["offerId"]
    assert sample.features["tenure"] == 3


def test_recommend_validation(api, admin_user, catalog):
    live_model(admin_user, key="nbo", model_type="bayesian")
    assert api.post("/api/v1/recommend", {"customerId": "c", "family": "offers", "limit": 51},
                    format="json").status_code == 400
    r = api.post("/api/v1/recommend", {"customerId": "c", "family": "offers", "channel": "fax"}, format="json")
    assert r.status_code == 400 and "fax" in r.json()["error"]["message"]
    r = api.post("/api/v1/recommend", {"customerId": "c", "family": "nobody"}, format="json")
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_scorable"
    AlgorithmModel.objects.filter(key="nbo").update(status="paused")
    r = api.post("/api/v1/recommend", {"customerId": "c", "family": "offers"}, format="json")
    assert r.status_code == 409  # recommend considers only active models
    assert DecisionTrace.objects.count() == 0


def test_a_flow_pinned_to_a_model_key_bypasses_the_registry(api, admin_user, catalog):
    from lifecycle import services as lifecycle_services
    from registry import services as registry_services
    from scoring.models import DecisionFlow, Offer

    live_model(admin_user, key="champ", model_type="bayesian")
    pinned = lifecycle_services.model_create(actor=admin_user, key="special", name="Special",
                                             model_type="thompson_bandit")
    run = lifecycle_services.model_train_enqueue(model=pinned, actor=admin_user)
    lifecycle_services.run_execute(run_id=run.pk)
    flow = DecisionFlow.objects.create(key="checkout", name="Checkout", model_key="special")
    flow.offers.set(Offer.objects.filter(key__in=["offer-0", "offer-1"]))
    r = api.post("/api/v1/recommend", {"customerId": "c", "decisionFlowKey": "checkout"}, format="json")
    assert r.status_code == 409  # registry draft is fine, but the pinned model must be active
    registry_services.model_set_status(model=pinned, actor=admin_user, status="active")
    body = api.post("/api/v1/recommend", {"customerId": "c", "decisionFlowKey": "checkout"}, format="json").json()
    assert {o["modelKey"] for o in body["offers"]} == {"special"}
    assert {o["offerId"] for o in body["offers"]} == {"offer-0", "offer-1"}  # the flow's offers only


def test_default_outcome_types_come_back_on_first_access(api, admin_user, catalog):
    from scoring.models import OutcomeType

    OutcomeType.objects.all().delete()
    r = api.get("/api/v1/outcome-types")
    live_model(admin_user, key="nbo", model_type="thompson_bandit")
    rec = api.post("/api/v1/recommend", {"customerId": "c1", "family": "offers"}, format="json").json()
    r = api.post("/api/v1/respond", {"customerId": "c1", "recommendationId": rec["recommendationId"], "rank": 1,
                                     "outcome": "click", "idempotencyKey": "x"}, format="json")
    assert r.status_code == 201 and OutcomeType.objects.count() == 10


def test_impressions_never_warn_even_with_weights_set(admin_user, catalog):
    from scoring.models import OutcomeType
    from scoring.services import outcome_types_ensure_defaults, outcome_weight

    outcome_types_ensure_defaults()
    model = live_model(admin_user, key="nbo", model_type="thompson_bandit")
    model.outcome_weights = {"convert": 1.0}
    assert outcome_weight(model, OutcomeType.objects.get(key="impression")) == (0.0, "")


def test_an_offer_goes_out_on_its_own_channels_or_on_any_when_it_names_none(api, admin_user, catalog):
    from scoring.models import Channel, Offer

    live_model(admin_user, key="nbo", model_type="thompson_bandit")
    sms = Channel.objects.create(key="sms", name="SMS", direction="outbound")
    catalog[0].channels.set([sms])  # sms only
    catalog[1].channels.set([])  # any channel
    Offer.objects.filter(key="offer-3").update(active=False)

    def offers_on(channel):
        r = api.post("/api/v1/recommend", {"customerId": "c", "family": "offers", "channel": channel, "limit": 10},
                     format="json")
        assert r.status_code == 200, r.content
        return sorted(o["offerId"] for o in r.json()["offers"])

    assert offers_on("email") == ["offer-1", "offer-2"]
    assert offers_on("sms") == ["offer-0", "offer-1"]

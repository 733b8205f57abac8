"""Shadow against champion, and experiment arms over time: the numbers behind the two charts, and the pages."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from django.utils import timezone

from lifecycle.models import AlgorithmModel
from registry import experiments
from scoring import selectors
from scoring.models import ModelAdaptation
from tests.scoring.conftest import live_model

pytestmark = pytest.mark.django_db


def decide(api, n: int, *, prefix: str = "c", respond=None, limit: int = 2) -> list[dict]:
    recs = []
    for i in range(n):
        rec = api.post("/api/v1/recommend", {"customerId": f"{prefix}{i}", "family": "offers", "limit": limit},
                       format="json").json()
        recs.append(rec)
        if respond:
            outcome = respond(rec)
            if outcome:
                api.post("/api/v1/respond", {"customerId": rec["customerId"], "recommendationId": rec["recommendationId"],
                                             "rank": 1, "outcome": outcome, "idempotencyKey": f"{prefix}{i}"},
                         format="json")
    return recs


def chart_data(response, element_id: str) -> dict:
    html = response.content.decode()
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', html, re.S)
    assert match, f"no {element_id} in the page"
    return json.loads(match.group(1))


def test_a_shadow_is_compared_with_the_champion_on_the_same_decisions(api, admin_user, catalog):
    live_model(admin_user, key="champ", model_type="bayesian")
    shadow = live_model(admin_user, key="shade", model_type="thompson_bandit", rung="shadow")
    # offer-3 converts whenever it is shown first; everything else is dismissed.
    recs = decide(api, 30, respond=lambda rec: "convert" if rec["offers"][0]["offerId"] == "offer-3" else "dismiss")

    cmp = selectors.shadow_comparison(shadow)
    assert cmp["decisions"] == 30 and cmp["champions"] == ["champ"]
    assert 0 <= cmp["agreementTop1"] <= 1 and 0 <= cmp["overlapShown"] <= 1
    assert len(cmp["scatter"]["points"]) == 30 * 4  # every candidate of every decision: (champion, shadow)
    outcomes = cmp["outcomes"]
    assert outcomes["all"]["trials"] == 30
    assert outcomes["agreed"]["trials"] + outcomes["disagreed"]["trials"] == 30
    assert outcomes["all"]["successes"] == sum(1 for r in recs if r["offers"][0]["offerId"] == "offer-3")
    assert outcomes["agreed"]["successes"] + outcomes["disagreed"]["successes"] == outcomes["all"]["successes"]

    # The shadow learned from those responses by its own weights, so it no longer scores everything alike.
    assert ModelAdaptation.objects.filter(model=shadow, scope="offer").exists()


def test_the_shadow_page_shows_agreement_and_outcome_rates(client, analyst, admin_user, catalog, api):
    live_model(admin_user, key="champ", model_type="bayesian")
    shadow = live_model(admin_user, key="shade", model_type="thompson_bandit", rung="shadow")
    decide(api, 12, respond=lambda rec: "convert" if rec["offers"][0]["offerId"] in ("offer-1", "offer-3") else "dismiss")
    cmp = selectors.shadow_comparison(shadow)

    client.force_login(analyst)
    page = client.get(f"/models/{shadow.key}/shadow/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Against the champion" in html and "The newest 12 decisions of offers made by champ" in html
    scatter = chart_data(page, "chart-shadow-scatter")
    assert len(scatter["points"]) == 48 and scatter["xLabel"] == "champion score"
    bars = chart_data(page, "chart-shadow-outcomes")
    all_shown = cmp["outcomes"]["all"]
    assert bars["rows"][0] == {"label": "All shown", "value": round(100 * all_shown["rate"], 1), "color": "dark",
                               "note": f"{all_shown['successes']} of 12"}
    # The family page links each shadow to its comparison.
    family = client.get("/families/offers/").content.decode()
    assert f'href="/models/{shadow.key}/shadow/"' in family


def test_a_shadow_with_no_decisions_says_how_to_get_some(client, analyst, admin_user, catalog):
    live_model(admin_user, key="champ", model_type="bayesian")
    shadow = live_model(admin_user, key="shade", model_type="thompson_bandit", rung="shadow")
    client.force_login(analyst)
    html = client.get(f"/models/{shadow.key}/shadow/").content.decode()
    assert "No shared decisions yet" in html and "POST /api/v1/recommend" in html
    assert "chart-shadow-scatter" not in html


def test_decisions_of_an_experiment_challenger_are_not_the_champions(api, admin_user, analyst, catalog):
    live_model(admin_user, key="champ", model_type="bayesian")
    live_model(admin_user, key="chal", model_type="thompson_bandit", rung="challenger")
    shadow = live_model(admin_user, key="shade", model_type="thompson_bandit", rung="shadow")
    experiments.experiment_create(actor=analyst, key="ab", name="AB", status="active", family="offers",
                                  champion_pct=50, challengers=[{"modelId": "chal", "trafficPct": 50}])
    recs = decide(api, 40)
    by_champion = sum(1 for r in recs if r["offers"][0]["modelKey"] == "champ")
    assert 0 < by_champion < 40
    assert selectors.shadow_comparison(shadow)["decisions"] == by_champion


def test_arms_over_time_add_up_to_the_arm_counters(api, admin_user, analyst, catalog):
    live_model(admin_user, key="champ", model_type="bayesian")
    live_model(admin_user, key="chal", model_type="thompson_bandit", rung="challenger")
    exp = experiments.experiment_create(actor=analyst, key="ab", name="AB", status="active", family="offers",
                                        champion_pct=50, challengers=[{"modelId": "chal", "trafficPct": 50}])
    start = timezone.now().replace(minute=30, second=0, microsecond=0) - timedelta(hours=5)
    for i in range(60):
        rec = api.post("/api/v1/recommend", {"customerId": f"c{i}", "family": "offers"}, format="json").json()
        api.post("/api/v1/respond", {"customerId": f"c{i}", "recommendationId": rec["recommendationId"], "rank": 1,
                                     "outcome": "convert" if i % 3 == 0 else "dismiss", "idempotencyKey": f"k{i}",
                                     "timestamp": (start + timedelta(hours=i // 12)).isoformat()},
                 format="json")
    timeline = experiments.experiment_timeline(exp)
    results = {a["arm"]: a for a in experiments.experiment_results(exp)["arms"]}
    assert timeline["xLabel"] == "cumulative, by hour"
    for series in timeline["series"]:
        last = series["points"][-1]
        arm = results[series["arm"]]
        assert last["n"] == arm["trials"] and last["y"] == arm["rate"]
        assert [last["lo"], last["hi"]] == arm["wilson95"]
        assert len(series["points"]) <= 5 and all(p["lo"] <= p["y"] <= p["hi"] for p in series["points"])
        assert [p["n"] for p in series["points"]] == sorted(p["n"] for p in series["points"])  # cumulative
    assert sum(s["points"][-1]["n"] for s in timeline["series"]) == 60


def test_a_long_experiment_is_charted_by_day_on_the_family_page(client, api, admin_user, analyst, catalog):
    live_model(admin_user, key="champ", model_type="bayesian")
    live_model(admin_user, key="chal", model_type="thompson_bandit", rung="challenger")
    exp = experiments.experiment_create(actor=analyst, key="ab", name="AB", status="active", family="offers",
                                        champion_pct=50, challengers=[{"modelId": "chal", "trafficPct": 50}])
    now = timezone.now()
    for i in range(20):
        rec = api.post("/api/v1/recommend", {"customerId": f"c{i}", "family": "offers"}, format="json").json()
        api.post("/api/v1/respond", {"customerId": f"c{i}", "recommendationId": rec["recommendationId"], "rank": 1,
                                     "outcome": "convert", "idempotencyKey": f"k{i}",
                                     "timestamp": (now - timedelta(days=i % 5)).isoformat()}, format="json")
    client.force_login(analyst)
    page = client.get("/families/offers/")
    data = chart_data(page, f"chart-exp-{exp.pk}")
    assert data["xLabel"] == "cumulative, by day"
    assert {s["name"] for s in data["series"]} <= {"Champion", "chal"} and data["series"]
    assert all(len(s["points"]) <= 5 for s in data["series"])
    assert 'data-chart="bands"' in page.content.decode()


def test_an_experiment_without_responses_explains_the_empty_chart(client, admin_user, analyst, catalog):
    live_model(admin_user, key="champ", model_type="bayesian")
    live_model(admin_user, key="chal", model_type="thompson_bandit", rung="challenger")
    experiments.experiment_create(actor=analyst, key="ab", name="AB", status="active", family="offers",
                                  champion_pct=50, challengers=[{"modelId": "chal", "trafficPct": 50}])
    client.force_login(analyst)
    html = client.get("/families/offers/").content.decode()
    assert "the arms’ success rates over time appear here" in html and 'data-chart="bands"' not in html


def test_shadows_learn_only_by_their_own_weights(api, admin_user, catalog):
    from scoring import services

    live_model(admin_user, key="champ", model_type="bayesian")
    shadow = live_model(admin_user, key="shade", model_type="thompson_bandit", rung="shadow")
    services.model_set_outcome_weights(model=AlgorithmModel.objects.get(key="shade"), actor=admin_user,
                                       weights={"convert": 0, "dismiss": 0})
    decide(api, 5, respond=lambda rec: "convert")
    assert not ModelAdaptation.objects.filter(model=shadow).exists()  # weight 0 teaches nothing
    assert ModelAdaptation.objects.filter(model__key="champ", scope="global").get().evidence == 5


def test_a_request_from_a_shadow_links_its_live_comparison(client, reviewer, admin_user):
    from registry import services as registry
    from tests.factories import make_user

    analyst = make_user("analyst", username="ana")
    live_model(admin_user, key="champ", model_type="bayesian")
    shadow = live_model(admin_user, key="shade", model_type="thompson_bandit", rung="shadow")
    result = registry.model_promote(model=shadow, actor=analyst, to_status="champion", family="offers")
    client.force_login(reviewer)
    page = client.get(f"/reviews/{result.request.pk}/").content.decode()
    assert 'href="/models/shade/shadow/"' in page and "scored beside the champion on live decisions" in page

"""The ladder, its guard, reviews and family rollback, through the API as scripts use it."""

import pytest
from django.contrib.auth.models import Group

from lifecycle.models import ModelEvent
from registry.models import PromotionRequest
from tests.conftest import token_client
from tests.factories import make_user, ready_model, train_now

pytestmark = pytest.mark.django_db

API = "/api/v1/algorithm-models"


def error_of(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()["error"]
    assert body["code"] == code, body
    return body


@pytest.fixture
def reviewer_api(reviewer):
    return token_client(reviewer)


@pytest.fixture
def live(analyst, capture, api):
    """A ready, active model, as after the seed's step 1."""

    def make(key="gbm-v7"):
        model = ready_model(analyst, capture, key=key)
        assert api.put(f"{API}/{key}", {"status": "active"}, format="json").status_code == 200
        model.refresh_from_db()
        return model

    return make


def promote(client, key, **body):
    return client.post(f"{API}/{key}/promote", body, format="json")


def test_status_at_creation_and_by_put_follow_the_rules(api):
    r = api.post(API, {"key": "m", "name": "M", "modelType": "scorecard", "status": "active"}, format="json")
    assert r.status_code == 201 and r.json()["status"] == "active"
    assert api.put(f"{API}/m", {"status": "paused"}, format="json").json()["status"] == "paused"
    error_of(api.put(f"{API}/m", {"status": "draft"}, format="json"), 400, "invalid_transition")
    events = ModelEvent.objects.filter(model_key="m", action="status.changed").values_list("from_value", "to_value")
    assert list(events.order_by("id")) == [("draft", "active"), ("active", "paused")]


def test_promote_refuses_a_draft_status_and_a_never_trained_model(api, analyst, capture):
    ready_model(analyst, capture, key="trained")
    body = error_of(promote(api, "trained", toStatus="shadow"), 400, "invalid_transition")
    assert "activate it first" in body["message"].lower()
    api.post(API, {"key": "untrained", "name": "U", "modelType": "scorecard", "status": "active"}, format="json")
    error_of(promote(api, "untrained", toStatus="shadow"), 409, "not_scorable")


def test_the_transition_table_is_the_seeds(api, live):
    live("m")
    body = error_of(promote(api, "m", toStatus="champion", family="f"), 400, "invalid_transition")
    assert "shadow, challenger, archived" in body["message"]
    r = promote(api, "m", toStatus="shadow", metricsSnapshot={"offline_auc": 0.78})
    assert r.status_code == 200 and r.json()["model"]["registryStatus"] == "shadow"
    assert promote(api, "m", toStatus="challenger").json()["model"]["registryStatus"] == "challenger"
    error_of(promote(api, "m", toStatus="nope"), 400, "validation_error")


def test_champion_needs_a_review_and_demotes_the_old_champion(api, reviewer_api, live, admin_user):
    old, new = live("gbm-v7"), live("bayesian-v3")
    admin = token_client(admin_user)  # admins may apply alone
    for key in ("gbm-v7", "bayesian-v3"):
        promote(api, key, toStatus="challenger")
    r = promote(admin, "gbm-v7", toStatus="champion", family="credit_propensity", metricsSnapshot={"auc": 0.80})
    assert r.status_code == 200 and r.json()["applied"]
    r = promote(api, "bayesian-v3", toStatus="champion", family="credit_propensity", metricsSnapshot={"auc": 0.81})
    assert r.status_code == 202 and not r.json()["applied"]
    request = r.json()["request"]
    assert request["state"] == "pending" and request["incumbentKey"] == "gbm-v7"
    assert api.get(f"{API}/bayesian-v3").json()["registryStatus"] == "challenger"  # nothing moved yet
    assert [x["id"] for x in reviewer_api.get("/api/v1/promotion-requests?state=pending").json()["results"]] == [
        request["id"]]
    r = reviewer_api.post(f"/api/v1/promotion-requests/{request['id']}/approve", {"comment": "better AUC"},
                          format="json")
    assert r.status_code == 200 and r.json()["demoted"] == "gbm-v7"
    assert api.get(f"{API}/bayesian-v3").json()["registryStatus"] == "champion"
    assert api.get(f"{API}/gbm-v7").json()["registryStatus"] == "archived"  # demoted to archived, not challenger
    demotion = ModelEvent.objects.get(model=old, action="registry.demoted")
    assert (demotion.from_value, demotion.to_value, demotion.actor_name) == ("champion", "archived", "reviewer")
    assert ModelEvent.objects.filter(model=new, action="promotion.approved").exists()
    family = api.get("/api/v1/families/credit_propensity").json()
    assert family["champion"]["key"] == "bayesian-v3" and family["previousChampion"] == "gbm-v7"


def test_four_eyes_whatever_the_role(live, db):
    live("m")
    both = make_user("analyst", username="both")
    both.groups.add(Group.objects.get(name="reviewer"))
    client = token_client(both)
    promote(client, "m", toStatus="shadow")
    request = promote(client, "m", toStatus="champion", family="f").json()["request"]
    body = error_of(client.post(f"/api/v1/promotion-requests/{request['id']}/approve", {}, format="json"), 403,
                    "four_eyes")
    assert "another reviewer" in body["message"]


def test_a_request_goes_stale_when_the_active_version_changes(api, reviewer_api, live, analyst, capture):
    model = live("m")
    promote(api, "m", toStatus="shadow")
    request = promote(api, "m", toStatus="champion", family="f").json()["request"]
    train_now(model, analyst, capture)  # v2 becomes active
    body = error_of(reviewer_api.post(f"/api/v1/promotion-requests/{request['id']}/approve", {}, format="json"),
                    409, "stale_request")
    assert "active version changed" in body["message"]
    assert PromotionRequest.objects.get(pk=request["id"]).state == "stale"
    assert api.get(f"{API}/m").json()["registryStatus"] == "shadow"


def test_reject_needs_a_comment_and_cancel_is_the_authors(api, reviewer_api, viewer_api, live):
    live("m")
    promote(api, "m", toStatus="shadow")
    request = promote(api, "m", toStatus="champion", family="f").json()["request"]
    error_of(promote(api, "m", toStatus="champion", family="f"), 409, "request_pending")
    url = f"/api/v1/promotion-requests/{request['id']}"
    error_of(reviewer_api.post(f"{url}/reject", {}, format="json"), 400, "validation_error")
    error_of(reviewer_api.post(f"{url}/cancel", {}, format="json"), 403, "forbidden")
    assert api.post(f"{url}/cancel", {}, format="json").json()["state"] == "cancelled"
    request = promote(api, "m", toStatus="champion", family="f").json()["request"]
    r = reviewer_api.post(f"/api/v1/promotion-requests/{request['id']}/reject", {"comment": "no evidence"},
                          format="json")
    assert r.json()["state"] == "rejected" and r.json()["decisionComment"] == "no evidence"
    error_of(viewer_api.post(f"/api/v1/promotion-requests/{request['id']}/approve", {}, format="json"), 403,
             "forbidden")


@pytest.mark.parametrize("new_auc,refused", [(0.951, False), (0.949, True)], ids=["drop-4.9%", "drop-5.1%"])
def test_guard_auc_drop_at_its_threshold(admin_user, live, new_auc, refused):
    admin = token_client(admin_user)
    for key in ("inc", "cand"):
        live(key)
        promote(admin, key, toStatus="shadow")
    promote(admin, "inc", toStatus="champion", family="f", metricsSnapshot={"auc": 1.0})
    r = promote(admin, "cand", toStatus="champion", family="f", metricsSnapshot={"auc": new_auc})
    if refused:
        body = error_of(r, 409, "rollback_guard")
        assert body["details"]["rollbackGuardBreaches"][0]["check"] == "aucDrop"
        assert admin.get(f"{API}/inc").json()["registryStatus"] == "champion"  # nothing changed
        assert ModelEvent.objects.filter(model_key="cand", action="guard.refused").exists()
    else:
        assert r.status_code == 200 and r.json()["model"]["registryStatus"] == "champion"


def _set_profile(model, shares):
    version = model.active_version
    version.data_profile = {"region": {"kind": "categorical", "shares": shares}}
    version.save(update_fields=["data_profile"])


@pytest.mark.parametrize("shift,refused", [(0.24, False), (0.26, True)], ids=["psi-0.24", "psi-0.26"])
def test_guard_psi_at_its_threshold(admin_user, live, shift, refused):
    import math

    admin = token_client(admin_user)
    inc, cand = live("inc"), live("cand")
    for key in ("inc", "cand"):
        promote(admin, key, toStatus="shadow")
    # PSI of shares (0.5, 0.5) against (0.5 + d, 0.5 - d); solve d for the wanted PSI.
    def psi_of(d):
        return sum((a - e) * math.log((a + 1e-4) / (e + 1e-4)) for e, a in ((0.5, 0.5 + d), (0.5, 0.5 - d)))
    lo, hi = 0.0, 0.49
    for _ in range(60):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if psi_of(mid) < shift else (lo, mid)
    _set_profile(inc, {"north": 0.5, "south": 0.5})
    _set_profile(cand, {"north": 0.5 + lo, "south": 0.5 - lo})
    promote(admin, "inc", toStatus="champion", family="f", metricsSnapshot={"auc": 0.8})
    r = promote(admin, "cand", toStatus="champion", family="f", metricsSnapshot={"auc": 0.8})
    if refused:
        breach = error_of(r, 409, "rollback_guard")["details"]["rollbackGuardBreaches"][0]
        assert breach["check"] == "psi" and breach["feature"] == "region"
    else:
        assert r.status_code == 200


def test_guard_error_rate_thresholds_override_and_bypass(admin_user, live):
    admin = token_client(admin_user)
    for key in ("inc", "cand"):
        live(key)
        promote(admin, key, toStatus="shadow")
    promote(admin, "inc", toStatus="champion", family="f", metricsSnapshot={"auc": 0.8})
    r = promote(admin, "cand", toStatus="champion", family="f", metricsSnapshot={"auc": 0.8, "errorRate": 0.03})
    assert error_of(r, 409, "rollback_guard")["details"]["rollbackGuardBreaches"][0]["check"] == "errorRate"
    r = promote(admin, "cand", toStatus="champion", family="f", metricsSnapshot={"auc": 0.8, "errorRate": 0.03},
                rollbackThresholds={"maxErrorRate": 0.05})
    assert r.status_code == 200
    # bypass: a later candidate far worse, forced through; the answer and the audit row list the breaches
    live("worse")
    promote(admin, "worse", toStatus="shadow")
    r = promote(admin, "worse", toStatus="champion", family="f", metricsSnapshot={"auc": 0.5},
                bypassRollbackGuard=True)
    assert r.status_code == 200 and r.json()["rollbackGuardBreaches"][0]["check"] == "aucDrop"
    moved = ModelEvent.objects.get(model_key="worse", action="registry.moved", to_value="champion")
    assert moved.data["bypassRollbackGuard"] is True and moved.data["rollbackGuardBreaches"]


def test_guard_skips_silently_without_both_aucs(admin_user, live):
    admin = token_client(admin_user)
    for key in ("inc", "cand"):
        live(key)
        promote(admin, key, toStatus="shadow")
    promote(admin, "inc", toStatus="champion", family="f")  # no stored AUC
    r = promote(admin, "cand", toStatus="champion", family="f", metricsSnapshot={"auc": 0.1})
    assert r.status_code == 200 and r.json()["guard"]["ran"] is False


def test_family_rollback_restores_the_previous_champion(admin_user, reviewer_api, api, live):
    admin = token_client(admin_user)
    for key in ("a", "b"):
        live(key)
        promote(admin, key, toStatus="shadow")
    promote(admin, "a", toStatus="champion", family="f")
    promote(admin, "b", toStatus="champion", family="f")
    error_of(api.post("/api/v1/families/f/rollback", {}, format="json"), 403, "forbidden")
    r = reviewer_api.post("/api/v1/families/f/rollback", {"reason": "live success rate fell"}, format="json")
    assert r.status_code == 200 and r.json()["champion"]["key"] == "a"
    assert api.get(f"{API}/b").json()["registryStatus"] == "archived"
    assert ModelEvent.objects.filter(model_key="b", action="registry.rolled_back",
                                     message="live success rate fell").exists()


def test_audit_log_filters_and_csv(api, live):
    live("m")
    promote(api, "m", toStatus="shadow")
    body = api.get("/api/v1/audit-log?action=registry.&model=m").json()
    assert [e["action"] for e in body["results"]] == ["registry.moved"]
    assert api.get("/api/v1/audit-log?actor=nobody").json()["count"] == 0
    r = api.get("/api/v1/audit-log/export?model=m")
    assert r.status_code == 200 and r["Content-Type"].startswith("text/csv")
    text = b"".join(r.streaming_content).decode()
    assert text.splitlines()[0].startswith("id,createdAt,actor,action") and "registry.moved" in text


def test_the_champion_cannot_be_paused_or_archived_while_it_serves(admin_user, live):
    admin = token_client(admin_user)
    live("m")
    promote(admin, "m", toStatus="shadow")
    promote(admin, "m", toStatus="champion", family="f")
    for status in ("paused", "archived"):
        body = error_of(admin.put(f"{API}/m", {"status": status}, format="json"), 400, "invalid_transition")
        assert "promote another model" in body["message"]


def test_same_population_different_samples_passes_the_psi_guard(analyst, capture):
    """Two models trained on independent draws of one population: no drift, whatever the sample noise."""
    from lifecycle.profiles import profile, psi
    from tests.factories import sample_rows

    a = profile([r["features"] for r in sample_rows(120, seed=1)])
    b = profile([r["features"] for r in sample_rows(120, seed=2)])
    assert max(v for f in a if (v := psi(a[f], b[f])) is not None) < 0.25


def test_policy_changes_and_requests_are_filed_under_their_family(api, reviewer_api, live):
    live("m")
    promote(api, "m", toStatus="shadow")
    promote(api, "m", toStatus="champion", family="newfam")  # the model has no family yet
    assert ModelEvent.objects.get(action="promotion.requested").family == "newfam"

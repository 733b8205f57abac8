"""Version governance: what a champion serves is what the guard let through or a reviewer approved.

Every path that changes the version a champion serves (a retrain of any kind, an activation, a rollback) goes
through the family's version policy: guard (the default), review or auto."""

import random

import pytest

from lifecycle import services as lifecycle_services
from lifecycle import webhooks
from lifecycle.choices import SampleSource
from lifecycle.models import ModelEvent, ModelVersion
from lifecycle.webhooks import WebhookDelivery
from registry import services as registry_services
from registry.models import PromotionRequest
from tests.conftest import token_client
from tests.factories import make_user, ready_model, sample_rows, train_now

pytestmark = pytest.mark.django_db

API = "/api/v1/algorithm-models"


def drifted_rows(n: int, seed: int = 7) -> list[dict]:
    """The same trait, but customers now stay 5-10 times longer and spend far more: the features drifted."""
    rng = random.Random(seed)
    rows = sample_rows(n, seed=seed)
    for row in rows:
        row["features"]["tenure"] = row["features"]["tenure"] * 8 + rng.randint(100, 200)
        row["features"]["spend"] = row["features"]["spend"] * 20 + 1000
    return rows


@pytest.fixture
def champion(analyst, admin_user, capture, api):
    """A ready model, champion of `churn` (an admin applied the move), serving v1."""
    model = ready_model(analyst, capture, key="churn-gbm")
    assert api.put(f"{API}/churn-gbm", {"status": "active"}, format="json").status_code == 200
    admin = token_client(admin_user)
    r = admin.post(f"{API}/churn-gbm/promote", {"toStatus": "challenger"}, format="json")
    assert r.status_code == 200, r.content
    r = admin.post(f"{API}/churn-gbm/promote", {"toStatus": "champion", "family": "churn"}, format="json")
    assert r.status_code == 200 and r.json()["applied"], r.content
    model.refresh_from_db()
    assert model.active_version.version_no == 1
    return model


def add_feedback(model, actor, rows):
    """New labelled rows for a ready model, as feedback on its scores brings them."""
    lifecycle_services.sample_add_batch(model=model, actor=actor, samples=rows, source=SampleSource.FEEDBACK)


def retrain(model, actor, capture, rows):
    add_feedback(model, actor, rows)
    run = train_now(model, actor, capture)
    assert run.status == "succeeded", run.error
    return run


def version(model, n):
    return ModelVersion.objects.get(model=model, version_no=n)


def set_policy(client, policy, family="churn"):
    r = client.put(f"/api/v1/families/{family}", {"versionPolicy": policy}, format="json")
    assert r.status_code == 200, r.content
    assert r.json()["versionPolicy"] == policy
    return r


def test_guard_holds_a_drifted_retrain_and_keeps_serving_the_approved_version(champion, analyst, capture, api,
                                                                              viewer_api):
    hook, _ = webhooks.webhook_create(actor=make_user("admin", "hooks-admin"), url="https://hooks.example.com/x",
                                   events=["version.held"])
    run = retrain(champion, analyst, capture, drifted_rows(120))
    champion.refresh_from_db()
    held = version(champion, 2)
    assert champion.active_version.version_no == 1, "the held version must not serve"
    assert held.hold == "held" and "drifted" in held.hold_reason and held.hold_breaches
    assert "held for review" in run.message
    request = PromotionRequest.objects.get(pk=held.hold_request_id)
    assert (request.kind, request.state, request.version_id, request.serving_version_id) == (
        "version", "pending", held.pk, champion.active_version_id)
    assert request.requested_by == analyst, "the person who triggered the run is the requester"
    # Visible to a script, to a viewer, and announced to subscribers.
    body = viewer_api.get(f"{API}/churn-gbm/versions/v2").json()
    assert body["held"] is True and body["reviewRequestId"] == request.pk and "PSI" in body["heldReason"]
    family = viewer_api.get("/api/v1/families/churn").json()
    assert family["versionPolicy"] == "guard"
    assert [(h["modelKey"], h["version"], h["requestId"]) for h in family["heldVersions"]] == [
        ("churn-gbm", "v2", request.pk)]
    delivery = WebhookDelivery.objects.get(webhook=hook, event="version.held")
    assert delivery.payload["version"] == "v2" and delivery.payload["serving"] == "v1"
    assert ModelEvent.objects.filter(model_key="churn-gbm", action="version.held", to_value="v2").exists()
    # Scoring still answers from v1.
    r = api.post(f"{API}/churn-gbm/score", {"features": {"tenure": 5, "plan": "basic", "spend": 10}}, format="json")
    assert r.status_code == 200 and r.json()["metadata"]["versionId"] == "v1"


def test_a_reviewer_approves_the_held_version_and_it_serves(champion, analyst, capture, reviewer):
    retrain(champion, analyst, capture, drifted_rows(120))
    held = version(champion, 2)
    reviewer_api = token_client(reviewer)
    assert token_client(analyst).post(f"/api/v1/promotion-requests/{held.hold_request_id}/approve", {},
                                      format="json").status_code == 403
    r = reviewer_api.post(f"/api/v1/promotion-requests/{held.hold_request_id}/approve",
                          {"comment": "drift is the new normal"}, format="json")
    assert r.status_code == 200, r.content
    champion.refresh_from_db()
    held.refresh_from_db()
    assert champion.active_version_id == held.pk and held.hold == ""
    assert not champion.pinned, "an approved retrain serves like any retrain: later retrains still apply"
    event = ModelEvent.objects.get(model_key="churn-gbm", action="version.activated", to_value="v2")
    assert event.actor_name == reviewer.username and event.data["requestId"] == held.hold_request_id


def test_four_eyes_a_reviewer_cannot_approve_the_version_they_retrained(champion, capture, reviewer):
    retrain(champion, reviewer, capture, drifted_rows(120))
    held = version(champion, 2)
    r = token_client(reviewer).post(f"/api/v1/promotion-requests/{held.hold_request_id}/approve", {}, format="json")
    assert r.status_code == 403 and r.json()["error"]["code"] == "four_eyes"
    other = make_user("reviewer", "second-reviewer")
    assert token_client(other).post(f"/api/v1/promotion-requests/{held.hold_request_id}/approve",
                                    {"comment": "Drift is the new season."}, format="json").status_code == 200


def test_a_rejected_version_never_serves_not_even_for_an_admin(champion, analyst, capture, reviewer, admin_user):
    retrain(champion, analyst, capture, drifted_rows(120))
    held = version(champion, 2)
    r = token_client(reviewer).post(f"/api/v1/promotion-requests/{held.hold_request_id}/reject",
                                    {"comment": "the new data is a broken feed"}, format="json")
    assert r.status_code == 200, r.content
    held.refresh_from_db()
    assert held.hold == "rejected"
    r = token_client(admin_user).put(f"{API}/churn-gbm/versions/active", {"version": "v2"}, format="json")
    assert r.status_code == 409 and r.json()["error"]["code"] == "version_rejected"
    assert token_client(admin_user).get(f"{API}/churn-gbm/versions/v2").json()["rejected"] is True
    champion.refresh_from_db()
    assert champion.active_version.version_no == 1


def test_review_policy_holds_even_a_harmless_retrain(champion, analyst, capture, api):
    set_policy(token_client(make_user("admin", "policy-admin")), "review")
    retrain(champion, analyst, capture, sample_rows(40, seed=3))
    champion.refresh_from_db()
    assert champion.active_version.version_no == 1
    held = version(champion, 2)
    assert held.hold == "held" and "version policy is review" in held.hold_reason


def test_auto_policy_swaps_at_once_as_the_seed_does(champion, analyst, capture, admin_user):
    set_policy(token_client(admin_user), "auto")
    retrain(champion, analyst, capture, drifted_rows(120))
    champion.refresh_from_db()
    assert champion.active_version.version_no == 2 and version(champion, 2).hold == ""
    created = ModelEvent.objects.get(model_key="churn-gbm", action="version.created", to_value="ready",
                                     data__versionNo=2)
    assert created.data["governance"]["versionPolicy"] == "auto"


def test_guard_lets_a_harmless_retrain_through(champion, analyst, capture):
    retrain(champion, analyst, capture, sample_rows(40, seed=3))
    champion.refresh_from_db()
    v2 = version(champion, 2)
    assert champion.active_version_id == v2.pk, v2.hold_reason
    created = ModelEvent.objects.get(model_key="churn-gbm", action="version.created", data__versionNo=2)
    assert created.data["governance"]["guard"]["passed"] is True


def test_a_scheduled_retrain_is_held_too_and_any_reviewer_may_approve(champion, analyst, capture, reviewer):
    lifecycle_services.model_set_cadence(model=champion, actor=analyst, auto_learn=True, learn_mode="scheduled",
                                         learn_schedule="24h")
    add_feedback(champion, analyst, drifted_rows(120))
    with capture(execute=True):
        run_id = lifecycle_services.model_scheduled_retrain(model_id=champion.pk)
    assert run_id
    held = version(champion, 2)
    request = PromotionRequest.objects.get(pk=held.hold_request_id)
    assert request.requested_by is None and request.requested_by_name == "worker"
    # Approving serves a version the guard held: it overrides the guard, so it says why (issue 17, point 8).
    refused = token_client(reviewer).post(f"/api/v1/promotion-requests/{request.pk}/approve", {"comment": "  "},
                                          format="json")
    assert refused.status_code == 400 and "overrides the rollback guard" in refused.json()["error"]["message"]
    request.refresh_from_db()
    assert request.state == "pending"
    assert token_client(reviewer).post(f"/api/v1/promotion-requests/{request.pk}/approve",
                                       {"comment": "Checked the drift: expected."}, format="json").status_code == 200


def test_an_analysts_rollback_on_a_champion_asks_a_reviewer(champion, analyst, capture, api, admin_user, reviewer):
    set_policy(token_client(admin_user), "auto")
    retrain(champion, analyst, capture, sample_rows(40, seed=3))
    set_policy(token_client(admin_user), "guard")
    r = api.post(f"{API}/churn-gbm/rollback", {"version": "v1", "reason": "v2 looks off"}, format="json")
    assert r.status_code == 202, r.content
    body = r.json()
    assert body["applied"] is False and body["requestId"] and "waits for a reviewer" in body["message"]
    champion.refresh_from_db()
    assert champion.active_version.version_no == 2
    request = PromotionRequest.objects.get(pk=body["requestId"])
    assert request.pin and request.comment == "v2 looks off"
    r = token_client(reviewer).post(f"/api/v1/promotion-requests/{request.pk}/approve", {}, format="json")
    assert r.status_code == 200
    champion.refresh_from_db()
    assert champion.active_version.version_no == 1 and champion.pinned


def test_a_reviewer_activates_directly_and_it_is_audited(champion, analyst, capture, admin_user, reviewer):
    set_policy(token_client(admin_user), "auto")
    retrain(champion, analyst, capture, sample_rows(40, seed=3))
    set_policy(token_client(admin_user), "review")
    r = token_client(reviewer).put(f"{API}/churn-gbm/versions/active", {"version": "v1"}, format="json")
    assert r.status_code == 200 and r.json()["applied"] is True
    event = ModelEvent.objects.filter(model_key="churn-gbm", action="version.activated").latest("id")
    assert event.data["governance"]["appliedWithoutRequest"] is True
    assert event.data["governance"]["versionPolicy"] == "review"


def test_a_model_off_the_champion_rung_is_not_governed(analyst, capture, api):
    model = ready_model(analyst, capture, key="free-model")
    retrain(model, analyst, capture, drifted_rows(120))
    model.refresh_from_db()
    assert model.active_version.version_no == 2
    assert api.put(f"{API}/free-model/versions/active", {"version": "v1"}, format="json").status_code == 200


def test_a_challenger_in_a_running_experiment_follows_the_policy(champion, analyst, capture, api, admin_user):
    challenger = ready_model(analyst, capture, key="churn-challenger")
    admin = token_client(admin_user)
    api.put(f"{API}/churn-challenger", {"status": "active"}, format="json")
    admin.post(f"{API}/churn-challenger/promote", {"toStatus": "challenger", "family": "churn"}, format="json")
    r = admin.post("/api/v1/experiments", {"key": "churn-ab", "name": "Churn A/B", "status": "active",
                                          "family": "churn", "championModelId": "churn-gbm",
                                          "trafficSplit": {"championPct": 50},
                                          "challengers": [{"modelId": "churn-challenger", "trafficPct": 50}]},
                   format="json")
    assert r.status_code == 201, r.content
    retrain(challenger, analyst, capture, drifted_rows(120))
    challenger.refresh_from_db()
    assert challenger.active_version.version_no == 1
    held = version(challenger, 2)
    assert held.hold == "held" and "experiment churn-ab" in PromotionRequest.objects.get(
        pk=held.hold_request_id).guard.get("governedAs", "experiment churn-ab")


def test_a_newer_held_version_supersedes_the_older_request(champion, analyst, capture):
    retrain(champion, analyst, capture, drifted_rows(120))
    first = version(champion, 2)
    retrain(champion, analyst, capture, drifted_rows(60, seed=9))
    second = version(champion, 3)
    old = PromotionRequest.objects.get(pk=first.hold_request_id)
    assert old.state == "stale" and "v3" in old.stale_reason
    assert PromotionRequest.objects.get(pk=second.hold_request_id).state == "pending"
    first.refresh_from_db()
    assert first.hold == "held"  # still kept, never served


def test_the_version_policy_is_validated_and_audited(champion, admin_user, api):
    admin = token_client(admin_user)
    r = admin.put("/api/v1/families/churn", {"versionPolicy": "sometimes"}, format="json")
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "versionPolicy"
    assert api.put("/api/v1/families/churn", {"versionPolicy": "auto"}, format="json").status_code == 403
    set_policy(admin, "review")
    event = ModelEvent.objects.filter(action="family.policy_changed").latest("id")
    assert event.data["before"]["versionPolicy"] == "guard" and event.data["after"]["versionPolicy"] == "review"
    assert registry_services.family_policy("churn").version_policy == "review"


def test_a_held_version_keeps_its_artifact_when_old_versions_are_pruned(champion, analyst, capture, settings):
    settings.LIFECYCLE_VERSIONS_KEPT_UNTAGGED = 0
    retrain(champion, analyst, capture, drifted_rows(120))
    held = version(champion, 2)
    lifecycle_services.versions_prune(model=champion)
    held.refresh_from_db()
    assert held.artifact is not None and held.pruned_at is None

"""Seed 001's reset-learning and u22a8's zero data retention, through the API as scripts use them."""

import pytest

from lifecycle.choices import SampleSource
from lifecycle.models import AlgorithmModel, ModelEvent, ModelVersion, Sample
from lifecycle import services as lifecycle_services
from scoring.models import ModelAdaptation, ScoreRequest
from tests.conftest import token_client
from tests.factories import add_samples, make_model, train_now
from tests.scoring.conftest import live_model

pytestmark = pytest.mark.django_db

API = "/api/v1/algorithm-models"


def test_reset_learning_keeps_the_state_as_a_version_then_clears_it(api, admin_user, catalog):
    model = live_model(admin_user, key="nbo", model_type="bayesian", rung="shadow")
    admin = token_client(admin_user)
    # A shadow scores: the reset (which sets status draft) waits until it is off the ladder, with the reason.
    r = admin.post(f"{API}/nbo/reset-learning")
    assert r.status_code == 400 and "move it to draft or archived on the ladder" in r.json()["error"]["message"]
    admin.post(f"{API}/nbo/promote", {"toStatus": "draft"}, format="json")
    from scoring.services.learning import _learn_cells

    for _ in range(3):  # three responses' worth of learning, in three cells
        _learn_cells(model, offer=None, channel="email", direction="outbound", weight=1.0)
    assert ModelAdaptation.objects.filter(model=model).count() == 3
    r = admin.post(f"{API}/nbo/reset-learning")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["model"]["status"] == "draft" and body["model"]["metrics"] == {} and body["model"]["trainingSamples"] == 0
    kept = ModelVersion.objects.get(model=model, triggered_by="reset")
    assert body["keptVersionId"] == kept.label and kept.artifact is not None
    assert b'"evidence": 3' in bytes(kept.artifact)
    assert not ModelAdaptation.objects.filter(model=model).exists()
    event = ModelEvent.objects.get(model_key="nbo", action="learning.reset")
    assert event.data["clearedCells"] == 3 and event.data["evidence"] == 9
    assert [v["versionId"] for v in admin.get(f"{API}/nbo").json()["versions"]][0] == kept.label


def test_reset_learning_is_refused_for_a_model_that_learns_by_training(api, analyst, capture):
    model = make_model(analyst, key="card", model_type="scorecard")
    add_samples(model, analyst, n=80)
    train_now(model, analyst, capture)
    r = api.post(f"{API}/card/reset-learning")
    assert r.status_code == 400 and "learns by training" in r.json()["error"]["message"]


def test_the_model_detail_lists_its_versions(api, analyst, capture):
    model = make_model(analyst, key="lr")
    add_samples(model, analyst, n=80)
    train_now(model, analyst, capture)
    train_now(model, analyst, capture)
    versions = api.get(f"{API}/lr").json()["versions"]
    assert [(v["versionId"], v["active"], v["triggeredBy"]) for v in versions] == [
        ("v2", True, "retrain"), ("v1", False, "train")]
    assert "versions" not in api.get(API).json()["results"][0], "lists stay compact"


def test_zero_data_retention_purges_refuses_feedback_and_keeps_no_inputs(api, analyst, capture):
    r = api.post(API, {"key": "zdr", "name": "Zdr", "modelType": "logistic_regression",
                       "traits": [{"name": "churn"}], "zeroDataRetention": True}, format="json")
    assert r.status_code == 201 and r.json()["zeroDataRetention"] is True
    model = AlgorithmModel.objects.get(key="zdr")
    add_samples(model, analyst, n=80)
    run = train_now(model, analyst, capture)
    assert run.status == "succeeded" and not Sample.objects.filter(model=model).exists(), "purged after the train"
    assert ModelEvent.objects.get(model_key="zdr", action="version.created").data["purgedSamples"] == 80
    r = api.post(f"{API}/zdr/score", {"features": {"tenure": 3, "plan": "basic"}, "feedback": {"churn": "positive"}},
                 format="json")
    assert r.status_code == 409 and r.json()["error"]["code"] == "feature_unavailable"
    r = api.post(f"{API}/zdr/score", {"features": {"tenure": 3, "plan": "basic"}}, format="json")
    assert r.status_code == 200
    assert ScoreRequest.objects.get(request_id=r.json()["metadata"]["requestId"]).inputs == []
    r = api.put(f"{API}/zdr", {"autoLearn": True, "learnMode": "scheduled", "learnSchedule": "24h"}, format="json")
    assert r.status_code == 409 and r.json()["error"]["code"] == "feature_unavailable"


def test_turning_zero_data_retention_on_purges_and_stops_retraining_and_off_affects_only_later(api, analyst,
                                                                                               capture):
    model = make_model(analyst, key="later")
    add_samples(model, analyst, n=80)
    train_now(model, analyst, capture)
    api.put(f"{API}/later", {"autoLearn": True, "learnMode": "scheduled", "learnSchedule": "24h"}, format="json")
    lifecycle_services.sample_add_batch(model=model, actor=analyst, source=SampleSource.FEEDBACK,
                                        samples=[{"features": {"tenure": 1}, "labels": {"churn": 1.0}}])
    r = api.put(f"{API}/later", {"zeroDataRetention": True}, format="json")
    assert r.status_code == 200 and r.json()["zeroDataRetention"] is True and r.json()["autoLearn"] is False
    assert not Sample.objects.filter(model=model).exists()
    event = ModelEvent.objects.get(model_key="later", action="model.zero_data_retention")
    assert event.data["purgedSamples"] == 81
    r = api.put(f"{API}/later", {"zeroDataRetention": False}, format="json")
    assert r.status_code == 200 and r.json()["zeroDataRetention"] is False
    lifecycle_services.sample_add_batch(model=model, actor=analyst, source=SampleSource.FEEDBACK,
                                        samples=[{"features": {"tenure": 1}, "labels": {"churn": 1.0}}])
    assert Sample.objects.filter(model=model).count() == 1


def test_the_adaptations_tab_resets_with_a_confirmation_or_says_why_not(client, analyst, admin_user, catalog):
    live_model(admin_user, key="nbo", model_type="thompson_bandit", rung="shadow")
    client.force_login(analyst)
    page = client.get("/models/nbo/adaptations/").content.decode()
    assert ("Reset learning</strong> is unavailable: Resetting learning sets the status to draft. A shadow model "
            "cannot be draft-status") in page
    token_client(admin_user).post(f"{API}/nbo/promote", {"toStatus": "draft"}, format="json")
    page = client.get("/models/nbo/adaptations/").content.decode()
    assert "return confirm('Reset the learning of nbo?" in page
    r = client.post("/models/nbo/reset-learning/", follow=True)
    assert "Learning reset: the learned state is kept as v2" in r.content.decode()
    assert AlgorithmModel.objects.get(key="nbo").status == "draft"

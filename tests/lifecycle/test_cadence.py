"""Learning cadence and outcome weights, set by PUT as in the seed's curl examples."""

import pytest
from django_q.models import Schedule

from lifecycle import services
from lifecycle.models import ModelEvent
from lifecycle.schedules import cadence_schedule_name
from tests.factories import add_samples, ready_model

pytestmark = pytest.mark.django_db


def test_put_cadence_creates_and_removes_the_schedule(api, analyst, capture):
    model = ready_model(analyst, capture)
    r = api.put(f"/api/v1/algorithm-models/{model.pk}",
                {"autoLearn": True, "learnMode": "scheduled", "learnSchedule": "24h"}, format="json")
    assert r.status_code == 200, r.content
    assert (r.json()["autoLearn"], r.json()["learnMode"], r.json()["learnSchedule"]) == (True, "scheduled", "24h")
    schedule = Schedule.objects.get(name=cadence_schedule_name(model.pk))
    assert schedule.minutes == 1440 and schedule.func == "lifecycle.tasks.scheduled_retrain"
    api.put(f"/api/v1/algorithm-models/{model.pk}", {"learnSchedule": "6h"}, format="json")
    assert Schedule.objects.get(name=cadence_schedule_name(model.pk)).minutes == 360
    api.put(f"/api/v1/algorithm-models/{model.pk}", {"autoLearn": False}, format="json")
    assert not Schedule.objects.filter(name=cadence_schedule_name(model.pk)).exists()
    labels = list(ModelEvent.objects.filter(model=model, action="cadence.changed").order_by("id")
                  .values_list("from_value", "to_value"))
    assert labels == [("off", "every 24h"), ("every 24h", "every 6h"), ("every 6h", "off")]


@pytest.mark.parametrize("body,fragment", [
    ({"learnMode": "scheduled"}, "needs a learnSchedule"),
    ({"learnSchedule": "daily"}, "not a duration"),
    ({"learnSchedule": "5m"}, "at least 15m"),
    ({"learnMode": "cron"}, "learnMode"),
])
def test_bad_cadence_is_refused_and_changes_nothing(api, analyst, body, fragment):
    api.post("/api/v1/algorithm-models", {"key": "m", "name": "M", "modelType": "scorecard"}, format="json")
    r = api.put("/api/v1/algorithm-models/m", {"description": "kept?", **body}, format="json")
    assert r.status_code == 400 and fragment in r.json()["error"]["message"]
    assert api.get("/api/v1/algorithm-models/m").json()["description"] == ""  # the whole PUT rolled back


def test_a_cadence_tick_retrains_only_when_new_samples_arrived(analyst, capture):
    model = ready_model(analyst, capture)
    services.model_set_cadence(model=model, actor=analyst, auto_learn=True, learn_mode="scheduled",
                               learn_schedule="6h")
    assert services.model_scheduled_retrain(model_id=model.pk) is None  # nothing new
    services.sample_add_batch(model=model, actor=analyst, samples=[
        {"content": "cancel now", "labels": {"churn": "positive"}}], source="feedback")
    with capture(execute=True):
        run_id = services.model_scheduled_retrain(model_id=model.pk)
    model.refresh_from_db()
    assert run_id and model.active_version.version_no == 2
    assert model.active_version.triggered_by == "retrain_buffered" and model.active_version.sample_count == 81


def test_outcome_weights_follow_the_seed(api, analyst):
    api.post("/api/v1/algorithm-models", {"key": "m", "name": "M", "modelType": "thompson_bandit"}, format="json")
    weights = {"convert": 1.0, "click": 0.3, "renewed": 1.2, "unsubscribed": -1.5, "complaint": -2.0,
               "no_action": 0.0}
    r = api.put("/api/v1/algorithm-models/m", {"outcomeWeights": weights}, format="json")
    assert r.status_code == 200 and r.json()["outcomeWeights"] == weights
    r = api.put("/api/v1/algorithm-models/m", {"outcomeWeights": {"click": "lots"}}, format="json")
    assert r.status_code == 400 and "click" in r.json()["error"]["message"]
    assert api.put("/api/v1/algorithm-models/m", {"outcomeWeights": None}, format="json").json()["outcomeWeights"] is None
    assert ModelEvent.objects.filter(model_key="m", action="weights.changed").count() == 2

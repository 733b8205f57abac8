"""The live watch: a new champion significantly worse than the one it replaced is raised, and rolled
back automatically when the family opts in. Also: experiment winners are auto-requested for review."""

from datetime import timedelta

import pytest
from django.utils import timezone

from lifecycle.models import AlgorithmModel, ModelEvent
from registry import experiments, services
from registry.choices import CHAMPION_ARM
from registry.models import Experiment, PromotionRequest
from tests.conftest import token_client
from tests.factories import ready_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def family(analyst, admin_user, capture):
    for key in ("old", "new"):
        model = ready_model(analyst, capture, key=key)
        services.model_set_status(model=model, actor=admin_user, status="active")
        services.model_promote(model=model, actor=admin_user, to_status="challenger")
    services.model_promote(model=AlgorithmModel.objects.get(key="old"), actor=admin_user, to_status="champion",
                           family="fam")
    return admin_user


def serve(key, trials, successes):
    model = AlgorithmModel.objects.get(key=key)
    for i in range(trials):
        services.live_record_outcome(model=model, success=i < successes)


def test_watch_raises_a_significantly_worse_champion(family, api):
    serve("old", 300, 60)  # 20% while it was champion
    services.model_promote(model=AlgorithmModel.objects.get(key="new"), actor=family, to_status="champion",
                           family="fam")
    serve("new", 100, 5)
    assert services.family_watch("fam").status == "collecting"  # fewer than minResponses (200)
    serve("new", 200, 5)  # 10 of 300: about 3%
    verdict = api.get("/api/v1/families/fam").json()["watch"]
    assert verdict["status"] == "degraded" and verdict["pValue"] < 0.05
    assert verdict["current"]["modelKey"] == "new" and verdict["previous"]["rate"] == 0.2
    assert services.watch_families() == []  # the family has not opted in: raised, not acted on


def test_opted_in_family_rolls_back_automatically_with_the_numbers(family, reviewer):
    serve("old", 300, 60)
    services.model_promote(model=AlgorithmModel.objects.get(key="new"), actor=family, to_status="champion",
                           family="fam")
    serve("new", 300, 9)
    r = token_client(reviewer).put("/api/v1/families/fam", {"autoRollback": True}, format="json")
    assert r.status_code == 200 and r.json()["policy"]["autoRollback"] is True
    assert services.watch_families() == ["fam"]
    assert AlgorithmModel.objects.get(key="old").registry_status == "champion"
    assert AlgorithmModel.objects.get(key="new").registry_status == "archived"
    event = ModelEvent.objects.get(model_key="new", action="registry.rolled_back")
    assert event.actor_name == "live-watch" and event.data["watch"]["current"]["trials"] == 300
    assert "significantly below" in event.message
    assert services.family_watch("fam").status in ("no_predecessor", "collecting")


def test_experiment_winner_is_requested_for_review(family, analyst, reviewer):
    exp = experiments.experiment_create(actor=analyst, key="ab", name="AB", status="active", family="fam",
                                        champion_model_id="old", champion_pct=50, auto_promote=True,
                                        promote_after_days=7,
                                        challengers=[{"modelId": "new", "trafficPct": 50}])
    for i in range(1000):
        experiments.experiment_record_outcome(experiment=exp, arm=CHAMPION_ARM, success=i < 100)
        experiments.experiment_record_outcome(experiment=exp, arm="new", success=i < 160)
    assert experiments.experiments_auto_promote() == []  # too early
    Experiment.objects.filter(pk=exp.pk).update(started_at=timezone.now() - timedelta(days=8))
    [request_id] = experiments.experiments_auto_promote()
    request = PromotionRequest.objects.get(pk=request_id)
    assert request.state == "pending" and request.requested_by_name == "experiment:ab"
    assert "+6.0%" in request.comment
    r = token_client(reviewer).post(f"/api/v1/promotion-requests/{request_id}/approve", {}, format="json")
    assert r.status_code == 200 and AlgorithmModel.objects.get(key="new").registry_status == "champion"


def test_the_dashboard_raises_a_degraded_champion_with_the_rollback(family, client, reviewer):
    serve("old", 300, 60)
    services.model_promote(model=AlgorithmModel.objects.get(key="new"), actor=family, to_status="champion",
                           family="fam")
    serve("new", 300, 9)
    client.force_login(reviewer)
    page = " ".join(client.get("/").content.decode().split())
    assert "Live watch: a champion is doing worse" in page
    assert "new converts 0.030 over 300 responses, against 0.200 for old" in page and "Roll back to old" in page
    client.post("/families/fam/rollback/", {"reason": "live watch"})
    assert AlgorithmModel.objects.get(key="old").registry_status == "champion"
    assert "Live watch: a champion is doing worse" not in client.get("/").content.decode()

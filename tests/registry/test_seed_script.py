"""The seed's programmatic pattern, replayed as a script would send it, then champion with a review."""

import pytest
from django_q.models import Schedule

from tests.conftest import token_client
from tests.factories import sample_rows

pytestmark = pytest.mark.django_db


def test_seed_programmatic_pattern(api, reviewer, django_capture_on_commit_callbacks):
    base = "/api/v1/algorithm-models"
    # 1. Create as draft
    new_id = api.post(base, {"key": "gbm-v8", "name": "GBM v8", "modelType": "gradient_boosted"},
                      format="json").json()["id"]
    # 2. Configure outcome weights + learning
    r = api.put(f"{base}/{new_id}", {
        "outcomeWeights": {"convert": 1.0, "click": 0.3, "unsubscribed": -1.5},
        "autoLearn": True, "learnMode": "scheduled", "learnSchedule": "24h"}, format="json")
    assert r.status_code == 200, r.content
    # (ours: the model needs a definition before its first train)
    api.post(f"{base}/{new_id}/traits", {"traits": [{"name": "churn"}]}, format="json")
    api.post(f"{base}/{new_id}/samples", {"samples": sample_rows(120)}, format="json")
    # 3. Trigger a one-off retrain so the model isn't empty at activation
    with django_capture_on_commit_callbacks(execute=True):
        assert api.post(f"{base}/{new_id}/train").status_code == 202
    body = api.get(f"{base}/{new_id}").json()
    assert body["state"] == "ready" and body["lastTrainedAt"] and body["lastLearnedAt"]
    assert Schedule.objects.filter(func="lifecycle.tasks.scheduled_retrain").count() == 1
    # 4. Activate operationally
    assert api.put(f"{base}/{new_id}", {"status": "active"}, format="json").json()["status"] == "active"
    # 5. Promote through the registry, starting with shadow
    r = api.post(f"{base}/{new_id}/promote", {"toStatus": "shadow"}, format="json")
    assert r.status_code == 200 and r.json()["model"]["registryStatus"] == "shadow"
    r = api.post(f"{base}/{new_id}/promote", {"toStatus": "challenger"}, format="json")
    assert r.json()["model"]["registryStatus"] == "challenger"
    r = api.post(f"{base}/{new_id}/promote", {"toStatus": "champion", "family": "credit_propensity"}, format="json")
    assert r.status_code == 202
    request_id = r.json()["request"]["id"]
    r = token_client(reviewer).post(f"/api/v1/promotion-requests/{request_id}/approve", {"comment": "ok"},
                                    format="json")
    assert r.status_code == 200
    final = api.get(f"{base}/{new_id}").json()
    assert (final["status"], final["registryStatus"], final["family"]) == ("active", "champion", "credit_propensity")

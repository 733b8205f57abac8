"""Idempotency keys on /respond belong to the caller and to the request they first came with."""

import pytest

from scoring.models import Interaction, ModelAdaptation
from tests.conftest import token_client
from tests.factories import make_user
from tests.scoring.conftest import live_model

pytestmark = pytest.mark.django_db


@pytest.fixture
def rec(api, admin_user, catalog):
    live_model(admin_user, key="nbo", model_type="thompson_bandit")
    return api.post("/api/v1/recommend", {"customerId": "c1", "family": "offers"}, format="json").json()


def _evidence() -> int:
    return ModelAdaptation.objects.get(scope="global").evidence


def test_another_caller_with_the_same_key_gets_its_own_outcome_recorded(api, rec):
    other = token_client(make_user("analyst", username="other-script"))
    body = {"customerId": "c1", "recommendationId": rec["recommendationId"], "idempotencyKey": "retry-1"}
    mine = api.post("/api/v1/respond", {**body, "rank": 1, "outcome": "click"}, format="json")
    theirs = other.post("/api/v1/respond", {**body, "rank": 2, "outcome": "dismiss"}, format="json")
    assert mine.status_code == 201 and theirs.status_code == 201  # not a replay of my answer
    assert theirs.json()["interactionId"] != mine.json()["interactionId"]
    assert (theirs.json()["rank"], theirs.json()["outcome"], theirs.json()["weight"]) == (2, "dismiss", -1.0)
    assert Interaction.objects.count() == 2 and _evidence() == 2
    again = other.post("/api/v1/respond", {**body, "rank": 2, "outcome": "dismiss"}, format="json")
    assert again.status_code == 200 and again.json() == theirs.json()  # each caller replays its own


def test_the_same_key_with_another_body_is_a_422(api, rec):
    body = {"customerId": "c1", "recommendationId": rec["recommendationId"], "rank": 1, "outcome": "click"}
    first = api.post("/api/v1/respond", body, format="json", HTTP_IDEMPOTENCY_KEY="k-7")
    changed = api.post("/api/v1/respond", {**body, "outcome": "dismiss"}, format="json", HTTP_IDEMPOTENCY_KEY="k-7")
    assert first.status_code == 201 and changed.status_code == 422
    error = changed.json()["error"]
    assert error["code"] == "idempotency_key_reused" and error["details"] == {"idempotencyKey": "k-7"}
    assert "different request" in error["message"]
    assert Interaction.objects.count() == 1 and _evidence() == 1  # nothing recorded for the refused call
    # The same request again, the key now in the body and the fields in another order: the stored answer.
    same = api.post("/api/v1/respond", {"outcome": "click", "idempotencyKey": "k-7", **body}, format="json")
    assert same.status_code == 200 and same["Idempotent-Replayed"] == "true" and same.json() == first.json()

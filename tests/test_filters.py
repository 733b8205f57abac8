"""One FilterSet per list: the API refuses an invalid filter value with a 400 naming the parameter, a valid one
filters, the schema lists the choices, and the page shows the same refusal on the field while the other filters
still apply."""

from __future__ import annotations

import datetime
import re

import pytest
from django.urls import reverse
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from lifecycle.models import AlgorithmModel, Sample, TrainingRun
from registry.models import PromotionRequest
from tests.factories import add_samples, make_model

pytestmark = pytest.mark.django_db

API = "/api/v1"


def refused(response, param: str) -> dict:
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error" and error["status"] == 400, error
    assert error["details"]["field"] == param and param in error["details"]["fields"], error
    assert error["message"].startswith(f"{param}: "), error
    return error


@pytest.fixture
def lists(analyst):
    """Two models apart in every field, runs of two kinds, samples from two sources, two requests."""
    draft = make_model(analyst, key="m-draft")
    ready = make_model(analyst, key="m-ready", model_type="gradient_boosted")
    AlgorithmModel.objects.filter(pk=ready.pk).update(state="failed", status="active", registry_status="challenger",
                                                      family="offers")
    add_samples(draft, analyst, n=6)
    Sample.objects.filter(pk=Sample.objects.filter(model=draft).order_by("id").first().pk).update(source="feedback")
    now = timezone.now()
    for kind, status in (("train", "succeeded"), ("retrain", "failed")):
        TrainingRun.objects.create(model=draft, kind=kind, status=status, queued_at=now, started_at=now,
                                   finished_at=now + datetime.timedelta(seconds=5), started_by=analyst)
    for state in ("pending", "rejected"):
        PromotionRequest.objects.create(model=ready, from_status="challenger", to_status="champion", family="offers",
                                        state=state, requested_by=analyst)
    return draft, ready


@pytest.mark.parametrize(("path", "param", "value"), [
    ("/algorithm-models", "state", "bogus"),
    ("/algorithm-models", "status", "asleep"),
    ("/algorithm-models", "registryStatus", "king"),
    ("/algorithm-models", "modelType", "oracle"),
    ("/algorithm-models/m-draft/runs", "status", "bogus"),
    ("/algorithm-models/m-draft/runs", "kind", "sideways"),
    ("/algorithm-models/m-draft/samples", "source", "rumour"),
    ("/algorithm-models/m-draft/samples", "label", "maybe"),
    ("/promotion-requests", "state", "bogus"),
    ("/audit-log", "since", "last tuesday"),
    ("/audit-log/export", "until", "2025-13-45"),
    ("/decision-traces", "since", "yesterday"),
])
def test_an_invalid_filter_value_is_a_400_naming_the_parameter(api, lists, path, param, value):
    error = refused(api.get(f"{API}{path}", {param: value}), param)
    if param not in ("since", "until"):
        assert f"{value} is not one of the available choices" in error["message"], error


def test_each_invalid_parameter_is_named_and_an_unknown_one_is_ignored(api, lists):
    error = refused(api.get(f"{API}/algorithm-models", {"state": "bogus", "modelType": "oracle", "colour": "red"}),
                    "state")
    assert set(error["details"]["fields"]) == {"state", "modelType"}
    # The page's spelling is not the API's: it is an unknown parameter here, as it was.
    assert api.get(f"{API}/algorithm-models", {"registry_status": "nonsense"}).json()["count"] == 2


def test_valid_filter_values_filter_each_list(api, lists):
    def keys(path, **query):
        body = api.get(f"{API}{path}", query).json()
        return sorted(row.get("key") or row.get("id") for row in body["results"])

    assert keys("/algorithm-models", state="draft") == ["m-draft"]
    assert keys("/algorithm-models", state="failed", registryStatus="challenger", family="offers") == ["m-ready"]
    assert keys("/algorithm-models", modelType="gradient_boosted", state="draft") == []
    assert keys("/algorithm-models", state="") == ["m-draft", "m-ready"]  # an empty value is no filter

    runs = api.get(f"{API}/algorithm-models/m-draft/runs", {"kind": "retrain"}).json()["results"]
    assert [r["status"] for r in runs] == ["failed"]
    assert api.get(f"{API}/algorithm-models/m-draft/runs", {"status": "queued"}).json()["count"] == 0

    assert api.get(f"{API}/algorithm-models/m-draft/samples", {"source": "feedback"}).json()["count"] == 1
    assert api.get(f"{API}/algorithm-models/m-draft/samples", {"source": "explicit"}).json()["count"] == 5
    assert api.get(f"{API}/algorithm-models/m-draft/samples", {"trait": "churn"}).json()["count"] == 6

    states = [r["state"] for r in api.get(f"{API}/promotion-requests", {"state": "pending"}).json()["results"]]
    assert states == ["pending"]
    assert api.get(f"{API}/promotion-requests", {"model": "no-such-model"}).status_code == 404

    assert api.get(f"{API}/algorithm-models/m-draft/events", {"action": "model."}).json()["count"] >= 1
    assert api.get(f"{API}/algorithm-models/m-draft/events", {"action": "nothing."}).json()["count"] == 0
    past = (timezone.now() - datetime.timedelta(days=1)).isoformat()
    assert api.get(f"{API}/audit-log", {"since": past, "model": "m-draft"}).json()["count"] >= 1
    assert api.get(f"{API}/audit-log", {"until": past}).json()["count"] == 0


def test_the_schema_lists_each_enum_filter_with_its_choices(db):
    schema = SchemaGenerator().get_schema(request=None, public=True)

    def enum(path, name):
        params = schema["paths"][path]["get"]["parameters"]
        return next(p["schema"].get("enum") for p in params if p["name"] == name and p["in"] == "query")

    assert sorted(enum("/api/v1/algorithm-models/", "state")) == ["archived", "busy", "draft", "failed", "ready"]
    assert "champion" in enum("/api/v1/algorithm-models/", "registryStatus")
    assert sorted(enum("/api/v1/promotion-requests/", "state")) == [
        "approved", "cancelled", "pending", "rejected", "stale"]
    assert sorted(enum("/api/v1/algorithm-models/{id}/runs/", "status")) == ["failed", "queued", "running",
                                                                             "succeeded"]
    assert "retrain" in enum("/api/v1/algorithm-models/{id}/runs/", "kind")


def test_the_models_page_shows_a_bad_state_on_its_field_and_keeps_the_other_filters(as_analyst, lists):
    response = as_analyst.get(reverse("lifecycle:model-list"), {"state": "bogus", "search": "ready"})
    assert response.status_code == 200
    page = response.content.decode()
    field = re.search(r'<div class="field has-error"><label for="id_state">State</label>(.*?)</div>', page, re.S)
    assert field, "the state field is marked as refused"
    assert "Select a valid choice. bogus is not one of the available choices." in field.group(1)
    assert 'role="alert"' in field.group(1)
    assert [m.key for m in response.context["page"].object_list] == ["m-ready"]  # the search still applies
    # The page filters by family too, with the same FilterSet as the API.
    family = as_analyst.get(reverse("lifecycle:model-list"), {"family": "offers"})
    assert [m.key for m in family.context["page"].object_list] == ["m-ready"]

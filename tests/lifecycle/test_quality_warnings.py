"""A version whose model is not good enough says so: in the API and on the versions table."""

import random

import pytest

from tests.factories import add_samples, make_model, train_now

pytestmark = pytest.mark.django_db


def noise_rows(n: int, seed: int = 5) -> list[dict]:
    """Labels drawn independently of the features."""
    rng = random.Random(seed)
    return [{"features": {"tenure": rng.randint(1, 60), "plan": rng.choice(["basic", "plus", "pro"])},
             "labels": {"churn": "positive" if rng.random() < 0.5 else "negative"}} for _ in range(n)]


def test_noise_version_reports_weak_auc_in_api_and_table(api, analyst, capture, as_analyst):
    model = make_model(analyst, key="noise")
    r = api.post("/api/v1/algorithm-models/noise/samples", {"samples": noise_rows(300)}, format="json")
    assert r.status_code == 201
    train_now(model, analyst, capture)
    version = api.get("/api/v1/algorithm-models/noise/versions/v1").json()
    assert version["metrics"]["churn"]["auc"] < 0.55
    weak = [w for w in version["qualityWarnings"] if w["code"] == "weak_auc"]
    assert len(weak) == 1 and weak[0]["trait"] == "churn" and "under 0.55" in weak[0]["message"]
    page = as_analyst.get("/models/noise/versions/")
    assert page.status_code == 200
    assert weak[0]["message"] in page.content.decode()


def test_learnable_version_has_no_quality_warnings(api, analyst, capture):
    model = make_model(analyst, key="good")
    add_samples(model, analyst, n=200)
    train_now(model, analyst, capture)
    assert api.get("/api/v1/algorithm-models/good/versions/v1").json()["qualityWarnings"] == []

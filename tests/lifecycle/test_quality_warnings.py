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


def test_an_empty_tier_on_a_small_holdout_is_chance_but_coinciding_breaks_are_not():
    import numpy as np

    from lifecycle.trainers import quality_warnings

    def codes(scores, breaks):
        return [w["code"] for w in quality_warnings(0.8, 0.4, 0.6, np.array(scores), breaks, "holdout")]

    # 16 rows, no score between 26 and 51: chance on so few rows, not a collapse.
    small = [5, 10, 12, 20, 22, 25, 55, 60, 62, 66, 69, 72, 80, 85, 90, 95]
    assert codes(small, (26.0, 51.0, 70.0)) == []
    # The same shape over 160 rows is evidence.
    assert codes(small * 10, (26.0, 51.0, 70.0)) == ["collapsed_tiers"]
    # Coinciding breaks are a collapse at any size ("Developing 76-76").
    assert codes(small, (20.0, 76.0, 76.0)) == ["collapsed_tiers"]


def test_the_promotion_guard_counts_a_quality_warning_as_a_breach(api, analyst, admin_user, capture):
    from tests.conftest import token_client

    admin = token_client(admin_user)
    incumbent = make_model(analyst, key="fine")
    add_samples(incumbent, analyst, n=160, noise=0.1)
    train_now(incumbent, analyst, capture)
    weak = make_model(analyst, key="weak")
    assert api.post("/api/v1/algorithm-models/weak/samples", {"samples": noise_rows(300)},
                    format="json").status_code == 201
    train_now(weak, analyst, capture)
    for key in ("fine", "weak"):
        api.put(f"/api/v1/algorithm-models/{key}", {"status": "active"}, format="json")
        admin.post(f"/api/v1/algorithm-models/{key}/promote", {"toStatus": "challenger"}, format="json")
    admin.post("/api/v1/algorithm-models/fine/promote", {"toStatus": "champion", "family": "churn",
                                                        "metricsSnapshot": {"auc": 0.8}}, format="json")
    body = {"toStatus": "champion", "family": "churn", "metricsSnapshot": {"auc": 0.8}}
    r = admin.post("/api/v1/algorithm-models/weak/promote", body, format="json")
    assert r.status_code == 409, r.content
    breaches = r.json()["error"]["details"]["rollbackGuardBreaches"]
    assert any(b["check"] == "qualityWarning" and b["code"] == "weak_auc" for b in breaches)
    r = admin.post("/api/v1/algorithm-models/weak/promote", {**body, "bypassRollbackGuard": True}, format="json")
    assert r.status_code == 200 and r.json()["model"]["registryStatus"] == "champion"

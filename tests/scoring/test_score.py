"""Score cards, feedback and serving across version swaps."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from lifecycle import services as lifecycle_services
from lifecycle.models import Sample
from scoring import cards, serving
from scoring.models import ScoreRequest
from tests.factories import make_model, ready_model, train_now

pytestmark = pytest.mark.django_db

CHURNY = {"features": {"tenure": 3, "plan": "basic", "spend": 20.0}, "content": "cancel my account please"}
LOYAL = {"features": {"tenure": 55, "plan": "pro", "spend": 80.0}, "content": "love the service"}


def test_card_on_a_known_example():
    metrics = {
        "a": {"auc": 0.9, "sampleCount": 500, "evaluation": "holdout",
              "breaks": {"developing": 30, "solid": 50, "strong": 80}},
        "b": {"auc": 0.9, "sampleCount": 500, "evaluation": "holdout",
              "breaks": {"developing": 20, "solid": 40, "strong": 60}},
    }
    card = cards.card({"a": 0.45, "b": 0.90}, metrics)
    assert card["scores"] == {"a": 45, "b": 90}
    assert card["composite"] == 60  # harmonic mean of 45 and 90
    assert card["detail"]["a"]["label"] == "Developing" and card["detail"]["a"]["headroom"] == 5
    assert card["detail"]["b"]["label"] == "Strong" and card["detail"]["b"]["headroom"] == 0
    assert card["headroom"] == 5 and card["confidence"] == "high"
    assert cards.tier_of(29, metrics["a"]["breaks"])[0] == "Weak" and cards.tier_of(30, metrics["a"]["breaks"])[0] == "Developing"
    low = cards.card({"a": 0.5}, {"a": {"auc": 0.52, "sampleCount": 500, "breaks": metrics["a"]["breaks"]}})
    assert low["confidence"] == "low" and low["detail"]["a"]["label"] is None and low["headroom"] is None


@given(st.lists(st.floats(min_value=-1000, max_value=1000, allow_nan=False), max_size=50),
       st.lists(st.integers(-10**9, 10**9), max_size=20))
def test_native_values_are_written_as_round_and_repr_write_them(values, halves):
    """Also at and next to the halves where scaling then rounding could go the other way."""
    import numpy as np

    halves = [(2 * h + 1) / 2e6 for h in halves]
    values = values + halves + [np.nextafter(h, 1) for h in halves] + [np.nextafter(h, -1) for h in halves]
    column = np.asarray(values, dtype=np.float64)
    assert cards.rounded_texts(column) == [repr(round(float(v), 6)) for v in column]


def test_batch_cards_from_columns_equal_each_card_and_its_rendered_text():
    """The columns give each input the card `card` gives it, and write the JSON the renderer writes for it."""
    import json

    import numpy as np
    from rest_framework.renderers import JSONRenderer

    breaks = {"developing": 40, "solid": 60, "strong": 80}
    metrics = {"a": {"auc": 0.9, "sampleCount": 500, "breaks": breaks},  # tiers
               "b": {"auc": 0.55, "sampleCount": 500, "breaks": breaks},  # low confidence: no tiers
               "c": {"auc": 0.8, "sampleCount": 20, "breaks": {"developing": 10.5, "solid": 33, "strong": 90}}}
    predictors = [{"trait": t, "name": n, "importance": w} for t in "abc" for n, w in (("x", 0.7), ("y", 0.3))]
    for traits in ("abc", "a"):  # several traits, and one (the pieces around one native)
        rng = np.random.default_rng(5)
        count = 600
        scored = sorted(rng.choice(count, size=500, replace=False).tolist())
        probabilities = {t: np.r_[rng.random(490), [0.0, 1.0, 0.005, 0.995, 0.125, 0.5, 1e-7, 0.4, 0.6, 0.8]]
                         for t in traits}
        missing = [["x"] if k % 17 == 0 else ["y", "z"] if k % 29 == 0 else [] for k in range(500)]
        batch = cards.Cards(count, scored, probabilities, metrics, missing=missing, predictors=predictors)
        assert len(batch) == count and batch.refused == count - 500
        meta = JSONRenderer().render({"requestId": "r", "versionId": "v1", "sampleIds": []}).decode()
        skip = set(scored[::50])  # inputs the caller writes itself (feedback, findings)
        texts = batch.json_all(meta, skip=skip)
        position = {i: k for k, i in enumerate(scored)}
        plain = 0
        for i in range(count):
            k = position.get(i)
            if k is None:
                assert batch[i] is None and not batch.plain(i) and texts[i] is None
                continue
            alone = cards.card({t: float(probabilities[t][k]) for t in traits}, metrics, missing=missing[k],
                               predictors=predictors)
            assert batch[i] == alone
            assert batch.plain(i) == (not missing[k])
            if batch.plain(i) and i not in skip:
                plain += 1
                assert texts[i] == JSONRenderer().render({**alone, "metadata": json.loads(meta)}).decode()
            else:
                assert texts[i] is None
        assert plain > 400
    # The usual batch: one trait, every input scored, none missing anything, none written by the caller.
    probabilities = {"a": np.r_[np.random.default_rng(6).random(290), [0.0, 1.0, 0.005, 0.995, 0.125, 0.5, 1e-7,
                                                                          0.4, 0.6, 0.8]]}
    batch = cards.Cards(300, list(range(300)), probabilities, metrics, missing=[[]] * 300, predictors=predictors)
    texts = batch.json_all(meta)
    assert texts == [JSONRenderer().render({**batch[i], "metadata": json.loads(meta)}).decode() for i in range(300)]
    assert batch[0] == cards.card({"a": float(probabilities["a"][0])}, metrics, missing=[], predictors=predictors)


def test_score_one_input_and_a_batch(api, analyst, capture):
    model = ready_model(analyst, capture)
    r = api.post(f"/api/v1/algorithm-models/{model.key}/score", CHURNY, format="json")
    assert r.status_code == 200, r.content
    card = r.json()
    assert 0 <= card["scores"]["churn"] <= 100 and card["composite"] == card["scores"]["churn"]
    assert card["metadata"]["versionId"] == "v1" and card["metadata"]["requestId"]
    assert card["detail"]["churn"]["native"] > 0.5
    loyal = api.post(f"/api/v1/algorithm-models/{model.key}/score", LOYAL, format="json").json()
    assert loyal["scores"]["churn"] < card["scores"]["churn"]
    r = api.post(f"/api/v1/algorithm-models/{model.key}/score", {"inputs": [CHURNY, LOYAL]}, format="json")
    body = r.json()
    assert [x["scores"]["churn"] for x in body["results"]] == [card["scores"]["churn"], loyal["scores"]["churn"]]
    assert body["metadata"]["count"] == 2
    # Indented when asked for, with the same content.
    r = api.post(f"/api/v1/algorithm-models/{model.key}/score", {"inputs": [CHURNY, LOYAL]}, format="json",
                 HTTP_ACCEPT="application/json; indent=2")
    assert r.content.startswith(b'{\n  "results": [')
    indented = r.json()
    for a, b in zip(indented["results"], body["results"]):
        assert {**a, "metadata": {**a["metadata"], "requestId": ""}} == {**b, "metadata": {**b["metadata"],
                                                                                            "requestId": ""}}
    r = api.post(f"/api/v1/algorithm-models/{model.key}/score", "cancel my account please", content_type="text/plain")
    assert r.status_code == 200 and "churn" in r.json()["scores"]


def test_not_scorable_before_ready_and_when_archived(api, analyst, capture):
    make_model(analyst, key="draft")
    r = api.post("/api/v1/algorithm-models/draft/score", CHURNY, format="json")
    assert r.status_code == 409 and r.json()["error"]["code"] == "not_scorable"
    model = ready_model(analyst, capture)
    lifecycle_services.model_archive(model=model, actor=analyst)
    r = api.post(f"/api/v1/algorithm-models/{model.key}/score", CHURNY, format="json")
    assert r.status_code == 409 and "archived" in r.json()["error"]["message"]


def test_scoring_during_a_retrain_uses_the_old_version_then_the_new(api, analyst, capture):
    model = ready_model(analyst, capture)
    url = f"/api/v1/algorithm-models/{model.key}/score"
    before = api.post(url, CHURNY, format="json").json()
    lifecycle_services.model_train_enqueue(model=model, actor=analyst)  # busy, not yet run
    during = api.post(url, CHURNY, format="json").json()
    assert during["metadata"]["versionId"] == "v1" and during["scores"] == before["scores"]
    run = model.runs.first()
    lifecycle_services.run_execute(run_id=run.pk)  # the swap
    after = api.post(url, CHURNY, format="json").json()
    assert after["metadata"]["versionId"] == "v2"  # seen on the next request, no restart


def test_same_version_same_scores_from_the_cache_and_after_reload(api, analyst, capture):
    model = ready_model(analyst, capture)
    url = f"/api/v1/algorithm-models/{model.key}/score"
    first = api.post(url, CHURNY, format="json").json()["detail"]["churn"]["native"]
    serving.clear()
    assert api.post(url, CHURNY, format="json").json()["detail"]["churn"]["native"] == first


def test_feedback_becomes_samples_for_the_next_retrain(api, analyst, capture):
    model = ready_model(analyst, capture)
    url = f"/api/v1/algorithm-models/{model.key}/score"
    r = api.post(url, {**CHURNY, "feedback": {"churn": "positive"}}, format="json")
    [sample_id] = r.json()["metadata"]["sampleIds"]
    sample = Sample.objects.get(pk=sample_id)
    assert sample.source == "feedback" and sample.labels == {"churn": 1.0} and sample.content == CHURNY["content"]
    request_id = api.post(url, LOYAL, format="json").json()["metadata"]["requestId"]
    r = api.post(f"/api/v1/score-requests/{request_id}/feedback", {"feedback": {"churn": 0.1}}, format="json")
    assert r.status_code == 201 and Sample.objects.get(pk=r.json()["sampleIds"][0]).labels == {"churn": 0.1}
    r = api.post(url, {**CHURNY, "feedback": {"churn": "maybe"}}, format="json")
    assert r.status_code == 400
    train_now(model, analyst, capture)
    assert model.active_version.sample_count == 82


def test_viewers_score_but_cannot_send_feedback(viewer_api, analyst, capture):
    model = ready_model(analyst, capture)
    url = f"/api/v1/algorithm-models/{model.key}/score"
    assert viewer_api.post(url, CHURNY, format="json").status_code == 200
    assert viewer_api.post(url, {**CHURNY, "feedback": {"churn": 1}}, format="json").status_code == 403


def test_batch_limit_and_unknown_traits(api, analyst, capture, settings):
    model = ready_model(analyst, capture)
    settings.SCORE_BATCH_MAX = 3
    url = f"/api/v1/algorithm-models/{model.key}/score"
    r = api.post(url, {"inputs": [CHURNY] * 4}, format="json")
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"
    r = api.post(url, {**CHURNY, "traits": ["nope"]}, format="json")
    assert r.status_code == 400 and "nope" in r.json()["error"]["message"]
    assert ScoreRequest.objects.count() == 0


def test_score_requests_are_kept_for_the_retention_period(api, analyst, capture, settings):
    from datetime import timedelta

    from django.utils import timezone

    from scoring import services

    model = ready_model(analyst, capture)
    api.post(f"/api/v1/algorithm-models/{model.key}/score", CHURNY, format="json")
    settings.SCORE_REQUEST_RETENTION_DAYS = 30
    assert services.score_requests_prune() == 0
    assert services.score_requests_prune(now=timezone.now() + timedelta(days=31)) == 1

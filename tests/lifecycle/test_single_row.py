"""The compiled single-row path gives the numbers of the full featurizer + predict_proba pipeline (no database)."""

from __future__ import annotations

import numpy as np
import pytest

from lifecycle import trainers
from tests.lifecycle.test_trainers import make_examples


def _odd_rows() -> list[dict]:
    """Inputs the featurizer must handle: missing, unseen, wrongly typed, empty and extreme values."""
    return [
        {"features": {}, "content": None},
        {"features": {"income": "not a number", "region": "atlantis", "vip": "yes"}, "content": ""},
        {"features": {"income": 1e12, "region": 7, "tenure": -5, "note": ""}, "content": "   "},
        {"features": {"income": -1e12, "region": None, "tenure": 3.5, "note": None}},
        {"features": {"income": float("nan"), "region": "north", "extra": 1}, "content": "great great great"},
        {"features": {"region": True, "tenure": "12"}, "content": "ünïcödé slow refund"},
        "not an object",
    ]


@pytest.mark.parametrize("model_type", ["logistic_regression", "scorecard"])
def test_one_row_equals_the_pipeline_on_many_rows(model_type):
    examples = make_examples(300, seed=1)
    result = trainers.train(model_type, examples, ["churn", "upsell"], effort="low", seed=0)
    model = trainers.load(result.artifact)
    assert model._one_row is not None  # the compiled path applies to both linear types
    rows = [{"features": e["features"], "content": e["content"]} for e in make_examples(400, seed=7)] + _odd_rows()
    full = {key: trainers._positive_proba(model._estimators[key], model.featurizer.transform(rows))
            for key in model.trait_keys}
    for i, row in enumerate(rows):
        one = model.predict_proba([row])
        for key in model.trait_keys:
            assert one[key].shape == (1,)
            assert abs(one[key][0] - full[key][i]) < 1e-12, (model_type, key, i, row)
            assert trainers.scores_from_proba(one[key])[0] == trainers.scores_from_proba(full[key][i:i + 1])[0]


@pytest.mark.parametrize("model_type", ["gradient_boosted", "neural_cf"])
def test_other_types_keep_the_pipeline(model_type):
    examples = make_examples(200, seed=2)
    result = trainers.train(model_type, examples, ["churn"], effort="low", seed=0)
    model = trainers.load(result.artifact)
    assert model._one_row is None
    row = {"features": examples[0]["features"], "content": examples[0]["content"]}
    expected = trainers._positive_proba(model._estimators["churn"], model.featurizer.transform([row]))
    assert np.array_equal(model.predict_proba([row])["churn"], expected)


def test_hashed_term_counts_equal_the_hashers_on_odd_text():
    hasher = trainers._hasher(2 ** 10)
    counts = trainers._term_counter(hasher)
    texts = ["", "   ", "a", "great great great", "ünïcödé slow refund Ünïcödé", "日本語のテキスト and emoji 🙂🙂",
             "x" * 5000, "tab\tnew\nline, punct!? 12 345 6.7", "İstanbul ß straße ﬁne", "\u00e9t\u00e9 été"]
    rng = np.random.default_rng(3)
    words = ["refund", "slow", "ok", "été", "naïve", "x1", "42", "über"]
    texts += [" ".join(rng.choice(words, size=int(rng.integers(1, 40)))) for _ in range(200)]
    for text in texts:
        matrix = hasher.transform([text])
        assert counts(text) == {int(i): int(v) for i, v in zip(matrix.indices, matrix.data)}, text

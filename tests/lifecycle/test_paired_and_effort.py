"""The paired comparison with the serving version, and effort levels that choose their parameters by validation
(no database)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from scipy.stats import norm, rankdata
from sklearn.metrics import roc_auc_score

from lifecycle import paired
from lifecycle.trainers import TABULAR_TYPES, load, train

# --- DeLong -----------------------------------------------------------------------------


def correlated_scores(n: int, seed: int, *, ties: bool = False) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Two scores sharing most of their noise (as two versions of one model do); A separates the classes better."""
    rng = np.random.RandomState(seed)
    y = (rng.rand(n) < 0.35).astype(int)
    shared = rng.normal(size=n)
    a = 1.0 * y + shared + 0.8 * rng.normal(size=n)
    b = 0.6 * y + shared + 0.8 * rng.normal(size=n)
    if ties:
        a, b = np.round(a), np.round(b)
    return y, a, b


def pairwise_delong_se(y: np.ndarray, a: np.ndarray, b: np.ndarray) -> float:
    """DeLong et al. (1988) as written: placement values from every positive-negative pair, O(n^2)."""
    positive = y == 1
    per_positive, per_negative = [], []
    for score in (a, b):
        x, z = score[positive], score[~positive]
        psi = (x[:, None] > z[None, :]) + 0.5 * (x[:, None] == z[None, :])
        per_positive.append(psi.mean(axis=1))
        per_negative.append(psi.mean(axis=0))
    s10, s01 = np.cov(np.vstack(per_positive)), np.cov(np.vstack(per_negative))
    variance = (s10[0, 0] + s10[1, 1] - 2 * s10[0, 1]) / positive.sum()
    variance += (s01[0, 0] + s01[1, 1] - 2 * s01[0, 1]) / (~positive).sum()
    return math.sqrt(variance)


@pytest.mark.parametrize("ties", [False, True])
def test_delong_matches_the_pairwise_formula(ties):
    y, a, b = correlated_scores(400, seed=1, ties=ties)
    test = paired.delong(y, a, b)
    assert test["aucA"] == pytest.approx(roc_auc_score(y, a), abs=1e-12)
    assert test["aucB"] == pytest.approx(roc_auc_score(y, b), abs=1e-12)
    assert test["difference"] == pytest.approx(test["aucA"] - test["aucB"], abs=1e-12)
    assert test["se"] == pytest.approx(pairwise_delong_se(y, a, b), rel=1e-9)
    z = test["difference"] / test["se"]
    assert test["pValue"] == pytest.approx(2 * norm.sf(abs(z)), rel=1e-9)
    half_width = 1.96 * test["se"]
    assert test["ci95"] == pytest.approx([test["difference"] - half_width, test["difference"] + half_width],
                                         abs=1e-3 * test["se"])


@settings(max_examples=300, deadline=None)
@given(data=st.lists(st.tuples(st.booleans(), st.one_of(st.sampled_from([0.0, 1.0, 0.5, 1e-300]),
                                                         st.floats(0, 1), st.integers(0, 5).map(float))),
                     min_size=2, max_size=60))
def test_auc_is_what_sklearn_gives(data):
    """paired.auc by midranks (holdout metrics and permutation importance use it): sklearn's roc_auc_score on any
    0/1 labels and scores, ties and extremes included."""
    y = np.array([int(label) for label, _ in data])
    p = np.array([score for _, score in data])
    assume(0 < y.sum() < len(y))
    assert paired.auc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)


@pytest.mark.parametrize(("y", "p", "message"), [
    ([1, 1, 1], [0.2, 0.5, 0.9], "one positive and one negative"),
    ([0, 1, 0], [0.2, math.nan, 0.9], "finite"),
    ([0, 1], [0.2, 0.5, 0.9], "3 scores for 2 labels"),
])
def test_auc_refuses_what_it_cannot_measure(y, p, message):
    """Where sklearn refuses (NaN, lengths) or warns and answers NaN (one class), a clear ValueError: a run's
    rows always hold both classes, so one class here is a bug to stop at, not a figure to store."""
    with pytest.raises(ValueError, match=message):
        paired.auc(np.array(y), np.array(p))


def test_delong_standard_error_agrees_with_a_bootstrap():
    y, a, b = correlated_scores(300, seed=2)
    order = np.argsort(-y, kind="stable")  # positives first
    y, a, b = y[order], a[order], b[order]
    m, n = int(y.sum()), int(len(y) - y.sum())
    rng = np.random.RandomState(0)
    # Resampled within each class, as DeLong's variance is conditional on the class sizes.
    draws = np.hstack([rng.randint(0, m, size=(2000, m)), m + rng.randint(0, n, size=(2000, n))])

    def auc(scores: np.ndarray) -> np.ndarray:
        ranks = rankdata(scores[draws], axis=1)
        return (ranks[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)

    bootstrap_se = float(np.std(auc(a) - auc(b), ddof=1))
    test = paired.delong(y, a, b)
    assert test["se"] == pytest.approx(bootstrap_se, rel=0.15)
    assert test["ci95"][0] > 0 and test["pValue"] < 0.05  # A is the better score by construction


def test_the_same_ranking_twice_has_no_difference_and_p_one():
    y, a, _ = correlated_scores(200, seed=3)
    same = paired.delong(y, a, 2 * a + 1)  # another scale, one ranking
    assert (same["difference"], same["se"], same["pValue"], same["ci95"]) == (0.0, 0.0, 1.0, [0.0, 0.0])
    perfect = y + 0.01 * np.arange(len(y)) / len(y)
    both_perfect = paired.delong(y, perfect, 3 * perfect)
    assert (both_perfect["aucA"], both_perfect["aucB"], both_perfect["pValue"]) == (1.0, 1.0, 1.0)


def test_compare_gives_rounded_json_ready_figures():
    y, a, b = correlated_scores(300, seed=4)
    p_candidate, p_serving = 1 / (1 + np.exp(-a)), 1 / (1 + np.exp(-b))
    result = paired.compare(y, p_candidate, p_serving, seen_by_serving=12)
    assert json.loads(json.dumps(result, allow_nan=False)) == result
    assert (result["rows"], result["positives"], result["seenByServing"], result["method"]) == (
        300, int(y.sum()), 12, "DeLong")
    assert result["candidate"]["auc"] == round(roc_auc_score(y, p_candidate), 4)
    assert result["serving"]["auc"] == round(roc_auc_score(y, p_serving), 4)
    assert result["aucDifference"] > 0 and result["ci95"][0] < result["aucDifference"] < result["ci95"][1]
    assert result["logLossDifference"] == pytest.approx(
        result["candidate"]["logLoss"] - result["serving"]["logLoss"], abs=2e-4)
    with pytest.raises(ValueError, match="at least 2 positive and 2 negative"):
        paired.compare([1, 0, 0, 0], [0.9, 0.1, 0.2, 0.3], [0.5] * 4)


# --- comparison with the serving version in a retrain -------------------------------------


def regime(n: int, seed: int, weights: list[float]) -> list[dict]:
    """Numeric rows whose label follows `weights` over x0..x3."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 4))
    y = (X @ np.array(weights) + 0.7 * rng.logistic(size=n) > 0).astype(float)
    return [
        {"features": {f"x{j}": round(float(X[i, j]), 4) for j in range(4)}, "labels": {"t": float(y[i])}}
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def drift() -> tuple[list[dict], list[dict]]:
    """Samples the serving version trained on (the label follows x0), then new ones after drift (it follows x1)."""
    return regime(400, seed=1, weights=[2, 0, 0, 0]), regime(400, seed=2, weights=[0, 2, 0, 0])


def test_a_retrain_after_drift_is_compared_on_rows_the_serving_version_never_saw(drift):
    old, new = drift
    serving = train("gradient_boosted", old, ["t"], effort="low")
    result = train("logistic_regression", old + new, ["t"], effort="low", compare=load(serving.artifact),
                   compare_unseen=[False] * len(old) + [True] * len(new))
    # Each version's own holdout says the serving version is better...
    assert serving.metrics["t"]["auc"] > result.metrics["t"]["auc"] + 0.05
    # ...on the same unseen rows the candidate clearly is.
    comparison = result.comparison["traits"]["t"]
    assert comparison["unseenOnly"] is True and comparison["seenByServing"] == 0
    assert 40 <= comparison["rows"] < result.metrics["t"]["evaluationCount"]
    assert comparison["candidate"]["auc"] > comparison["serving"]["auc"] + 0.1
    assert comparison["ci95"][0] > 0 and comparison["pValue"] < 0.001
    assert comparison["logLossDifference"] < 0
    json.dumps(result.comparison, allow_nan=False)  # stored as JSON by the caller


class RecordingServing:
    """Stands in for a serving version: scores by x0 alone and keeps the rows it was asked about."""

    trait_keys = ["t"]

    def __init__(self) -> None:
        self.rows: list[dict] = []

    def predict_proba(self, rows: list[dict]) -> dict[str, np.ndarray]:
        self.rows += rows
        return {"t": np.array([1 / (1 + math.exp(-row["features"]["x0"])) for row in rows])}


def key_of(features: dict) -> tuple:
    return tuple(sorted(features.items()))


def test_both_versions_score_the_same_unseen_holdout_rows(drift):
    old, new = drift
    serving = RecordingServing()
    result = train("logistic_regression", old + new, ["t"], effort="low", compare=serving,
                   compare_unseen=[False] * len(old) + [True] * len(new))
    comparison = result.comparison["traits"]["t"]
    label = {key_of(e["features"]): e["labels"]["t"] for e in old + new}
    unseen = {key_of(e["features"]) for e in new}
    asked = [key_of(row["features"]) for row in serving.rows]
    assert len(asked) == len(set(asked)) == comparison["rows"]
    assert set(asked) <= unseen
    y = [label[k] for k in asked]
    assert comparison["positives"] == sum(y)
    by_x0 = [1 / (1 + math.exp(-dict(k)["x0"])) for k in asked]
    assert comparison["serving"]["auc"] == round(roc_auc_score(y, by_x0), 4)


def test_too_few_unseen_rows_compare_on_the_whole_holdout_and_say_how_many_were_seen(drift):
    old, new = drift
    examples = old + new
    unseen = [False] * len(old) + [i < 20 for i in range(len(new))]
    result = train("logistic_regression", examples, ["t"], effort="low", compare=RecordingServing(),
                   compare_unseen=unseen)
    comparison, metrics = result.comparison["traits"]["t"], result.metrics["t"]
    assert comparison["unseenOnly"] is False
    assert comparison["rows"] == metrics["evaluationCount"]
    assert 0.85 * comparison["rows"] <= comparison["seenByServing"] <= comparison["rows"]
    # The candidate's side is the reported holdout itself: same rows, same probabilities.
    assert (comparison["candidate"]["auc"], comparison["candidate"]["logLoss"]) == (metrics["auc"], metrics["logLoss"])

    unknown = train("logistic_regression", examples, ["t"], effort="low", compare=RecordingServing())
    counted = unknown.comparison["traits"]["t"]
    assert counted["seenByServing"] == counted["rows"]  # not known to be unseen counts as seen


def test_a_serving_version_that_cannot_score_records_the_error_and_the_run_stands(drift):
    old, new = drift

    class Mismatched(RecordingServing):
        def predict_proba(self, rows):
            raise ValueError("text column 'note' has a malformed idf")

    result = train("logistic_regression", old + new, ["t"], effort="low", compare=Mismatched())
    assert result.comparison == {"traits": {"t": {"error": "ValueError: text column 'note' has a malformed idf"}}}
    assert result.metrics["t"]["auc"] > 0.6
    assert load(result.artifact).trait_keys == ["t"]


def test_nothing_to_compare_gives_no_comparison(drift):
    old, new = drift
    other = RecordingServing()
    other.trait_keys = ["another"]
    assert train("logistic_regression", old, ["t"], effort="low", compare=other).comparison is None
    assert train("logistic_regression", old, ["t"], effort="low").comparison is None
    with pytest.raises(ValueError, match="compare_unseen has 3 entries for 400 examples"):
        train("logistic_regression", old, ["t"], effort="low", compare=other, compare_unseen=[True] * 3)


# --- effort levels choose their parameters by validation ------------------------------------


def noisy_tabular(n: int = 500, seed: int = 0) -> list[dict]:
    """A few informative features among many noise ones: easy to overfit at 500 rows."""
    rng = np.random.RandomState(seed)
    X = rng.normal(size=(n, 20))
    kind = rng.choice(list("abcde"), size=n)
    z = 1.2 * X[:, 0] - 1.0 * X[:, 1] + 0.8 * (kind == "a") - 0.3
    y = (rng.rand(n) < 1 / (1 + np.exp(-z))).astype(float)
    return [
        {"features": {**{f"x{j}": round(float(X[i, j]), 3) for j in range(20)},
                      "kind": str(kind[i]), "noise": str(rng.choice(list("pqrstuvw")))},
         "labels": {"t": float(y[i])}}
        for i in range(n)
    ]


@pytest.fixture(scope="module")
def by_effort() -> dict[tuple[str, str], object]:
    examples = noisy_tabular()
    return {(model_type, effort): train(model_type, examples, ["t"], effort=effort, seed=0)
            for model_type in TABULAR_TYPES for effort in ("low", "high")}


@pytest.mark.parametrize("model_type", TABULAR_TYPES)
def test_high_effort_beats_the_base_rate_and_is_not_worse_than_low(by_effort, model_type):
    # Before effort chose by validation, "high" boosting and MLPs reached a held-out log loss of 0.84-0.92 here.
    high, low = by_effort[model_type, "high"].metrics["t"], by_effort[model_type, "low"].metrics["t"]
    assert "worse_than_base_rate" not in {w["code"] for w in high["qualityWarnings"]}
    assert high["logLoss"] < 0.65  # the base rate's is 0.69
    assert high["logLoss"] <= low["logLoss"] + 0.03


@pytest.mark.parametrize("model_type", ["gradient_boosted", "neural_cf"])
def test_the_chosen_iterations_are_reported_and_served(by_effort, model_type):
    result = by_effort[model_type, "high"]
    fit = result.metrics["t"]["fit"]
    assert fit["tuned"] is True and fit["earlyStopping"] is False
    assert 1 <= fit["iterations"] < result.params["max_iter"] == 200
    served = load(result.artifact)._estimators["t"]
    assert (served.max_iter, served.early_stopping) == (fit["iterations"], False)


@pytest.mark.parametrize("model_type", ["gradient_boosted", "neural_cf"])
def test_the_reported_params_reproduce_the_model(by_effort, model_type):
    result = by_effort[model_type, "high"]
    again = train(model_type, noisy_tabular(), ["t"], effort="high", params=result.params, seed=0)
    assert (again.params, again.param_hash) == (result.params, result.param_hash)
    rows = [{"features": e["features"]} for e in noisy_tabular(50, seed=9)]
    first, second = load(result.artifact).predict_proba(rows), load(again.artifact).predict_proba(rows)
    assert np.array_equal(first["t"], second["t"])


def test_parameters_set_by_the_caller_are_not_tuned():
    examples = noisy_tabular(300, seed=1)
    boosted = train("gradient_boosted", examples, ["t"], effort="high",
                    params={"learning_rate": 0.2, "max_iter": 30, "early_stopping": False})
    assert {k: boosted.params[k] for k in ("learning_rate", "max_iter", "early_stopping")} == {
        "learning_rate": 0.2, "max_iter": 30, "early_stopping": False}
    assert boosted.metrics["t"]["fit"] == {"iterations": 30, "earlyStopping": False}
    mlp = train("neural_cf", examples, ["t"], effort="high", params={"alpha": 0.5})
    assert mlp.params["alpha"] == 0.5
    assert mlp.metrics["t"]["fit"]["tuned"] is True  # the iteration count is still validation's choice

"""Paired comparison of two models scored on the same rows.

Plain numpy/scipy (no Django, no sklearn): the trainer calls ``compare`` with a candidate's and the
serving version's probabilities for one trait's holdout rows. Scoring both on the same rows lets the
difference be tested with the correlation between them taken into account, which comparing each
version's own holdout figures (measured on different rows) cannot do.
"""

from __future__ import annotations

import math

import numpy as np
from scipy.stats import norm, rankdata

_Z95 = float(norm.ppf(0.975))
_EPS = 1e-15  # probabilities are clipped like sklearn's log_loss, so a confident miss costs ~34.5, not infinity


def _labels_and_scores(y, *scores) -> tuple[np.ndarray, list[np.ndarray]]:
    labels = np.asarray(y, dtype=np.float64).ravel()
    if not np.isin(labels, (0.0, 1.0)).all():
        raise ValueError("labels must be 0 or 1")
    arrays = [np.asarray(s, dtype=np.float64).ravel() for s in scores]
    for array in arrays:
        if array.shape != labels.shape:
            raise ValueError(f"{len(array)} scores for {len(labels)} labels")
        if not np.isfinite(array).all():
            raise ValueError("scores must be finite numbers")
    positives = int(labels.sum())
    if min(positives, len(labels) - positives) < 2:
        raise ValueError(f"need at least 2 positive and 2 negative rows (got {positives} of {len(labels)})")
    return labels.astype(bool), arrays


def delong(y, p_a, p_b) -> dict:
    """DeLong's test for two correlated ROC AUCs on the same rows, by Sun & Xu's (2014) midrank method.

    Returns aucA, aucB, difference (A - B), its standard error, the 95% interval and the two-sided p-value.
    O(n log n): each AUC's placement values come from midranks within and across the classes.
    """
    positive, (a, b) = _labels_and_scores(y, p_a, p_b)
    m, n = int(positive.sum()), int((~positive).sum())
    scores = np.vstack([a, b])
    x, z = scores[:, positive], scores[:, ~positive]
    tx = rankdata(x, axis=1)  # midranks among the positives
    tz = rankdata(z, axis=1)  # midranks among the negatives
    t = rankdata(np.hstack([x, z]), axis=1)  # midranks among all rows
    aucs = (t[:, :m].sum(axis=1) - m * (m + 1) / 2) / (m * n)
    v_positive = (t[:, :m] - tx) / n  # share of negatives each positive outranks
    v_negative = 1.0 - (t[:, m:] - tz) / m  # share of positives that outrank each negative
    covariance = np.cov(v_positive) / m + np.cov(v_negative) / n
    difference = float(aucs[0] - aucs[1])
    # Rounding can leave a tiny negative variance when the two scores are (nearly) the same ranking.
    variance = max(float(covariance[0, 0] + covariance[1, 1] - 2 * covariance[0, 1]), 0.0)
    se = math.sqrt(variance)
    if se > 0:
        p_value = float(2 * norm.sf(abs(difference) / se))
    else:
        p_value = 1.0 if math.isclose(difference, 0.0, abs_tol=1e-12) else 0.0
    return {
        "aucA": float(aucs[0]),
        "aucB": float(aucs[1]),
        "difference": difference,
        "se": se,
        "ci95": [difference - _Z95 * se, difference + _Z95 * se],
        "pValue": p_value,
    }


def auc(y, p) -> float:
    """ROC AUC of one score on 0/1 labels: the share of (positive, negative) pairs it puts in order, a tie counting
    half, by midranks. It is what sklearn's ``roc_auc_score`` gives, without the checks that cost that ~2 ms a call
    on a few hundred rows (permutation importance calls it once per column and repeat)."""
    positive = np.asarray(y).ravel() == 1
    scores = np.asarray(p, dtype=np.float64).ravel()
    if scores.shape != positive.shape:
        raise ValueError(f"{len(scores)} scores for {len(positive)} labels")
    if not np.isfinite(scores).all():
        raise ValueError("scores must be finite numbers")
    m = int(positive.sum())
    n = len(positive) - m
    if not m or not n:
        raise ValueError("AUC needs at least one positive and one negative row")
    return float((rankdata(scores)[positive].sum() - m * (m + 1) / 2) / (m * n))


def mean_log_loss(y, p, *, eps: float = _EPS) -> float:
    """Mean log loss of the positive class's probabilities ``p`` on 0/1 labels ``y``, each class's probability
    clipped to [eps, 1 - eps] as sklearn's log_loss clips it, without its checks (about 2 ms a call on a few
    hundred rows): the caller checks, or holds values that need none."""
    p = np.asarray(p, dtype=np.float64)
    positive = np.clip(p, eps, 1 - eps)
    negative = np.clip(1 - p, eps, 1 - eps)
    return float(-np.mean(np.where(np.asarray(y) == 1, np.log(positive), np.log(negative))))


def log_loss(y, p) -> float:
    positive, (proba,) = _labels_and_scores(y, p)
    return mean_log_loss(positive, proba)


def compare(y, p_candidate, p_serving, *, seen_by_serving: int = 0) -> dict:
    """The candidate against the serving version on the same rows, JSON-ready.

    ``seen_by_serving`` counts the rows the serving version trained on: its figures on those rows flatter it.
    """
    test = delong(y, p_candidate, p_serving)
    labels = np.asarray(y, dtype=np.float64).ravel()
    candidate_loss, serving_loss = log_loss(y, p_candidate), log_loss(y, p_serving)
    return {
        "rows": len(labels),
        "positives": int(labels.sum()),
        "seenByServing": int(seen_by_serving),
        "candidate": {"auc": round(test["aucA"], 4), "logLoss": round(candidate_loss, 4)},
        "serving": {"auc": round(test["aucB"], 4), "logLoss": round(serving_loss, 4)},
        "aucDifference": round(test["difference"], 4),
        "ci95": [round(bound, 4) for bound in test["ci95"]],
        "pValue": round(test["pValue"], 6),
        "method": "DeLong",
        "logLossDifference": round(candidate_loss - serving_loss, 4),
    }

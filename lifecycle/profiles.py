"""A compact profile of a training set's features, kept per version for drift (PSI) comparisons."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np

MAX_CATEGORIES = 20
QUANTILE_BINS = 10
MIN_PER_BIN = 50
SAMPLE_SIZE = 500


def profile(rows: list[dict | None]) -> dict:
    """{feature: {"kind": "numeric", "edges": [...], "shares": [...]} | {"kind": "categorical", "shares": {...}}}."""
    columns = _columns(rows)
    out: dict[str, dict] = {}
    total = max(len(rows), 1)
    for key, values in columns.items():
        kinds = set(map(type, values))
        if kinds <= _NUMBER_TYPES:  # a column of plain numbers, converted whole
            numbers = np.asarray(values, dtype=np.float64) if values else []
        elif kinds == {str}:  # a column of plain texts holds no number
            numbers = []
        else:
            numbers = [float(v) for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
        if len(numbers) and len(numbers) >= 0.9 * len(values):
            arr = np.asarray(numbers)
            arr = arr[np.isfinite(arr)]
            if arr.size == 0:
                continue
            # Fewer bins for small samples: ten bins over a hundred rows measure noise, not drift.
            bins = int(min(QUANTILE_BINS, max(2, arr.size // MIN_PER_BIN)))
            quantiles = np.linspace(0, 1, bins + 1)
            with np.errstate(over="ignore", invalid="ignore"):
                edges = np.unique(np.quantile(arr, quantiles))
            if not np.isfinite(edges).all():  # values more than a float's range apart: quantiles of the values
                edges = np.unique(np.quantile(arr, quantiles, method="lower"))
            # One distinct value is one bin (numpy cannot make a bin around a value too large to widen by 0.5).
            counts = np.histogram(arr, bins=edges)[0] if edges.size > 1 else np.array([arr.size])
            # A deterministic sample of the values lets a later version be binned on these edges.
            picked = np.sort(arr)[np.linspace(0, arr.size - 1, min(arr.size, SAMPLE_SIZE)).astype(int)]
            out[key] = {
                "kind": "numeric",
                "edges": [round(float(e), 6) for e in edges],
                "shares": [round(c / arr.size, 6) for c in counts.tolist()],
                "missing": round(1 - arr.size / total, 6),
                "sample": [round(float(v), 6) for v in picked],
            }
        else:
            counts = (Counter(values) if kinds == {str} else  # plain texts are counted whole
                      Counter(str(v) for v in values if v is not None and not isinstance(v, (dict, list))))
            if not counts or any(len(k) > 40 for k in counts):  # free text is not profiled
                continue
            top = dict(counts.most_common(MAX_CATEGORIES))
            other = sum(counts.values()) - sum(top.values())
            shares = {k: round(v / total, 6) for k, v in top.items()}
            if other:
                shares["__other__"] = round(other / total, 6)
            out[key] = {"kind": "categorical", "shares": shares}
    return out


_NUMBER_TYPES = frozenset((int, float))


def _columns(rows: list[dict | None]) -> dict[str, list]:
    """Each feature's values, in the order of the rows that have it, the features in the order first seen."""
    first = rows[0] if rows and rows[0] else None
    if first is not None and set(map(type, rows)) == {dict} and all(map(first.keys().__eq__, map(dict.keys, rows))):
        return {key: [row[key] for row in rows] for key in first}  # every row has the same features
    columns: dict[str, list] = {}
    for row in rows:
        for key, value in (row or {}).items():
            columns.setdefault(key, []).append(value)
    return columns


def psi(expected: dict, actual: dict) -> float | None:
    """Population stability index of one feature between two profiles (None when not comparable).

    Numeric features are binned on the expected profile's quantile edges, open at both ends.
    """
    if expected.get("kind") != actual.get("kind"):
        return None
    if expected["kind"] == "categorical":
        keys = set(expected["shares"]) | set(actual["shares"])
        pairs = [(expected["shares"].get(k, 0.0), actual["shares"].get(k, 0.0)) for k in keys]
    else:
        inner = expected["edges"][1:-1]
        bins = [-math.inf, *inner, math.inf]
        exp_counts = np.histogram(expected["sample"], bins=bins)[0]
        act_counts = np.histogram(actual["sample"], bins=bins)[0]
        if not exp_counts.sum() or not act_counts.sum():
            return None
        pairs = list(zip((exp_counts / exp_counts.sum()).tolist(), (act_counts / act_counts.sum()).tolist()))
    eps = 1e-4
    return round(sum((a - e) * math.log((a + eps) / (e + eps)) for e, a in pairs), 6)

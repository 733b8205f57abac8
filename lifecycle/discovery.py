"""Suggest traits an analyst may want to model: stray labels, clusters and text topics.

Plain Python (no Django), deterministic for the same examples and seed.
"""

from __future__ import annotations

import math
import re
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from itertools import pairwise

import numpy as np
import scipy.sparse as sp
from sklearn.cluster import KMeans
from sklearn.decomposition import NMF
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.metrics import silhouette_score

from .trainers import (
    CATEGORICAL,
    EFFORTS,
    LINEAR,
    MISSING_CATEGORY,
    NUMERIC,
    TEXT,
    Featurizer,
    ProgressReporter,
    as_categories,
    as_float,
    as_floats,
    column_values,
    infer_columns,
    is_missing,
    limit_threads,
    normalize_row,
)

_MIN_ROWS = 20
_SILHOUETTE_ROWS = 2_000
_ANCHORS = 5
_CLUSTER_K = {"low": (2, 4), "medium": (2, 6), "high": (2, 6), "max": (2, 8)}
_CLUSTER_INIT = {"low": 1, "medium": 3, "high": 5, "max": 10}
_CLUSTER_CATEGORIES = 20
_TOPIC_K = (2, 5)
_TOPIC_ITER = {"low": 200, "medium": 300, "high": 400, "max": 800}
_TOPIC_TERMS = {"low": 2_000, "medium": 5_000, "high": 10_000, "max": 20_000}
# A document whose dominant topic explains less than this share of it is left out.
_TOPIC_FLOOR = 0.05
# Effect size (difference over spread) a feature needs to be named in a description.
_MIN_EFFECT = 0.3
_DESCRIBED_FEATURES = 3
# Field sizes of the trait table the results are stored in.
_NAME_LENGTH = 255
_LABEL_LENGTH = 100
_SLUG_LENGTH = 60


@dataclass
class DiscoveredTrait:
    key: str
    name: str
    description: str  # readable by an analyst: top features or top terms
    source: str  # "label" | "cluster" | "topic"
    member_indexes: list[int]  # positives; empty for "label" (those carry their own labels)
    anchor_indexes: list[int]  # up to 5 most typical examples
    positive_label: str
    negative_label: str


def discover(
    examples: list[dict],
    known_trait_keys: list[str],
    *,
    effort: str = "high",
    seed: int = 0,
    threads: int = 1,
    progress: Callable[[int, str], None] | None = None,
) -> list[DiscoveredTrait]:
    if effort not in EFFORTS:
        raise ValueError(f"unknown effort {effort!r}; choose one of {', '.join(EFFORTS)}")
    report = ProgressReporter(progress)
    taken = {str(k) for k in known_trait_keys}

    report(5, "reading labels")
    traits = _label_traits(examples, taken)
    taken |= {t.key for t in traits}

    rows = [normalize_row(example) for example in examples]
    with limit_threads(threads):
        report(10, "looking for clusters")
        clusters = _cluster_traits(
            rows, effort, seed, taken, lambda share: report(10 + 40 * share, "looking for clusters")
        )
        taken |= {t.key for t in clusters}
        report(50, "looking for topics")
        topics = _topic_traits(
            rows, effort, seed, taken, lambda share: report(50 + 40 * share, "looking for topics")
        )
    report(95, "naming traits")
    return traits + clusters + topics


# --- labels ---------------------------------------------------------------------------


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _humanize(key: str) -> str:
    words = re.sub(r"[_\-.]+", " ", key).strip()
    return words[:1].upper() + words[1:] if words else key


def _label_traits(examples: Sequence[Mapping], taken: set[str]) -> list[DiscoveredTrait]:
    found: dict[str, list[tuple[int, float, float]]] = {}
    for index, example in enumerate(examples):
        labels = example.get("labels") if isinstance(example, Mapping) else None
        if not isinstance(labels, Mapping):
            continue
        weight = as_float(example.get("weight", 1.0))
        for raw_key, raw in labels.items():
            key = str(raw_key)
            if key in taken:
                continue
            value = as_float(raw)
            entries = found.setdefault(key, [])
            if not math.isnan(value):
                entries.append((index, value, 1.0 if math.isnan(weight) else weight))
    traits = []
    for key, entries in found.items():
        if not entries:
            continue
        positives = [e for e in entries if e[1] >= 0.5]
        # Most confident positives first; heavier examples break ties, then order.
        ranked = sorted(positives, key=lambda e: (-e[1], -e[2], e[0]))
        name = _humanize(key)
        traits.append(
            DiscoveredTrait(
                key=key,
                name=_clip(name, _NAME_LENGTH),
                description=(
                    f"{len(entries)} of {len(examples)} samples carry the label '{key}'; "
                    f"{len(positives) / len(entries):.0%} of them are positive."
                ),
                source="label",
                member_indexes=[],
                anchor_indexes=[e[0] for e in ranked[:_ANCHORS]],
                positive_label=_clip(name, _LABEL_LENGTH),
                negative_label=_clip(f"Not {name[:1].lower() + name[1:]}", _LABEL_LENGTH),
            )
        )
    return traits


# --- clusters -------------------------------------------------------------------------


def _unique_key(base: str, taken: set[str]) -> str:
    key, suffix = base, 2
    while key in taken:
        key, suffix = f"{base}_{suffix}", suffix + 1
    taken.add(key)
    return key


def _human_number(value: float) -> str:
    size = abs(value)
    for divisor, suffix in ((1e9, "B"), (1e6, "M"), (1e3, "k")):
        if size >= divisor:
            return f"{value / divisor:.3g}{suffix}"
    return f"{value:.3g}"


def _sample(n: int, seed: int) -> np.ndarray:
    if n <= _SILHOUETTE_ROWS:
        return np.arange(n)
    return np.sort(np.random.RandomState(seed).choice(n, _SILHOUETTE_ROWS, replace=False))


def _distinct_rows(X: sp.csr_matrix) -> int:
    canonical = X.copy()
    canonical.sum_duplicates()  # sorted indices: equal rows give equal bytes
    return len(
        {
            (canonical.indices[a:b].tobytes(), canonical.data[a:b].tobytes())
            for a, b in pairwise(canonical.indptr)
        }
    )


def _best_k(
    X: sp.csr_matrix,
    k_range: tuple[int, int],
    fit: Callable[[int, sp.csr_matrix], np.ndarray],
    metric: str,
    seed: int,
    report: Callable[[float], None],
) -> int | None:
    """k with the best silhouette on a sample; None when no split is possible."""
    sample = X[_sample(X.shape[0], seed)]
    distinct = _distinct_rows(sample)
    best: tuple[float, int] | None = None
    low, high = k_range
    for k in range(low, high + 1):
        report((k - low + 1) / (high - low + 2))
        if k >= distinct:
            break
        labels = fit(k, sample)
        if len(np.unique(labels)) < 2:
            continue
        score = float(silhouette_score(sample, labels, metric=metric))
        if best is None or score > best[0]:
            best = (score, k)
    return None if best is None else best[1]


def _cluster_traits(
    rows: Sequence[Mapping],
    effort: str,
    seed: int,
    taken: set[str],
    report: Callable[[float], None],
) -> list[DiscoveredTrait]:
    positions = [i for i, row in enumerate(rows) if row["features"]]
    if len(positions) < _MIN_ROWS:
        return []
    subset = [rows[i] for i in positions]
    columns = [c for c in infer_columns(subset) if c["kind"] in (NUMERIC, CATEGORICAL)]
    if not columns:
        return []
    featurizer = Featurizer.fit(subset, columns, LINEAR, max_categories=_CLUSTER_CATEGORIES)
    # One-hot columns scaled so a differing category counts like one standard deviation.
    scale = np.concatenate(
        [
            np.full(featurizer.block_width(i), 1.0 if c["kind"] == NUMERIC else math.sqrt(0.5))
            for i, c in enumerate(featurizer.columns)
        ]
    )
    X = sp.csr_matrix(featurizer.transform(subset) @ sp.diags(scale))

    def fit(k: int, data: sp.csr_matrix) -> KMeans:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return KMeans(n_clusters=k, n_init=_CLUSTER_INIT[effort], random_state=seed).fit(data)

    k = _best_k(
        X, _CLUSTER_K[effort], lambda k, data: fit(k, data).labels_, "euclidean", seed, report
    )
    if k is None:
        return []
    model = fit(k, X)
    distances = model.transform(X)
    labels = model.labels_
    # Number clusters by size so "cluster_1" is the largest, independent of k-means order.
    order = sorted(range(k), key=lambda c: (-int((labels == c).sum()), int(np.argmax(labels == c))))
    profiles = _profiles(featurizer, subset)
    traits = []
    for number, cluster in enumerate(order, start=1):
        inside = labels == cluster
        members = np.flatnonzero(inside)
        if not len(members):
            continue
        closest = members[np.lexsort((members, distances[members, cluster]))][:_ANCHORS]
        phrases = _describe_cluster(profiles, inside)
        headline = phrases[0][1] if phrases else "no single feature stands out"
        key = _unique_key(f"cluster_{number}", taken)
        traits.append(
            DiscoveredTrait(
                key=key,
                name=_clip(f"Cluster {number}: {headline}", _NAME_LENGTH),
                description=(
                    f"{len(members)} samples ({len(members) / len(subset):.0%}); "
                    + (", ".join(p[0] for p in phrases) if phrases else headline)
                ),
                source="cluster",
                member_indexes=[positions[i] for i in members],
                anchor_indexes=[positions[i] for i in closest],
                positive_label=f"In cluster {number}",
                negative_label=f"Outside cluster {number}",
            )
        )
    return traits


@dataclass(frozen=True)
class _Profile:
    """A column's raw values, converted once and reused for every cluster."""

    name: str
    numbers: np.ndarray | None  # numeric columns
    hits: list[tuple[str, np.ndarray]]  # categorical columns: (category, rows having it)


def _profiles(featurizer: Featurizer, rows: Sequence[Mapping]) -> list[_Profile]:
    profiles = []
    for column in featurizer.columns:
        values = column_values(rows, column)
        if column["kind"] == NUMERIC:
            numbers = as_floats(values)
            profiles.append(_Profile(column["name"], numbers, []))
            continue
        categories = np.array(
            [MISSING_CATEGORY if c is None else c for c in as_categories(values)], dtype=object
        )
        hits = [(c, categories == c) for c in [*column["categories"], MISSING_CATEGORY]]
        profiles.append(_Profile(column["name"], None, hits))
    return profiles


def _describe_cluster(profiles: list[_Profile], inside: np.ndarray) -> list[tuple[str, str]]:
    """(full phrase, short phrase) for the features that most set a cluster apart."""
    candidates: list[tuple[float, str, str]] = []
    for profile in profiles:
        name = profile.name
        if profile.numbers is not None:
            spread = np.nanstd(profile.numbers)
            within, without = profile.numbers[inside], profile.numbers[~inside]
            if not spread > 0 or np.isnan(within).all() or np.isnan(without).all():
                continue
            mean_in, mean_out = float(np.nanmean(within)), float(np.nanmean(without))
            direction = "high" if mean_in > mean_out else "low"
            means = f"mean {_human_number(mean_in)} vs {_human_number(mean_out)}"
            effect = abs(mean_in - mean_out) / spread
            candidates.append((effect, f"{name} {direction} ({means})", f"{name} {direction}"))
        for category, hit in profile.hits:
            overall = hit.mean()
            if not 0 < overall < 1:
                continue
            share_in, share_out = hit[inside].mean(), hit[~inside].mean()
            if share_in <= share_out:
                continue  # describe a cluster by what it has, not by what it lacks
            effect = (share_in - share_out) / math.sqrt(overall * (1 - overall))
            shares = f"{share_in:.0%} vs {share_out:.0%}"
            candidates.append((effect, f"{name}={category} ({shares})", f"{name}={category}"))
    candidates.sort(key=lambda c: (-c[0], c[1]))
    return [
        (full, short)
        for effect, full, short in candidates[:_DESCRIBED_FEATURES]
        if effect >= _MIN_EFFECT
    ]


# --- topics ---------------------------------------------------------------------------


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.lower()).strip("_")


def _topic_traits(
    rows: Sequence[Mapping],
    effort: str,
    seed: int,
    taken: set[str],
    report: Callable[[float], None],
) -> list[DiscoveredTrait]:
    text_columns = [c for c in infer_columns(rows) if c["kind"] == TEXT]
    if not text_columns:
        return []
    parts = [column_values(rows, c) for c in text_columns]
    documents = [
        " ".join(str(column[i]) for column in parts if not is_missing(column[i]))
        for i in range(len(rows))
    ]
    positions = [i for i, doc in enumerate(documents) if doc.strip()]
    if len(positions) < _MIN_ROWS:
        return []
    vectorizer = TfidfVectorizer(
        stop_words="english",
        min_df=2 if len(positions) >= 50 else 1,
        max_df=0.95,
        max_features=_TOPIC_TERMS[effort],
        sublinear_tf=True,
        token_pattern=r"(?u)\b[^\W\d_][\w']+\b",
    )
    try:
        V = vectorizer.fit_transform([documents[i] for i in positions])
    except ValueError:  # nothing left after stop words
        return []
    covered = np.flatnonzero(V.getnnz(axis=1) > 0)
    if len(covered) < _MIN_ROWS or V.shape[1] < 2:
        return []
    V = V[covered]
    positions = [positions[i] for i in covered]
    terms = vectorizer.get_feature_names_out()

    def fit(k: int, data: sp.csr_matrix) -> tuple[NMF, np.ndarray]:
        model = NMF(n_components=k, init="nndsvda", max_iter=_TOPIC_ITER[effort], random_state=seed)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return model, model.fit_transform(data)

    low, high = _TOPIC_K
    k_range = (low, min(high, V.shape[1]))
    k = _best_k(V, k_range, lambda k, data: fit(k, data)[1].argmax(axis=1), "cosine", seed, report)
    if k is None:
        return []
    model, doc_topics = fit(k, V)
    # Weight times topic norm = the share of a (unit-length) document the topic explains.
    contribution = doc_topics * np.linalg.norm(model.components_, axis=1)
    dominant = contribution.argmax(axis=1)
    strength = contribution.max(axis=1)
    traits = []
    for topic in range(k):
        members = np.flatnonzero((dominant == topic) & (strength >= _TOPIC_FLOOR))
        if not len(members):
            continue
        weights = model.components_[topic]
        top = [
            terms[j] for j in sorted(range(len(terms)), key=lambda j: (-weights[j], terms[j]))[:5]
        ]
        strongest = members[np.lexsort((members, -contribution[members, topic]))][:_ANCHORS]
        headline = ", ".join(top[:2])
        slug = _slug("_".join(top[:2]))[:_SLUG_LENGTH].strip("_") or str(topic + 1)
        key = _unique_key(f"topic_{slug}", taken)
        traits.append(
            DiscoveredTrait(
                key=key,
                name=_clip(f"Topic: {headline}", _NAME_LENGTH),
                description=f"top terms: {', '.join(top)}",
                source="topic",
                member_indexes=[positions[i] for i in members],
                anchor_indexes=[positions[i] for i in strongest],
                positive_label=_clip(f"About {headline}", _LABEL_LENGTH),
                negative_label=_clip(f"Not about {headline}", _LABEL_LENGTH),
            )
        )
    return traits

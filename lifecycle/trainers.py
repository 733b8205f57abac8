"""Train, package and load the tabular scoring models behind a model version.

Plain Python on purpose (no Django): the task layer hands in examples and stores
the returned artifact bytes; the serving layer calls ``load`` and ``predict_proba``.
"""

from __future__ import annotations

import hashlib
import inspect
import io
import json
import math
import warnings
import zipfile
import zlib
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from itertools import compress, pairwise
from typing import Any

import numpy as np
import orjson
import scipy.sparse as sp
import skops
import skops.io as sio
from scipy.special import expit
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.exceptions import ConvergenceWarning
from sklearn.feature_extraction.text import HashingVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.preprocessing import normalize
from threadpoolctl import ThreadpoolController

from . import paired
from .model_types import TABULAR_TYPES

EFFORTS = ("low", "medium", "high", "max")

ARTIFACT_FORMAT = "lifecycle.tabular-model"
ARTIFACT_VERSION = 1

NUMERIC, CATEGORICAL, TEXT = "numeric", "categorical", "text"
CONTENT_COLUMN = "content"
MISSING_CATEGORY = "(missing)"
OTHER_CATEGORY = "(other)"
MAX_CATEGORIES = 50

# Featurizer layouts: "linear" is sparse (logistic regression, MLP), "tree" is dense
# with ordinal categories (gradient boosting), "scorecard" is one-hot bins only.
LINEAR, TREE, SCORECARD = "linear", "tree", "scorecard"
_MODE = {
    "logistic_regression": LINEAR,
    "gradient_boosted": TREE,
    "scorecard": SCORECARD,
    "neural_cf": LINEAR,
}
_HASH_FEATURES = {LINEAR: 4096, TREE: 256, SCORECARD: 0}

_ESTIMATOR_CLASS: dict[str, type] = {
    "logistic_regression": LogisticRegression,
    "gradient_boosted": HistGradientBoostingClassifier,
    "scorecard": LogisticRegression,
    "neural_cf": MLPClassifier,
}
# Types skops does not trust by default but these estimators legitimately contain
# (checked with skops.io.get_untrusted_types). Anything else in an artifact is refused.
TRUSTED_TYPES: dict[str, frozenset[str]] = {
    "logistic_regression": frozenset(),
    "scorecard": frozenset(),
    # Native categorical support adds a ColumnTransformer passing columns through
    # partial(check_array); partial can only wrap functions that are trusted themselves.
    "gradient_boosted": frozenset(
        {
            "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
            "functools.partial",
            "sklearn.utils.validation.check_array",
        }
    ),
    "neural_cf": frozenset(),  # the AdamOptimizer is dropped before packing
}

# Candidate parameters per effort, chosen by validation log loss on the fit part (never the holdout). Each
# effort's candidates include those of the effort below, so more effort never searches less; "low" has one
# candidate and trains as it always did.
_C_GRID = {
    "low": (1.0,),
    "medium": (0.01, 0.1, 1.0, 10.0),
    "high": (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0),
    "max": (0.003, 0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0),
}
_BOOSTING_DEFAULT = {"learning_rate": 0.1, "max_leaf_nodes": 31, "min_samples_leaf": 20, "l2_regularization": 0.0}
# Smaller, regularised trees come first: on a few hundred noisy rows the default overfits within a few rounds.
_BOOSTING_EXTRA = (
    {"learning_rate": 0.05, "max_leaf_nodes": 7, "min_samples_leaf": 40, "l2_regularization": 1.0},
    {"learning_rate": 0.1, "max_leaf_nodes": 15, "min_samples_leaf": 20, "l2_regularization": 1.0},
    {"learning_rate": 0.05, "max_leaf_nodes": 31, "min_samples_leaf": 10, "l2_regularization": 0.0},
    {"learning_rate": 0.05, "max_leaf_nodes": 3, "min_samples_leaf": 80, "l2_regularization": 10.0},
    {"learning_rate": 0.1, "max_leaf_nodes": 63, "min_samples_leaf": 20, "l2_regularization": 1.0},
)
_BOOSTING_GRID = {
    "low": (_BOOSTING_DEFAULT,),
    "medium": (_BOOSTING_DEFAULT, *_BOOSTING_EXTRA[:1]),
    "high": (_BOOSTING_DEFAULT, *_BOOSTING_EXTRA[:3]),
    "max": (_BOOSTING_DEFAULT, *_BOOSTING_EXTRA),
}
# Medium and up also choose the iteration count (see _resolve_params), so even one candidate is a search.
_MLP_ALPHA_GRID = {
    "low": (1e-4,),
    "medium": (1e-4,),
    "high": (1e-4, 1.0),
    "max": (1e-4, 1e-2, 0.1, 1.0, 10.0),
}
_LINEAR_MAX_ITER = {"low": 200, "medium": 500, "high": 1000, "max": 2000}
_BOOSTING_MAX_ITER = {"low": 50, "medium": 100, "high": 200, "max": 400}
_MLP_MAX_ITER = {"low": 50, "medium": 100, "high": 200, "max": 400}
_IMPORTANCE_REPEATS = {"low": 1, "medium": 2, "high": 3, "max": 5}

_MIN_PER_CLASS = 2
# A 20% stratified holdout keeps at least 2 of a class only from 10 of it upwards.
_MIN_CLASS_FOR_HOLDOUT = 10
_HOLDOUT_SIZE = 0.2
_TUNING_ROWS = 20_000
_MIN_CLASS_FOR_TUNING = 8  # a 25% validation split then holds at least 2 of each class
_IMPORTANCE_ROWS = 2_000
_EARLY_STOPPING_ROWS = 1_000
# Rounds or epochs without a validation loss better by _CURVE_TOL before tuning stops following a curve
# (on separable data the loss creeps towards 0 for ever).
_ROUND_PATIENCE = 20
_EPOCH_PATIENCE = 10
_CURVE_TOL = 1e-3
# Up to this many fit rows a trait is tuned by 3-fold cross-validation: one 25% split of a few hundred rows
# is too noisy to choose between candidates (on a 500-row set it settled on 2 boosting rounds).
_CROSS_VALIDATION_ROWS = 2_000
_FOLDS = 3
# Since scikit-learn 1.7 boosting takes a validation set of ours, so a tuning fit can stop when it stops improving.
_BOOSTING_TAKES_VALIDATION = "X_val" in inspect.signature(HistGradientBoostingClassifier.fit).parameters
_MLP_EARLY_STOPPING_ROWS = 500
_MLP_EARLY_STOPPING_MINORITY = 25
# The serving version is compared on the holdout rows it never trained on when they hold this many of each class.
_MIN_CLASS_UNSEEN = 10
_WEAK_AUC = 0.55  # under this a trait's ranking is too close to chance to act on
_MIN_ROWS_FOR_EMPTY_TIER = 100
_Z_CLIP = 10.0

# Standard scorecard scaling: 600 points at odds 50:1, 20 points to double the odds.
_PDO = 20.0
_BASE_SCORE = 600.0
_BASE_ODDS = 50.0

ProgressCallback = Callable[[int, str], None]


class TrainingError(Exception):
    """Data that cannot train (message is shown to the analyst: say what to fix)."""


@dataclass(frozen=True)
class TraitMetrics:
    auc: float
    log_loss: float
    accuracy: float
    base_rate: float
    sample_count: int
    positives: int
    negatives: int
    evaluation: str  # "holdout" or "training"
    evaluation_count: int
    histogram: dict
    breaks: dict
    scorecard: dict | None = None
    # How the evaluated fit ran (iteration count, whether it stopped early, "tuned" when the tuning curves
    # chose the count), which the served refit repeats.
    fit: dict | None = None
    quality_warnings: list[dict] | None = None

    def as_dict(self) -> dict:
        data = {
            "auc": self.auc,
            "logLoss": self.log_loss,
            "accuracy": self.accuracy,
            "baseRate": self.base_rate,
            "sampleCount": self.sample_count,
            "positives": self.positives,
            "negatives": self.negatives,
            "evaluation": self.evaluation,
            "evaluationCount": self.evaluation_count,
            "histogram": self.histogram,
            "breaks": self.breaks,
        }
        if self.scorecard is not None:
            data["scorecard"] = self.scorecard
        if self.fit is not None:
            data["fit"] = self.fit
        if self.quality_warnings is not None:
            data["qualityWarnings"] = self.quality_warnings
        return data


@dataclass
class TrainResult:
    artifact: bytes
    metrics: dict
    predictors: list[dict]
    param_hash: str
    params: dict
    sample_count: int
    # The serving version beside this one on the same holdout rows: {"traits": {key: paired.compare(...)
    # plus "unseenOnly"}}, or {"error": ...} for a trait it could not score; None when nothing was compared.
    comparison: dict | None = None
    # What the version reads (input_schema): one entry per column the featurizer kept.
    input_schema: list[dict] = field(default_factory=list)
    # Per trait, the curves of its evaluation rows (evaluation_curves): what the version page draws.
    evaluation: dict = field(default_factory=dict)


class ProgressReporter:
    """Keeps progress monotonic and below 100 (the caller marks completion)."""

    def __init__(self, callback: ProgressCallback | None) -> None:
        self._callback = callback
        self._last = 0

    def __call__(self, percent: float, message: str) -> None:
        if self._callback is None:
            return
        value = min(99, max(self._last, int(percent)))
        self._last = value
        self._callback(value, message)


_controller: ThreadpoolController | None = None


@contextmanager
def limit_threads(threads: int) -> Iterator[None]:
    """threadpoolctl limit for BLAS/OpenMP around fitting and prediction.

    One cached controller: ``threadpool_limits()`` rescans the loaded libraries on every
    call (~2 ms), too slow for single-row predictions.
    """
    global _controller
    if _controller is None:
        _controller = ThreadpoolController()
    with _controller.limit(limits=threads):
        yield


# --- raw values -----------------------------------------------------------------------


def is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and not value.strip()


def as_float(value: Any) -> float:
    if isinstance(value, (bool, np.bool_)):
        return float(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value.strip())
        except ValueError:
            return math.nan
    else:
        return math.nan
    return number if math.isfinite(number) else math.nan


def as_category(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        number = float(value)
        return str(int(number)) if number.is_integer() else repr(number)
    if isinstance(value, str):
        return value.strip()
    return json.dumps(value, sort_keys=True, default=str)


def _as_text(value: Any) -> str:
    return "" if is_missing(value) else str(value)


# A column's values are converted whole where every one is of these exact types (a bool is not an int here), and
# one at a time otherwise: the same values either way.
_NUMBER_TYPES = frozenset((int, float))


def as_floats(values: Sequence) -> np.ndarray:
    """``as_float`` of every value of a column, as an array."""
    if set(map(type, values)) <= _NUMBER_TYPES:
        try:
            numbers = np.array(values, dtype=np.float64)
        except OverflowError:  # an int too large for a float: as_float says how
            pass
        else:
            numbers[~np.isfinite(numbers)] = np.nan
            return numbers
    return np.array([as_float(v) for v in values], dtype=np.float64)


def as_categories(values: Sequence) -> list[str | None]:
    """``as_category`` of every value of a column, None where the value is missing."""
    if set(map(type, values)) <= {str}:
        return [text or None for text in map(str.strip, values)]
    return [None if is_missing(v) else as_category(v) for v in values]


def present_values(values: Sequence) -> list:
    """The values of a column that are not missing, in order."""
    kinds = set(map(type, values))
    if kinds <= {int}:
        return list(values)
    if kinds <= _NUMBER_TYPES:  # NaN is the one number that is missing
        return [v for v in values if type(v) is int or not math.isnan(v)]
    if kinds <= {str}:
        return list(compress(values, map(str.strip, values)))
    return [v for v in values if not is_missing(v)]


def _mostly_numbers(present: Sequence, share: float) -> bool:
    """Whether at least `share` of the present values read as numbers (``as_float`` not NaN)."""
    if set(map(type, present)) <= _NUMBER_TYPES:
        return int(np.count_nonzero(~np.isnan(as_floats(present)))) >= share * len(present)
    need, misses = share * len(present), 0
    # Texts are read once each: a category's few values repeat, and a failed conversion costs an exception.
    read: dict[str, bool] | None = {} if set(map(type, present)) <= {str} else None
    for v in present:  # one by one, stopping once the share cannot be reached (a column of words, at its start)
        if read is None:
            miss = math.isnan(as_float(v))
        elif (miss := read.get(v)) is None:
            miss = read[v] = math.isnan(as_float(v))
        if miss:
            misses += 1
            if len(present) - misses < need:
                return False
    return True


def normalize_row(row: Any) -> dict:
    """A predict input or example reduced to {"features": dict, "content": str | None}."""
    if not isinstance(row, Mapping):
        return {"features": {}, "content": None}
    features = row.get("features")
    content = row.get("content")
    return {
        "features": features if isinstance(features, Mapping) else {},
        "content": content if isinstance(content, str) else None,
    }


def column_values(rows: Sequence[Mapping], column: Mapping) -> list:
    if column["source"] == CONTENT_COLUMN:
        return [row["content"] for row in rows]
    key = column["key"]
    return [row["features"].get(key) for row in rows]


class ColumnReader:
    """``column_values`` of one list of normalized rows, each column read once however often it is asked for:
    training reads a column to tell its kind, to fit it and to describe it. The lists are shared, so no caller
    changes them."""

    def __init__(self, rows: Sequence[Mapping]) -> None:
        self.rows = rows
        self._read: dict[tuple[str, str], list] = {}

    def __call__(self, column: Mapping) -> list:
        name = (column["source"], column["key"])
        values = self._read.get(name)
        if values is None:
            values = self._read[name] = column_values(self.rows, column)
        return values


def _looks_like_text(values: list) -> bool:
    strings = values if set(map(type, values)) <= {str} else [str(v) for v in values]
    distinct = len(set(strings))
    # Repetitive short labels are categories even when they contain spaces.
    varied = distinct > 50 or distinct > 0.5 * len(strings)
    if not varied:
        return False
    mean_words = float(np.mean([len(s.split()) for s in strings]))
    mean_length = float(np.mean(list(map(len, strings))))
    return mean_words >= 3 or mean_length >= 40


def infer_columns(rows: Sequence[Mapping], read: ColumnReader | None = None) -> list[dict]:
    """Feature schema of normalized rows: one column per feature key, plus content (``read``: the rows' columns,
    when the caller reads them again)."""
    read = read or ColumnReader(rows)
    first = rows[0]["features"].keys() if rows else ()
    if all(map(first.__eq__, (row["features"].keys() for row in rows))):  # the usual rows: the same features
        keys = sorted(map(str, first))
    else:
        keys = sorted({str(key) for row in rows for key in row["features"]})
    columns: list[dict] = []
    for key in keys:
        column = {"key": key, "source": "features", "name": key}
        present = present_values(read(column))
        if not present:
            continue
        if _mostly_numbers(present, 0.95):
            kind = NUMERIC
        elif _looks_like_text(present):
            kind = TEXT
        else:
            kind = CATEGORICAL
        columns.append({**column, "kind": kind})
    if any(row["content"] and row["content"].strip() for row in rows):
        # A feature literally called "content" keeps a distinct display name.
        for column in columns:
            if column["name"] == CONTENT_COLUMN:
                column["name"] = f"features.{CONTENT_COLUMN}"
        columns.append(
            {"key": CONTENT_COLUMN, "source": CONTENT_COLUMN, "name": CONTENT_COLUMN, "kind": TEXT}
        )
    return columns


def _round_significant(values: np.ndarray, digits: int = 3) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        magnitude = np.where(values == 0, 0, np.floor(np.log10(np.abs(values))))
    scale = 10.0 ** (digits - 1 - magnitude)
    return np.round(values * scale) / scale


def _bin_edges(values: np.ndarray, n_bins: int) -> list[float]:
    """Inner edges of up to n_bins quantile bins, rounded so labels read well."""
    distinct = np.unique(values)
    if len(distinct) <= 1:
        return []
    if len(distinct) <= n_bins:
        return [float(v) for v in distinct[1:]]
    quantiles = np.quantile(values, np.linspace(0, 1, n_bins + 1)[1:-1])
    edges = np.unique(_round_significant(quantiles))
    edges = edges[(edges > distinct[0]) & (edges <= distinct[-1])]
    return [float(v) for v in edges]


def format_number(value: float) -> str:
    return np.format_float_positional(float(value), precision=6, unique=True, trim="-")


# --- featurizer -----------------------------------------------------------------------


def _hasher(n_features: int) -> HashingVectorizer:
    # Stateless and deterministic: only the idf vector needs storing.
    return HashingVectorizer(
        n_features=n_features,
        alternate_sign=False,
        norm=None,
        strip_accents="unicode",
        dtype=np.float64,
    )


class Featurizer:
    """Turns raw rows into model input; its whole fitted state is plain JSON.

    Every column produces its own block of output columns from that column alone, so
    permuting a block's rows is the same as shuffling the raw column and re-featurizing.
    """

    def __init__(self, state: Mapping[str, Any]) -> None:
        self.state = state
        self.mode: str = state["mode"]
        self.columns: list[dict] = list(state["columns"])
        if self.mode not in (LINEAR, TREE, SCORECARD):
            raise ValueError(f"unknown featurizer mode {self.mode!r}")
        hash_features = int(state["hashFeatures"])
        self._hasher = _hasher(hash_features) if hash_features else None
        self._idf: dict[int, np.ndarray] = {}
        self._category_index: dict[int, dict[str, int]] = {}
        for i, column in enumerate(self.columns):
            if column["kind"] == TEXT:
                idf = np.asarray(column["idf"], dtype=np.float64)
                if self._hasher is None or idf.shape != (hash_features,):
                    raise ValueError(f"text column {column['name']!r} has a malformed idf")
                self._idf[i] = idf
            elif column["kind"] == CATEGORICAL:
                self._category_index[i] = {c: k for k, c in enumerate(column["categories"])}

    @classmethod
    def fit(
        cls,
        rows: Sequence[Mapping],
        columns: Sequence[Mapping],
        mode: str,
        *,
        bins: int = 5,
        max_categories: int = MAX_CATEGORIES,
    ) -> Featurizer:
        return cls._fit(rows, columns, mode, bins, max_categories)[0]

    @classmethod
    def fit_transform(
        cls,
        rows: Sequence[Mapping],
        columns: Sequence[Mapping],
        mode: str,
        *,
        bins: int = 5,
        max_categories: int = MAX_CATEGORIES,
        read: ColumnReader | None = None,
    ) -> tuple[Featurizer, np.ndarray | sp.csr_matrix]:
        """``fit`` and then ``transform`` of the same rows, giving the same matrix, with each column's values read,
        converted and hashed once instead of twice (``read``: the rows' columns, when already read)."""
        featurizer, parsed = cls._fit(rows, columns, mode, bins, max_categories, read)
        return featurizer, featurizer.combine(
            [featurizer._parsed_block(i, values) for i, values in enumerate(parsed)]
        )

    @classmethod
    def _fit(
        cls, rows: Sequence[Mapping], columns: Sequence[Mapping], mode: str, bins: int, max_categories: int,
        read: ColumnReader | None = None,
    ) -> tuple[Featurizer, list]:
        """The fitted featurizer, and per kept column its values as fitting converted them (numbers with NaN,
        categories with None for missing, hashed term counts) for ``_parsed_block``."""
        hash_features = _HASH_FEATURES[mode] if any(c["kind"] == TEXT for c in columns) else 0
        hasher = _hasher(hash_features) if hash_features else None
        fitted: list[dict] = []
        parsed: list = []
        read = read or ColumnReader(rows)
        for column in columns:
            base = {k: column[k] for k in ("key", "source", "name", "kind")}
            values = read(column)
            if column["kind"] == NUMERIC:
                numbers = as_floats(values)
                present = numbers[~np.isnan(numbers)]
                if not len(present):
                    continue
                std = float(present.std())
                base |= {
                    "median": float(np.median(present)),
                    "mean": float(present.mean()),
                    "std": std if std > 0 else 1.0,
                }
                if mode == SCORECARD:
                    base["edges"] = _bin_edges(present, bins)
                parsed.append(numbers)
            elif column["kind"] == CATEGORICAL:
                categories = as_categories(values)
                counts = Counter(categories)
                counts.pop(None, None)
                ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
                base["categories"] = [name for name, _ in ranked[:max_categories]]
                parsed.append(categories)
            else:
                if hasher is None:
                    continue
                counts = hasher.transform([_as_text(v) for v in values])
                document_frequency = np.bincount(counts.indices, minlength=hash_features)
                n_documents = len(values)
                # Smoothed idf, as TfidfVectorizer(smooth_idf=True).
                idf = np.log((1 + n_documents) / (1 + document_frequency)) + 1.0
                base["idf"] = idf.tolist()
                parsed.append(counts)
            fitted.append(base)
        return cls({"mode": mode, "hashFeatures": hash_features, "columns": fitted}), parsed

    def block_width(self, index: int) -> int:
        column = self.columns[index]
        if column["kind"] == NUMERIC:
            return len(column["edges"]) + 1 if self.mode == SCORECARD else 1
        if column["kind"] == CATEGORICAL:
            return 1 if self.mode == TREE else len(column["categories"]) + 2
        return int(self.state["hashFeatures"])

    def categorical_mask(self) -> np.ndarray:
        """Output columns holding ordinal category codes (tree mode only)."""
        mask = [
            self.mode == TREE and column["kind"] == CATEGORICAL
            for i, column in enumerate(self.columns)
            for _ in range(self.block_width(i))
        ]
        return np.array(mask, dtype=bool)

    def blocks(self, rows: Sequence[Any]) -> list:
        normalized = [normalize_row(row) for row in rows]
        return [self._block(i, column_values(normalized, c)) for i, c in enumerate(self.columns)]

    def combine(self, blocks: Sequence) -> np.ndarray | sp.csr_matrix:
        if self.mode == TREE:
            return np.hstack(blocks)
        return sp.hstack(blocks, format="csr", dtype=np.float64)

    def transform(self, rows: Sequence[Any]) -> np.ndarray | sp.csr_matrix:
        return self.combine(self.blocks(rows))

    def _block(self, index: int, values: list) -> np.ndarray | sp.csr_matrix:
        column = self.columns[index]
        if column["kind"] == NUMERIC:
            return self._numeric_block(column, as_floats(values))
        if column["kind"] == CATEGORICAL:
            return self._parsed_block(index, as_categories(values))
        assert self._hasher is not None
        return self._text_block(index, self._hasher.transform([_as_text(v) for v in values]))

    def _parsed_block(self, index: int, parsed: Any) -> np.ndarray | sp.csr_matrix:
        """``_block`` of the values ``_fit`` converted (it owns them: they are changed in place)."""
        column = self.columns[index]
        if column["kind"] == NUMERIC:
            return self._numeric_block(column, parsed)
        if column["kind"] == CATEGORICAL:
            index_of = self._category_index[index]
            other = len(index_of)
            codes = np.array(
                [other + 1 if c is None else index_of.get(c, other) for c in parsed], dtype=np.int64
            )
            return self._codes_block(codes, other)
        return self._text_block(index, parsed)

    def _numeric_block(self, column: Mapping, numbers: np.ndarray) -> np.ndarray | sp.csr_matrix:
        numbers[np.isnan(numbers)] = column["median"]
        if self.mode == SCORECARD:
            codes = np.searchsorted(
                np.asarray(column["edges"], dtype=np.float64), numbers, "right"
            )
            return _one_hot(codes, len(column["edges"]) + 1)
        z = np.clip((numbers - column["mean"]) / column["std"], -_Z_CLIP, _Z_CLIP)
        return z.reshape(-1, 1) if self.mode == TREE else sp.csr_matrix(z.reshape(-1, 1))

    def _codes_block(self, codes: np.ndarray, other: int) -> np.ndarray | sp.csr_matrix:
        if self.mode == TREE:
            return codes.astype(np.float64).reshape(-1, 1)
        return _one_hot(codes, other + 2)

    def _text_block(self, index: int, counts: sp.csr_matrix) -> np.ndarray | sp.csr_matrix:
        counts.data *= self._idf[index][counts.indices]
        matrix = normalize(counts, norm="l2", copy=False)
        return matrix.toarray() if self.mode == TREE else matrix

    def split(self, X: np.ndarray | sp.csr_matrix) -> list:
        """The blocks of a matrix this featurizer made (the inverse of ``combine``): the same blocks ``blocks``
        gives for its rows, without reading the rows again."""
        X = X if self.mode == TREE else sp.csr_matrix(X)
        blocks, start = [], 0
        for i in range(len(self.columns)):
            width = self.block_width(i)
            blocks.append(X[:, start:start + width])
            start += width
        return blocks

    def bin_labels(self, index: int) -> list[str]:
        """Labels of a column's one-hot block (scorecard points table)."""
        column = self.columns[index]
        if column["kind"] == CATEGORICAL:
            return [*column["categories"], OTHER_CATEGORY, MISSING_CATEGORY]
        edges = [format_number(e) for e in column.get("edges", [])]
        if not edges:
            return ["all values"]
        labels = [f"(-inf, {edges[0]})"]
        labels += [f"[{low}, {high})" for low, high in pairwise(edges)]
        labels.append(f"[{edges[-1]}, +inf)")
        return labels

    def schema(self) -> list[dict]:
        return [{k: c[k] for k in ("name", "source", "kind")} for c in self.columns]


# --- input schema ---------------------------------------------------------------------

# The words of the input schema (API and pages) for the featurizer's column kinds.
SCHEMA_TYPES = {NUMERIC: "number", CATEGORICAL: "category", TEXT: "text"}


def input_schema(rows: Sequence[Mapping], featurizer: Featurizer, read: ColumnReader | None = None) -> list[dict]:
    """What a version reads, from the rows its featurizer was fitted on: per column its type, the categories it
    tells apart (the most frequent, at most MAX_CATEGORIES, with a flag when there were more), the range and a
    typical value (the median, the imputation of a missing number; the most frequent category), and how often
    the value was missing. ``read``: the rows' columns, when already read."""
    schema: list[dict] = []
    read = read or ColumnReader(rows)
    for column in featurizer.columns:
        values = read(column)
        entry: dict[str, Any] = {
            "name": column["name"], "key": column["key"], "source": column["source"],
            "type": SCHEMA_TYPES[column["kind"]],
        }
        if column["kind"] == NUMERIC:
            numbers = as_floats(values)
            present = numbers[~np.isnan(numbers)]
            entry |= {"min": float(present.min()), "max": float(present.max()), "typical": column["median"]}
            missing = len(values) - len(present)
        elif column["kind"] == CATEGORICAL:
            categories_seen = as_categories(values)
            missing = categories_seen.count(None)
            seen = set(categories_seen)
            seen.discard(None)
            categories = list(column["categories"])
            entry |= {"categories": categories, "moreCategories": len(seen) > len(categories),
                      "typical": categories[0] if categories else None}
        else:
            words = [len(str(v).split()) for v in present_values(values)]
            missing = len(values) - len(words)
            entry["typicalWords"] = int(np.median(words)) if words else None
        entry["missingRate"] = round(missing / len(values), 4) if values else None
        schema.append(entry)
    return schema


def input_schema_from_featurizer(state: Mapping[str, Any]) -> list[dict]:
    """What can be told of a version trained before input schemas were recorded, from its featurizer alone:
    types, the categories it tells apart and the median of numbers. Ranges, missing rates and whether there were
    more categories were not kept: they are None (unknown)."""
    schema: list[dict] = []
    for column in state.get("columns") or []:
        entry: dict[str, Any] = {
            "name": column["name"], "key": column["key"], "source": column["source"],
            "type": SCHEMA_TYPES[column["kind"]],
        }
        if column["kind"] == NUMERIC:
            entry |= {"min": None, "max": None, "typical": column.get("median")}
        elif column["kind"] == CATEGORICAL:
            categories = list(column.get("categories") or [])
            entry |= {"categories": categories, "moreCategories": None,
                      "typical": categories[0] if categories else None}
        else:
            entry["typicalWords"] = None
        entry["missingRate"] = None
        schema.append(entry)
    return schema


def featurizer_state(artifact: bytes) -> dict:
    """The featurizer of an artifact made by ``train``, without loading its estimators."""
    try:
        with zipfile.ZipFile(io.BytesIO(artifact)) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            if manifest.get("format") != ARTIFACT_FORMAT:
                raise ValueError("not a tabular model artifact")
            return json.loads(archive.read("featurizer.json"))
    except (zipfile.BadZipFile, KeyError, TypeError) as exc:
        raise ValueError(f"malformed model artifact: {exc}") from exc


def _one_hot(codes: np.ndarray, width: int) -> sp.csr_matrix:
    n = len(codes)
    return sp.csr_matrix((np.ones(n, dtype=np.float64), codes, np.arange(n + 1)), shape=(n, width))


# --- parameters -----------------------------------------------------------------------


# Every parameter has a ceiling: a run that would take days or more memory than the worker has is refused
# when it is asked for (a 400 naming the parameter), not after it was accepted and queued.


def _positive_float(maximum: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        number = as_float(value)
        if isinstance(value, bool) or not 0 < number <= maximum:
            raise ValueError(f"must be a number above 0 and at most {maximum:g}")
        return number

    return check


def _non_negative_float(maximum: float) -> Callable[[Any], float]:
    def check(value: Any) -> float:
        number = as_float(value)
        if isinstance(value, bool) or not 0 <= number <= maximum:
            raise ValueError(f"must be a number from 0 to {maximum:g}")
        return number

    return check


def _int_between(minimum: int, maximum: int) -> Callable[[Any], int]:
    def check(value: Any) -> int:
        number = as_float(value)
        if isinstance(value, bool) or not number.is_integer() or not minimum <= number <= maximum:
            raise ValueError(f"must be a whole number from {minimum} to {maximum:,}")
        return int(number)

    return check


def _optional_depth(value: Any) -> int | None:
    return None if value is None else _int_between(1, MAX_TREE_DEPTH)(value)


def _bins(value: Any) -> int:
    return _int_between(2, 10)(value)


def _boolean(value: Any) -> bool:
    if not isinstance(value, bool):
        raise ValueError("must be true or false")
    return value


def _layers(value: Any) -> list[int]:
    if not isinstance(value, (list, tuple)) or not 1 <= len(value) <= 3:
        raise ValueError("must be a list of 1 to 3 layer sizes")
    return [_int_between(1, MAX_LAYER_SIZE)(size) for size in value]


MAX_ITER = 10_000
MAX_TREE_DEPTH = 64
MAX_LEAF_NODES = 4096
MAX_LAYER_SIZE = 1024

_PARAM_RULES: dict[str, dict[str, Callable[[Any], Any]]] = {
    "logistic_regression": {"C": _positive_float(1e6), "max_iter": _int_between(1, MAX_ITER)},
    "scorecard": {"C": _positive_float(1e6), "max_iter": _int_between(1, MAX_ITER), "bins": _bins},
    "gradient_boosted": {
        "max_iter": _int_between(1, MAX_ITER),
        "learning_rate": _positive_float(10.0),
        "max_leaf_nodes": _int_between(2, MAX_LEAF_NODES),
        "max_depth": _optional_depth,
        "min_samples_leaf": _int_between(1, 1_000_000),
        "l2_regularization": _non_negative_float(1e6),
        "early_stopping": _boolean,
    },
    "neural_cf": {
        "hidden_layer_sizes": _layers,
        "alpha": _non_negative_float(1e6),
        "learning_rate_init": _positive_float(10.0),
        "max_iter": _int_between(1, MAX_ITER),
        "early_stopping": _boolean,
    },
}


class ParamError(TrainingError):
    """A parameter override its rule refuses; `name` is the parameter."""

    def __init__(self, name: str, message: str):
        super().__init__(message)
        self.name = name


def check_params(model_type: str, overrides: Mapping | None) -> dict:
    """The caller's overrides, each checked against its rule and bounds (ParamError names the first bad one).
    Cheap and free of fitting, so the API checks them before it accepts a run."""
    rules = _PARAM_RULES[model_type]
    overrides = dict(overrides or {})
    unknown = sorted(str(k) for k in overrides if k not in rules)
    if unknown:
        raise ParamError(unknown[0], f"unknown parameter(s) {', '.join(map(repr, unknown))} for {model_type}; "
                                     f"allowed: {', '.join(sorted(rules))}")
    checked = {}
    for name, value in overrides.items():
        try:
            checked[name] = rules[name](value)
        except (ValueError, TypeError, OverflowError) as exc:
            raise ParamError(name, f"parameter '{name}' {exc} (got {value!r:.60})") from None
    return checked


def _default_params(model_type: str, effort: str) -> dict:
    if model_type == "logistic_regression":
        return {"C": 1.0, "max_iter": _LINEAR_MAX_ITER[effort]}
    if model_type == "scorecard":
        return {"C": 1.0, "max_iter": _LINEAR_MAX_ITER[effort], "bins": 5}
    if model_type == "gradient_boosted":
        return {
            "max_iter": _BOOSTING_MAX_ITER[effort],
            "learning_rate": 0.1,
            "max_leaf_nodes": 31,
            "max_depth": None,
            "min_samples_leaf": 20,
            "l2_regularization": 0.0,
            "early_stopping": True,
        }
    return {
        "hidden_layer_sizes": [32, 16],
        "alpha": 1e-4,
        "learning_rate_init": 1e-3,
        "max_iter": _MLP_MAX_ITER[effort],
        "early_stopping": True,
    }


def _candidates(model_type: str, effort: str) -> list[dict]:
    if model_type in ("logistic_regression", "scorecard"):
        return [{"C": c} for c in _C_GRID[effort]]
    if model_type == "gradient_boosted":
        return [dict(c) for c in _BOOSTING_GRID[effort]]
    return [{"alpha": a} for a in _MLP_ALPHA_GRID[effort]]


@dataclass(frozen=True)
class _Search:
    """What validation chooses: one candidate for all traits, and for iterative fits each trait's iteration count."""

    candidates: list[dict]
    iterations: bool


def _resolve_params(
    model_type: str, effort: str, overrides: Mapping | None
) -> tuple[dict, _Search | None]:
    """Effort defaults with the caller's overrides; second value: what is left to tune (None: nothing).

    A parameter the caller set is never tuned: it is dropped from every candidate. The iteration count of
    boosting and the MLP is early stopping's business: with early_stopping on (the default), max_iter is a
    ceiling and validation chooses the count below it, either the estimator's own early stopping on a fit
    large enough for it or, on a smaller one, the tuning curves (see ``train``). early_stopping=False runs
    exactly max_iter.
    """
    params = _default_params(model_type, effort)
    checked = check_params(model_type, overrides)
    params.update(checked)
    grid = _candidates(model_type, effort)
    candidates: list[dict] = []
    for candidate in grid:
        free = {k: v for k, v in candidate.items() if k not in checked}
        if free not in candidates:
            candidates.append(free)
    # "low" keeps its one candidate and the effort's iteration count: the quick run it always was.
    iterations = effort != "low" and bool(params.get("early_stopping"))
    if len(candidates) < 2 and not iterations:
        return params, None
    return params, _Search(candidates, iterations)


# --- estimators -----------------------------------------------------------------------


def _stops_early(model_type: str, params: Mapping, y: np.ndarray) -> bool:
    """Whether a fit on these labels uses the estimator's own early stopping (it needs enough rows)."""
    if not params.get("early_stopping"):
        return False
    if model_type == "gradient_boosted":
        return len(y) >= _EARLY_STOPPING_ROWS
    # The MLP's 10% validation split needs enough of each class to be meaningful.
    minority = int(min(y.sum(), len(y) - y.sum()))
    return len(y) >= _MLP_EARLY_STOPPING_ROWS and minority >= _MLP_EARLY_STOPPING_MINORITY


def _make_estimator(
    model_type: str, params: Mapping, seed: int, y: np.ndarray, categorical: np.ndarray
) -> Any:
    if model_type in ("logistic_regression", "scorecard"):
        return LogisticRegression(C=params["C"], max_iter=params["max_iter"], random_state=seed)
    if model_type == "gradient_boosted":
        return HistGradientBoostingClassifier(
            max_iter=params["max_iter"],
            learning_rate=params["learning_rate"],
            max_leaf_nodes=params["max_leaf_nodes"],
            max_depth=params["max_depth"],
            min_samples_leaf=params["min_samples_leaf"],
            l2_regularization=params["l2_regularization"],
            early_stopping=_stops_early(model_type, params, y),
            categorical_features=categorical if categorical.any() else None,
            random_state=seed,
        )
    return MLPClassifier(
        hidden_layer_sizes=tuple(params["hidden_layer_sizes"]),
        alpha=params["alpha"],
        learning_rate_init=params["learning_rate_init"],
        max_iter=params["max_iter"],
        early_stopping=_stops_early(model_type, params, y),
        random_state=seed,
    )


def _fit(
    model_type: str,
    params: Mapping,
    seed: int,
    X: Any,
    y: np.ndarray,
    weights: np.ndarray,
    categorical: np.ndarray,
) -> Any:
    estimator = _make_estimator(model_type, params, seed, y, categorical)
    with warnings.catch_warnings():
        # Non-convergence is reported to the analyst through the held-out metrics.
        warnings.simplefilter("ignore", ConvergenceWarning)
        estimator.fit(X, y, sample_weight=_fit_weights(weights))
    if isinstance(estimator, MLPClassifier):
        # Optimizer moments and best-epoch copies only serve warm starts; dropping them
        # cuts the artifact to a third and keeps AdamOptimizer out of the allow-list.
        estimator._optimizer = None
        estimator._best_coefs = None
        estimator._best_intercepts = None
    return estimator


def _fit_weights(weights: np.ndarray) -> np.ndarray | None:
    """None for unit weights: the same model, but gradient boosting then bins its features with a fast
    percentile instead of a per-threshold weighted one (seconds per fit on a few hundred rows)."""
    return None if np.all(weights == 1.0) else weights


def _fit_summary(model_type: str, estimator: Any) -> dict | None:
    """How an iterative fit ran: the iterations it kept and whether early stopping chose them."""
    if model_type == "gradient_boosted":
        return {"iterations": int(estimator.n_iter_), "earlyStopping": bool(estimator.do_early_stopping_)}
    if model_type == "neural_cf":
        stopped = bool(estimator.early_stopping)
        # With early stopping the MLP keeps its best validation epoch, not its last one.
        epochs = int(np.argmax(estimator.validation_scores_)) + 1 if stopped else int(estimator.n_iter_)
        return {"iterations": epochs, "earlyStopping": stopped}
    return None


def _refit_params(params: Mapping, fit: dict | None) -> dict:
    """The evaluated fit's configuration for the refit on all samples.

    Early stopping switches on by size, so the larger refit could otherwise run a different model
    than the one the holdout measured; it repeats the evaluated decision instead, and where that fit
    stopped early, the refit runs exactly the iterations it chose.
    """
    if fit is None:
        return dict(params)
    refit = {**params, "early_stopping": False}
    if fit["earlyStopping"]:
        refit["max_iter"] = fit["iterations"]
    return refit


def _positive_proba(estimator: Any, X: Any) -> np.ndarray:
    column = list(estimator.classes_).index(1)
    return np.asarray(estimator.predict_proba(X)[:, column], dtype=np.float64)


# --- metrics --------------------------------------------------------------------------


def scores_from_proba(proba: np.ndarray) -> np.ndarray:
    return np.rint(100 * np.asarray(proba, dtype=np.float64)).astype(np.int64)


_FLOAT_EPS = float(np.finfo(np.float64).eps)


def _trait_metrics(
    y_eval: np.ndarray,
    p_eval: np.ndarray,
    y_all: np.ndarray,
    evaluation: str,
) -> TraitMetrics:
    scores = scores_from_proba(p_eval)
    positives, negatives = scores[y_eval == 1], scores[y_eval == 0]
    developing = float(np.percentile(negatives, 75))
    solid = max(float(np.percentile(positives, 25)), developing)
    strong = max(float(np.percentile(positives, 75)), solid)
    edges = list(range(0, 101, 10))
    counts, _ = np.histogram(scores, bins=edges)
    n_positive = int(y_all.sum())
    auc = paired.auc(y_eval, p_eval)
    # Clipped where sklearn's log_loss clips (its p_eval checked by the AUC above), so the figures are its figures.
    loss = paired.mean_log_loss(y_eval, p_eval, eps=_FLOAT_EPS)
    base_rate = np.full(len(y_eval), n_positive / len(y_all))
    base_loss = paired.mean_log_loss(y_eval, base_rate, eps=_FLOAT_EPS)
    return TraitMetrics(
        auc=round(auc, 4),
        log_loss=round(loss, 4),
        accuracy=round(float(np.mean((p_eval >= 0.5) == (y_eval == 1))), 4),
        base_rate=round(n_positive / len(y_all), 4),
        sample_count=len(y_all),
        positives=n_positive,
        negatives=len(y_all) - n_positive,
        evaluation=evaluation,
        evaluation_count=len(y_eval),
        histogram={"edges": edges, "counts": [int(c) for c in counts]},
        breaks={
            "developing": round(developing, 4),
            "solid": round(solid, 4),
            "strong": round(strong, 4),
        },
        quality_warnings=quality_warnings(
            auc, loss, base_loss, scores, (developing, solid, strong), evaluation
        ),
    )


def evaluation_curves(y_eval: np.ndarray, p_eval: np.ndarray, breaks: Mapping[str, float]) -> dict:
    """What a data scientist reads off the evaluation rows, kept small enough to store with the version: ROC and
    precision-recall points at every whole score (0-100, the scale the tier breaks use), a ten-bin reliability
    table, the score distribution of each class, and the confusion matrix at each tier break (score >= break
    counts as predicted positive)."""
    y = np.asarray(y_eval) == 1
    scores = scores_from_proba(p_eval)
    positives, negatives = int(y.sum()), int((~y).sum())
    roc, pr = [], []
    for threshold in range(101, -1, -1):
        predicted = scores >= threshold
        tp, fp = int((predicted & y).sum()), int((predicted & ~y).sum())
        point = {"x": round(fp / negatives, 4) if negatives else 0.0, "y": round(tp / positives, 4) if positives else 0.0,
                 "threshold": threshold}
        if not roc or (roc[-1]["x"], roc[-1]["y"]) != (point["x"], point["y"]):
            roc.append(point)
        if tp + fp and (not pr or (pr[-1]["x"], pr[-1]["y"]) != (point["y"], round(tp / (tp + fp), 4))):
            pr.append({"x": point["y"], "y": round(tp / (tp + fp), 4), "threshold": threshold})
    calibration = []
    bins = np.minimum((np.asarray(p_eval, dtype=np.float64) * 10).astype(int), 9)
    for b in range(10):
        inside = bins == b
        if inside.any():
            calibration.append({"x": round(float(np.mean(p_eval[inside])), 4), "y": round(float(np.mean(y[inside])), 4),
                                "count": int(inside.sum())})
    edges = list(range(0, 101, 10))
    confusion = []
    for tier in ("developing", "solid", "strong"):
        threshold = float(breaks[tier])
        predicted = scores >= threshold
        tp, fp = int((predicted & y).sum()), int((predicted & ~y).sum())
        fn, tn = positives - tp, negatives - fp
        confusion.append({"tier": tier, "threshold": threshold, "tp": tp, "fp": fp, "fn": fn, "tn": tn,
                          "precision": round(tp / (tp + fp), 4) if tp + fp else None,
                          "recall": round(tp / positives, 4) if positives else None})
    return {
        "roc": roc,
        "pr": pr,
        "calibration": calibration,
        "distribution": {"edges": edges,
                         "positives": [int(c) for c in np.histogram(scores[y], bins=edges)[0]],
                         "negatives": [int(c) for c in np.histogram(scores[~y], bins=edges)[0]]},
        "confusion": confusion,
        "positives": positives,
        "negatives": negatives,
    }


def quality_warnings(
    auc: float,
    loss: float,
    base_loss: float,
    scores: np.ndarray,
    breaks: tuple[float, float, float],
    evaluation: str,
) -> list[dict]:
    """What makes a trait's model not good enough to rely on, each as {code, message}."""
    measured = "held-out" if evaluation == "holdout" else "training-set"
    found = []
    if loss > base_loss:
        found.append({
            "code": "worse_than_base_rate",
            "message": f"{measured} log loss {loss:.3f} is worse than always predicting the base rate "
                       f"({base_loss:.3f}): its probabilities are overconfident or the trait does not follow "
                       "from these features",
        })
    if auc < _WEAK_AUC:
        found.append({
            "code": "weak_auc",
            "message": f"{measured} AUC {auc:.3f} is under {_WEAK_AUC}: the model ranks barely better "
                       "than chance",
        })
    developing, solid, strong = breaks
    bands = [("Weak", 0.0, developing), ("Developing", developing, solid),
             ("Solid", solid, strong), ("Strong", strong, math.inf)]
    # On a small holdout a tier can be empty by chance; only from _MIN_ROWS_FOR_EMPTY_TIER rows is an
    # empty tier evidence that the tiers do not separate the scores (coinciding breaks always are).
    enough = len(scores) >= _MIN_ROWS_FOR_EMPTY_TIER
    empty = [
        f"{name} {low:.0f}-{min(high, 100):.0f}"
        for name, low, high in bands
        if low == high or (enough and not np.any((scores >= low) & (scores < high)))
    ]
    if developing == solid or solid == strong or empty:
        found.append({
            "code": "collapsed_tiers",
            "message": "the tiers do not separate the scores: "
                       + (f"no scores fall in {', '.join(empty)}" if empty else
                          f"breaks {developing:.0f}/{solid:.0f}/{strong:.0f} coincide"),
        })
    return found


def _permutation_importance(
    estimator: Any,
    featurizer: Featurizer,
    X: np.ndarray | sp.csr_matrix,
    y: np.ndarray,
    seed: int,
    repeats: int,
) -> np.ndarray:
    """AUC drop per raw column when that column is shuffled across evaluation rows (X: their featurized rows,
    whose blocks are what featurizing them again would give)."""
    order = np.arange(len(y))
    if len(order) > _IMPORTANCE_ROWS:
        order, _ = train_test_split(
            order, train_size=_IMPORTANCE_ROWS, stratify=y, random_state=seed
        )
    y = y[order]
    blocks = featurizer.split(X[order])
    shares = _logit_shares(estimator, blocks)
    if shares is not None:
        # A logistic regression's logit is the sum of its blocks' shares: shuffling a column shuffles its share.
        # Each sum is taken afresh (not the total minus a share), so rows alike in every block stay tied, as in
        # predict_proba: a scorecard's scores are few distinct values, and ties count in the AUC.
        intercept = float(estimator.intercept_[0])

        def proba(j: int | None, permutation: np.ndarray | None) -> np.ndarray:
            if j is None:
                return expit(np.sum(shares, axis=0) + intercept)
            others = [share for k, share in enumerate(shares) if k != j]
            return expit(np.sum(others, axis=0) + intercept + shares[j][permutation])
    else:
        def proba(j: int | None, permutation: np.ndarray | None) -> np.ndarray:
            if j is None:
                return _positive_proba(estimator, featurizer.combine(blocks))
            shuffled = list(blocks)
            shuffled[j] = blocks[j][permutation]
            return _positive_proba(estimator, featurizer.combine(shuffled))

    baseline = paired.auc(y, proba(None, None))
    rng = np.random.RandomState(seed)
    importance = np.zeros(len(blocks))
    for j in range(len(blocks)):
        drops = [baseline - paired.auc(y, proba(j, rng.permutation(len(y)))) for _ in range(repeats)]
        importance[j] = max(0.0, float(np.mean(drops)))
    total = importance.sum()
    return importance / total if total > 0 else importance


def _logit_shares(estimator: Any, blocks: Sequence) -> list[np.ndarray] | None:
    """Each block's share of a two-class logistic regression's logit, row by row (None for any other estimator):
    its probabilities are then expit(sum of the shares + intercept), as its predict_proba computes them, without
    a new matrix or a predict call per shuffle."""
    if not isinstance(estimator, LogisticRegression) or [int(c) for c in estimator.classes_] != [0, 1]:
        return None
    coef = np.asarray(estimator.coef_, dtype=np.float64)[0]
    shares, start = [], 0
    for block in blocks:
        width = block.shape[1]
        shares.append(np.asarray(block @ coef[start:start + width], dtype=np.float64).ravel())
        start += width
    return shares


def _points_table(estimator: LogisticRegression, featurizer: Featurizer) -> dict:
    """Scorecard points: base + one bin per feature = 600 + 20/ln2 * ln(odds / 50)."""
    factor = _PDO / math.log(2)
    offset = _BASE_SCORE - factor * math.log(_BASE_ODDS)
    coefficients = estimator.coef_[0]
    base = offset + factor * float(estimator.intercept_[0])
    rows: list[dict] = []
    start = 0
    for i, column in enumerate(featurizer.columns):
        width = featurizer.block_width(i)
        points = factor * coefficients[start : start + width]
        start += width
        # Shift each feature so its lowest bin scores 0; the base absorbs the shift.
        shift = float(points.min())
        base += shift
        for label, value in zip(featurizer.bin_labels(i), points - shift, strict=True):
            rows.append({"feature": column["name"], "bin": label, "points": round(float(value), 2)})
    return {
        "basePoints": round(base, 2),
        "pdo": _PDO,
        "baseScore": _BASE_SCORE,
        "baseOdds": _BASE_ODDS,
        "features": rows,
    }


# --- input checks ---------------------------------------------------------------------


def _check_choice(value: str, allowed: Sequence[str], what: str) -> None:
    if value not in allowed:
        raise TrainingError(f"unknown {what} {value!r}; choose one of {', '.join(allowed)}")


def _label_value(raw: Any, position: int, key: str) -> float:
    if raw is None:
        return math.nan
    number = as_float(raw) if isinstance(raw, (bool, int, float, np.number)) else math.nan
    if math.isnan(number) or not 0.0 <= number <= 1.0:
        raise TrainingError(
            f"example {position}: label '{key}' must be a number between 0 and 1 (got {raw!r})"
        )
    return number


def _prepare(
    examples: Sequence[Mapping], trait_keys: Sequence[str]
) -> tuple[list[dict], dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """Rows labelled for at least one trait, their labels (NaN = unlabelled), weights and positions in examples."""
    prepared = _plain_columns(examples, trait_keys)
    if prepared is not None:
        return prepared
    rows: list[dict] = []
    positions: list[int] = []
    labels: dict[str, list[float]] = {key: [] for key in trait_keys}
    weights: list[float] = []
    for position, example in enumerate(examples):
        row, values, weight = _example(example, position, trait_keys)
        if weight == 0 or all(map(math.isnan, values)):
            continue
        rows.append(row)
        positions.append(position)
        weights.append(weight)
        for key, value in zip(trait_keys, values):
            labels[key].append(value)
    arrays = {key: np.array(values, dtype=np.float64) for key, values in labels.items()}
    return rows, arrays, np.array(weights, dtype=np.float64), np.array(positions, dtype=np.int64)


_OR_NONE = {float: frozenset((float, type(None))), dict: frozenset((dict, type(None))),
            str: frozenset((str, type(None)))}


def _plain_columns(
    examples: Sequence[Any], trait_keys: Sequence[str]
) -> tuple[list[dict], dict[str, np.ndarray], np.ndarray, np.ndarray] | None:
    """``_prepare`` of examples that are all the usual kind (an object with features, text or no content, float
    labels between 0 and 1 or none, a finite float weight of at least 0 or none; samples read from the database
    are), decided and converted a column at a time; None when any one is not, and ``_prepare`` then reads each
    through ``_example``, which gives the same rows or a refusal."""
    if not isinstance(examples, list) or not set(map(type, examples)) <= {dict}:
        return None
    features = [example.get("features") for example in examples]
    contents = [example.get("content") for example in examples]
    labels = [example.get("labels") for example in examples]
    weights = [example.get("weight") for example in examples]
    if not (set(map(type, features)) <= _OR_NONE[dict] and set(map(type, contents)) <= _OR_NONE[str]
            and set(map(type, labels)) <= _OR_NONE[dict] and set(map(type, weights)) <= _OR_NONE[float]):
        return None
    # numpy reads None as NaN: a NaN that was not a None is an odd value, read one by one.
    weight = np.array(weights, dtype=np.float64)
    unset = np.isnan(weight)
    if int(unset.sum()) != weights.count(None):
        return None
    weight[unset] = 1.0
    if not bool(np.all((weight >= 0.0) & (weight < math.inf))):
        return None
    by_key = {}
    for key in trait_keys:
        raw = [trait.get(key) if trait else None for trait in labels]
        if not set(map(type, raw)) <= _OR_NONE[float]:
            return None
        values = np.array(raw, dtype=np.float64)
        unlabelled = np.isnan(values)
        within = (values >= 0.0) & (values <= 1.0)
        if int(unlabelled.sum()) != raw.count(None) or not bool(np.all(unlabelled | within)):
            return None
        by_key[key] = values
    keep = weight != 0
    if by_key:
        keep &= ~np.logical_and.reduce([np.isnan(values) for values in by_key.values()])
    else:
        keep[:] = False  # no label to learn from in any example
    rows = [{"features": row_features or {}, "content": content}
            for row_features, content in compress(zip(features, contents), keep.tolist())]
    positions = np.flatnonzero(keep).astype(np.int64)
    return rows, {key: values[keep] for key, values in by_key.items()}, weight[keep], positions


def _example(example: Any, position: int, trait_keys: Sequence[str]) -> tuple[dict, list[float], float]:
    """One example as training reads it: its row, its label per trait (NaN = unlabelled) and its weight."""
    if not isinstance(example, Mapping):
        raise TrainingError(f"example {position} must be an object")
    if example.get("features") is not None and not isinstance(example["features"], Mapping):
        raise TrainingError(f"example {position}: features must be an object")
    raw_weight = example.get("weight")
    weight = 1.0 if raw_weight is None else as_float(raw_weight)
    if isinstance(raw_weight, (bool, str)) or math.isnan(weight) or weight < 0:
        raise TrainingError(
            f"example {position}: weight must be a number of at least 0 (got {raw_weight!r})"
        )
    raw_labels = example.get("labels") or {}
    if not isinstance(raw_labels, Mapping):
        raise TrainingError(f"example {position}: labels must be an object")
    values = [_label_value(raw_labels.get(key), position, key) for key in trait_keys]
    return normalize_row(example), values, weight


def _check_class_counts(labels: Mapping[str, np.ndarray]) -> None:
    problems = []
    for key, values in labels.items():
        known = values[~np.isnan(values)]
        positives = int((known >= 0.5).sum())
        negatives = len(known) - positives
        if positives < _MIN_PER_CLASS or negatives < _MIN_PER_CLASS:
            problems.append(
                f"trait '{key}' has {positives} positive and {negatives} negative samples"
            )
    if problems:
        raise TrainingError("; ".join(problems) + f"; add at least {_MIN_PER_CLASS} of each")


def _param_hash(model_type: str, params: Mapping, schema: list[dict]) -> str:
    canonical = json.dumps(
        {"modelType": model_type, "params": params, "schema": schema},
        sort_keys=True,
        separators=(",", ":"),
    )
    return hashlib.sha256(canonical.encode()).hexdigest()[:16]


# --- training -------------------------------------------------------------------------


class _CurveDone(Exception):
    """The validation loss has not improved for a while: the rest of the curve is not needed."""


class _EpochCurve(MLPClassifier):
    """An MLP that scores a validation set after every epoch while tuning (never packed).

    The first k epochs of one fit are exactly what a fit with max_iter=k runs, so a single fit shows
    the validation loss of every epoch count. It hooks scikit-learn's per-epoch bookkeeping; should a release
    rename that method, the curve falls back to the whole fit's loss (see _validation_curve).
    """

    def _update_no_improvement_count(self, early_stopping, X, y, sample_weight):
        super()._update_no_improvement_count(early_stopping, X, y, sample_weight)
        loss = paired.mean_log_loss(self.validation[1], _positive_proba(self, self.validation[0]))
        self.validation_curve.append(loss)
        if loss < self.best_validation_loss - _CURVE_TOL:
            self.best_validation_loss, self.stale_epochs = loss, 0
        else:
            self.stale_epochs += 1
            if self.stale_epochs >= _EPOCH_PATIENCE:
                raise _CurveDone


def _validation_curve(
    model_type: str,
    params: Mapping,
    iterations: bool,
    seed: int,
    fit_part: tuple[Any, np.ndarray, np.ndarray],
    val_part: tuple[Any, np.ndarray],
    categorical: np.ndarray,
) -> np.ndarray:
    """Validation log loss after each iteration (boosting round or epoch), or of the whole fit only."""
    X_val, y_val = val_part
    if not iterations:
        estimator = _fit(model_type, params, seed, *fit_part, categorical)
        return np.array([paired.mean_log_loss(y_val, _positive_proba(estimator, X_val))])
    X_fit, y_fit, w_fit = fit_part
    params = {**params, "early_stopping": False}
    if model_type == "gradient_boosted":
        estimator = _make_estimator(model_type, params, seed, y_fit, categorical)
        extra = {}
        if _BOOSTING_TAKES_VALIDATION:
            # Scored on our validation rows, so the trees are the same as without stopping, only fewer.
            estimator.set_params(
                early_stopping=True, n_iter_no_change=_ROUND_PATIENCE, tol=_CURVE_TOL, scoring="loss"
            )
            extra = {"X_val": X_val, "y_val": y_val}
        estimator.fit(X_fit, y_fit, sample_weight=_fit_weights(w_fit), **extra)
        column = list(estimator.classes_).index(1)
        return np.array([paired.mean_log_loss(y_val, stage[:, column])
                         for stage in estimator.staged_predict_proba(X_val)])
    estimator = _EpochCurve(**_make_estimator(model_type, params, seed, y_fit, categorical).get_params())
    estimator.validation, estimator.validation_curve = val_part, []
    estimator.best_validation_loss, estimator.stale_epochs = math.inf, 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        try:
            estimator.fit(X_fit, y_fit, sample_weight=_fit_weights(w_fit))
        except _CurveDone:
            pass
    if not estimator.validation_curve:  # the per-epoch hook did not run: only the whole fit is known
        curve = np.full(estimator.n_iter_, np.inf)
        curve[-1] = paired.mean_log_loss(y_val, _positive_proba(estimator, X_val))
        return curve
    return np.array(estimator.validation_curve)


def _mean_curve(curves: Sequence[np.ndarray]) -> np.ndarray:
    # A curve cut short (training converged, or validation stopped improving) holds its last value.
    length = max(len(curve) for curve in curves)
    return np.mean([np.pad(curve, (0, length - len(curve)), mode="edge") for curve in curves], axis=0)


def _tuning_splits(y: np.ndarray, seed: int) -> list[tuple[np.ndarray, np.ndarray]]:
    """(fit, validation) positions within one trait's fit part: 3 folds when small, else one 25% split."""
    order = np.arange(len(y))
    if len(order) > _TUNING_ROWS:
        order, _ = train_test_split(order, train_size=_TUNING_ROWS, stratify=y, random_state=seed)
    if len(order) <= _CROSS_VALIDATION_ROWS and min(y.sum(), len(y) - y.sum()) >= _FOLDS * 2:
        folds = StratifiedKFold(_FOLDS, shuffle=True, random_state=seed).split(order, y[order])
        return [(order[fit_part], order[val_part]) for fit_part, val_part in folds]
    fit_part, val_part = train_test_split(order, test_size=0.25, stratify=y[order], random_state=seed)
    return [(fit_part, val_part)]


def _tunable(y: np.ndarray) -> bool:
    return min(y.sum(), len(y) - y.sum()) >= _MIN_CLASS_FOR_TUNING


def _search_decides_nothing(
    search: _Search, model_type: str, params: Mapping, tasks: Sequence[tuple[np.ndarray, np.ndarray]]
) -> bool:
    """Whether ``_tune`` would change nothing the fits use: one candidate (chosen whenever a trait is tunable), and
    iteration counts that no trait's fit reads, as each fit part is large enough for the estimator's own early
    stopping (see ``train``). Then its curves, the most of an MLP's run at medium effort, need not be fitted."""
    return len(search.candidates) == 1 and all(_stops_early(model_type, params, y) for _, y in tasks)


def _tune(
    search: _Search,
    X: Any,
    weights: np.ndarray,
    tasks: Sequence[tuple[np.ndarray, np.ndarray]],
    model_type: str,
    params: Mapping,
    categorical: np.ndarray,
    seed: int,
    report: Callable[[float], None],
) -> tuple[dict, list[int | None]]:
    """The candidate with the lowest mean validation log loss over the traits, and per trait the iteration count
    where that candidate's validation loss is lowest (None: not chosen; too few of a class to tune that trait).

    One candidate for all traits, so params stay a flat dict; iteration counts differ by trait (a trait with
    nothing to learn is best after a few rounds, a learnable one after many). Each task is (rows of X, labels):
    a trait's training rows, never its holdout. The candidate comes back as the parameters to change.
    """
    curves: list[list[np.ndarray | None]] = [[] for _ in search.candidates]  # per candidate, per trait
    steps = len(tasks) * len(search.candidates)
    for t, (rows, y) in enumerate(tasks):
        splits = _tuning_splits(y, seed) if _tunable(y) else []
        for i, candidate in enumerate(search.candidates):
            folds = [
                _validation_curve(
                    model_type,
                    {**params, **candidate},
                    search.iterations,
                    seed,
                    (X[rows[fit_part]], y[fit_part], weights[rows[fit_part]]),
                    (X[rows[val_part]], y[val_part]),
                    categorical,
                )
                for fit_part, val_part in splits
            ]
            curves[i].append(_mean_curve(folds) if folds else None)
            report((t * len(search.candidates) + i + 1) / steps)
    if all(curve is None for curve in curves[0]):
        return {}, [None] * len(tasks)
    # A candidate's score: each trait at its best iteration count, averaged over the traits.
    scores = [np.mean([curve.min() for curve in per_trait if curve is not None]) for per_trait in curves]
    best = int(np.argmin(scores))
    counts = [
        int(np.argmin(curve)) + 1 if search.iterations and curve is not None else None for curve in curves[best]
    ]
    return dict(search.candidates[best]), counts


def train(
    model_type: str,
    examples: list[dict],
    trait_keys: list[str],
    *,
    effort: str = "high",
    params: dict | None = None,
    seed: int = 0,
    threads: int = 1,
    progress: ProgressCallback | None = None,
    compare: TrainedModel | None = None,
    compare_unseen: Sequence[bool] | None = None,
) -> TrainResult:
    """Fit one estimator per trait, measure it on a holdout and refit it on all samples.

    With ``compare`` (the serving version), each trait's holdout rows are also scored by that version,
    so ``TrainResult.comparison`` sets the two side by side on the same rows. ``compare_unseen`` is aligned
    with ``examples``: True where the serving version never trained on that example (unknown = seen).
    """
    _check_choice(model_type, sorted(TABULAR_TYPES), "model type")
    _check_choice(effort, EFFORTS, "effort")
    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise TrainingError(f"threads must be a whole number of at least 1 (got {threads!r})")
    keys = [str(k) for k in trait_keys]
    if not keys:
        raise TrainingError("choose at least one trait to train")
    if len(set(keys)) != len(keys):
        raise TrainingError("trait keys must be unique")
    if compare_unseen is not None and len(compare_unseen) != len(examples):
        raise ValueError(f"compare_unseen has {len(compare_unseen)} entries for {len(examples)} examples")
    resolved, search = _resolve_params(model_type, effort, params)
    report = ProgressReporter(progress)

    report(5, "preparing features")
    rows, labels, weights, positions = _prepare(examples, keys)
    _check_class_counts(labels)
    mode = _MODE[model_type]
    read = ColumnReader(rows)  # each column is read once, for its kind, its fit and the input schema
    columns = infer_columns(rows, read)
    if mode == SCORECARD:
        columns = [c for c in columns if c["kind"] != TEXT]
        if not columns:
            raise TrainingError(
                "a scorecard needs numeric or categorical features; free text alone cannot be "
                "binned (use logistic_regression for text)"
            )
    if not columns:
        raise TrainingError("the examples have no features or content to learn from")

    with limit_threads(threads):
        featurizer, X = Featurizer.fit_transform(rows, columns, mode, bins=resolved.get("bins", 5), read=read)
        categorical = featurizer.categorical_mask()

        traits = []
        for key in keys:
            row_index = np.flatnonzero(~np.isnan(labels[key]))
            y = (labels[key][row_index] >= 0.5).astype(np.int64)
            split = None
            if min(y.sum(), len(y) - y.sum()) >= _MIN_CLASS_FOR_HOLDOUT:
                fit_rows, eval_rows = train_test_split(
                    np.arange(len(y)), test_size=_HOLDOUT_SIZE, stratify=y, random_state=seed
                )
                split = (np.sort(fit_rows), np.sort(eval_rows))
            traits.append((key, row_index, y, split))

        start = 10
        counts: list[int | None] = [None] * len(traits)
        tasks = []
        for _, row_index, y, split in traits:
            fit_rows = split[0] if split else np.arange(len(y))
            tasks.append((row_index[fit_rows], y[fit_rows]))
        if search and _search_decides_nothing(search, model_type, resolved, tasks):
            # What the search would choose is known without it (and no fit would use its iteration counts).
            if any(_tunable(y) for _, y in tasks):
                resolved |= dict(search.candidates[0])
        elif search:
            report(start, "tuning parameters")
            chosen, counts = _tune(
                search,
                X,
                weights,
                tasks,
                model_type,
                resolved,
                categorical,
                seed,
                lambda share: report(10 + 20 * share, "tuning parameters"),
            )
            resolved |= chosen
            start = 30

        step = (90 - start) / len(traits)
        estimators: dict[str, Any] = {}
        metrics: dict[str, dict] = {}
        predictors: list[dict] = []
        comparisons: dict[str, dict] = {}
        evaluations: dict[str, dict] = {}
        for t, (key, row_index, y, split) in enumerate(traits):
            at = start + t * step
            report(at, f"training trait '{key}' ({t + 1}/{len(traits)})")
            # Skip the copy when every row is labelled (dense tree input can be large).
            every_row = len(row_index) == len(rows)
            X_trait = X if every_row else X[row_index]
            w_trait = weights[row_index]
            fit_rows, eval_rows = split if split else (np.arange(len(y)), np.arange(len(y)))
            # A fit too small for the estimator's own early stopping runs the count the tuning curves chose.
            tuned_count = counts[t] is not None and not _stops_early(model_type, resolved, y[fit_rows])
            trait_params = {**resolved, "max_iter": counts[t], "early_stopping": False} if tuned_count else resolved
            estimator = _fit(
                model_type,
                trait_params,
                seed,
                X_trait[fit_rows],
                y[fit_rows],
                w_trait[fit_rows],
                categorical,
            )
            X_eval = X_trait[eval_rows]
            proba = _positive_proba(estimator, X_eval)
            trait_metrics = _trait_metrics(
                y[eval_rows], proba, y, "holdout" if split else "training"
            )
            evaluations[key] = evaluation_curves(y[eval_rows], proba, trait_metrics.breaks)
            if split and compare is not None and key in compare.trait_keys:
                unseen = (
                    np.zeros(len(eval_rows), dtype=bool)
                    if compare_unseen is None
                    else np.array([bool(compare_unseen[p]) for p in positions[row_index[eval_rows]]])
                )
                comparisons[key] = _compare_serving(
                    compare, key, [rows[i] for i in row_index[eval_rows]], y[eval_rows], proba, unseen
                )
            report(at + step * 0.4, f"measuring predictors of '{key}'")
            importance = _permutation_importance(
                estimator,
                featurizer,
                X_eval,
                y[eval_rows],
                seed,
                _IMPORTANCE_REPEATS[effort],
            )
            fit = _fit_summary(model_type, estimator)
            if fit is not None and tuned_count:
                fit["tuned"] = True
            if split:
                report(at + step * 0.7, f"refitting '{key}' on all samples")
                estimator = _fit(
                    model_type, _refit_params(trait_params, fit), seed, X_trait, y, w_trait, categorical
                )
            trait_metrics = replace(trait_metrics, fit=fit)
            if model_type == "scorecard":
                # Points describe the served (refitted) model.
                trait_metrics = replace(
                    trait_metrics, scorecard=_points_table(estimator, featurizer)
                )
            metrics[key] = trait_metrics.as_dict()
            estimators[key] = estimator
            ranked = sorted(
                zip(featurizer.columns, importance, strict=True),
                key=lambda item: (-item[1], item[0]["name"]),
            )
            predictors += [
                {"name": column["name"], "importance": round(float(value), 4), "trait": key}
                for column, value in ranked
            ]

    report(95, "packaging")
    artifact = _pack(model_type, keys, featurizer, estimators, resolved)
    return TrainResult(
        artifact=artifact,
        metrics=metrics,
        predictors=predictors,
        param_hash=_param_hash(model_type, resolved, featurizer.schema()),
        params=resolved,
        sample_count=len(rows),
        comparison={"traits": comparisons} if comparisons else None,
        input_schema=input_schema(rows, featurizer, read),
        evaluation=evaluations,
    )


def _compare_serving(
    serving: TrainedModel,
    key: str,
    holdout: list[dict],
    y: np.ndarray,
    candidate: np.ndarray,
    unseen: np.ndarray,
) -> dict:
    """The candidate's holdout probabilities against the serving version's on the same rows.

    Rows the serving version trained on flatter it, so only unseen rows are used when they hold enough of
    each class; otherwise the whole holdout, saying how many rows the serving version had seen.
    """
    y_unseen = y[unseen]
    unseen_only = min(int(y_unseen.sum()), len(y_unseen) - int(y_unseen.sum())) >= _MIN_CLASS_UNSEEN
    chosen = unseen if unseen_only else np.ones(len(y), dtype=bool)
    try:
        serving_proba = serving.predict_proba([row for row, keep in zip(holdout, chosen, strict=True) if keep])[key]
        result = paired.compare(
            y[chosen], candidate[chosen], serving_proba, seen_by_serving=int((~unseen[chosen]).sum())
        )
    except Exception as exc:  # e.g. a featurizer that cannot read these rows: the run itself still stands
        return {"error": f"{type(exc).__name__}: {exc}"[:500]}
    return {**result, "unseenOnly": unseen_only}


# --- artifact -------------------------------------------------------------------------


def _zip_write(archive: zipfile.ZipFile, name: str, data: bytes, *, deflate: bool = True) -> None:
    # Fixed timestamp: archive metadata does not depend on when training ran.
    info = zipfile.ZipInfo(name, date_time=(1980, 1, 1, 0, 0, 0))
    info.compress_type = zipfile.ZIP_DEFLATED if deflate else zipfile.ZIP_STORED
    archive.writestr(info, data)


_DEFLATE_PROBE = 16_384
_DEFLATE_WORTH = 0.9


def _deflates(data: bytes) -> bool:
    """Whether deflating ``data`` is worth its time, judged on three slices of it. An MLP's weights are random
    floats that deflate by about 7% at 35 ms a megabyte; boosted trees and linear models shrink by far more."""
    if len(data) <= 4 * _DEFLATE_PROBE:
        return True
    probe = b"".join(
        data[at : at + _DEFLATE_PROBE] for at in (len(data) // 4, len(data) // 2, 3 * len(data) // 4)
    )
    return len(zlib.compress(probe, 1)) < _DEFLATE_WORTH * len(probe)


def _skops_dumps(estimator: Any) -> bytes:
    """What ``skops.io.dumps`` writes, with its schema.json compact: skops indents it, which makes json use its
    pure-Python encoder, about 18 of the 35 ms a boosted model's dump takes. The files are skops' own (its
    ``get_state``, as its ``_save`` calls it); a skops without these internals gives its own dumps."""
    try:
        from skops.io._utils import SaveContext, get_state
    except ImportError:  # pragma: no cover - another skops
        return sio.dumps(estimator)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        context = SaveContext(zip_file=archive)
        state = get_state(estimator, context)
        context.clear_memo()
        state["protocol"] = context.protocol
        state["_skops_version"] = skops.__version__
        archive.writestr("schema.json", json.dumps(state))
    return buffer.getvalue()


def _check_trusted(data: bytes, model_type: str) -> list[str]:
    found = sio.get_untrusted_types(data=data)
    refused = sorted(set(found) - TRUSTED_TYPES[model_type])
    if refused:
        raise ValueError(
            f"model artifact contains types outside the allow-list: {', '.join(refused)}"
        )
    return list(found)


def _json_bytes(value: Any) -> bytes:
    """``json.dumps(value, allow_nan=False)`` as UTF-8, the same values when read back, written by orjson: json
    took 3.7 ms for a text featurizer's 4,096 tf-idf weights, orjson 0.1 ms. NaN and infinity are refused as json
    refuses them (orjson would write null); what orjson cannot write (an integer past 64 bits, a type json
    writes and it does not) is written by json."""
    if not _finite(value):
        raise ValueError("Out of range float values are not JSON compliant")
    try:
        return orjson.dumps(value, option=orjson.OPT_NON_STR_KEYS)
    except TypeError:
        return json.dumps(value, allow_nan=False).encode()


def _finite(value: Any) -> bool:
    """Whether every float in a value of dicts, lists and tuples, dict keys included, is finite."""
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, dict):
        return _finite(list(value)) and _finite(list(value.values()))
    if isinstance(value, (list, tuple)):
        kinds = set(map(type, value))
        if kinds <= {float}:  # a vector of weights, in one pass
            return all(map(math.isfinite, value))
        if kinds <= _PLAIN_SCALARS:  # no float here, nor anything holding one
            return True
        return all(map(_finite, value))
    return True


_PLAIN_SCALARS = frozenset((str, int, bool, type(None)))


def _pack(
    model_type: str,
    trait_keys: list[str],
    featurizer: Featurizer,
    estimators: Mapping[str, Any],
    params: Mapping,
) -> bytes:
    buffer = io.BytesIO()
    files = {key: f"estimators/{i}.skops" for i, key in enumerate(trait_keys)}
    manifest = {
        "format": ARTIFACT_FORMAT,
        "version": ARTIFACT_VERSION,
        "modelType": model_type,
        "traitKeys": trait_keys,
        "params": params,
        "estimators": files,
    }
    with zipfile.ZipFile(buffer, "w") as archive:
        _zip_write(archive, "manifest.json", _json_bytes(manifest))
        _zip_write(archive, "featurizer.json", _json_bytes(featurizer.state))
        for key, name in files.items():
            data = _skops_dumps(estimators[key])
            # Fail at training, not at serving, if sklearn starts using a new type.
            _check_trusted(data, model_type)
            _zip_write(archive, name, data, deflate=_deflates(data))
    return buffer.getvalue()


def _term_counter(hasher: HashingVectorizer) -> Callable[[str], dict[int, int]]:
    """The hashed term counts of one text as ``hasher.transform`` makes them (its analyzer, then murmurhash3 of
    each term's UTF-8 to a column, without alternating signs), without the per-call validation and sparse matrix
    that cost most of a one-row score with text."""
    from sklearn.utils import murmurhash3_32

    if hasher.alternate_sign or hasher.norm is not None or hasher.binary:
        raise ValueError("only plain counts (no alternating sign, norm or binary) are counted here")
    analyzer, n = hasher.build_analyzer(), hasher.n_features
    low = (2147483647 - (n - 1)) % n  # the column of abs(-2**31), as the hasher defines it

    def counts(text: str) -> dict[int, int]:
        out: dict[int, int] = {}
        for term in analyzer(text):
            h = murmurhash3_32(term, 0)
            column = low if h == -2147483648 else abs(h) % n
            out[column] = out.get(column, 0) + 1
        return out

    return counts


def compile_linear_row(featurizer: Featurizer, estimator: Any) -> Callable[[Any], float] | None:
    """The positive-class probability of one row for a binary LogisticRegression, without building a matrix.

    Each featurizer block adds its weights to the decision directly: a number its clipped z-score (or its bin's
    weight in scorecard mode), a category its one-hot weight, text its normalized tf-idf against the weights of
    the hashed terms. The same arithmetic as ``predict_proba`` on ``featurizer.transform``, summed in another
    order (equal to about 1e-15). None where it does not apply (tree mode, another estimator, more classes).
    """
    if featurizer.mode not in (LINEAR, SCORECARD) or type(estimator) is not LogisticRegression:
        return None
    if list(estimator.classes_) != [0, 1] or estimator.coef_.shape[0] != 1:
        return None
    from scipy.special import expit

    weights = np.asarray(estimator.coef_[0], dtype=np.float64)
    intercept = float(estimator.intercept_[0])
    plan: list[tuple] = []
    offset = 0
    for i, column in enumerate(featurizer.columns):
        width = featurizer.block_width(i)
        content = column["source"] == CONTENT_COLUMN
        if column["kind"] == NUMERIC:
            if featurizer.mode == SCORECARD:
                plan.append((NUMERIC, content, column["key"], offset, column["median"],
                             np.asarray(column["edges"], dtype=np.float64), weights[offset:offset + width]))
            else:
                plan.append((NUMERIC, content, column["key"], offset, column["median"],
                             (column["mean"], column["std"]), float(weights[offset])))
        elif column["kind"] == CATEGORICAL:
            plan.append((CATEGORICAL, content, column["key"], offset, featurizer._category_index[i],
                         len(featurizer._category_index[i]), weights[offset:offset + width].tolist()))
        else:
            plan.append((TEXT, content, column["key"], offset, featurizer._idf[i], None,
                         weights[offset:offset + width]))
        offset += width
    if offset != len(weights):
        return None
    hashed = _term_counter(featurizer._hasher) if featurizer._hasher is not None else None
    scorecard = featurizer.mode == SCORECARD

    def proba(row: Any) -> float:
        row = normalize_row(row)
        features = row["features"]
        decision = 0.0
        for kind, content, key, _, a, b, w in plan:
            value = row["content"] if content else features.get(key)
            if kind == NUMERIC:
                number = as_float(value)
                if math.isnan(number):
                    number = a
                if scorecard:
                    decision += float(w[int(np.searchsorted(b, number, "right"))])
                else:
                    z = min(max((number - b[0]) / b[1], -_Z_CLIP), _Z_CLIP)
                    decision += w * z
            elif kind == CATEGORICAL:
                decision += w[b + 1 if is_missing(value) else a.get(as_category(value), b)]
            else:
                counts = hashed(_as_text(value))
                if counts:  # in column order, as the hasher's sparse row sums them
                    columns = sorted(counts)
                    indices = np.array(columns, dtype=np.intp)
                    data = np.array([counts[c] for c in columns], dtype=np.float64) * a[indices]
                    norm = math.sqrt(float(data @ data))
                    if norm > 0:
                        decision += float(data @ w[indices]) / norm
        return float(expit(decision + intercept))

    return proba


class TrainedModel:
    """A loaded artifact: one estimator per trait behind one featurizer."""

    def __init__(
        self,
        model_type: str,
        trait_keys: list[str],
        featurizer: Featurizer,
        estimators: Mapping[str, Any],
        params: Mapping,
        threads: int = 1,
    ) -> None:
        self.model_type = model_type
        self.trait_keys = list(trait_keys)
        self.featurizer = featurizer
        self.params = dict(params)
        self.threads = threads
        self._estimators = dict(estimators)
        # The single-row path of each trait (a scoring call with one input), where it applies to all of them.
        compiled = {key: compile_linear_row(featurizer, self._estimators[key]) for key in self.trait_keys}
        self._one_row = compiled if all(compiled.values()) else None

    def predict_proba(self, inputs: list[dict]) -> dict[str, np.ndarray]:
        inputs = list(inputs)
        if not inputs:
            return {key: np.zeros(0, dtype=np.float64) for key in self.trait_keys}
        if len(inputs) == 1 and self._one_row is not None:
            return {key: np.array([one(inputs[0])]) for key, one in self._one_row.items()}
        with limit_threads(self.threads):
            X = self.featurizer.transform(inputs)
            return {key: _positive_proba(self._estimators[key], X) for key in self.trait_keys}


def load(artifact: bytes, *, threads: int = 1) -> TrainedModel:
    """Open an artifact made by ``train``; raises ValueError for anything else."""
    try:
        with zipfile.ZipFile(io.BytesIO(artifact)) as archive:
            manifest = json.loads(archive.read("manifest.json"))
            if manifest.get("format") != ARTIFACT_FORMAT:
                raise ValueError("not a tabular model artifact")
            if manifest.get("version") != ARTIFACT_VERSION:
                raise ValueError(f"unsupported artifact version {manifest.get('version')!r}")
            model_type = manifest["modelType"]
            if model_type not in TABULAR_TYPES:
                raise ValueError(f"unknown model type {model_type!r}")
            trait_keys = [str(k) for k in manifest["traitKeys"]]
            featurizer = Featurizer(json.loads(archive.read("featurizer.json")))
            estimators = {}
            for key in trait_keys:
                data = archive.read(manifest["estimators"][key])
                trusted = _check_trusted(data, model_type)
                estimator = sio.loads(data, trusted=trusted)
                if type(estimator) is not _ESTIMATOR_CLASS[model_type]:
                    raise ValueError(f"estimator for '{key}' is a {type(estimator).__name__}")
                estimators[key] = estimator
    except (zipfile.BadZipFile, KeyError, TypeError, AttributeError) as exc:
        raise ValueError(f"malformed model artifact: {exc}") from exc
    return TrainedModel(
        model_type, trait_keys, featurizer, estimators, manifest.get("params", {}), threads
    )

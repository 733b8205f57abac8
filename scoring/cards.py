"""The score card (seed 000's tiers, breaks, headroom, composite), as pure functions."""

from __future__ import annotations

import json
from collections.abc import Sequence

import numpy as np

TIERS = ("Weak", "Developing", "Solid", "Strong")


def score_of(probability: float) -> int:
    return int(round(100 * float(probability)))


def confidence_of(metrics: dict | None) -> str:
    """How far a trait's scores can be trusted, from the version's held-out evaluation."""
    if not metrics or metrics.get("auc") is None:
        return "low"
    auc, n = metrics["auc"], metrics.get("sampleCount", 0)
    if metrics.get("evaluation") == "training" or n < 30:
        return "moderate" if auc >= 0.75 else "low"
    if auc >= 0.75 and n >= 100:
        return "high"
    return "moderate" if auc >= 0.6 else "low"


def tier_of(score: int, breaks: dict) -> tuple[str, int | None, list[int]]:
    """(tier, headroom to the next break, the tier's band [low, high])."""
    developing, solid, strong = breaks["developing"], breaks["solid"], breaks["strong"]
    if score >= strong:
        return "Strong", 0, [round(strong), 100]
    if score >= solid:
        return "Solid", int(round(strong - score)), [round(solid), round(strong)]
    if score >= developing:
        return "Developing", int(round(solid - score)), [round(developing), round(solid)]
    return "Weak", int(round(developing - score)), [0, round(developing)]


def harmonic_mean(values: list[int]) -> int:
    if not values:
        return 0
    if any(v <= 0 for v in values):
        return 0
    return int(round(len(values) / sum(1 / v for v in values)))


CONFIDENCE_ORDER = ("low", "moderate", "high")
# An input without features that carried importance in training is scored with imputed values in their place:
# from this share of a trait's importance its confidence steps down one level, and from MISSING_LOW it is low.
MISSING_STEP_DOWN = 0.1
MISSING_LOW = 0.5


def missing_share(predictors: list[dict], trait: str, missing: list[str]) -> float:
    """The share of a trait's importance (the version's predictors) carried by the missing features."""
    if not missing:
        return 0.0
    weights = {p["name"]: max(float(p.get("importance") or 0.0), 0.0) for p in predictors or []
               if p.get("trait") == trait}
    if not weights:
        return 0.0
    total = sum(weights.values())
    if total <= 0:  # nothing measured as important: every feature counts the same
        return sum(1 for name in missing if name in weights) / len(weights)
    return sum(weights.get(name, 0.0) for name in missing) / total


def _lowered(confidence: str, share: float) -> str:
    if share >= MISSING_LOW:
        return "low"
    if share >= MISSING_STEP_DOWN:
        return CONFIDENCE_ORDER[max(CONFIDENCE_ORDER.index(confidence) - 1, 0)]
    return confidence


def names(items: list[str], limit: int = 5) -> str:
    """A short list in a sentence: "a, b, c and 4 more"."""
    shown = ", ".join(str(i) for i in items[:limit])
    return f"{shown} and {len(items) - limit} more" if len(items) > limit else shown


def card(probabilities: dict[str, float], metrics: dict[str, dict], *, missing: list[str] | None = None,
         predictors: list[dict] | None = None) -> dict:
    """`missing` names the features the input lacked; with the version's `predictors` they lower confidence."""
    scores, detail, confidences, headrooms, reasons = {}, {}, [], [], []
    for trait, p in probabilities.items():
        s = score_of(p)
        m = metrics.get(trait) or {}
        confidence = confidence_of(m)
        breaks = m.get("breaks")
        label = headroom = band = None
        # Tiers follow the version's evaluation; a missing feature makes this score less sure, not the breaks.
        if breaks and confidence != "low":
            label, headroom, band = tier_of(s, breaks)
            headrooms.append(headroom)
        scores[trait] = s
        detail[trait] = {"label": label, "breaks": breaks, "band": band, "native": round(float(p), 6),
                         "headroom": headroom, "confidence": confidence}
        if missing:
            share = missing_share(predictors or [], trait, missing)
            lowered = _lowered(confidence, share)
            detail[trait]["missingImportance"] = round(share, 4)
            if lowered != confidence:
                detail[trait] |= {"confidence": lowered, "confidenceReason": (
                    f"{confidence} lowered to {lowered}: the missing features carried {round(100 * share)}% of "
                    f"{trait}'s importance in training; imputed values stand in for them")}
                reasons.append(f"{trait} {confidence} to {lowered} ({round(100 * share)}% of its importance)")
                confidence = lowered
        confidences.append(confidence)
    result = {
        "scores": scores,
        "composite": harmonic_mean(list(scores.values())),
        "confidence": min(confidences, key=CONFIDENCE_ORDER.index) if confidences else "low",
        "headroom": max(headrooms) if headrooms else None,
        "detail": detail,
    }
    if reasons:
        result["confidenceReason"] = (f"Lowered for the missing {names(missing or [])}, scored with the values "
                                      f"imputed in training: {', '.join(reasons)}.")
    return result


class Cards(Sequence):
    """The score cards of one call, one per input and None where an input was refused, kept as columns.

    What depends only on the trait (confidence, breaks, the tier of a score) is worked out once, the scores of
    all inputs in one numpy pass; a card is built when it is read, equal to `card`'s for that input, and `json_all`
    writes them as JSON text without building them. An input with missing features takes `card` itself, and so does
    every input when a value is not a probability."""

    def __init__(self, count: int, scored: list[int], probabilities: dict, metrics: dict[str, dict], *,
                 missing: list[list[str]], predictors: list[dict] | None = None):
        # probabilities[trait][k] and missing[k] belong to the input scored[k].
        self._count = count
        self._row = [-1] * count
        for k, i in enumerate(scored):
            self._row[i] = k
        self.traits = list(probabilities)
        columns = self._columns = [np.asarray(probabilities[t], dtype=np.float64) for t in self.traits]
        self._p = [c.tolist() for c in columns]
        self._metrics, self._missing, self._predictors = metrics, missing, predictors
        self._fixed = []  # per trait: its confidence, whether it has tiers, its breaks, the details seen by score
        for trait in self.traits:
            m = metrics.get(trait) or {}
            confidence, breaks = confidence_of(m), m.get("breaks")
            self._fixed.append((trait, confidence, bool(breaks) and confidence != "low", breaks, {}))
        self._worst = (min((c for _, c, _, _, _ in self._fixed), key=CONFIDENCE_ORDER.index) if self._fixed
                       else "low")
        with np.errstate(invalid="ignore"):
            rounded = [np.rint(100 * c) for c in columns]
            self._probabilities = all(bool(((r >= 0) & (r <= 100)).all()) for r in rounded)
        self._scores = [r.astype(np.int64).tolist() for r in rounded] if self._probabilities else None
        self._worst_json = _dumps(self._worst)
        self._composites: dict[tuple, int] = {}
        self._json_parts: dict[tuple[int, int], tuple[str, str]] = {}

    def __len__(self) -> int:
        return self._count

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._count))]
        k = self._row[index]
        if k < 0:
            return None
        if self._missing[k] or not self._probabilities:
            return card({t: self._p[j][k] for j, t in enumerate(self.traits)}, self._metrics,
                        missing=self._missing[k], predictors=self._predictors)
        scores, detail, headrooms = {}, {}, []
        for j, (trait, _, tiered, _, _) in enumerate(self._fixed):
            s = self._scores[j][k]
            d = self._detail(j, s).copy()
            d["native"] = round(self._p[j][k], 6)
            if tiered:
                d["band"] = list(d["band"])
                headrooms.append(d["headroom"])
            scores[trait] = s
            detail[trait] = d
        return {"scores": scores, "composite": self._composite(k), "confidence": self._worst,
                "headroom": max(headrooms) if headrooms else None, "detail": detail}

    @property
    def refused(self) -> int:
        """How many inputs were refused (their card is None)."""
        return self._row.count(-1)

    def plain(self, index: int) -> bool:
        """Whether `json_all` writes this input's card from the columns (scored, no missing feature)."""
        k = self._row[index]
        return k >= 0 and self._probabilities and not self._missing[k]

    def _text(self, k: int, metadata: str, native: str) -> str:
        """The k-th scored input's card (scored, no missing feature) with `metadata` (JSON text) added, as compact
        JSON text, what rendering {**card, "metadata": ...} writes, with `native` written in place of every native
        value."""
        scores, detail, headroom = [], [], None
        for j, column in enumerate(self._scores):
            s = column[k]
            parts = self._json_parts.get((j, s))
            if parts is None:
                parts = self._json_parts[(j, s)] = self._parts(j, s)
            key, head, tail, h = parts
            scores.append(f"{key}:{s}")
            detail.append(f"{key}:{head}{native}{tail}")
            if h is not None and (headroom is None or h > headroom):
                headroom = h
        return (f'{{"scores":{{{",".join(scores)}}},"composite":{self._composite(k)},"confidence":{self._worst_json},'
                f'"headroom":{"null" if headroom is None else headroom},"detail":{{{",".join(detail)}}},'
                f'"metadata":{metadata}}}')

    def json_all(self, metadata: str, *, skip: set[int] = frozenset()) -> list[str | None]:
        """For every `plain` input not in `skip` its card with `metadata` (JSON text) added, as the compact JSON
        text rendering {**card, "metadata": ...} writes; None for the others. The text of a card is the same but for
        its native values, so each set of scores' text is made once, in pieces, and each card joins its pieces with
        its natives."""
        out: list[str | None] = [None] * self._count
        if not self._probabilities:
            return out
        pieces: dict[tuple, list[str]] = {}
        columns, natives = self._scores, [rounded_texts(column) for column in self._columns]
        single = len(columns) == 1
        if single and not skip and len(columns[0]) == self._count and not any(self._missing):
            # The usual batch of one trait, every input plain: a card's text is its score's pieces around its
            # native, each score's pieces made from one input that has it (any gives the same).
            scores, native = columns[0], natives[0]
            around = {score: self._pieces(k, metadata) for score, k in dict(zip(scores, range(self._count))).items()}
            return [f"{head}{text}{tail}" for (head, tail), text in zip(map(around.__getitem__, scores), native)]
        for i, k in enumerate(self._row):
            if k < 0 or self._missing[k] or i in skip:
                continue
            key = tuple(column[k] for column in columns)
            parts = pieces.get(key)
            if parts is None:
                parts = pieces[key] = self._pieces(k, metadata)
            if single:
                out[i] = f"{parts[0]}{natives[0][k]}{parts[1]}"
            else:
                text = [parts[0]]
                for j, native in enumerate(natives):
                    text.append(native[k])
                    text.append(parts[j + 1])
                out[i] = "".join(text)
        return out

    def _pieces(self, k: int, metadata: str) -> list[str]:
        """The text of the k-th scored input's card around its native values, which are left out: one more piece
        than there are traits."""
        gap = "\x00"  # cannot occur in JSON text, which escapes control characters
        return self._text(k, metadata, gap).split(gap)

    def _detail(self, j: int, s: int) -> dict:
        trait, confidence, tiered, breaks, details = self._fixed[j]
        d = details.get(s)
        if d is None:  # each score's detail is made once per trait, when first seen
            label, headroom, band = tier_of(s, breaks) if tiered else (None, None, None)
            d = details[s] = {"label": label, "breaks": breaks, "band": band, "native": None, "headroom": headroom,
                              "confidence": confidence}
        return d

    def _parts(self, j: int, s: int) -> tuple[str, str, str, int | None]:
        """A trait's key, its detail's JSON before and after the native value, and the headroom it counts (None
        without tiers), for score s."""
        d = self._detail(j, s)
        head = _dumps({"label": d["label"], "breaks": d["breaks"], "band": d["band"]})[:-1] + ',"native":'
        tail = "," + _dumps({"headroom": d["headroom"], "confidence": d["confidence"]})[1:]
        return _dumps(self._fixed[j][0]), head, tail, d["headroom"] if self._fixed[j][2] else None

    def _composite(self, k: int) -> int:
        key = tuple(column[k] for column in self._scores)
        composite = self._composites.get(key)
        if composite is None:
            composite = self._composites[key] = harmonic_mean(list(key))
        return composite


def rounded_texts(values: np.ndarray) -> list[str]:
    """repr(round(v, 6)) of each (finite) value, as the renderer writes a native value, without a Python call per
    value.

    numpy's round scales, rounds and scales back; that is Python's correctly rounded result unless the scaled
    value lies within its own rounding error of a half. For |v| < 1000 that error is below 1e-7, so a value
    whose scaled fraction is within 1e-6 of a half (or that is not finite or not that small) takes Python's
    round; the shortest float text is then json.dumps's, which is repr's."""
    if not len(values):
        return []
    scaled = values * 1e6
    with np.errstate(invalid="ignore"):
        odd = ~(np.abs(values) < 1000) | (np.abs(scaled - np.floor(scaled) - 0.5) < 1e-6)
    rounded = np.round(values, 6).tolist()
    for i in np.flatnonzero(odd).tolist():
        rounded[i] = round(float(values[i]), 6)
    return json.dumps(rounded, separators=(",", ":"))[1:-1].split(",")


def _dumps(value) -> str:
    """JSON text as the API writes it (compact, UTF-8, U+2028 and U+2029 escaped)."""
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    return text.replace("\u2028", "\\u2028").replace("\u2029", "\\u2029")

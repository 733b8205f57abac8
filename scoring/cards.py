"""The score card (seed 000's tiers, breaks, headroom, composite), as pure functions."""

from __future__ import annotations

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


def cards(probabilities: dict, metrics: dict[str, dict], *, missing: list[list[str]],
          predictors: list[dict] | None = None) -> list[dict]:
    """`card` for a batch: `probabilities` holds one sequence per trait (a row per input) and `missing` one list
    per input. What depends only on the trait (confidence, breaks, the tier of each score 0-100) is worked out
    once; an input with missing features takes `card` itself. The cards are the same as `card`'s one by one."""
    traits = list(probabilities)
    columns = [[float(p) for p in probabilities[t]] for t in traits]
    count = len(columns[0]) if columns else len(missing)
    fixed = []  # per trait: its confidence, breaks, and the detail of each score 0-100 seen, without its native value
    for trait in traits:
        m = metrics.get(trait) or {}
        confidence, breaks = confidence_of(m), m.get("breaks")
        tiered = bool(breaks) and confidence != "low"
        fixed.append((trait, confidence, tiered, breaks, {}))
    worst = min((c for _, c, _, _, _ in fixed), key=CONFIDENCE_ORDER.index) if fixed else "low"
    composites: dict[tuple, int] = {}
    out = []
    for row in range(count):
        if missing[row]:
            out.append(card({t: columns[k][row] for k, t in enumerate(traits)}, metrics, missing=missing[row],
                            predictors=predictors))
            continue
        scores, detail, headrooms = {}, {}, []
        for k, (trait, confidence, tiered, breaks, details) in enumerate(fixed):
            p = columns[k][row]
            s = int(round(100 * p))
            if 0 <= s <= 100:
                d = details.get(s)
                if d is None:  # each score's detail is made once per trait, when first seen
                    label, headroom, band = tier_of(s, breaks) if tiered else (None, None, None)
                    d = details[s] = {"label": label, "breaks": breaks, "band": band, "native": None,
                                      "headroom": headroom, "confidence": confidence}
                d = d.copy()
                d["native"] = round(p, 6)
                if tiered:
                    d["band"] = list(d["band"])
                    headrooms.append(d["headroom"])
            else:  # not a probability; as `card` would
                return [card({t: columns[k][r] for k, t in enumerate(traits)}, metrics, missing=missing[r],
                             predictors=predictors) for r in range(count)]
            scores[trait] = s
            detail[trait] = d
        key = tuple(scores.values())
        composite = composites.get(key)
        if composite is None:
            composite = composites[key] = harmonic_mean(list(key))
        out.append({"scores": scores, "composite": composite, "confidence": worst,
                    "headroom": max(headrooms) if headrooms else None, "detail": detail})
    return out

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


def card(probabilities: dict[str, float], metrics: dict[str, dict]) -> dict:
    scores, detail, confidences, headrooms = {}, {}, [], []
    for trait, p in probabilities.items():
        s = score_of(p)
        m = metrics.get(trait) or {}
        confidence = confidence_of(m)
        breaks = m.get("breaks")
        label = headroom = band = None
        if breaks and confidence != "low":
            label, headroom, band = tier_of(s, breaks)
            headrooms.append(headroom)
        scores[trait] = s
        confidences.append(confidence)
        detail[trait] = {"label": label, "breaks": breaks, "band": band, "native": round(float(p), 6),
                         "headroom": headroom, "confidence": confidence}
    order = {"low": 0, "moderate": 1, "high": 2}
    return {
        "scores": scores,
        "composite": harmonic_mean(list(scores.values())),
        "confidence": min(confidences, key=order.get) if confidences else "low",
        "headroom": max(headrooms) if headrooms else None,
        "detail": detail,
    }

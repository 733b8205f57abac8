"""Propensity from learned cells (seed 001's scope hierarchy) and the online learner's step; pure functions."""

from __future__ import annotations

import hashlib
import math
import random
from dataclasses import dataclass

from .choices import COLD_START_PROPENSITY, EVIDENCE_THRESHOLDS, SMOOTHING_WEIGHT, Scope


@dataclass(frozen=True)
class Cell:
    evidence: int
    positives: float
    negatives: float

    @property
    def rate(self) -> float | None:
        total = self.positives + self.negatives
        return self.positives / total if total > 0 else None


@dataclass(frozen=True)
class Propensity:
    value: float
    source: str  # offer | offer_blend | channel | direction | category | global | default
    evidence: int = 0
    detail: str = ""


def _fallback(cells: dict[str, Cell | None]) -> Propensity:
    """The strongest tier below offer whose evidence meets its threshold, else the cold-start 0.5."""
    for scope in (Scope.CHANNEL, Scope.DIRECTION, Scope.CATEGORY, Scope.GLOBAL):
        cell = cells.get(scope)
        if cell is not None and cell.evidence >= EVIDENCE_THRESHOLDS[scope] and cell.rate is not None:
            return Propensity(cell.rate, str(scope), cell.evidence,
                              f"{scope} cell: {cell.evidence} responses (threshold {EVIDENCE_THRESHOLDS[scope]})")
    return Propensity(COLD_START_PROPENSITY, "default", 0, "no tier has enough evidence yet: cold start 0.5")


def propensity(cells: dict[str, Cell | None], *, smoothing_weight: float = SMOOTHING_WEIGHT) -> Propensity:
    """offer -> channel -> direction -> category -> global -> 0.5; thin offer evidence (1..49) is blended
    with the strongest fallback: (n * offer_rate + k * fallback) / (n + k)."""
    offer = cells.get(Scope.OFFER)
    if offer is not None and offer.rate is not None:
        if offer.evidence >= EVIDENCE_THRESHOLDS[Scope.OFFER]:
            return Propensity(offer.rate, "offer", offer.evidence,
                              f"offer cell: {offer.evidence} responses (threshold {EVIDENCE_THRESHOLDS[Scope.OFFER]})")
        if offer.evidence > 0:
            fallback = _fallback(cells)
            n = offer.evidence
            value = (n * offer.rate + smoothing_weight * fallback.value) / (n + smoothing_weight)
            return Propensity(value, "offer_blend", n,
                              f"offer cell has only {n} responses: blended with the {fallback.source} tier "
                              f"({fallback.value:.3f}) at smoothing weight {smoothing_weight:g}")
    return _fallback(cells)


def thompson_draw(p: Propensity, rng: random.Random, *, prior_alpha: float = 1.0, prior_beta: float = 1.0) -> float:
    """A posterior draw around the propensity, as wide as its evidence is thin: exploration in the ranking."""
    n = max(p.evidence, 0)
    return rng.betavariate(prior_alpha + p.value * n, prior_beta + (1 - p.value) * n)


def bayesian_mean(p: Propensity, *, prior_alpha: float, prior_beta: float) -> float:
    n = max(p.evidence, 0)
    return (prior_alpha + p.value * n) / (prior_alpha + prior_beta + n)


# ---------------------------------------------------------------------------------------------- online learner


def _hash(name: str, dims: int) -> int:
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little") % dims


def hashed(features: dict, dims: int) -> dict[int, float]:
    """Numbers by name, categories and booleans as name=value indicators, plus a bias term."""
    x: dict[int, float] = {_hash("__bias__", dims): 1.0}
    for name, value in features.items():
        if value is None:
            continue
        if isinstance(value, bool):
            key, val = f"{name}={value}", 1.0
        elif isinstance(value, (int, float)):
            key, val = name, float(value)
            val = math.copysign(math.log1p(abs(val)), val)  # tame large magnitudes for SGD
        else:
            key, val = f"{name}={value}", 1.0
        idx = _hash(key, dims)
        x[idx] = x.get(idx, 0.0) + val
    return x


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1 / (1 + math.exp(-z))
    e = math.exp(z)
    return e / (1 + e)


def online_predict(weights: dict, x: dict[int, float]) -> float:
    return sigmoid(sum(weights.get(str(i), 0.0) * v for i, v in x.items()))


def online_step(weights: dict, x: dict[int, float], label: float, *, rate: float, l2: float,
                sample_weight: float = 1.0) -> dict:
    """One logistic-regression SGD step; returns the new weights (keys are str for JSON)."""
    error = online_predict(weights, x) - label
    out = dict(weights)
    for i, v in x.items():
        k = str(i)
        w = out.get(k, 0.0)
        out[k] = w - rate * sample_weight * (error * v + l2 * w)
    return out

"""Experiment arithmetic: FNV-1a bucketing, Wilson intervals, the two-proportion z-test."""

from __future__ import annotations

import math

Z95 = 1.959963984540054


def fnv1a_32(text: str) -> int:
    value = 0x811C9DC5
    for byte in text.encode("utf-8"):
        value ^= byte
        value = (value * 0x01000193) & 0xFFFFFFFF
    return value


def bucket(experiment_key: str, customer_id: str) -> int:
    """0..99, stable for the pair (the seed's `${experimentKey}:${customerId}`)."""
    return fnv1a_32(f"{experiment_key}:{customer_id}") % 100


def wilson(successes: int, trials: int, z: float = Z95) -> tuple[float, float] | None:
    if trials <= 0:
        return None
    p = successes / trials
    denom = 1 + z * z / trials
    centre = (p + z * z / (2 * trials)) / denom
    half = z * math.sqrt(p * (1 - p) / trials + z * z / (4 * trials * trials)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def proportion(successes: int, trials: int) -> dict:
    """A success count as the API and the pages show it: the counts, the rate and its Wilson 95% interval."""
    ci = wilson(successes, trials)
    return {"trials": trials, "successes": successes, "rate": round(successes / trials, 6) if trials else None,
            "wilson95": [round(ci[0], 6), round(ci[1], 6)] if ci else None}


def two_proportion_z(s1: int, n1: int, s2: int, n2: int) -> tuple[float, float] | None:
    """z and the two-sided p-value for rate2 - rate1 (None when undefined)."""
    if n1 <= 0 or n2 <= 0:
        return None
    pooled = (s1 + s2) / (n1 + n2)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n1 + 1 / n2))
    if se == 0:
        return None
    z = (s2 / n2 - s1 / n1) / se
    return z, math.erfc(abs(z) / math.sqrt(2))

"""The promotion guard (the seed product's auto-rollback guard), as a pure function."""

from __future__ import annotations

from dataclasses import dataclass, field

from lifecycle.profiles import psi

from .choices import DEFAULT_GUARD_THRESHOLDS


@dataclass
class GuardVerdict:
    ran: bool
    skipped_because: str = ""
    breaches: list[dict] = field(default_factory=list)
    checks: dict = field(default_factory=dict)
    thresholds: dict = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return not self.breaches

    def as_dict(self) -> dict:
        return {"ran": self.ran, "skippedBecause": self.skipped_because or None, "passed": self.passed,
                "breaches": self.breaches, "checks": self.checks, "thresholds": self.thresholds}


def thresholds_with(overrides: dict | None) -> dict:
    out = dict(DEFAULT_GUARD_THRESHOLDS)
    for name, value in (overrides or {}).items():
        if name not in out:
            raise ValueError(f"unknown threshold {name!r}; use {', '.join(out)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
            raise ValueError(f"threshold {name} must be a non-negative number")
        out[name] = float(value)
    return out


def evaluate(*, candidate_snapshot: dict | None, incumbent_snapshot: dict | None, candidate_profile: dict | None,
             incumbent_profile: dict | None, thresholds: dict) -> GuardVerdict:
    """Runs only when the caller sent an AUC and the incumbent has a stored one (the seed's rule)."""
    candidate_auc = (candidate_snapshot or {}).get("auc")
    incumbent_auc = (incumbent_snapshot or {}).get("auc")
    if candidate_auc is None:
        return GuardVerdict(ran=False, skipped_because="the request carries no metricsSnapshot.auc",
                            thresholds=thresholds)
    if incumbent_auc is None:
        return GuardVerdict(ran=False, skipped_because="the incumbent champion has no stored AUC (or there is none)",
                            thresholds=thresholds)
    verdict = GuardVerdict(ran=True, thresholds=thresholds)
    drop = (float(incumbent_auc) - float(candidate_auc)) / float(incumbent_auc) if incumbent_auc else 0.0
    verdict.checks["aucDrop"] = round(drop, 6)
    if drop > thresholds["maxAucDrop"]:
        verdict.breaches.append({
            "check": "aucDrop", "value": round(drop, 6), "threshold": thresholds["maxAucDrop"],
            "message": f"AUC falls {drop:.1%} (from {incumbent_auc} to {candidate_auc}); at most "
                       f"{thresholds['maxAucDrop']:.1%} is allowed"})
    psis = {}
    for feature, expected in (incumbent_profile or {}).items():
        actual = (candidate_profile or {}).get(feature)
        if actual is None:
            continue
        value = psi(expected, actual)
        if value is None:
            continue
        psis[feature] = value
        if value > thresholds["maxPsi"]:
            verdict.breaches.append({
                "check": "psi", "feature": feature, "value": value, "threshold": thresholds["maxPsi"],
                "message": f"feature {feature!r} drifted: PSI {value:.3f} > {thresholds['maxPsi']}"})
    verdict.checks["psi"] = psis
    error_rate = (candidate_snapshot or {}).get("errorRate")
    if error_rate is not None:
        verdict.checks["errorRate"] = error_rate
        if float(error_rate) > thresholds["maxErrorRate"]:
            verdict.breaches.append({
                "check": "errorRate", "value": error_rate, "threshold": thresholds["maxErrorRate"],
                "message": f"error rate {float(error_rate):.1%} exceeds {thresholds['maxErrorRate']:.1%}"})
    return verdict

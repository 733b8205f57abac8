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
             incumbent_profile: dict | None, thresholds: dict, candidate_warnings: list[dict] | None = None
             ) -> GuardVerdict:
    """Runs only when the caller sent an AUC and the incumbent has a stored one (the seed's rule). The candidate's
    quality warnings from training count as breaches then (override with bypassRollbackGuard)."""
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
    _check_drift(verdict, incumbent_profile, candidate_profile)
    error_rate = (candidate_snapshot or {}).get("errorRate")
    if error_rate is not None:
        verdict.checks["errorRate"] = error_rate
        if float(error_rate) > thresholds["maxErrorRate"]:
            verdict.breaches.append({
                "check": "errorRate", "value": error_rate, "threshold": thresholds["maxErrorRate"],
                "message": f"error rate {float(error_rate):.1%} exceeds {thresholds['maxErrorRate']:.1%}"})
    _check_warnings(verdict, candidate_warnings or [])
    return verdict


def _check_drift(verdict: GuardVerdict, expected_profile: dict | None, actual_profile: dict | None) -> None:
    """PSI of every feature both training-data profiles describe; over maxPsi is a breach."""
    psis = {}
    for feature, expected in (expected_profile or {}).items():
        actual = (actual_profile or {}).get(feature)
        value = psi(expected, actual) if actual is not None else None
        if value is None:
            continue
        psis[feature] = value
        if value > verdict.thresholds["maxPsi"]:
            verdict.breaches.append({
                "check": "psi", "feature": feature, "value": value, "threshold": verdict.thresholds["maxPsi"],
                "message": f"feature {feature!r} drifted: PSI {value:.3f} > {verdict.thresholds['maxPsi']}"})
    verdict.checks["psi"] = psis


def _check_warnings(verdict: GuardVerdict, warnings: list[dict]) -> None:
    """Each quality warning of the candidate's training is a breach (a reviewer or bypassRollbackGuard overrides)."""
    verdict.checks["qualityWarnings"] = len(warnings)
    for warning in warnings:
        verdict.breaches.append({"check": "qualityWarning", "trait": warning.get("trait"), "code": warning.get("code"),
                                 "message": f"{warning.get('trait')}: {warning.get('message')}"})


def evaluate_version(*, candidate_metrics: dict, serving_metrics: dict, comparison: dict | None,
                     candidate_profile: dict | None, serving_profile: dict | None, warnings: list[dict],
                     thresholds: dict) -> GuardVerdict:
    """The guard on a new version of a governed model, against the version serving it: every trait's AUC (paired on
    the same holdout rows when the retrain measured both, otherwise each version's own holdout), drift of the
    training data, and the candidate's quality warnings (a warning is a breach; a reviewer may still approve)."""
    verdict = GuardVerdict(ran=True, thresholds=thresholds, checks={"scope": "version"})
    paired_traits = (comparison or {}).get("traits") or {}
    drops = {}
    for trait, metrics in (candidate_metrics or {}).items():
        pair = paired_traits.get(trait) or {}
        if "candidate" in pair and "serving" in pair:
            new, old, basis = pair["candidate"].get("auc"), pair["serving"].get("auc"), "paired"
        else:
            new, old, basis = (metrics or {}).get("auc"), ((serving_metrics or {}).get(trait) or {}).get("auc"), \
                "unpaired"
        if new is None or old is None:
            continue
        drop = (float(old) - float(new)) / float(old) if old else 0.0
        drops[trait] = {"candidate": new, "serving": old, "drop": round(drop, 6), "basis": basis}
        if drop > thresholds["maxAucDrop"]:
            rows = f" on the same {pair['rows']} holdout rows" if basis == "paired" and pair.get("rows") else \
                " (each on its own holdout: not the same rows)"
            verdict.breaches.append({
                "check": "aucDrop", "trait": trait, "value": round(drop, 6), "threshold": thresholds["maxAucDrop"],
                "basis": basis,
                "message": f"{trait}: AUC falls {drop:.1%} (from {old} to {new}){rows}; at most "
                           f"{thresholds['maxAucDrop']:.1%} is allowed"})
    verdict.checks["aucDrop"] = drops
    _check_drift(verdict, serving_profile, candidate_profile)
    _check_warnings(verdict, warnings)
    return verdict

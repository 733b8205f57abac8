"""Experiments: the split, sticky assignment, live counters and results. Writes are audited."""

from __future__ import annotations

from datetime import timedelta

from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from lifecycle.core.errors import ApplicationError, not_found, validation_error
from lifecycle.core.keys import key_problem, parse_id
from lifecycle.models import AlgorithmModel
from lifecycle.services import event_record

from . import stats
from .choices import ASSIGNMENT_TTL_DAYS, CHAMPION_ARM, HOLDOUT_ARM, ExperimentStatus, arm_label
from .models import Experiment, ExperimentArm, ExperimentArmPeriod, VariantAssignment


def _model_ref(ref) -> AlgorithmModel:
    qs = AlgorithmModel.objects
    pk = parse_id(ref)
    model = qs.filter(pk=pk).first() if pk is not None else qs.filter(key=str(ref)).first()
    if model is None:
        raise validation_error(f"No model with id or key {ref!r}")
    return model


def _validate_split(champion_pct: int, challengers: list[dict], holdout_pct: int) -> list[tuple[AlgorithmModel, int]]:
    resolved = []
    for i, arm in enumerate(challengers):
        if not isinstance(arm, dict) or "modelId" not in arm or "trafficPct" not in arm:
            raise validation_error(f"challengers[{i}] needs modelId and trafficPct")
        pct = arm["trafficPct"]
        if isinstance(pct, bool) or not isinstance(pct, int) or not 0 <= pct <= 100:
            raise validation_error(f"challengers[{i}].trafficPct must be a whole number from 0 to 100")
        resolved.append((_model_ref(arm["modelId"]), pct))
    total = champion_pct + sum(p for _, p in resolved)
    if total != 100:
        raise validation_error(
            f"trafficSplit.championPct ({champion_pct}) plus the challengers' trafficPct "
            f"({', '.join(str(p) for _, p in resolved) or 'none'}) is {total}; it must be exactly 100")
    if len({m.pk for m, _ in resolved}) != len(resolved):
        raise validation_error("A model can be a challenger only once per experiment")
    if not 0 <= holdout_pct <= 100:
        raise validation_error("holdoutPercent must be from 0 to 100")
    return resolved


def _write_arms(experiment: Experiment, resolved: list[tuple[AlgorithmModel, int]]) -> None:
    """Replace the challenger list wholesale, keeping the counters of arms that stay."""
    existing = {a.arm: a for a in experiment.arms.all()}
    keep = {CHAMPION_ARM, HOLDOUT_ARM} | {m.key for m, _ in resolved}
    for name, arm in existing.items():
        if name not in keep:
            arm.active = False
            arm.traffic_pct = 0
            arm.save(update_fields=["active", "traffic_pct"])
    rows = [(CHAMPION_ARM, experiment.champion_model, experiment.champion_pct),
            (HOLDOUT_ARM, None, experiment.holdout_pct)] + [(m.key, m, p) for m, p in resolved]
    for name, model, pct in rows:
        ExperimentArm.objects.update_or_create(experiment=experiment, arm=name,
                                               defaults={"model": model, "traffic_pct": pct, "active": True})


# Where an experiment may go from each status: a draft starts, a running one pauses or completes, a paused one
# resumes or completes; a completed one keeps its results. Only a draft (never assigned anyone) may be deleted.
STATUS_MOVES = {
    ExperimentStatus.DRAFT: (ExperimentStatus.ACTIVE,),
    ExperimentStatus.ACTIVE: (ExperimentStatus.PAUSED, ExperimentStatus.COMPLETED),
    ExperimentStatus.PAUSED: (ExperimentStatus.ACTIVE, ExperimentStatus.COMPLETED),
    ExperimentStatus.COMPLETED: (),
}
STATUS_NAMES = {ExperimentStatus.DRAFT: "a draft", ExperimentStatus.ACTIVE: "running",
                ExperimentStatus.PAUSED: "paused", ExperimentStatus.COMPLETED: "completed"}


def status_change_refusal(experiment: Experiment, to: str) -> str | None:
    """Why the experiment cannot move to `to` (None: it can). The API, the status buttons and their reasons
    all read this sentence."""
    if to == experiment.status:
        return None
    if to not in STATUS_MOVES:
        return f"No status {to!r}; an experiment is draft, active, paused or completed"
    if to in STATUS_MOVES[experiment.status]:
        return None
    allowed = " or ".join(STATUS_NAMES[m] for m in STATUS_MOVES[experiment.status])
    if experiment.status == ExperimentStatus.COMPLETED:
        return f"{experiment.name} is completed: its results are final and it cannot become {STATUS_NAMES[to]} again"
    if to == ExperimentStatus.DRAFT:
        return (f"{experiment.name} is {STATUS_NAMES[experiment.status]} and has assigned customers, so it cannot go "
                f"back to draft; it can become {allowed}")
    return (f"{experiment.name} is {STATUS_NAMES[experiment.status]}: it can become {allowed}, not "
            f"{STATUS_NAMES[to]}")


def delete_refusal(experiment: Experiment) -> str | None:
    """Why the experiment cannot be deleted (None: it can): one that has run keeps its results."""
    if experiment.status == ExperimentStatus.DRAFT:
        return None
    return f"{experiment.name} has run, so its results stay: complete it instead of deleting it"


def _check_names(*, key: str | None = None, family: str = "") -> None:
    for field, problem in (("key", key_problem(key, numeric_ok=False) if key is not None else None),
                           ("family", key_problem(family, what="family") if family else None)):
        if problem:
            raise validation_error(problem, field=field)


@transaction.atomic
def experiment_create(*, actor, key: str, name: str, description: str = "", status: str = ExperimentStatus.DRAFT,
                      family: str = "", champion_model_id=None, champion_pct: int = 80,
                      challengers: list[dict] | None = None, holdout_pct: int = 0, auto_promote: bool = False,
                      promote_threshold: float = 0.02, promote_after_days: int = 14) -> Experiment:
    _check_names(key=key, family=family)
    if status not in (ExperimentStatus.DRAFT, ExperimentStatus.ACTIVE):
        raise validation_error(f"A new experiment starts as draft or active, not {status!r}", field="status")
    if Experiment.objects.filter(key=key).exists():
        raise validation_error(f"An experiment with key {key!r} exists already; choose another key", field="key")
    resolved = _validate_split(champion_pct, challengers or [], holdout_pct)
    champion = _model_ref(champion_model_id) if champion_model_id is not None else None
    try:
        experiment = Experiment.objects.create(
            key=key, name=name, description=description, status=status, family=family or (champion.family if champion else ""),
            champion_model=champion, champion_pct=champion_pct, holdout_pct=holdout_pct, auto_promote=auto_promote,
            promote_threshold=promote_threshold, promote_after_days=promote_after_days,
            started_at=timezone.now() if status == ExperimentStatus.ACTIVE else None,
            created_by=actor if getattr(actor, "is_authenticated", False) else None)
    except IntegrityError:
        raise validation_error(f"An experiment with key {key!r} exists already; choose another key") from None
    _write_arms(experiment, resolved)
    event_record(model=champion, actor=actor, action="experiment.created", to_value=key,
                 data={"championPct": champion_pct, "holdoutPct": holdout_pct,
                       "challengers": [{"model": m.key, "trafficPct": p} for m, p in resolved]})
    return experiment


@transaction.atomic
def experiment_update(*, experiment: Experiment, actor, **changes) -> Experiment:
    experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
    _check_names(family=changes.get("family", ""))
    challengers = changes.pop("challengers", None)
    if "champion_model_id" in changes:
        ref = changes.pop("champion_model_id")
        experiment.champion_model = _model_ref(ref) if ref is not None else None
    if "status" in changes:
        refused = status_change_refusal(experiment, changes["status"])
        if refused:
            raise ApplicationError(refused, code="invalid_status_change", status=409,
                                   details={"field": "status", "from": experiment.status, "to": changes["status"]})
    for field_name, value in changes.items():
        setattr(experiment, field_name, value)
    if experiment.status == ExperimentStatus.ACTIVE and experiment.started_at is None:
        experiment.started_at = timezone.now()
    if challengers is None:
        challengers = [{"modelId": a.model_id, "trafficPct": a.traffic_pct}
                       for a in experiment.arms.filter(active=True).exclude(arm__in=[CHAMPION_ARM, HOLDOUT_ARM])]
    resolved = _validate_split(experiment.champion_pct, challengers, experiment.holdout_pct)
    experiment.save()
    _write_arms(experiment, resolved)
    event_record(model=experiment.champion_model, actor=actor, action="experiment.updated", to_value=experiment.key,
                 data={"fields": sorted(changes), "status": experiment.status,
                       "challengers": [{"model": m.key, "trafficPct": p} for m, p in resolved]})
    return experiment


@transaction.atomic
def experiment_delete(*, experiment: Experiment, actor) -> None:
    experiment = Experiment.objects.select_for_update().get(pk=experiment.pk)
    refused = delete_refusal(experiment)
    if refused:
        raise ApplicationError(refused, code="experiment_has_run", status=409, details={"status": experiment.status})
    event_record(model=experiment.champion_model, actor=actor, action="experiment.deleted", from_value=experiment.key)
    experiment.delete()


def experiment_get(ref) -> Experiment:
    qs = Experiment.objects.select_related("champion_model")
    pk = parse_id(ref)
    experiment = qs.filter(pk=pk).first() if pk is not None else qs.filter(key=str(ref)).first()
    if experiment is None:
        raise not_found(f"No experiment with id or key {ref!r}")
    return experiment


def arm_for(experiment: Experiment, bucket: int) -> str:
    """Holdout takes the first holdoutPct buckets; the rest is split by the traffic shares, in order."""
    if bucket < experiment.holdout_pct:
        return HOLDOUT_ARM
    span = 100 - experiment.holdout_pct
    position = (bucket - experiment.holdout_pct) * 100 / span if span else 0
    cumulative = 0
    arms = [a for a in experiment.arms.all() if a.active and a.arm != HOLDOUT_ARM]
    arms.sort(key=lambda a: (a.arm != CHAMPION_ARM, a.pk))
    for arm in arms:
        cumulative += arm.traffic_pct
        if position < cumulative:
            return arm.arm
    return CHAMPION_ARM


def experiment_assign(*, experiment: Experiment, customer_id: str) -> str:
    """The customer's arm: stored for the TTL, so it holds when the split is edited."""
    if not customer_id:
        raise validation_error("customerId is required for an assignment")
    cutoff = timezone.now() - timedelta(days=ASSIGNMENT_TTL_DAYS)
    stored = VariantAssignment.objects.filter(experiment=experiment, customer_id=customer_id).first()
    if stored and stored.assigned_at >= cutoff:
        return stored.arm
    arm = arm_for(experiment, stats.bucket(experiment.key, customer_id))
    VariantAssignment.objects.update_or_create(experiment=experiment, customer_id=customer_id,
                                               defaults={"arm": arm, "assigned_at": timezone.now()})
    return arm


def experiment_record_outcome(*, experiment: Experiment, arm: str, success: bool, at=None) -> None:
    """Called by the scoring side for each response, inside its transaction; atomic increments, no
    read-modify-write. The hour's row (for the arms-over-time chart) moves with the arm's counters."""
    increment = {"trials": F("trials") + 1, "successes": F("successes") + (1 if success else 0)}
    if not ExperimentArm.objects.filter(experiment=experiment, arm=arm).update(**increment):
        raise ApplicationError(f"Experiment {experiment.key} has no arm {arm!r}", code="not_found", status=404)
    hour = (at or timezone.now()).replace(minute=0, second=0, microsecond=0)
    ExperimentArmPeriod.objects.bulk_create(
        [ExperimentArmPeriod(experiment=experiment, arm=arm, period_start=hour)], ignore_conflicts=True)
    ExperimentArmPeriod.objects.filter(experiment=experiment, arm=arm, period_start=hour).update(**increment)


def experiment_timeline(experiment: Experiment, *, max_hourly_span=timedelta(hours=72)) -> dict:
    """Each arm's cumulative success rate with its Wilson 95% interval at the end of every hour (or day, for
    longer experiments) that had responses: the data of the arms-over-time chart."""
    periods = list(ExperimentArmPeriod.objects.filter(experiment=experiment).order_by("period_start", "arm")
                   .values_list("arm", "period_start", "trials", "successes"))
    daily = bool(periods) and periods[-1][1] - periods[0][1] > max_hourly_span
    buckets: dict[str, dict] = {}
    for arm, start, trials, successes in periods:
        if daily:
            start = start.replace(hour=0)
        cell = buckets.setdefault(arm, {}).setdefault(start, [0, 0])
        cell[0] += trials
        cell[1] += successes
    models = dict(experiment.arms.values_list("arm", "model__key"))
    order = [CHAMPION_ARM, *sorted(a for a in buckets if a not in (CHAMPION_ARM, HOLDOUT_ARM)), HOLDOUT_ARM]
    series = []
    for arm in (a for a in order if a in buckets):
        trials = successes = 0
        points = []
        for start, (n, s) in sorted(buckets[arm].items()):
            trials, successes = trials + n, successes + s
            lo, hi = stats.wilson(successes, trials)
            # A day is drawn at its date; an hour at its end ("by 14:00"), so the newest point is the latest count.
            at = start if daily else start + timedelta(hours=1)
            points.append({"x": int(at.timestamp() * 1000), "y": round(successes / trials, 6),
                           "lo": round(lo, 6), "hi": round(hi, 6), "n": trials})
        name = arm_label(arm)
        if arm == CHAMPION_ARM and models.get(arm):
            name = f"Champion ({models[arm]})"
        series.append({"name": name, "arm": arm, "points": points})
    return {"xLabel": "cumulative, by " + ("day" if daily else "hour"), "yLabel": "success rate",
            "yMin": 0, "yMax": 1, "series": series}


def experiment_results(experiment: Experiment) -> dict:
    arms = list(experiment.arms.all())
    champion = next((a for a in arms if a.arm == CHAMPION_ARM), None)
    out = []
    for arm in arms:
        rate = arm.successes / arm.trials if arm.trials else None
        row = {"arm": arm.arm, "modelKey": arm.model.key if arm.model_id else None, "trafficPct": arm.traffic_pct,
               "active": arm.active, **stats.proportion(arm.successes, arm.trials),
               "upliftAbsolute": None, "upliftRelative": None, "z": None, "pValue": None, "significant": False}
        if champion is not None and arm is not champion and arm.trials and champion.trials:
            base = champion.successes / champion.trials
            row["upliftAbsolute"] = round(rate - base, 6)
            row["upliftRelative"] = round((rate - base) / base, 6) if base else None
            test = stats.two_proportion_z(champion.successes, champion.trials, arm.successes, arm.trials)
            if test:
                row["z"], row["pValue"] = round(test[0], 4), round(test[1], 6)
                row["significant"] = test[1] < 0.05
        out.append(row)
    return {"experimentId": experiment.pk, "key": experiment.key, "status": experiment.status, "arms": out}


def experiments_auto_promote() -> list[int]:
    """For opted-in experiments past their days: ask for champion for a challenger that beats the champion
    by the threshold, significantly. The request goes through the same review as any other."""
    from .services import model_promote

    requested = []
    now = timezone.now()
    for experiment in Experiment.objects.filter(status=ExperimentStatus.ACTIVE, auto_promote=True,
                                                started_at__isnull=False):
        if experiment.started_at > now - timedelta(days=experiment.promote_after_days):
            continue
        results = experiment_results(experiment)["arms"]
        winners = [r for r in results if r["modelKey"] and r["arm"] not in (CHAMPION_ARM, HOLDOUT_ARM)
                   and r["significant"] and (r["upliftAbsolute"] or 0) >= experiment.promote_threshold]
        if not winners:
            continue
        best = max(winners, key=lambda r: r["upliftAbsolute"])
        model = AlgorithmModel.objects.get(key=best["modelKey"])
        try:
            result = model_promote(
                model=model, actor=f"experiment:{experiment.key}", to_status="champion",
                family=experiment.family or model.family,
                comment=(f"Experiment {experiment.key}: {best['arm']} converts at {best['rate']:.1%}, "
                         f"{best['upliftAbsolute']:+.1%} over the champion (p={best['pValue']})"))
        except ApplicationError:
            continue  # not promotable now (pending request, guard, rules): the next run tries again
        if result.request:
            requested.append(result.request.pk)
    return requested

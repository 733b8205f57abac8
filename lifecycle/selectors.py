"""Reads of models, runs, versions and events, shared by the pages and the API."""

from __future__ import annotations

import re

from django.db.models import Count, Q, QuerySet

from .choices import RunStatus
from .errors import not_found
from .models import AlgorithmModel, ModelEvent, ModelVersion, Sample, Trait, TrainingRun, VersionTag

MODEL_FILTERS = ("state", "status", "registry_status", "family", "model_type")


def model_get(ref, *, for_update: bool = False) -> AlgorithmModel:
    """A model by numeric id or by key."""
    # The version comes along without its artifact and data profile (large, and not needed to serve).
    qs = AlgorithmModel.objects.select_related("active_version", "last_run").defer(
        "active_version__artifact", "active_version__data_profile")
    ref = str(ref)
    model = qs.filter(pk=int(ref)).first() if ref.isdigit() else qs.filter(key=ref).first()
    if model is None:
        raise not_found(f"No model with id or key {ref!r}")
    return model


def model_list(*, search: str = "", **filters) -> QuerySet[AlgorithmModel]:
    qs = AlgorithmModel.objects.select_related("active_version", "last_run").prefetch_related("traits")
    for name in MODEL_FILTERS:
        value = filters.get(name)
        if value:
            qs = qs.filter(**{name: value})
    if search:
        qs = qs.filter(Q(key__icontains=search) | Q(name__icontains=search) | Q(description__icontains=search))
    return qs


def model_counts_by_state() -> dict[str, int]:
    return dict(AlgorithmModel.objects.values_list("state").annotate(n=Count("id")).values_list("state", "n"))


def trait_list(*, model: AlgorithmModel) -> list[Trait]:
    """Traits with their sample counts (positive when quality >= 0.5), counted in one pass over labels."""
    traits = list(model.traits.all())
    counts = {t.key: [0, 0] for t in traits}
    for labels in Sample.objects.filter(model=model).values_list("labels", flat=True).iterator(chunk_size=5000):
        for key, quality in (labels or {}).items():
            if key in counts:
                counts[key][0 if quality >= 0.5 else 1] += 1
    for t in traits:
        members = t.definition.get("members")
        if members is not None:
            pos = len(members)
            counts[t.key] = [pos, max(0, Sample.objects.filter(model=model, id__lte=t.definition.get("maxSampleId", 0)).count() - pos)]
        t.positive_samples, t.negative_samples = counts[t.key]
        t.sample_count = t.positive_samples + t.negative_samples
    return traits


def unknown_label_keys(*, model: AlgorithmModel, limit: int = 20) -> list[str]:
    known = set(model.traits.values_list("key", flat=True))
    found: set[str] = set()
    for labels in Sample.objects.filter(model=model).values_list("labels", flat=True).iterator(chunk_size=5000):
        found.update(k for k in (labels or {}) if k not in known)
        if len(found) >= limit:
            break
    return sorted(found)[:limit]


def sample_list(*, model: AlgorithmModel, source: str = "") -> QuerySet[Sample]:
    qs = Sample.objects.filter(model=model).order_by("-id")
    return qs.filter(source=source) if source else qs


def run_list(*, model: AlgorithmModel | None = None, status: str = "") -> QuerySet[TrainingRun]:
    qs = TrainingRun.objects.select_related("model", "started_by")
    if model is not None:
        qs = qs.filter(model=model)
    return qs.filter(status=status) if status else qs


def run_get(*, model: AlgorithmModel, run_id) -> TrainingRun:
    run = TrainingRun.objects.filter(model=model, pk=run_id).first() if str(run_id).isdigit() else None
    if run is None:
        raise not_found(f"Model {model.key} has no run {run_id!r}")
    return run


def runs_in_flight() -> QuerySet[TrainingRun]:
    return run_list(status="").filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING])


def version_list(*, model: AlgorithmModel) -> QuerySet[ModelVersion]:
    return model.versions.defer("artifact", "data_profile").prefetch_related("tags")


def version_by_number(model: AlgorithmModel, ref: str) -> ModelVersion | None:
    match = re.fullmatch(r"v?(\d+)", str(ref).strip())
    return model.versions.filter(version_no=int(match.group(1))).first() if match else None


def version_by_tag(model: AlgorithmModel, name: str) -> ModelVersion | None:
    tag = VersionTag.objects.filter(model=model, name=str(name).strip()).select_related("version").first()
    return tag.version if tag else None


def version_by_ref(model: AlgorithmModel, ref: str) -> ModelVersion:
    """"vN" or "N" is a version number; anything else, or a number that does not exist, a tag name."""
    version = version_by_number(model, ref) or version_by_tag(model, ref)
    if version is None:
        raise not_found(f"Model {model.key} has no version or tag {ref!r}")
    return version


def event_list(*, model: AlgorithmModel | None = None, action: str = "") -> QuerySet[ModelEvent]:
    qs = ModelEvent.objects.select_related("actor")
    if model is not None:
        qs = qs.filter(model_id=model.pk)
    return qs.filter(action__startswith=action) if action else qs


def last_operation(model: AlgorithmModel) -> dict | None:
    run = model.last_run
    if run is None:
        return None
    return {
        "kind": run.kind,
        "status": run.status,
        "startedAt": (run.started_at or run.queued_at).isoformat(),
        "finishedAt": run.finished_at.isoformat() if run.finished_at else None,
        "runId": run.pk,
        "progress": run.progress,
        "message": run.message,
        "error": run.error or None,
    }



def audit_log(*, model: str = "", family: str = "", actor: str = "", action: str = "", since=None,
              until=None) -> QuerySet[ModelEvent]:
    """The audit trail across models, newest first, filtered the same way for the page, API and CSV."""
    qs = ModelEvent.objects.all()
    if model:
        qs = qs.filter(model_id=int(model)) if str(model).isdigit() else qs.filter(model_key=model)
    if family:
        qs = qs.filter(family=family)
    if actor:
        qs = qs.filter(actor_name=actor)
    if action:
        qs = qs.filter(action__startswith=action)
    if since:
        qs = qs.filter(created_at__gte=since)
    if until:
        qs = qs.filter(created_at__lt=until)
    return qs

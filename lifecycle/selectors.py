"""Reads of models, runs, versions and events, shared by the pages and the API."""

from __future__ import annotations

import re
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import BigIntegerField, Count, DurationField, ExpressionWrapper, F, Q, QuerySet
from django.db.models.expressions import RawSQL
from django.db.models.fields.json import KeyTransform
from django.db.models.functions import Coalesce

from .core.caches import BoundedCache
from .core.timestamps import iso
from .choices import STATE_TRANSITIONS, LearnMode, RegistryStatus, RunStatus, State
from .core.errors import Blocker, draft_only, invalid_transition, not_found, run_in_flight, validation_error
from .core.keys import parse_id
from .core.listing import SortBy
from .model_types import TABULAR_TYPES
from .models import AlgorithmModel, ModelEvent, ModelVersion, Sample, Trait, TrainingRun, VersionTag

MODEL_FILTERS = ("state", "status", "registry_status", "family", "model_type")

# What each list page may sort by (the `?sort=` keys; "-key" reverses). Anything else falls back to the default.
MODEL_SORTS = {
    "created": SortBy("Created", "created_at", kind="date"),
    "updated": SortBy("Updated", "updated_at", kind="date"),
    "name": SortBy("Name", "name"),
    "key": SortBy("Key", "key"),
    "type": SortBy("Type", "model_type", kind="choice"),
    "state": SortBy("State", "state", kind="choice"),
    "samples": SortBy("Trained on", "training_samples", kind="number"),
    "trained": SortBy("Last trained", "last_trained_at", kind="date", nullable=True),
}
RUN_SORTS = {
    "id": SortBy("Run", "id", kind="number"),
    # A run that has not started yet counts from when it was queued, as the page shows it.
    "started": SortBy("Started", Coalesce("started_at", "queued_at"), kind="date"),
    "finished": SortBy("Finished", "finished_at", kind="date", nullable=True),
    "duration": SortBy("Duration", ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField()),
                       kind="number", nullable=True),
    "status": SortBy("Status", "status", kind="choice"),
    "kind": SortBy("Kind", "kind", kind="choice"),
}
VERSION_SORTS = {
    "number": SortBy("Version", "version_no", kind="number"),
    "created": SortBy("Created", "created_at", kind="date"),
    "samples": SortBy("Samples", "sample_count", kind="number"),
}
SAMPLE_SORTS = {
    "id": SortBy("Sample #", "id", kind="number"),
    # Samples are an append-only log: ids follow the time they were added, and the id index makes this order
    # free at 100,000 rows where created_at would sort them all.
    "added": SortBy("Added", "id", kind="date"),
    "weight": SortBy("Weight", "weight", kind="number"),
}


def model_get(ref, *, for_update: bool = False) -> AlgorithmModel:
    """A model by numeric id or by key."""
    # The version comes along without its artifact and data profile (large, and not needed to serve).
    qs = AlgorithmModel.objects.select_related("active_version", "last_run").defer(
        "active_version__artifact", "active_version__data_profile")
    ref, pk = str(ref), parse_id(ref)
    model = qs.filter(pk=pk).first() if pk is not None else qs.filter(key=ref).first()
    if model is None:
        raise not_found(f"No model with id or key {ref!r}")
    return model


# What a score call reads of the model row; any other field loads on first use (feedback reads more).
SERVING_FIELDS = ("key", "name", "model_type", "state", "active_version", "config", "zero_data_retention")
_serving_sql: dict[tuple[str, bool], tuple] = {}


@dataclass(frozen=True)
class ServingRow:
    """How a score call got its model row: the row's version in the database (PostgreSQL's `xmin`, which every
    update of the row changes; None elsewhere), and whether it came from this process's cache of rows rather than
    from a read in this call; `ref` is the id or key it was asked by (and is kept under)."""

    version: int | None
    cached: bool
    ref: str


def model_for_serving(ref, *, cached: bool = False) -> AlgorithmModel:
    """A model by id or key with its active version, for a score call: one small query, compiled once per process,
    and none at all with `cached` when this process has read the row before.

    Without `cached` the model row is read, so a swap of the active version is served by the next call. With
    `cached` the caller must check, in the same statement as the write it makes, that the row's version
    (`model.serving_row.version`) is still the current one, and read again when it is not: scoring does, in its
    score log's INSERT. The version (immutable once made, apart from notes, holds and its evaluation, which
    scoring does not read) comes from the process's cache of served versions, keyed by id and artifact hash, and
    is read only on its first call. A kept row's values (its config too) are shared by the calls that use it:
    callers must not change them."""
    ref, pk = str(ref), parse_id(ref)
    key = (DEFAULT_DB_ALIAS, pk is not None, pk if pk is not None else ref)
    found = _serving_rows.get(key) if cached else None
    hit = found is not None
    if not hit:
        found = _serving_row(DEFAULT_DB_ALIAS, pk if pk is not None else ref, by_pk=pk is not None)
        if found is None:
            raise not_found(f"No model with id or key {ref!r}")
        if found[3] is not None:  # a row version to check against: kept for the next call that may use it
            _serving_rows.put(key, found)
    names, values, artifact_sha256, row_version = found
    model = AlgorithmModel.from_db(DEFAULT_DB_ALIAS, names, values)
    model.serving_row = ServingRow(row_version, hit, ref)
    if model.active_version_id is not None:
        try:
            model.active_version = served_version(model.active_version_id, artifact_sha256)
        except ModelVersion.DoesNotExist:  # the model was deleted since its row was read
            raise not_found(f"No model with id or key {ref!r}") from None
    return model


# Versions as scoring reads them, by id and artifact hash: a restored or recreated database can reuse an id,
# never a hash.
_served = BoundedCache(32)
# Model rows as scoring last read them, by database and id or key, with their row version (PostgreSQL only).
_serving_rows = BoundedCache(256)


def served_version(version_id: int, artifact_sha256: str) -> ModelVersion:
    """A version as scoring reads it (without artifact and data profile), cached per process. Callers must not
    change it."""
    return _served.get_or_make((version_id, artifact_sha256),
                               lambda: ModelVersion.objects.defer("artifact", "data_profile").get(pk=version_id))


def serving_caches_clear() -> None:
    _served.clear()
    _serving_rows.clear()


def _serving_row(alias: str, value, *, by_pk: bool) -> tuple | None:
    """(field names, values, the active version's artifact hash, the row's version or None), or None."""
    statement = _serving_sql.get((alias, by_pk))
    if statement is None:
        statement = _serving_sql[(alias, by_pk)] = _compile_serving(alias, by_pk)
    sql, compiler, converters, names, fields_end, sha_at, version_at = statement
    with connections[alias].cursor() as cursor:
        cursor.execute(sql, [value])
        row = cursor.fetchone()
    if row is None:
        return None
    if converters:
        [row] = compiler.apply_converters([row], converters)
    return names, row[:fields_end], row[sha_at], row[version_at] if version_at is not None else None


def _compile_serving(alias: str, by_pk: bool) -> tuple:
    """The ORM's SQL and row converters for the serving read, made once: compiling the query was about half of a
    single-row score's Python time. On PostgreSQL the row's `xmin` comes along: it changes with every update of the
    row, whatever made it (a save, a queryset update, a migration), so it tells whether a kept row is current."""
    marker = "\x00serving"
    qs = (AlgorithmModel.objects.using(alias).only(*SERVING_FIELDS).order_by()
          .annotate(serving_sha=F("active_version__artifact_sha256")))
    if connections[alias].vendor == "postgresql":
        table = connections[alias].ops.quote_name(AlgorithmModel._meta.db_table)
        qs = qs.annotate(serving_xmin=RawSQL(f"{table}.xmin::text::bigint", (), output_field=BigIntegerField()))
    qs = qs.filter(**{"pk__exact" if by_pk else "key__exact": 0 if by_pk else marker})[:1]
    compiler = qs.query.get_compiler(using=alias)
    sql, params = compiler.as_sql()
    if len(params) != 1:  # the lookup's value is the only parameter
        raise RuntimeError(f"unexpected serving query parameters: {params!r}")
    start, end = compiler.klass_info["select_fields"][0], compiler.klass_info["select_fields"][-1] + 1
    if start != 0:
        raise RuntimeError("unexpected serving query layout")
    names = [col.target.attname for col, _, _ in compiler.select[start:end]]
    converters = compiler.get_converters([col for col, _, _ in compiler.select])
    columns = compiler.annotation_col_map
    return sql, compiler, converters, names, end, columns["serving_sha"], columns.get("serving_xmin")


def model_list(*, search: str = "", **filters) -> QuerySet[AlgorithmModel]:
    qs = AlgorithmModel.objects.select_related("active_version", "last_run").prefetch_related("traits")
    return model_filter(qs, search=search, **filters)


def model_filter(qs: QuerySet[AlgorithmModel], *, search: str = "", **filters) -> QuerySet[AlgorithmModel]:
    """`search` looks in key, name and description; each of MODEL_FILTERS is an exact value."""
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
    """Traits with their sample counts (positive when quality >= 0.5), counted by the database in one query."""
    from django.db.models import Count

    traits = list(model.traits.all())
    labelled = [t for t in traits if t.definition.get("members") is None]
    counts = Sample.objects.filter(model=model).aggregate(**{
        f"{kind}_{i}": Count("id", filter=Q(**{f"labels__{t.key}__{op}": 0.5}))
        for i, t in enumerate(labelled) for kind, op in (("pos", "gte"), ("neg", "lt"))
    }) if labelled else {}
    for i, t in enumerate(labelled):
        t.positive_samples, t.negative_samples = counts[f"pos_{i}"], counts[f"neg_{i}"]
    for t in traits:
        members = t.definition.get("members")
        if members is not None:  # an intrinsic axis: its members are positive, the rest it saw negative
            seen = Sample.objects.filter(model=model, id__lte=t.definition.get("maxSampleId", 0)).count()
            t.positive_samples, t.negative_samples = len(members), max(0, seen - len(members))
        t.sample_count = t.positive_samples + t.negative_samples
    return traits


def definition_blocker(model: AlgorithmModel, what: str) -> Blocker | None:
    """Why `what` (traits, explicit samples) cannot change on this model now, or None: seed 000 lets a model's
    definition change only while it is a draft that has never been ready."""
    if model.state == State.BUSY:
        return Blocker.of(draft_only(f"{what} cannot change while run {model.last_run_id} is in flight; wait for it "
                                     "to finish"))
    if model.state == State.ARCHIVED:
        return Blocker.of(draft_only(f"{what} cannot change on an archived model"))
    if not model.definition_editable:
        return Blocker.of(draft_only(
            f"{what} can change only before the first successful train; this model is {model.state} and its trait "
            "set is fixed for the lineage. Create a new model for a new standard, or send feedback on scores to add "
            "samples for the next retrain.", state=model.state))
    return None


def train_blockers(model: AlgorithmModel, *, traits: list[Trait] | None = None) -> list[Blocker]:
    """What stops a train or retrain of `model` now, first reason first: a run in flight, a state that does not
    train, and for a tabular model no traits or too few labelled samples of a class, counted by the trainer's own
    rule on the samples the run would read. `traits` are trait_list's, when the caller has them already."""
    running = TrainingRun.objects.filter(model=model, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).first()
    if running:
        return [Blocker.of(run_in_flight(running))]
    if model.state not in STATE_TRANSITIONS["train"]["from"]:
        hint = "restore it first" if model.state == State.ARCHIVED else "wait for the run in flight"
        return [Blocker.of(invalid_transition(f"Cannot train a {model.state} model; {hint}", state=model.state))]
    if model.model_type not in TABULAR_TYPES:
        if model.state == State.READY:
            return [Blocker.of(invalid_transition(
                f"A {model.model_type} model learns on every response (or scores through its endpoint); there is "
                "nothing to retrain. Change its config on a new model instead."))]
        return []
    traits = trait_list(model=model) if traits is None else traits
    if not traits:
        return [Blocker.of(validation_error("This model has no traits yet; add at least one trait and labelled "
                                            "samples, or run discovery, then train"))]
    from . import trainers  # the trainer's rule itself; its module loads scikit-learn on first use

    import numpy as np

    labels = {t.key: np.repeat([1.0, 0.0], [t.positive_samples, t.negative_samples]) for t in traits}
    try:
        trainers._check_class_counts(labels)
    except trainers.TrainingError as exc:
        return [Blocker.of(validation_error(
            f"Not enough labelled samples to train: {exc}.",
            traits={t.key: {"positive": t.positive_samples, "negative": t.negative_samples} for t in traits}))]
    return []


def unknown_label_keys(*, model: AlgorithmModel, limit: int = 20) -> list[str]:
    """Label keys that samples carry but no trait defines, listed by the database's JSON functions."""
    from django.db import connection

    known = set(model.traits.values_list("key", flat=True))
    table = Sample._meta.db_table
    if connection.vendor == "postgresql":
        sql = f"SELECT DISTINCT jsonb_object_keys(labels) FROM {table} WHERE model_id = %s"
    else:
        sql = f"SELECT DISTINCT j.key FROM {table} s, json_each(s.labels) j WHERE s.model_id = %s"
    with connection.cursor() as cursor:
        cursor.execute(sql, [model.pk])
        found = {row[0] for row in cursor.fetchall()}
    return sorted(found - known)[:limit]


def sample_list(*, model: AlgorithmModel, source: str = "", trait: str = "", label: str = "",
                search: str = "") -> QuerySet[Sample]:
    """A model's samples, newest first. `trait` keeps those labelled for that trait key; with `label`
    ("positive" or "negative") only those on that side of 0.5, the way training and the trait counts read
    a label. `search` looks in the text content."""
    qs = Sample.objects.filter(model=model).order_by("-id")
    return sample_filter(qs, source=source, trait=trait, label=label, search=search)


def sample_filter(qs: QuerySet[Sample], *, source: str = "", trait: str = "", label: str = "",
                  search: str = "") -> QuerySet[Sample]:
    if source:
        qs = qs.filter(source=source)
    if trait:
        # KeyTransform, not "labels__<key>__gte": a key with "__" in it would split the lookup.
        if label == "positive":
            qs = qs.alias(trait_label=KeyTransform(trait, "labels")).filter(trait_label__gte=0.5)
        elif label == "negative":
            qs = qs.alias(trait_label=KeyTransform(trait, "labels")).filter(trait_label__lt=0.5)
        else:
            qs = qs.filter(labels__has_key=trait)
    if search:
        qs = qs.filter(content__icontains=search)
    return qs


def run_list(*, model: AlgorithmModel | None = None, status: str = "", kind: str = "") -> QuerySet[TrainingRun]:
    qs = TrainingRun.objects.select_related("model", "started_by")
    if model is not None:
        qs = qs.filter(model=model)
    return run_filter(qs, status=status, kind=kind)


def run_filter(qs: QuerySet[TrainingRun], *, status: str = "", kind: str = "") -> QuerySet[TrainingRun]:
    if kind:
        qs = qs.filter(kind=kind)
    return qs.filter(status=status) if status else qs


def run_get(*, model: AlgorithmModel, run_id) -> TrainingRun:
    pk = parse_id(run_id)
    run = TrainingRun.objects.filter(model=model, pk=pk).first() if pk is not None else None
    if run is None:
        raise not_found(f"Model {model.key} has no run {run_id!r}")
    return run


def runs_in_flight() -> QuerySet[TrainingRun]:
    return run_list(status="").filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING])


def version_list(*, model: AlgorithmModel, tag: str = "") -> QuerySet[ModelVersion]:
    qs = model.versions.defer("artifact", "data_profile", "evaluation").prefetch_related("tags")
    return version_filter(qs, tag=tag)


def version_filter(qs: QuerySet[ModelVersion], *, tag: str = "") -> QuerySet[ModelVersion]:
    return qs.filter(tags__name=tag) if tag else qs


def version_tag_names(*, model: AlgorithmModel) -> list[str]:
    return list(VersionTag.objects.filter(model=model).order_by("name").values_list("name", flat=True))


@dataclass(frozen=True)
class InputSchema:
    """What a version reads: `features` as trainers.input_schema gives them; `source` says where they come from:
    "training" (recorded when it trained), "artifact" (a version trained before that: its featurizer tells types
    and categories, not ranges or missing rates) or "unknown" (nothing to tell: a pruned artifact, or a model
    type that does not train on samples here)."""

    features: list[dict]
    source: str


def version_input_schema(version: ModelVersion) -> InputSchema:
    if version.input_schema:
        return InputSchema(list(version.input_schema), "training")
    if version.model.model_type not in TABULAR_TYPES:
        return InputSchema([], "unknown")
    artifact = ModelVersion.objects.filter(pk=version.pk).values_list("artifact", flat=True).first()
    if artifact is None:
        return InputSchema([], "unknown")
    from . import trainers  # heavy imports stay out of web start-up

    try:
        state = trainers.featurizer_state(bytes(artifact))
    except ValueError:
        return InputSchema([], "unknown")
    return InputSchema(trainers.input_schema_from_featurizer(state), "artifact")


def version_by_number(model: AlgorithmModel, ref: str) -> ModelVersion | None:
    match = re.fullmatch(r"v?([0-9]+)", str(ref).strip())
    number = parse_id(match.group(1)) if match else None
    return model.versions.filter(version_no=number).first() if number is not None else None


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
    return event_filter(qs, action=action)


def event_filter(qs: QuerySet[ModelEvent], *, action: str = "") -> QuerySet[ModelEvent]:
    """`action` is a prefix: "run." keeps every run event."""
    return qs.filter(action__startswith=action) if action else qs


def last_operation(model: AlgorithmModel) -> dict | None:
    run = model.last_run
    if run is None:
        return None
    return {
        "kind": run.kind,
        "status": run.status,
        "startedAt": iso(run.started_at or run.queued_at),
        "finishedAt": iso(run.finished_at),
        "runId": run.pk,
        "progress": run.progress,
        "message": run.message,
        "error": run.error or None,
    }



def audit_log(*, model: str = "", family: str = "", actor: str = "", action: str = "", since=None,
              until=None) -> QuerySet[ModelEvent]:
    """The audit trail across models, newest first, filtered the same way for the page, API and CSV."""
    return audit_filter(ModelEvent.objects.all(), model=model, family=family, actor=actor, action=action,
                        since=since, until=until)


def audit_filter(qs: QuerySet[ModelEvent], *, model: str = "", family: str = "", actor: str = "", action: str = "",
                 since=None, until=None) -> QuerySet[ModelEvent]:
    """`model` is an id or a key (events outlive their model, so a key matches what the row copied)."""
    if model:
        pk = parse_id(model)
        qs = qs.filter(model_id=pk) if pk is not None else qs.filter(model_key=model)
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


def model_counts_by(field: str) -> dict[str, int]:
    """How many models have each value of one status field (`state`, `status` or `registry_status`)."""
    if field not in ("state", "status", "registry_status"):
        raise ValueError(field)
    return dict(AlgorithmModel.objects.order_by().values_list(field).annotate(n=Count("id")).values_list(field, "n"))


def runs_failed_recent(*, limit: int = 5) -> list[TrainingRun]:
    """The newest failed runs whose model has not succeeded since (what still needs someone's attention)."""
    runs = TrainingRun.objects.select_related("model", "started_by").filter(status=RunStatus.FAILED)
    return [r for r in runs[: limit * 4] if r.model.last_run_id == r.pk][:limit]


def metrics_history(*, model: AlgorithmModel) -> dict:
    """Each trait's held-out metrics across the model's versions, oldest first, for the history chart."""
    rows = list(model.versions.order_by("version_no").values_list("version_no", "metrics", "sample_count"))
    traits: dict[str, dict[str, list]] = {}
    for version_no, metrics, _ in rows:
        for trait, m in (metrics or {}).items():
            series = traits.setdefault(trait, {"auc": [], "logLoss": []})
            for name in ("auc", "logLoss"):
                value = (m or {}).get(name)
                if isinstance(value, (int, float)):
                    series[name].append({"x": version_no, "y": round(float(value), 4)})
    return {"versions": [r[0] for r in rows], "traits": traits}


def version_comparison(*, model: AlgorithmModel, a: ModelVersion, b: ModelVersion, top: int = 8) -> dict:
    """Two versions side by side: per-trait metrics with the change, top predictors, samples and trait sets."""
    names = ("auc", "logLoss", "accuracy", "baseRate")
    traits = sorted(set(a.metrics or {}) | set(b.metrics or {}))
    rows = []
    for trait in traits:
        ma, mb = (a.metrics or {}).get(trait) or {}, (b.metrics or {}).get(trait) or {}
        metrics = []
        for name in names:
            va, vb = ma.get(name), mb.get(name)
            delta = vb - va if isinstance(va, (int, float)) and isinstance(vb, (int, float)) else None
            metrics.append({"name": name, "a": va, "b": vb, "delta": delta})
        rows.append({"trait": trait, "metrics": metrics, "histogram_a": (ma.get("histogram") or {}),
                     "histogram_b": (mb.get("histogram") or {}), "evaluation_a": ma.get("evaluation"),
                     "evaluation_b": mb.get("evaluation")})

    def predictors(version):
        by_trait: dict[str, list] = {}
        for p in version.predictors or []:
            by_trait.setdefault(p.get("trait", ""), []).append(p)
        return {t: sorted(ps, key=lambda p: -p.get("importance", 0))[:top] for t, ps in by_trait.items()}

    pa, pb = predictors(a), predictors(b)
    return {
        "traits": rows,
        "predictors": [{"trait": t, "a": pa.get(t, []), "b": pb.get(t, [])} for t in sorted(set(pa) | set(pb))],
        "trait_keys": {"a": sorted(a.trait_keys or []), "b": sorted(b.trait_keys or []),
                       "only_a": sorted(set(a.trait_keys or []) - set(b.trait_keys or [])),
                       "only_b": sorted(set(b.trait_keys or []) - set(a.trait_keys or []))},
        "sample_delta": b.sample_count - a.sample_count,
    }


def api_token_list(*, user) -> list:
    """A user's own tokens, newest first, each with whether it still works."""
    from django.utils import timezone

    from .models import ApiToken

    now = timezone.now()
    tokens = list(ApiToken.objects.filter(user=user).order_by("-created_at", "-id"))
    for t in tokens:
        t.live = t.revoked_at is None and (t.expires_at is None or t.expires_at > now)
    return tokens


def champion_stop_refusal(model: AlgorithmModel, becoming: str) -> str:
    """Why `model` may not become `becoming` (paused, archived) now ("" when it may): a serving champion would leave
    its family with nobody deciding. The status control, DELETE and archive all refuse with this sentence."""
    if model.registry_status == RegistryStatus.CHAMPION:
        return (f"The champion cannot be {becoming} while it serves its family; promote another model to champion, "
                "or roll the family back, first")
    return ""


def draft_status_refusal(model: AlgorithmModel) -> str:
    """Why `model` may not be draft-status now: a model on the ladder (shadow, challenger, champion) scores."""
    if model.registry_status not in (RegistryStatus.DRAFT, RegistryStatus.ARCHIVED):
        return (f"A {model.registry_status} model cannot be draft-status; move it to draft or archived on the ladder "
                "first")
    return ""


def cadence_active(model: AlgorithmModel) -> bool:
    """Does the model retrain by itself? A tabular model with autoLearn on, learnMode "scheduled" and a
    learnSchedule: exactly then a django-q2 schedule follows it (continuous learners learn on every response)."""
    return bool(model.auto_learn and model.learn_mode == LearnMode.SCHEDULED and model.learn_schedule
                and model.model_type in TABULAR_TYPES)


def cadence_schedule(model: AlgorithmModel):
    """The django-q2 schedule that follows the model's cadence, or None."""
    from django_q.models import Schedule

    from .schedules import cadence_schedule_name

    return Schedule.objects.filter(name=cadence_schedule_name(model.pk)).first()


NOT_RECORDED = "not recorded: this version was trained before its curves were kept"


def version_get(*, model: AlgorithmModel, version_no) -> ModelVersion:
    """One version by number, with its evaluation, without its artifact."""
    pk = parse_id(version_no)
    version = (model.versions.defer("artifact", "data_profile").select_related("run", "run__started_by")
               .prefetch_related("tags").filter(version_no=pk).first() if pk is not None else None)
    if version is None:
        raise not_found(f"Model {model.key} has no version {version_no!r}")
    return version


def version_evaluation(version: ModelVersion) -> list[dict]:
    """Per trait: its metrics, the curves of its evaluation rows (None for versions trained before they were kept)
    and the importance of each input for it, highest first. The version page, its model card and the API read
    this one shape."""
    curves = version.evaluation or {}
    out = []
    for trait, m in (version.metrics or {}).items():
        m = m or {}
        importances = sorted(({"name": p["name"], "importance": p["importance"]}
                              for p in version.predictors or [] if p.get("trait") == trait),
                             key=lambda p: (-p["importance"], p["name"]))
        out.append({"trait": trait, "metrics": m, "curves": curves.get(trait), "importances": importances,
                    "breaks": m.get("breaks") or {}})
    return out


def version_events(version: ModelVersion) -> QuerySet[ModelEvent]:
    """The audit rows about this version (created, activated, tagged, described, held, reviewed...)."""
    return (ModelEvent.objects.filter(model_id=version.model_id)
            .filter(Q(data__versionNo=version.version_no) | Q(to_value=version.label) | Q(from_value=version.label))
            .order_by("created_at", "id"))


def version_card(version: ModelVersion) -> dict:
    """The model card of a version: what it is, what it was trained on, how it measured, what it is for, its
    limits and its history (approvals included). JSON as the API gives it; the HTML card renders the same dict."""
    model = version.model
    evaluation = version_evaluation(version)
    limits = [f"{w['trait']}: {w['message']}" for w in version.quality_warnings]
    limits += [f"{e['trait']}: measured on the training set (too few samples for a held-out split)"
               for e in evaluation if e["metrics"].get("evaluation") == "training"]
    if version.hold:
        limits.append(f"Held from serving: {version.hold_reason}" if version.hold_reason else "Held from serving")
    history = [{"at": e.created_at.isoformat(), "action": e.action, "actor": e.actor_name, "from": e.from_value,
                "to": e.to_value, "message": e.message} for e in version_events(version)]
    return {
        "model": {"key": model.key, "name": model.name, "modelType": model.model_type,
                  "description": model.description, "family": model.family},
        "version": {"versionNo": version.version_no, "versionId": version.label, "createdAt": version.created_at.isoformat(),
                    "triggeredBy": version.triggered_by, "notes": version.notes, "params": version.params,
                    "paramHash": version.param_hash, "artifactSha256": version.artifact_sha256,
                    "artifactSize": version.artifact_size, "serving": model.active_version_id == version.pk},
        "intendedUse": model.description or "",
        "trainingData": {"sampleCount": version.sample_count, "traits": [
            {"trait": e["trait"], "positives": e["metrics"].get("positives"), "negatives": e["metrics"].get("negatives"),
             "baseRate": e["metrics"].get("baseRate"), "evaluation": e["metrics"].get("evaluation"),
             "evaluationCount": e["metrics"].get("evaluationCount")} for e in evaluation],
            "inputs": version_input_schema(version).features},
        "metrics": {e["trait"]: {k: e["metrics"].get(k) for k in ("auc", "logLoss", "accuracy", "baseRate")}
                    for e in evaluation},
        "tierBreaks": {e["trait"]: e["breaks"] for e in evaluation},
        "importances": {e["trait"]: e["importances"] for e in evaluation},
        "evaluation": {e["trait"]: e["curves"] for e in evaluation},
        "limits": limits,
        "history": history,
    }


def version_artifact(version: ModelVersion) -> bytes | None:
    """The stored artifact, read only when asked for (it is deferred everywhere else); None once pruned."""
    raw = ModelVersion.objects.filter(pk=version.pk).values_list("artifact", flat=True).first()
    return bytes(raw) if raw is not None else None


def run_phases(run: TrainingRun) -> list[dict]:
    """The run's log lines, each with how long its step took (until the next line, or the end of the run); empty
    for runs from before the log was kept."""
    from datetime import datetime

    lines = list((run.result or {}).get("log") or [])
    out = []
    for i, line in enumerate(lines):
        start = datetime.fromisoformat(line["at"])
        end = (datetime.fromisoformat(lines[i + 1]["at"]) if i + 1 < len(lines)
               else run.finished_at)
        out.append({**line, "at": start, "seconds": (end - start).total_seconds() if end else None})
    return out


def versions_side_by_side(versions: list[ModelVersion]) -> list[dict]:
    """Any number of versions (of one model or of several), trait by trait: each version's metrics and its ROC
    curve, for one table and one overlaid chart per trait. A trait only some versions have lists those; a
    version without recorded curves has no ROC series (`roc` None) but keeps its row."""
    traits: dict[str, list] = {}
    for v in versions:
        for trait, m in (v.metrics or {}).items():
            m = m or {}
            curves = (v.evaluation or {}).get(trait) or {}
            traits.setdefault(trait, []).append({
                "version": v, "auc": m.get("auc"), "logLoss": m.get("logLoss"), "accuracy": m.get("accuracy"),
                "baseRate": m.get("baseRate"), "samples": v.sample_count, "evaluationCount": m.get("evaluationCount"),
                "roc": curves.get("roc")})
    out = []
    for trait, rows in traits.items():
        aucs = [r["auc"] for r in rows if r["auc"] is not None]
        # The best is marked only where it stands out: a tie of all of them marks none.
        best = max(aucs) if aucs and min(aucs) != max(aucs) else None
        out.append({"trait": trait, "rows": [{**r, "best": best is not None and r["auc"] == best} for r in rows]})
    return out


def versions_pick(*, model: AlgorithmModel, numbers: list) -> list[ModelVersion]:
    """The versions of `model` with these numbers ("3" or "v3"), in the order given; a number it lacks is a 404."""
    wanted = []
    for raw in numbers:
        version = version_by_number(model, raw)
        if version is None:
            raise not_found(f"Model {model.key} has no version {raw!r}")
        if version not in wanted:
            wanted.append(version)
    return wanted


def before_first_train(model: AlgorithmModel, traits: list[Trait] | None = None) -> list[dict]:
    """What a tabular model that has never served still needs before it can be trained: [{done, text, anchor}],
    for the path to live's Trained step (the one checklist of a new draft). [] once it has served, while a run
    is in flight, or for a type that is never trained here."""
    if model.has_been_ready or model.state not in (State.DRAFT, State.FAILED) or model.model_type not in TABULAR_TYPES:
        return []
    traits = trait_list(model=model) if traits is None else traits
    one_sided = [t.name for t in traits if not (t.positive_samples and t.negative_samples)]
    has_samples = any(t.positive_samples or t.negative_samples for t in traits)
    return [
        {"done": bool(traits), "text": "Define at least one trait", "anchor": "traits"},
        {"done": bool(traits) and not one_sided, "anchor": "samples",
         "text": "Add labelled samples with positive and negative examples for every trait"
         + (f" (missing for {', '.join(one_sided)})" if traits and has_samples and one_sided else "")},
    ]

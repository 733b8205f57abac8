"""Every write to a model's life. Each state change checks the rule, locks the row, writes the change
and its audit event in one transaction, and queues follow-up work on commit."""

from __future__ import annotations

import hashlib
import logging
import math
import re
import threading
import time
from dataclasses import dataclass, field
from datetime import timedelta
from itertools import islice

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, TextField
from django.db.models.functions import Cast
from django.utils import timezone
from django.utils.text import slugify

from .core.timestamps import iso
from . import endpoints, governance, profiles, webhooks
from .audit import event_record  # noqa: F401 - the services' audit writer; other apps import it from here
from .core import keys
from .core import collector, queue
from .core.inputs import stored_loads_many
from .core.logs import current_request_id
from .choices import (
    TraitDirection,
    STATE_TRANSITIONS,
    Effort,
    ModelType,
    RunKind,
    RunStatus,
    SampleSource,
    State,
    TraitKind,
    VersionHold,
    VersionTrigger,
)
from .core.errors import ApplicationError, invalid_transition, not_found, run_in_flight, validation_error
from .model_types import TABULAR_TYPES
from .labels import parse_quality
from .selectors import (cadence_active, champion_stop_refusal, definition_blocker, sample_filter, trait_list,
                        train_blockers, version_by_number, version_by_ref, version_by_tag)
from .models import AlgorithmModel, ModelVersion, Sample, Trait, TrainingRun, VersionTag

log = logging.getLogger(__name__)

MAX_JSON_KEYS = 100
# A trait key is written to the audit trail's 64-character from/to columns, so it is no longer than they are.
TRAIT_KEY_MAX_LENGTH = keys.KEY_MAX_LENGTH


# --------------------------------------------------------------------------------------------- audit


def _lock(model: AlgorithmModel) -> AlgorithmModel:
    return AlgorithmModel.objects.select_for_update().get(pk=model.pk)


def _check_json_object(name: str, value, *, allow_none: bool = False) -> dict | None:
    if value is None and allow_none:
        return None
    if not isinstance(value, dict):
        raise validation_error(f"{name} must be a JSON object", field=name)
    if len(value) > MAX_JSON_KEYS:
        raise validation_error(f"{name} has {len(value)} keys; at most {MAX_JSON_KEYS} are allowed", field=name)
    return value


def _check_model_config(model_type: str, config: dict, stored: dict | None = None) -> dict:
    """An external endpoint's config is checked when it is saved (a 400 naming the key), not first at train
    or scoring time; a secret sent back masked, as it was shown, keeps the stored one."""
    if model_type != ModelType.EXTERNAL_ENDPOINT:
        return config
    config = endpoints.secrets_kept(config, stored or {})
    try:
        endpoints.check_config(config, settings.EXTERNAL_ENDPOINT_ALLOWED_HOSTS, require_url=False)
    except endpoints.EndpointConfigError as exc:
        raise validation_error(str(exc), field=exc.field) from None
    return config


# --------------------------------------------------------------------------------------------- models

MODEL_UPDATABLE_FIELDS = ("name", "description", "config", "target_field", "target_schema_key", "learning_config")


@transaction.atomic
def model_create(*, actor, key: str, name: str, model_type: str, description: str = "", config: dict | None = None,
                 target_field: str = "", target_schema_key: str = "", learning_config: dict | None = None,
                 traits: list[dict] | None = None) -> AlgorithmModel:
    problem = keys.key_problem(key, max_length=keys.MODEL_KEY_MAX_LENGTH, numeric_ok=False)
    if problem:
        raise validation_error(problem, field="key")
    if not (name or "").strip() or len(name) > 255:
        raise validation_error("name must be 1-255 characters", field="name")
    if model_type not in ModelType.values:
        raise validation_error(
            f"modelType {model_type!r} is not known; use one of: {', '.join(ModelType.values)}", field="modelType")
    if AlgorithmModel.objects.filter(key=key).exists():
        raise validation_error(f"A model with key {key!r} already exists; choose another key", field="key")
    model = AlgorithmModel(
        key=key,
        name=name.strip(),
        model_type=model_type,
        description=description or "",
        config=_check_model_config(model_type, _check_json_object("config", config if config is not None else {})),
        target_field=target_field or "",
        target_schema_key=target_schema_key or "",
        learning_config=_check_json_object("learningConfig", learning_config if learning_config is not None else {}),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    try:
        with transaction.atomic():
            model.save()
    except IntegrityError:
        raise validation_error(f"A model with key {key!r} already exists; choose another key", field="key")
    event_record(model=model, actor=actor, action="model.created", to_value=State.DRAFT,
                 data={"modelType": model_type, "name": model.name})
    if traits:
        trait_upsert(model=model, actor=actor, traits=traits)
    return model


@transaction.atomic
def model_update(*, model: AlgorithmModel, actor, **changes) -> AlgorithmModel:
    """Metadata only. The lifecycle controls each have their own service."""
    unknown = set(changes) - set(MODEL_UPDATABLE_FIELDS)
    if unknown:
        raise validation_error(f"Cannot update {', '.join(sorted(unknown))} here", fields=sorted(unknown))
    model = _lock(model)
    if "name" in changes and (not (changes["name"] or "").strip() or len(changes["name"]) > 255):
        raise validation_error("name must be 1-255 characters", field="name")
    for json_field in ("config", "learning_config"):
        if json_field in changes:
            _check_json_object(json_field, changes[json_field])
    if "config" in changes:
        changes["config"] = _check_model_config(model.model_type, changes["config"], model.config)
    before = {f: getattr(model, f) for f in changes}
    for name_, value in changes.items():
        setattr(model, name_, value if value is not None else "")
    changed = [f for f in changes if before[f] != getattr(model, f)]
    if changed:
        model.save(update_fields=[*changed, "updated_at"])
        event_record(model=model, actor=actor, action="model.updated",
                     data={"fields": changed, "before": {f: endpoints.shown_config(before[f]) if f == "config"
                                                         else before[f] for f in changed}})
    return model


@transaction.atomic
def model_archive(*, model: AlgorithmModel, actor, reason: str = "") -> AlgorithmModel:
    model = _lock(model)
    if model.state == State.ARCHIVED:
        return model
    if model.state not in STATE_TRANSITIONS["archive"]["from"]:
        raise invalid_transition(
            f"Cannot archive a {model.state} model while run {model.last_run_id} is in flight; wait for it to "
            "finish, then archive", state=model.state)
    refused = champion_stop_refusal(model, "archived")
    if refused:
        raise invalid_transition(refused)
    previous = model.state
    model.state = State.ARCHIVED
    model.save(update_fields=["state", "updated_at"])
    event_record(model=model, actor=actor, action="model.archived", from_value=previous, to_value=State.ARCHIVED,
                 message=reason)
    return model


@transaction.atomic
def model_restore(*, model: AlgorithmModel, actor) -> AlgorithmModel:
    model = _lock(model)
    if model.state != State.ARCHIVED:
        raise invalid_transition(f"Only an archived model can be restored; this one is {model.state}")
    model.state = State.READY if model.has_been_ready else State.DRAFT
    model.save(update_fields=["state", "updated_at"])
    event_record(model=model, actor=actor, action="model.restored", from_value=State.ARCHIVED, to_value=model.state)
    return model


def _require_definition_editable(model: AlgorithmModel, what: str) -> None:
    blocker = definition_blocker(model, what)
    if blocker:
        raise blocker.error()


# --------------------------------------------------------------------------------------------- cadence

SCHEDULE_PATTERN = re.compile(r"^([0-9]{1,4})(m|h|d)$")
SCHEDULE_UNIT_MINUTES = {"m": 1, "h": 60, "d": 1440}
MIN_SCHEDULE_MINUTES = 15


def schedule_minutes(text: str) -> int:
    """"6h" -> 360. Raises ApplicationError naming the grammar."""
    match = SCHEDULE_PATTERN.match(str(text or "").strip())
    if not match:
        raise validation_error(f"learnSchedule {text!r} is not a duration; write a number and a unit: \"30m\", "
                               "\"6h\", \"24h\" or \"7d\"", field="learnSchedule")
    minutes = int(match.group(1)) * SCHEDULE_UNIT_MINUTES[match.group(2)]
    if minutes < MIN_SCHEDULE_MINUTES:
        raise validation_error(f"learnSchedule must be at least {MIN_SCHEDULE_MINUTES}m", field="learnSchedule")
    return minutes


_UNSET = object()
ZDR_NO_AUTO_LEARN = ("This model keeps zero data: its samples are purged after each train, so nothing retrains by "
                     "itself; turn zero data retention off first")
ZDR_NO_FEEDBACK = ("This model keeps zero data: score feedback would store the input as a sample; turn zero data "
                   "retention off first")


@transaction.atomic
def model_set_zero_data_retention(*, model: AlgorithmModel, actor, on: bool) -> AlgorithmModel:
    """Zero data retention (u22a8's zero_data_retention): turning it on purges the samples kept so far and switches
    automatic retraining off, in one audited step; turning it off affects only what comes after."""
    if not isinstance(on, bool):
        raise validation_error("zeroDataRetention must be true or false", field="zeroDataRetention")
    model = _lock(model)
    if model.zero_data_retention == on:
        return model
    purged = 0
    if on:
        purged, _ = Sample.objects.filter(model=model).delete()
        if model.auto_learn:
            model_set_cadence(model=model, actor=actor, auto_learn=False)
            model = _lock(model)
    model.zero_data_retention = on
    model.save(update_fields=["zero_data_retention", "updated_at"])
    event_record(model=model, actor=actor, action="model.zero_data_retention", from_value=str(not on).lower(),
                 to_value=str(on).lower(), message=f"Purged {purged} sample(s)" if on else "",
                 data={"purgedSamples": purged})
    return model


@transaction.atomic
def model_set_cadence(*, model: AlgorithmModel, actor, auto_learn=_UNSET, learn_mode=_UNSET,
                      learn_schedule=_UNSET) -> AlgorithmModel:
    """Learning cadence (seed 001). A django-q2 schedule follows every change: it exists exactly when
    a tabular model has autoLearn on, learnMode "scheduled" and a learnSchedule."""
    from . import schedules
    from .choices import LearnMode

    model = _lock(model)
    new = {
        "auto_learn": model.auto_learn if auto_learn is _UNSET else auto_learn,
        "learn_mode": model.learn_mode if learn_mode is _UNSET else learn_mode,
        "learn_schedule": model.learn_schedule if learn_schedule is _UNSET else (learn_schedule or None),
    }
    if not isinstance(new["auto_learn"], bool):
        raise validation_error("autoLearn must be true or false", field="autoLearn")
    if new["auto_learn"] and model.zero_data_retention:
        raise ApplicationError(ZDR_NO_AUTO_LEARN, code="feature_unavailable", status=409,
                               details={"field": "autoLearn"})
    if new["learn_mode"] not in LearnMode.values:
        raise validation_error(f"learnMode must be one of {', '.join(LearnMode.values)}", field="learnMode")
    minutes = schedule_minutes(new["learn_schedule"]) if new["learn_schedule"] is not None else None
    if new["learn_mode"] == LearnMode.SCHEDULED and minutes is None:
        raise validation_error("learnMode \"scheduled\" needs a learnSchedule such as \"24h\"", field="learnSchedule")
    before = {f: getattr(model, f) for f in new}
    changed = [f for f in new if before[f] != new[f]]
    if not changed:
        return model
    for f in changed:
        setattr(model, f, new[f])
    model.save(update_fields=[*changed, "updated_at"])
    active = cadence_active(model)
    schedules.sync_cadence(model, interval_minutes=minutes if active else None)
    event_record(model=model, actor=actor, action="cadence.changed",
                 from_value=_cadence_label(before), to_value=_cadence_label(new),
                 data={"before": before, "after": new, "scheduled": bool(active)})
    return model


def _cadence_label(values: dict) -> str:
    if not values["auto_learn"] or values["learn_mode"] == "none":
        return "off"
    return f"every {values['learn_schedule']}"


def model_scheduled_retrain(*, model_id: int) -> int | None:
    """A cadence tick: retrain a serving model on the samples that arrived since its active version."""
    model = AlgorithmModel.objects.select_related("active_version").filter(pk=model_id).first()
    if model is None or not model.auto_learn or model.state != State.READY:
        return None  # gone, switched off, not trained yet, archived or busy: the next tick tries again
    last = model.active_version.run.sample_watermark if model.active_version and model.active_version.run else 0
    if not Sample.objects.filter(model=model, id__gt=last).exists():
        return None  # nothing new to learn from
    try:
        run = model_train_enqueue(model=model, actor="schedule", trigger="schedule", kind=RunKind.RETRAIN_BUFFERED)
    except ApplicationError:
        return None
    return run.pk


# --------------------------------------------------------------------------------------------- traits


def trait_key_for(name: str) -> str:
    return slugify(name).replace("-", "_")[:TRAIT_KEY_MAX_LENGTH]


def trait_exists_refusal(model: AlgorithmModel, name: str) -> ApplicationError | None:
    """Adding a trait whose key is taken asks before it replaces that trait's name, description and labels."""
    key = trait_key_for((name or "").strip())
    existing = Trait.objects.filter(model=model, key=key).first() if key else None
    if existing is None:
        return None
    return ApplicationError(
        f"A trait with the key {key} exists ({existing.name}). Replace its name, description and labels with "
        "these, or change the name to add a new trait.", code="trait_exists", status=409, details={"key": key})


@transaction.atomic
def trait_add(*, model: AlgorithmModel, actor, spec: dict, replace: bool = False) -> Trait:
    """The page's "Add a trait": a new trait, or, only when asked to (`replace`), new words for an existing one."""
    model = _lock(model)
    refused = None if replace else trait_exists_refusal(model, spec.get("name", ""))
    if refused is not None:
        raise refused
    return trait_upsert(model=model, actor=actor, traits=[spec])[0]


@transaction.atomic
def trait_upsert(*, model: AlgorithmModel, actor, traits: list[dict]) -> list[Trait]:
    """Create or update traits keyed by `key` (derived from `name` when omitted). Draft only."""
    model = _lock(model)
    _require_definition_editable(model, "Traits")
    if not traits:
        raise validation_error("traits must list at least one trait")
    saved = []
    for index, spec in enumerate(traits):
        name = (spec.get("name") or "").strip()
        key = (spec.get("key") or trait_key_for(name)).strip()
        if not name and not spec.get("key"):
            raise validation_error(f"traits[{index}]: give a name", index=index)
        if not re.fullmatch(rf"[a-z0-9_]{{1,{TRAIT_KEY_MAX_LENGTH}}}", key):
            raise validation_error(
                f"traits[{index}]: key {key!r} must be 1-{TRAIT_KEY_MAX_LENGTH} lowercase letters, digits and "
                "underscores", index=index)
        trait, created = Trait.objects.get_or_create(model=model, key=key, defaults={"name": name or key})
        direction = spec.get("direction")
        if direction is not None and direction not in TraitDirection.values:
            raise validation_error(f"traits[{index}]: direction is {' or '.join(TraitDirection.values)}",
                                   index=index)
        for attr, api_name in (("name", "name"), ("description", "description"), ("direction", "direction"),
                               ("positive_label", "positiveLabel"), ("negative_label", "negativeLabel")):
            if spec.get(api_name) is not None:
                setattr(trait, attr, str(spec[api_name]).strip())
        if not trait.name:
            trait.name = key
        trait.save()
        saved.append(trait)
        event_record(model=model, actor=actor, action="trait.created" if created else "trait.updated",
                     to_value=key, data={"name": trait.name, "kind": trait.kind})
    return saved


@transaction.atomic
def trait_delete(*, model: AlgorithmModel, actor, key: str) -> None:
    model = _lock(model)
    _require_definition_editable(model, "Traits")
    deleted, _ = Trait.objects.filter(model=model, key=key).delete()
    if not deleted:
        raise not_found(f"Model {model.key} has no trait {key!r}")
    event_record(model=model, actor=actor, action="trait.deleted", from_value=key)


# --------------------------------------------------------------------------------------------- samples


@dataclass
class SampleBatchResult:
    ids: list[int]
    unknown_label_keys: list[str] = field(default_factory=list)
    request_id: str = ""


def _clean_sample(row, *, where: str, traits_by_ref: dict[str, Trait]) -> Sample:
    if not isinstance(row, dict):
        raise ValueError(f"{where}: a sample must be a JSON object")
    # The u22a8 shape {trait, text, quality} is accepted as well as ours.
    if "trait" in row or "text" in row or "quality" in row:
        unknown = set(row) - {"trait", "text", "quality", "weight"}
        if unknown:
            raise ValueError(f"{where}: unexpected fields {sorted(unknown)} beside trait/text/quality")
        row = {"content": row.get("text"), "labels": {row.get("trait"): row.get("quality")},
               "weight": row.get("weight", 1.0)}
    unknown = set(row) - {"features", "content", "labels", "weight"}
    if unknown:
        raise ValueError(f"{where}: unknown fields {sorted(unknown)}; use features, content, labels, weight")
    features = row.get("features")
    content = row.get("content") or ""
    if features is not None:
        if not isinstance(features, dict):
            raise ValueError(f"{where}: features must be an object of numbers, strings or booleans")
        if len(features) > MAX_JSON_KEYS:
            raise ValueError(f"{where}: features has {len(features)} keys; at most {MAX_JSON_KEYS}")
        for fname, value in features.items():
            if value is not None and not isinstance(value, (int, float, str, bool)):
                raise ValueError(f"{where}: feature {fname!r} must be a number, string, boolean or null")
            if isinstance(value, float) and value != value:
                raise ValueError(f"{where}: feature {fname!r} is NaN; send null for a missing value")
    if not isinstance(content, str):
        raise ValueError(f"{where}: content must be text")
    if not features and not content.strip():
        raise ValueError(f"{where}: give features or content")
    raw_labels = row.get("labels") or {}
    if not isinstance(raw_labels, dict):
        raise ValueError(f"{where}: labels must be an object of trait -> label")
    labels = {}
    for ref, value in raw_labels.items():
        if not ref:
            raise ValueError(f"{where}: a label needs a trait key or name")
        trait = traits_by_ref.get(str(ref)) or traits_by_ref.get(str(ref).lower())
        key = trait.key if trait else str(ref)
        try:
            labels[key] = parse_quality(
                value,
                positive_label=trait.positive_label if trait else "positive",
                negative_label=trait.negative_label if trait else "negative",
            )
        except ValueError as exc:
            raise ValueError(f"{where}: label for {ref!r}: {exc}") from None
    weight = row.get("weight", 1.0)
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight <= 1000:
        raise ValueError(f"{where}: weight must be a number in (0, 1000]")
    return Sample(features=features or None, content=content, labels=labels, weight=float(weight))


# The refused rows a refusal lists (all of them are counted).
MAX_REPORTED_ERRORS = 50


def _clean_samples(samples: list, *, traits: list[Trait], row_label) -> tuple[list[Sample], list[tuple[int, str]]]:
    """Each row as the Sample it would store, and the rows refused (by index) with why."""
    by_ref = {t.key: t for t in traits} | {t.name: t for t in traits} | {t.name.lower(): t for t in traits}
    rows, errors = [], []
    for i, row in enumerate(samples):
        try:
            rows.append(_clean_sample(row, where=row_label(i), traits_by_ref=by_ref))
        except ValueError as exc:
            errors.append((i, str(exc)))
    return rows, errors


def _store_samples(*, model: AlgorithmModel, actor, rows: list[Sample], traits: list[Trait], source: str,
                   request_id: str) -> SampleBatchResult:
    """Store cleaned rows and their audit row; the caller holds the model's lock."""
    now = timezone.now()
    user = actor if getattr(actor, "is_authenticated", False) else None
    # Without a request id of its own a batch takes the request's, so one call's rows can be removed together.
    request_id = (request_id or current_request_id())[:64]
    for s in rows:
        s.model = model
        s.source = source
        s.created_at = now
        s.created_by = user
        s.request_id = request_id
    created = Sample.objects.bulk_create(rows, batch_size=2000)
    ids = [s.pk for s in created]
    if not all(ids):  # backends that do not return ids from bulk inserts
        ids = list(Sample.objects.filter(model=model, created_at=now).order_by("id").values_list("id", flat=True))
    known = {t.key for t in traits}
    unknown = sorted({k for s in rows for k in s.labels} - known)
    event_record(model=model, actor=actor, action="samples.added", to_value=str(len(rows)),
                 data={"count": len(rows), "source": source, "unknownLabelKeys": unknown,
                       **({"requestId": request_id} if request_id else {})})
    return SampleBatchResult(ids=ids, unknown_label_keys=unknown, request_id=request_id)


def sample_add_batch(*, model: AlgorithmModel, actor, samples: list, source: str = SampleSource.EXPLICIT,
                     row_label=None, request_id: str = "") -> SampleBatchResult:
    """Validate every row, then store all of them or none. Explicit samples are draft only.

    `row_label(i)` names a row in error messages (a line number for uploads).
    """
    row_label = row_label or (lambda i: f"samples[{i}]")
    if not isinstance(samples, list) or not samples:
        raise validation_error("samples must be a non-empty list")
    if len(samples) > settings.SAMPLE_UPLOAD_MAX_ROWS:
        raise validation_error(f"{len(samples)} samples in one call; at most {settings.SAMPLE_UPLOAD_MAX_ROWS} "
                               f"(SAMPLE_UPLOAD_MAX_ROWS)")
    with transaction.atomic():
        model = _lock(model)
        _require_samples_open(model, source)
        traits = list(model.traits.all())
        rows, errors = _clean_samples(samples, traits=traits, row_label=row_label)
        if errors:
            raise validation_error(
                f"{len(errors)} sample(s) are invalid; nothing was stored. First: {errors[0][1]}",
                errors=[message for _, message in errors[:MAX_REPORTED_ERRORS]])
        return _store_samples(model=model, actor=actor, rows=rows, traits=traits, source=source,
                              request_id=request_id)


def _require_samples_open(model: AlgorithmModel, source: str) -> None:
    if source == SampleSource.EXPLICIT:
        _require_definition_editable(model, "Explicit samples")
    elif model.state == State.ARCHIVED:
        raise ApplicationError("This model is archived and takes no new samples", code="not_scorable", status=409)


@dataclass
class UploadResult:
    """What an upload stored (nothing on a dry run) and its summary (uploads.summary)."""

    summary: dict
    stored: bool
    ids: list[int] = field(default_factory=list)
    unknown_label_keys: list[str] = field(default_factory=list)
    request_id: str = ""


def samples_upload(*, model: AlgorithmModel, actor, data, filename: str = "", content_type: str = "",
                   dry_run: bool = False) -> UploadResult:
    """A JSONL or CSV file of samples (bytes or a binary file, read as it streams): all rows stored, or none,
    with bad lines named; a file over SAMPLE_UPLOAD_MAX_ROWS is refused at the row that crosses it. The result
    carries the summary of what the file stores; `dry_run` returns it and stores nothing, refused lines and
    all (a preview), where a real upload with refused lines is a 400 carrying the same summary."""
    from . import uploads

    try:
        fmt = uploads.detect_format(filename, content_type)
        read = uploads.read(data, fmt, max_rows=settings.SAMPLE_UPLOAD_MAX_ROWS)
    except uploads.UploadError as exc:
        raise validation_error(
            f"{len(exc.errors)} problem(s) in the file; nothing was stored. First: {exc.errors[0]}",
            errors=exc.errors) from None

    def examine(model):
        traits = trait_list(model=model)
        rows, errors = _clean_samples(read.rows, traits=traits, row_label=lambda i: f"line {read.lines[i]}")
        prefix = re.compile(r"^line [0-9]+: ")
        refused = sorted(read.refused + [(read.lines[i], prefix.sub("", message)) for i, message in errors])
        summary = uploads.summary(read, rows, refused=refused[:MAX_REPORTED_ERRORS],
                                  refused_count=read.refused_count + len(errors),
                                  traits=[{"key": t.key, "name": t.name, "positive": t.positive_samples,
                                           "negative": t.negative_samples} for t in traits])
        return traits, rows, summary

    if dry_run:
        _require_samples_open(model, SampleSource.EXPLICIT)
        return UploadResult(summary=examine(model)[2], stored=False)
    with transaction.atomic():
        model = _lock(model)
        _require_samples_open(model, SampleSource.EXPLICIT)
        traits, rows, summary = examine(model)
        if summary["refusedCount"]:
            first = summary["refused"][0]
            raise validation_error(
                f"{summary['refusedCount']} line(s) of the file are refused; nothing was stored. First: line "
                f"{first['line']}: {first['reason']}",
                errors=[f"line {r['line']}: {r['reason']}" for r in summary["refused"]], summary=summary)
        result = _store_samples(model=model, actor=actor, rows=rows, traits=traits, source=SampleSource.EXPLICIT,
                                request_id="")
    return UploadResult(summary=summary, stored=True, ids=result.ids, unknown_label_keys=result.unknown_label_keys,
                        request_id=result.request_id)


# Removing samples: one call removes by ids, by the upload (request id) that added them, or by a filter.
MAX_REMOVE_IDS = 10_000


@transaction.atomic
def samples_remove(*, model: AlgorithmModel, actor, ids: list[int] | None = None, request_id: str | None = None,
                   filters: dict | None = None) -> int:
    """Remove a draft's explicit samples (seed 000: samples change only while the model is a draft) in one call
    with one audit row counting them. `ids` must all be the model's (404 naming the others, nothing removed);
    `request_id` removes what one upload or call added; `filters` are the samples list's (source, trait, label,
    search) and remove what the list would show. Returns how many were removed."""
    if sum(x is not None for x in (ids, request_id, filters)) != 1:
        raise validation_error("Give exactly one of ids, requestId or filter")
    model = _lock(model)
    _require_definition_editable(model, "Explicit samples")
    qs = Sample.objects.filter(model=model)
    if ids is not None:
        if not ids or len(ids) > MAX_REMOVE_IDS:
            raise validation_error(f"ids must list 1 to {MAX_REMOVE_IDS:,} sample ids", field="ids")
        wanted = sorted(set(ids))
        # An id past the database's range names no sample: it is missing, not an error of the database driver.
        qs = qs.filter(id__in=[i for i in wanted if 0 < i <= keys.ID_MAX])
        missing = sorted(set(wanted) - set(qs.values_list("id", flat=True)))
        if missing:
            shown = ", ".join(map(str, missing[:10])) + (" …" if len(missing) > 10 else "")
            raise ApplicationError(f"Model {model.key} has no sample {shown}; nothing was removed",
                                   code="not_found", status=404, details={"missing": missing[:100]})
        how = {"by": "ids"}
    elif request_id is not None:
        if not str(request_id).strip():
            raise validation_error("requestId must not be empty", field="requestId")
        qs = qs.filter(request_id=request_id)
        how = {"by": "requestId", "requestId": request_id}
        if not qs.exists():
            raise not_found(f"Model {model.key} has no samples added by request {request_id!r}")
    else:
        if not filters:
            raise validation_error("filter needs at least one of source, trait, label or search", field="filter")
        if filters.get("label") and not filters.get("trait"):
            raise validation_error("A label filter needs a trait: say which trait's label to look at",
                                   field="filter.label")
        qs = sample_filter(qs, **filters)
        how = {"by": "filter", "filter": filters}
    removed = list(qs.order_by("id").values_list("id", flat=True))
    if not removed:
        return 0
    qs.delete()
    _forget_removed_members(model, set(removed))
    event_record(model=model, actor=actor, action="samples.removed", from_value=str(len(removed)),
                 data={"count": len(removed), **how, "ids": removed[:1000], "idsComplete": len(removed) <= 1000})
    return len(removed)


def _forget_removed_members(model: AlgorithmModel, removed: set[int]) -> None:
    """A discovered trait lists its member and anchor samples by id: drop the removed ones, so its counts and the
    training it feeds agree with the samples that exist."""
    for trait in model.traits.all():
        members = trait.definition.get("members")
        changed = []
        if members is not None and removed.intersection(members):
            trait.definition = {**trait.definition, "members": [m for m in members if m not in removed]}
            changed.append("definition")
        if removed.intersection(trait.anchor_sample_ids or []):
            trait.anchor_sample_ids = [a for a in trait.anchor_sample_ids if a not in removed]
            changed.append("anchor_sample_ids")
        if changed:
            trait.save(update_fields=changed)


# --------------------------------------------------------------------------------------------- runs


def _in_flight_run(model: AlgorithmModel) -> TrainingRun | None:
    return TrainingRun.objects.filter(model=model, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]).first()


def _start_run(*, model: AlgorithmModel, actor, kind: str, effort: str, params: dict, trigger: str) -> TrainingRun:
    """Create a queued run and mark the model busy; the caller holds the model's lock."""
    watermark = Sample.objects.filter(model=model).aggregate(m=Max("id"))["m"] or 0
    try:
        with transaction.atomic():
            run = TrainingRun.objects.create(
                model=model, kind=kind, effort=effort, params=params, trigger=trigger,
                started_by=actor if getattr(actor, "is_authenticated", False) else None,
                sample_watermark=watermark, result={"fromState": model.state},
                message="Waiting for a worker",
            )
    except IntegrityError:
        # The unique in-flight constraint caught a racing caller that the lock did not (no row lock on SQLite).
        raise run_in_flight(_in_flight_run(model))
    previous = model.state
    model.state = State.BUSY
    model.last_run = run
    model.save(update_fields=["state", "last_run", "updated_at"])
    event_record(model=model, actor=actor, action="run.queued", from_value=previous, to_value=State.BUSY,
                 data={"runId": run.pk, "kind": kind, "effort": effort, "params": params, "trigger": trigger})
    transaction.on_commit(lambda: _enqueue_run(run.pk))
    return run


def _enqueue_run(run_id: int) -> None:
    try:
        task_id = queue.enqueue("lifecycle.tasks.execute_run", run_id, name=f"run-{run_id}")
    except Exception as exc:  # the broker is down: say so on the run rather than leave it queued for hours
        log.exception("could not enqueue run %s", run_id)
        run = TrainingRun.objects.filter(pk=run_id).first()
        if run is not None:
            run_fail(run=run, error=f"The task queue is unavailable ({type(exc).__name__}: {exc}). Nothing was "
                                    "trained; train again when the queue is back.", actor="queue")
        return
    if task_id:
        TrainingRun.objects.filter(pk=run_id, task_id="").update(task_id=str(task_id)[:64])


def _check_train_params(model_type: str, params) -> dict:
    """Training parameters, each checked by the trainer's own rule and bounds (trainers.check_params), as stored on
    the run: the API's 400 names the parameter (`params.max_iter`) before any run is queued."""
    params = _check_json_object("params", params if params is not None else {})
    if not params:
        return {}
    if model_type not in TABULAR_TYPES:
        raise validation_error(f"A {model_type} model takes no training parameters; send no params",
                               field="params")
    from . import trainers  # the rules are plain Python; the module's heavy imports load on first use

    try:
        return trainers.check_params(model_type, params)
    except trainers.ParamError as exc:
        raise validation_error(str(exc), field=f"params.{exc.name}") from None


@transaction.atomic
def model_train_enqueue(*, model: AlgorithmModel, actor, effort: str = Effort.HIGH, params: dict | None = None,
                        reoptimize_params: bool = False, trigger: str = "user",
                        kind: str | None = None) -> TrainingRun:
    """Train a draft or failed model, or retrain a ready one while it keeps serving. The input is checked first
    (effort, and each training parameter against its bounds: a 400 naming it), then train_blockers: nothing is
    queued that the worker would refuse for want of traits or labelled samples."""
    if effort not in Effort.values:
        raise validation_error(f"effort must be one of {', '.join(Effort.values)}", field="effort")
    params = _check_train_params(model.model_type, params)
    model = _lock(model)
    blockers = train_blockers(model)
    if blockers:
        raise blockers[0].error()
    if kind is None:
        if model.state == State.READY:
            kind = RunKind.RETUNE if reoptimize_params else RunKind.RETRAIN
        else:
            kind = RunKind.TRAIN
    return _start_run(model=model, actor=actor, kind=kind, effort=effort, params=params, trigger=trigger)


@transaction.atomic
def model_discover_enqueue(*, model: AlgorithmModel, actor, effort: str = Effort.HIGH) -> TrainingRun:
    model = _lock(model)
    running = _in_flight_run(model)
    if running:
        raise run_in_flight(running)
    if model.state not in STATE_TRANSITIONS["discover"]["from"]:
        raise invalid_transition(
            f"Discovery runs on a draft only; this model is {model.state}. "
            + ("Its trait set is fixed since its first train." if model.has_been_ready else
               "Correct the supervision and train, or create a new model to explore."), state=model.state)
    if effort not in (*Effort.values, "xhigh"):
        raise validation_error("effort must be one of low, medium, high, xhigh, max", field="effort")
    if not Sample.objects.filter(model=model).exists():
        raise validation_error("Discovery needs samples; add or upload samples first")
    # The same samples and effort were already explored: say where the answer is instead of repeating it.
    watermark = Sample.objects.filter(model=model).aggregate(m=Max("id"))["m"] or 0
    previous = (TrainingRun.objects.filter(model=model, kind=RunKind.DISCOVER, status=RunStatus.SUCCEEDED,
                                           effort=effort, sample_watermark=watermark).first())
    if previous:
        raise ApplicationError(
            f"Discovery run {previous.pk} already explored these samples at effort {effort}; its traits are on the "
            "model. Add samples or choose another effort to run it again.",
            code="run_in_flight", status=409, details={"runId": previous.pk, "status": previous.status},
            headers={"X-Run-Id": str(previous.pk)})
    return _start_run(model=model, actor=actor, kind=RunKind.DISCOVER, effort=effort, params={}, trigger="user")


class RunAbandoned(Exception):
    """The run was ended elsewhere (declared dead, or finished) while this worker still held it."""


class RunHeartbeat:
    """Beats for a run from a background thread while the worker does the work, and writes its progress. A
    scikit-learn fit reports no progress for as long as it takes, so without these beats a long fit would be
    declared dead while it runs; with them only a worker that died (or hangs whole) goes quiet, and the reaper
    reaps only those.

    A step comes less than ``LIFECYCLE_RUN_PROGRESS_GAP`` seconds after the last one written waits, and the thread
    writes the newest waiting step when the gap is over: a page never shows a step long past while a fit runs, and
    a run of a few tenths of a second writes one step instead of each (a commit each). The steps a run ends
    before writing reach the database in its result's log (``run_succeed``, ``run_fail``)."""

    def __init__(self, run_id: int):
        self.run_id = run_id
        self.interval = max(settings.LIFECYCLE_RUN_HEARTBEAT_TIMEOUT / 4, 0.05)
        self.gap = settings.LIFECYCLE_RUN_PROGRESS_GAP
        self.abandoned = False  # the thread found the run ended elsewhere
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._lock = threading.Lock()  # one progress write at a time, in the order the steps came
        self._waiting: dict | None = None  # the newest step not written yet (run_progress's arguments)
        self._written_at = -math.inf
        self._thread = threading.Thread(target=self._beat, name=f"run-{run_id}-heartbeat", daemon=True)

    def report(self, **step) -> None:
        """Record a step (``run_progress``'s arguments): written now unless the last was written less than a gap
        ago. Raises RunAbandoned when the run was ended elsewhere meanwhile."""
        if self.abandoned:
            raise RunAbandoned(self.run_id)
        with self._lock:
            if time.monotonic() - self._written_at < self.gap:
                self._waiting = step
                self._wake.set()
                return
            self._waiting = None
            self._write(step)

    def _write(self, step: dict) -> None:  # the caller holds the lock
        run_progress(run_id=self.run_id, **step)
        self._written_at = time.monotonic()

    def _beat(self) -> None:
        next_beat = time.monotonic() + self.interval
        try:
            while not self._stop.is_set():
                with self._lock:
                    due = self._written_at + self.gap if self._waiting is not None else math.inf
                self._wake.wait(max(0.0, min(next_beat, due) - time.monotonic()))
                self._wake.clear()
                if self._stop.is_set():
                    return
                now = time.monotonic()
                with self._lock:
                    if self._waiting is not None and now >= self._written_at + self.gap:
                        step, self._waiting = self._waiting, None
                        self._write(step)  # a heartbeat too
                        next_beat = now + self.interval
                        continue
                if now >= next_beat:
                    if not TrainingRun.objects.filter(pk=self.run_id, status=RunStatus.RUNNING).update(
                            heartbeat_at=timezone.now()):
                        return  # the run ended (here or elsewhere): nothing left to keep alive
                    next_beat = now + self.interval
        except RunAbandoned:
            self.abandoned = True  # the worker stops at its next step
        except Exception:  # a lost beat is the reaper's business, never the run's
            log.exception("run %s: the heartbeat stopped", self.run_id)
        finally:
            connection.close()  # this thread's own connection

    def start(self) -> RunHeartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop beating; a step still waiting is dropped (the run's end wrote its log)."""
        with self._lock:
            self._waiting = None
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=5)

    def __enter__(self) -> RunHeartbeat:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()


RUN_LOG_LINES = 200


def run_log_line(log: list[dict], progress: int, message: str) -> list[dict]:
    """The run's log with one more step: a repeat of the last message only moves its percent, so a tuning loop
    that reports often stays one line; at most RUN_LOG_LINES lines are kept (the first and the newest)."""
    line = {"at": timezone.now().isoformat(), "progress": int(progress), "message": message[:255]}
    if log and log[-1]["message"] == line["message"]:
        log[-1]["progress"] = line["progress"]
        return log
    log.append(line)
    if len(log) > RUN_LOG_LINES:
        del log[1]
    return log


def run_progress(*, run_id: int, progress: int, message: str = "", result: dict | None = None) -> None:
    """Record progress and a heartbeat (and the run's log, in `result`); stop the worker if the run was declared
    dead meanwhile."""
    fields = {"result": result} if result is not None else {}
    updated = TrainingRun.objects.filter(pk=run_id, status=RunStatus.RUNNING).update(
        progress=max(0, min(99, int(progress))), message=message[:255], heartbeat_at=timezone.now(), **fields)
    if not updated:
        raise RunAbandoned(run_id)


@transaction.atomic
def run_fail(*, run: TrainingRun, error: str, actor=None, log: list[dict] | None = None) -> TrainingRun:
    """End a run as failed. A model that has served before goes back to serving its active version. ``log``: the
    worker's steps up to the failure, written with it."""
    model = AlgorithmModel.objects.select_for_update().get(pk=run.model_id)
    run = TrainingRun.objects.select_for_update().get(pk=run.pk)
    if not run.in_flight:
        return run
    run.status = RunStatus.FAILED
    run.error = error
    run.message = "Failed"
    run.finished_at = timezone.now()
    fields = ["status", "error", "message", "finished_at"]
    if log is not None:
        run.result = {**run.result, "log": log}
        fields.append("result")
    run.save(update_fields=fields)
    previous = model.state
    if run.kind == RunKind.DISCOVER:
        model.state = State.DRAFT
    elif model.has_been_ready:
        model.state = State.READY  # a failed retrain leaves the old version serving
    else:
        model.state = State.FAILED
    if previous == State.ARCHIVED:
        model.state = State.ARCHIVED
    model.save(update_fields=["state", "updated_at"])
    event_record(model=model, actor=actor or "worker", action="run.failed", from_value=previous,
                 to_value=model.state, message=error[:2000], data={"runId": run.pk, "kind": run.kind})
    webhooks.emit("run.failed", {"modelKey": model.key, "modelId": model.pk, "family": model.family,
                                 "runId": run.pk, "kind": run.kind, "state": model.state, "error": error[:2000]})
    return run


def _examples(model: AlgorithmModel, run: TrainingRun) -> tuple[list[dict], list[int]]:
    """The samples a run sees: everything logged up to its watermark, with intrinsic axes applied."""
    intrinsic = {
        t.key: (set(t.definition.get("members", [])), t.definition.get("maxSampleId", 0))
        for t in model.traits.filter(kind=TraitKind.INTRINSIC) if t.definition.get("members") is not None
    }
    examples, ids = [], []
    # The JSON columns as their text, decoded here by the faster decoder (the same values as the field's own).
    rows = (Sample.objects.filter(model=model, id__lte=run.sample_watermark).order_by("id")
            .values_list("id", Cast("features", TextField()), "content", Cast("labels", TextField()), "weight"))
    fetched = rows.iterator(chunk_size=5000)
    while chunk := list(islice(fetched, 5000)):  # the JSON columns of 5,000 rows decoded in one call each
        sids, features, contents, labels, weights = zip(*chunk, strict=True)
        for sid, row_features, content, row_labels, weight in zip(
                sids, stored_loads_many(features), contents, stored_loads_many(labels), weights, strict=True):
            row_labels = row_labels or {}  # a new dict per row
            for key, (members, max_id) in intrinsic.items():
                if sid <= max_id:
                    row_labels[key] = 1.0 if sid in members else 0.0
            examples.append({"features": row_features, "content": content or None, "labels": row_labels,
                             "weight": weight})
        ids.extend(sids)
    return examples, ids


def run_execute(*, run_id: int) -> None:
    """The worker's side of a run: claim it, do the work outside any transaction, then commit the result."""
    from . import trainers  # heavy imports stay out of web start-up

    with transaction.atomic():
        run = TrainingRun.objects.select_for_update().filter(pk=run_id).first()
        if run is None or run.status != RunStatus.QUEUED:
            return  # delivered twice, or ended meanwhile: nothing to do
        now = timezone.now()
        run.status = RunStatus.RUNNING
        run.started_at = now
        run.heartbeat_at = now
        run.message = "Loading samples"
        run.save(update_fields=["status", "started_at", "heartbeat_at", "message"])
    model = AlgorithmModel.objects.get(pk=run.model_id)
    steps = run_log_line([], 0, "Loading samples")  # the run's log: every step, written or not

    heartbeat = RunHeartbeat(run.pk).start()
    pause = settings.LIFECYCLE_TRAINING_STEP_PAUSE

    def progress(percent: int, message: str) -> None:
        run_log_line(steps, percent, message)
        heartbeat.report(progress=percent, message=message, result={**run.result, "log": list(steps)})
        if pause:
            time.sleep(pause)

    try:
        with collector.paused(collect_first=False):  # the samples are many containers: see core.collector
            _run_work(run, model, progress, steps)
    except RunAbandoned:
        log.warning("run %s was ended elsewhere; dropping its result", run_id)
    except trainers.TrainingError as exc:
        run_fail(run=run, error=str(exc), log=steps)
    except Exception as exc:  # the traceback goes to the log; the analyst sees the reason
        log.exception("run %s failed", run_id)
        run_fail(run=run, error=f"{type(exc).__name__}: {exc}", log=steps)
    finally:
        heartbeat.stop()


def _run_work(run: TrainingRun, model: AlgorithmModel, progress, steps: list[dict]) -> None:
    """A claimed run's work: its samples loaded, the model trained (or discovered, or snapshotted) and the result
    committed with the run's log (``steps``)."""
    from . import discovery, trainers

    examples, ids = _examples(model, run)
    progress(2, f"Loaded {len(examples)} samples")
    threads = settings.LIFECYCLE_TRAINING_THREADS
    if model.model_type not in TABULAR_TYPES:
        from . import learners

        result = learners.snapshot(model.model_type, model.config,
                                   allowed_hosts=set(settings.EXTERNAL_ENDPOINT_ALLOWED_HOSTS), progress=progress)
        run_succeed(run=run, result=result, data_profile={}, log=steps)
    elif run.kind == RunKind.DISCOVER:
        known = list(model.traits.values_list("key", flat=True))
        found = discovery.discover(examples, known, effort=run.effort, seed=run.model_id, threads=threads,
                                   progress=progress)
        discovery_commit(run=run, found=found, sample_ids=ids, log=steps)
    else:
        trait_keys = list(model.traits.order_by("id").values_list("key", flat=True))
        serving, unseen = _serving_for_comparison(model, ids)
        result = trainers.train(model.model_type, examples, trait_keys, effort=run.effort, params=run.params,
                                seed=0, threads=threads, progress=progress, compare=serving,
                                compare_unseen=unseen)
        progress(97, "Profiling training data")
        profile = profiles.profile([e["features"] for e in examples])
        run_succeed(run=run, result=result, data_profile=profile, log=steps)


def _serving_for_comparison(model: AlgorithmModel, ids: list[int]):
    """The version serving now, loaded, and which of the run's samples it never trained on: a retrain scores
    its holdout with both, so the guard and the reviewer compare them on the same rows."""
    from . import trainers

    serving = (ModelVersion.objects.select_related("run").filter(pk=model.active_version_id).first()
               if model.active_version_id else None)
    if serving is None or serving.artifact is None or model.model_type not in TABULAR_TYPES:
        return None, None
    try:
        loaded = trainers.load(bytes(serving.artifact), threads=settings.LIFECYCLE_TRAINING_THREADS)
    except ValueError:
        log.warning("model %s: serving %s cannot be loaded for the paired comparison", model.key, serving.label)
        return None, None
    # Samples logged after the serving version's run started are new to it; without a run, assume it saw all.
    watermark = serving.run.sample_watermark if serving.run_id and serving.run else None
    return loaded, [watermark is not None and sid > watermark for sid in ids]


def _trigger_for(kind: str) -> str:
    return {
        RunKind.TRAIN: VersionTrigger.TRAIN,
        RunKind.RETRAIN: VersionTrigger.RETRAIN,
        RunKind.RETUNE: VersionTrigger.RETUNE,
        RunKind.RETRAIN_BUFFERED: VersionTrigger.RETRAIN_BUFFERED,
    }.get(kind, VersionTrigger.TRAIN)


@transaction.atomic
def run_succeed(*, run: TrainingRun, result, data_profile: dict, log: list[dict] | None = None) -> ModelVersion | None:
    """The atomic swap: the new version and the model's new state commit together, or not at all. ``log``: the
    run's steps, written with its result (the last ones may not have been written yet, see RunHeartbeat)."""
    model = AlgorithmModel.objects.select_for_update().get(pk=run.model_id)
    run = TrainingRun.objects.select_for_update().get(pk=run.pk)
    if run.status != RunStatus.RUNNING:
        return None  # declared dead meanwhile; the model was already put back
    now = timezone.now()
    number = (model.versions.aggregate(m=Max("version_no"))["m"] or 0) + 1
    version = ModelVersion.objects.create(
        model=model, version_no=number, triggered_by=_trigger_for(run.kind), param_hash=result.param_hash,
        params=result.params, sample_count=result.sample_count, trait_keys=list(result.metrics.keys()),
        metrics=result.metrics, predictors=result.predictors, data_profile=data_profile, run=run,
        artifact=result.artifact, artifact_sha256=hashlib.sha256(result.artifact).hexdigest(),
        artifact_size=len(result.artifact), created_at=now, input_schema=result.input_schema,
        evaluation=getattr(result, "evaluation", None) or {},
    )
    previous_state = model.state
    previous_version = model.active_version
    comparison = getattr(result, "comparison", None)
    if comparison and previous_version is not None:
        version.comparison = {**comparison, "against": previous_version.label, "againstId": previous_version.pk}
        version.save(update_fields=["comparison"])
    activate = not model.pinned or model.active_version_id is None
    decision = None
    if activate:
        decision = governance.decide(model=model, target=version, actor="worker", change=governance.Change.RETRAIN,
                                     pin=False, requester=run.started_by)
        if not decision.serve:
            activate = False
            _hold(model, version, decision)
    if activate:
        model.active_version = version
        model.metrics = version.metrics
        model.predictors = version.predictors
    model.state = State.READY if previous_state != State.ARCHIVED else State.ARCHIVED
    if model.model_type in TABULAR_TYPES:
        # Every train writes both (seed 001); continuous learners only snapshot their priors here and
        # advance lastLearnedAt alone, on responses.
        model.training_samples = result.sample_count
        model.last_trained_at = now
        model.last_learned_at = now
    if version.metrics:
        model.metrics_history = [*model.metrics_history, _history_entry(version)][-200:]
    model.save()
    purged = 0
    if model.zero_data_retention:  # the run has what it needed; nothing it read is kept
        purged, _ = Sample.objects.filter(model=model, id__lte=run.sample_watermark).delete()
    run.status = RunStatus.SUCCEEDED
    run.progress = 100
    if decision is not None and decision.held:
        run.message = f"Created {version.label}, held for review (request #{decision.request_id})"[:255]
    else:
        run.message = f"Created {version.label}" + ("" if activate else " (not activated: the model is pinned)")
    run.finished_at = now
    run.result = {**run.result, **({"log": log} if log is not None else {}), "versionNo": number, "activated": activate,
                  "held": bool(decision and decision.held), "requestId": decision.request_id if decision else None}
    run.save(update_fields=["status", "progress", "message", "finished_at", "result"])
    event_record(model=model, actor="worker", action="version.created", from_value=previous_state,
                 to_value=model.state, data={"runId": run.pk, "versionNo": number, "activated": activate,
                                             "previousVersion": previous_version.version_no if previous_version else None,
                                             "triggeredBy": version.triggered_by,
                                             **({"purgedSamples": purged} if model.zero_data_retention else {}),
                                             **({"governance": decision.audit} if decision and decision.audit else {})})
    versions_prune(model=model)
    return version


def version_keep(*, model: AlgorithmModel, trigger: str, artifact: bytes, params: dict, metrics: dict,
                 predictors: list, sample_count: int) -> ModelVersion:
    """A version that records a state without serving it (the caller holds the model's lock): e.g. the learned
    state a learning reset is about to clear. Kept like a tagged version: never pruned."""
    number = (model.versions.aggregate(m=Max("version_no"))["m"] or 0) + 1
    return ModelVersion.objects.create(
        model=model, version_no=number, triggered_by=trigger, param_hash=hashlib.sha256(artifact).hexdigest()[:16],
        params=params, sample_count=sample_count, trait_keys=list((metrics or {}).keys()), metrics=metrics or {},
        predictors=predictors or [], artifact=artifact, artifact_sha256=hashlib.sha256(artifact).hexdigest(),
        artifact_size=len(artifact))


def _history_entry(version: ModelVersion) -> dict:
    return {
        "versionNo": version.version_no,
        "createdAt": iso(version.created_at),
        "sampleCount": version.sample_count,
        "traits": {k: {"auc": m.get("auc"), "logLoss": m.get("logLoss"), "accuracy": m.get("accuracy")}
                   for k, m in version.metrics.items()},
    }


@transaction.atomic
def discovery_commit(*, run: TrainingRun, found: list, sample_ids: list[int],
                     log: list[dict] | None = None) -> list[Trait]:
    model = AlgorithmModel.objects.select_for_update().get(pk=run.model_id)
    run = TrainingRun.objects.select_for_update().get(pk=run.pk)
    if run.status != RunStatus.RUNNING:
        return []
    existing = set(model.traits.values_list("key", flat=True))
    created = []
    max_id = max(sample_ids) if sample_ids else 0
    for item in found:
        key = item.key
        suffix = 2
        while key in existing:
            key, suffix = f"{item.key}_{suffix}", suffix + 1
        definition = {"source": item.source, "runId": run.pk}
        if item.source != "label":
            definition |= {"members": [sample_ids[i] for i in item.member_indexes], "maxSampleId": max_id}
        created.append(Trait.objects.create(
            model=model, key=key, name=item.name, description=item.description, kind=TraitKind.INTRINSIC,
            positive_label=item.positive_label, negative_label=item.negative_label, definition=definition,
            anchor_sample_ids=[sample_ids[i] for i in item.anchor_indexes],
        ))
        existing.add(key)
    now = timezone.now()
    run.status = RunStatus.SUCCEEDED
    run.progress = 100
    run.finished_at = now
    run.message = f"Found {len(created)} trait(s)"
    run.result = {**run.result, **({"log": log} if log is not None else {}), "traits": [t.key for t in created]}
    run.save(update_fields=["status", "progress", "finished_at", "message", "result"])
    model.state = State.DRAFT
    model.save(update_fields=["state", "updated_at"])
    event_record(model=model, actor="worker", action="discovery.completed", from_value=State.BUSY,
                 to_value=State.DRAFT, data={"runId": run.pk, "traits": [t.key for t in created]})
    return created


def runs_reap_stale(*, now=None) -> list[int]:
    """Mark dead runs failed: no heartbeat within the timeout, over the time limit, or never picked up."""
    now = now or timezone.now()
    heartbeat_cutoff = now - timedelta(seconds=settings.LIFECYCLE_RUN_HEARTBEAT_TIMEOUT)
    limit_cutoff = now - timedelta(seconds=settings.LIFECYCLE_RUN_TIME_LIMIT)
    queue_cutoff = now - timedelta(seconds=settings.LIFECYCLE_RUN_QUEUE_TIMEOUT)
    reaped = []
    for run in TrainingRun.objects.filter(status=RunStatus.RUNNING):
        if run.heartbeat_at and run.heartbeat_at < heartbeat_cutoff:
            reason = (f"The worker stopped responding: no heartbeat for "
                      f"{int((now - run.heartbeat_at).total_seconds())} s. Train again to retry.")
        elif run.started_at and run.started_at < limit_cutoff:
            reason = f"The run exceeded the time limit of {settings.LIFECYCLE_RUN_TIME_LIMIT} s. Train again."
        else:
            continue
        run_fail(run=run, error=reason, actor="reaper")
        reaped.append(run.pk)
    for run in TrainingRun.objects.filter(status=RunStatus.QUEUED, queued_at__lt=queue_cutoff):
        run_fail(run=run, error="No worker picked the run up in time; check that a worker is running, then "
                                "train again.", actor="reaper")
        reaped.append(run.pk)
    return reaped


# --------------------------------------------------------------------------------------------- versions


@dataclass
class Activation:
    """What an activation did: served the version now, or opened a review request that decides."""

    version: ModelVersion
    applied: bool
    request_id: int | None = None
    message: str = ""


def _hold(model: AlgorithmModel, version: ModelVersion, decision: governance.Decision) -> None:
    version.hold = VersionHold.HELD
    version.hold_reason = decision.reason[:2000]
    version.hold_breaches = decision.breaches
    version.hold_request_id = decision.request_id
    version.save(update_fields=["hold", "hold_reason", "hold_breaches", "hold_request_id"])
    serving = model.active_version.label if model.active_version_id else None
    event_record(model=model, actor="worker", action="version.held", to_value=version.label, message=decision.reason,
                 data={"versionNo": version.version_no, "requestId": decision.request_id,
                       "breaches": decision.breaches, "serving": serving})
    webhooks.emit("version.held", {"modelKey": model.key, "modelId": model.pk, "family": model.family,
                                   "version": version.label, "serving": serving, "requestId": decision.request_id,
                                   "reason": decision.reason, "breaches": decision.breaches})


def _serve(model: AlgorithmModel, target: ModelVersion, *, pinned: bool) -> None:
    model.active_version = target
    model.pinned = pinned
    model.metrics = target.metrics
    model.predictors = target.predictors
    model.save(update_fields=["active_version", "pinned", "metrics", "predictors", "updated_at"])
    if target.hold:
        target.hold = VersionHold.NONE
        target.save(update_fields=["hold"])


def _activation_target(model: AlgorithmModel, *, version: str | None, tag: str | None) -> ModelVersion:
    if model.state == State.ARCHIVED:
        raise invalid_transition("An archived model serves nothing; restore it before activating a version")
    # A tag is looked up as a tag, a version as a number: a tag may be called "v1" and still mean v2.
    target = version_by_number(model, version) if version else version_by_tag(model, tag)
    if target is None:
        what = f"version {version!r}" if version else f"tag {tag!r}"
        raise not_found(f"Model {model.key} has no {what}")
    if target.artifact is None:
        raise ApplicationError(f"{target.label} was pruned and cannot serve; tag versions to keep them",
                               code="version_pruned", status=409)
    if target.hold == VersionHold.REJECTED:
        raise ApplicationError(f"{target.label} was rejected in review (request #{target.hold_request_id}) and "
                               "never serves; train a new version instead", code="version_rejected", status=409)
    return target


@transaction.atomic
def version_activate(*, model: AlgorithmModel, actor, version: str | None = None, tag: str | None = None,
                     reason: str = "") -> Activation:
    """Roll back or pin: serve the chosen version and keep serving it until someone activates another. On a
    governed champion the family's version policy may answer with a review request instead."""
    if bool(version) == bool(tag):
        raise validation_error("Give exactly one of version (\"vN\") or tag")
    model = _lock(model)
    target = _activation_target(model, version=version, tag=tag)
    previous = model.active_version
    decision = governance.decide(model=model, target=target, actor=actor, change=governance.Change.ACTIVATE,
                                 pin=True, reason=reason)
    if not decision.serve:
        return Activation(version=target, applied=False, request_id=decision.request_id, message=decision.reason)
    _serve(model, target, pinned=True)
    event_record(model=model, actor=actor, action="version.activated",
                 from_value=previous.label if previous else "", to_value=target.label, message=reason,
                 data={"pinned": True, "by": "tag" if tag else "version", "ref": version or tag,
                       **({"governance": decision.audit} if decision.audit else {})})
    return Activation(version=target, applied=True)


def version_serve(*, model: AlgorithmModel, target: ModelVersion, actor, pinned: bool, request_id: int,
                  reason: str = "") -> None:
    """A reviewer approved `target` (the caller holds the model's lock): it serves now, audited with the request."""
    target = _activation_target(model, version=target.label, tag=None)
    previous = model.active_version
    _serve(model, target, pinned=pinned or model.pinned)
    event_record(model=model, actor=actor, action="version.activated",
                 from_value=previous.label if previous else "", to_value=target.label, message=reason,
                 data={"pinned": model.pinned, "by": "review", "requestId": request_id})


def version_reject(*, model: AlgorithmModel, target: ModelVersion, actor, request_id: int, reason: str) -> None:
    """A reviewer rejected a held version: it is kept for the record and never serves."""
    if target.hold != VersionHold.HELD:
        return  # an activation request for a version that was never held: rejecting it closes only the request
    target.hold = VersionHold.REJECTED
    target.save(update_fields=["hold"])
    event_record(model=model, actor=actor, action="version.rejected", to_value=target.label, message=reason,
                 data={"versionNo": target.version_no, "requestId": request_id})


@transaction.atomic
def model_unpin(*, model: AlgorithmModel, actor) -> AlgorithmModel:
    """Unpinning changes no served version (the next retrain does, through the version policy)."""
    model = _lock(model)
    if model.pinned:
        model.pinned = False
        model.save(update_fields=["pinned", "updated_at"])
        event_record(model=model, actor=actor, action="version.unpinned",
                     message="Later retrains activate their versions again")
    return model


@transaction.atomic
def version_tag(*, model: AlgorithmModel, actor, version: str, name: str) -> VersionTag:
    model = _lock(model)
    problem = keys.key_problem(name, what="A tag")
    if problem or not name[:1].isalpha():
        raise validation_error(problem or "A tag starts with a letter (a number names a version)", field="name")
    target = version_by_ref(model, version)
    existing = VersionTag.objects.filter(model=model, name=name).first()
    previous = existing.version.label if existing else ""
    if existing:
        existing.version = target
        existing.save(update_fields=["version"])
        tag = existing
    else:
        tag = VersionTag.objects.create(model=model, version=target, name=name)
    event_record(model=model, actor=actor, action="version.tagged", from_value=previous, to_value=target.label,
                 data={"tag": name})
    return tag


@transaction.atomic
def version_untag(*, model: AlgorithmModel, actor, name: str, version: str | None = None) -> None:
    """Remove a tag; with `version` ("vN" or a tag), only from that version (404 when the tag is elsewhere)."""
    model = _lock(model)
    tag = VersionTag.objects.filter(model=model, name=name).select_related("version").first()
    if tag is None:
        raise not_found(f"Model {model.key} has no tag {name!r}")
    if version is not None and version_by_ref(model, version).pk != tag.version_id:
        raise not_found(f"Version {version} of {model.key} has no tag {name!r} (it is on {tag.version.label})")
    label = tag.version.label
    tag.delete()
    event_record(model=model, actor=actor, action="version.untagged", from_value=label, data={"tag": name})


def versions_prune(*, model: AlgorithmModel) -> int:
    """Drop the artifacts of old untagged versions; their rows and metrics stay for the history."""
    keep = settings.LIFECYCLE_VERSIONS_KEPT_UNTAGGED
    # A held version keeps its artifact while a reviewer may still let it serve.
    candidates = (model.versions.filter(pruned_at__isnull=True, tags__isnull=True)
                  .exclude(pk=model.active_version_id).exclude(hold=VersionHold.HELD)
                  .exclude(triggered_by=VersionTrigger.RESET).order_by("-version_no")[keep:])
    ids = list(candidates.values_list("pk", flat=True))  # not the rows: their artifacts are what is dropped
    if ids:
        ModelVersion.objects.filter(pk__in=ids).update(artifact=None, pruned_at=timezone.now())
    return len(ids)


# --------------------------------------------------------------------------------------------- tokens


@transaction.atomic
def api_token_create(*, user, actor, name: str, expires_at=None) -> tuple["ApiToken", str]:
    """Return the token row and its key; the key is shown once and only its hash is kept."""
    from .models import ApiToken

    if not (name or "").strip():
        raise validation_error("Give the token a name that says where it is used", field="name")
    if expires_at is not None and expires_at <= timezone.now():
        raise validation_error("The expiry must be in the future", field="expiresAt")
    key = ApiToken.generate_key()
    token = ApiToken.objects.create(user=user, name=name.strip()[:100], prefix=key[:12],
                                    key_hash=ApiToken.hash_key(key), expires_at=expires_at)
    event_record(model=None, actor=actor, action="token.created", to_value=token.prefix,
                 data={"user": user.get_username(), "name": token.name})
    return token, key


@transaction.atomic
def api_token_revoke(*, token, actor) -> None:
    if token.revoked_at is None:
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        event_record(model=None, actor=actor, action="token.revoked", from_value=token.prefix,
                     data={"user": token.user.get_username(), "name": token.name})


VERSION_NOTES_MAX = 5000


@transaction.atomic
def version_describe(*, model: AlgorithmModel, actor, version: str, notes: str) -> ModelVersion:
    """The notes of one version (what changed, why it exists): free text, audited with before and after."""
    model = _lock(model)
    notes = (notes or "").replace("\r\n", "\n").strip()
    if len(notes) > VERSION_NOTES_MAX:
        raise validation_error(f"Notes are at most {VERSION_NOTES_MAX:,} characters (these are {len(notes):,})",
                               field="notes")
    target = ModelVersion.objects.select_for_update().get(pk=version_by_ref(model, version).pk)
    if target.notes == notes:
        return target
    previous = target.notes
    target.notes = notes
    target.save(update_fields=["notes"])
    event_record(model=model, actor=actor, action="version.described", to_value=target.label,
                 data={"versionNo": target.version_no, "before": previous, "after": notes})
    return target

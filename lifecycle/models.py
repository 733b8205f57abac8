"""The model and its life: definitions, samples, runs, versions and the audit trail.

Columns are assigned by the services in `services.py`; nothing here changes state by itself.
"""

from __future__ import annotations

import hashlib
import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from .choices import (
    RUN_IN_FLIGHT,
    Effort,
    LearnMode,
    ModelType,
    OperationalStatus,
    RegistryStatus,
    RunKind,
    RunStatus,
    SampleSource,
    State,
    TraitDirection,
    TraitKind,
    VersionHold,
    VersionTrigger,
)


def _in(field: str, choices: type[models.TextChoices]) -> Q:
    return Q(**{f"{field}__in": choices.values})


class AlgorithmModel(models.Model):
    key = models.CharField(max_length=255, unique=True)
    name = models.CharField(max_length=255)
    model_type = models.CharField(max_length=32, choices=ModelType.choices)
    description = models.TextField(blank=True, default="")

    # Four lifecycle controls of seed 001, inert by default.
    status = models.CharField(max_length=16, choices=OperationalStatus.choices, default=OperationalStatus.DRAFT)
    registry_status = models.CharField(max_length=16, choices=RegistryStatus.choices, default=RegistryStatus.DRAFT)
    family = models.CharField(max_length=255, blank=True, default="", db_index=True)
    auto_learn = models.BooleanField(default=False)
    # Zero data retention: samples are purged after each successful train, nothing retrains by itself and score
    # feedback is refused (lifecycle.services.model_set_zero_data_retention).
    zero_data_retention = models.BooleanField(default=False)
    learn_mode = models.CharField(max_length=16, choices=LearnMode.choices, default=LearnMode.NONE)
    learn_schedule = models.CharField(max_length=16, null=True, blank=True, default=None)
    outcome_weights = models.JSONField(null=True, blank=True, default=None)
    # The metrics a promotion was made on (the guard compares a candidate's with the incumbent's).
    metrics_snapshot = models.JSONField(default=dict, blank=True)

    # The seed's persisted row.
    config = models.JSONField(default=dict, blank=True)
    target_field = models.CharField(max_length=255, blank=True, default="")
    target_schema_key = models.CharField(max_length=255, blank=True, default="")
    learning_config = models.JSONField(default=dict, blank=True)
    predictors = models.JSONField(default=list, blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    metrics_history = models.JSONField(default=list, blank=True)
    model_state = models.JSONField(default=dict, blank=True)
    training_samples = models.PositiveIntegerField(default=0)
    last_trained_at = models.DateTimeField(null=True, blank=True)
    last_learned_at = models.DateTimeField(null=True, blank=True)

    # Training state (seed 000) and what serves.
    state = models.CharField(max_length=16, choices=State.choices, default=State.DRAFT, db_index=True)
    active_version = models.ForeignKey(
        "ModelVersion", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    pinned = models.BooleanField(default=False)
    last_run = models.ForeignKey("TrainingRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")

    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(condition=_in("state", State), name="model_state_valid"),
            models.CheckConstraint(condition=_in("status", OperationalStatus), name="model_status_valid"),
            models.CheckConstraint(condition=_in("registry_status", RegistryStatus), name="model_registry_status_valid"),
            models.CheckConstraint(condition=_in("model_type", ModelType), name="model_type_valid"),
            models.CheckConstraint(condition=_in("learn_mode", LearnMode), name="model_learn_mode_valid"),
            # The seed's invariant: a draft-status model is never on the ladder.
            models.CheckConstraint(
                condition=~Q(status=OperationalStatus.DRAFT) | Q(registry_status__in=[RegistryStatus.DRAFT,
                                                                                     RegistryStatus.ARCHIVED]),
                name="draft_status_not_promoted",
            ),
            # One champion per family, whatever races the callers run.
            models.UniqueConstraint(
                fields=["family"], condition=Q(registry_status=RegistryStatus.CHAMPION), name="one_champion_per_family"
            ),
            # A ready model always serves something.
            models.CheckConstraint(
                condition=~Q(state=State.READY) | Q(active_version__isnull=False), name="ready_has_active_version"
            ),
        ]
        permissions = [
            ("train_algorithmmodel", "Can train, discover and roll back models"),
            ("activate_version", "Can choose the version a model serves (a pin or a rollback)"),
        ]

    def __str__(self) -> str:
        return self.key

    @property
    def has_been_ready(self) -> bool:
        """After the first ready the trait set is fixed for the lineage."""
        return self.active_version_id is not None

    @property
    def is_scorable(self) -> bool:
        return self.has_been_ready and self.state != State.ARCHIVED

    @property
    def definition_editable(self) -> bool:
        return self.state in (State.DRAFT, State.FAILED) and not self.has_been_ready


class Trait(models.Model):
    model = models.ForeignKey(AlgorithmModel, on_delete=models.CASCADE, related_name="traits")
    key = models.SlugField(max_length=100)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    kind = models.CharField(max_length=16, choices=TraitKind.choices, default=TraitKind.EXTRINSIC)
    positive_label = models.CharField(max_length=100, default="positive")
    negative_label = models.CharField(max_length=100, default="negative")
    direction = models.CharField(max_length=16, choices=TraitDirection.choices, default=TraitDirection.HIGHER_IS_GOOD)
    # For intrinsic traits: how discovery found them and which samples belong (the frozen axis).
    definition = models.JSONField(default=dict, blank=True)
    anchor_sample_ids = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [models.UniqueConstraint(fields=["model", "key"], name="trait_key_unique_per_model")]

    def __str__(self) -> str:
        return f"{self.model.key}:{self.key}"


class Sample(models.Model):
    """One labelled example. An append-only log, kept apart from versions."""

    model = models.ForeignKey(AlgorithmModel, on_delete=models.CASCADE, related_name="samples")
    features = models.JSONField(null=True, blank=True)
    content = models.TextField(blank=True, default="")
    labels = models.JSONField(default=dict)
    weight = models.FloatField(default=1.0)
    source = models.CharField(max_length=16, choices=SampleSource.choices, default=SampleSource.EXPLICIT)
    request_id = models.CharField(max_length=64, blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["id"]
        indexes = [
            models.Index(fields=["model", "source"]),
            # A model's samples newest first, one page at a time, without sorting all of them (the samples page).
            models.Index(fields=["model", "id"], name="sample_model_newest"),
        ]


class TrainingRun(models.Model):
    model = models.ForeignKey(AlgorithmModel, on_delete=models.CASCADE, related_name="runs")
    kind = models.CharField(max_length=32, choices=RunKind.choices)
    status = models.CharField(max_length=16, choices=RunStatus.choices, default=RunStatus.QUEUED)
    effort = models.CharField(max_length=8, choices=Effort.choices, default=Effort.HIGH)
    params = models.JSONField(default=dict, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)
    message = models.CharField(max_length=255, blank=True, default="")
    error = models.TextField(blank=True, default="")
    result = models.JSONField(default=dict, blank=True)
    started_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    trigger = models.CharField(max_length=64, blank=True, default="")
    task_id = models.CharField(max_length=64, blank=True, default="")
    sample_watermark = models.BigIntegerField(default=0)
    queued_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=_in("status", RunStatus), name="run_status_valid"),
            models.CheckConstraint(condition=Q(progress__lte=100), name="run_progress_max_100"),
            # At most one run in flight per model, whatever races the callers run.
            models.UniqueConstraint(
                fields=["model"], condition=Q(status__in=sorted(RUN_IN_FLIGHT)), name="one_run_in_flight_per_model"
            ),
        ]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.kind}, {self.status})"

    @property
    def in_flight(self) -> bool:
        return self.status in RUN_IN_FLIGHT

    @property
    def duration_seconds(self) -> float | None:
        if not self.started_at:
            return None
        end = self.finished_at or timezone.now()
        return (end - self.started_at).total_seconds()


class ModelVersion(models.Model):
    model = models.ForeignKey(AlgorithmModel, on_delete=models.CASCADE, related_name="versions")
    version_no = models.PositiveIntegerField()
    triggered_by = models.CharField(max_length=32, choices=VersionTrigger.choices)
    param_hash = models.CharField(max_length=64)
    params = models.JSONField(default=dict)
    sample_count = models.PositiveIntegerField()
    trait_keys = models.JSONField(default=list)
    metrics = models.JSONField(default=dict)
    predictors = models.JSONField(default=list)
    # Distribution of each feature in the training data, for drift (PSI) between versions.
    data_profile = models.JSONField(default=dict)
    run = models.ForeignKey(TrainingRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="versions")
    artifact = models.BinaryField(null=True)
    artifact_sha256 = models.CharField(max_length=64)
    artifact_size = models.PositiveIntegerField(default=0)
    pruned_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    # The version policy of a champion's family can keep a new version from serving (lifecycle/governance.py).
    hold = models.CharField(max_length=16, choices=VersionHold.choices, default=VersionHold.NONE, blank=True)
    hold_reason = models.TextField(blank=True, default="")
    hold_breaches = models.JSONField(default=list, blank=True)
    hold_request_id = models.PositiveIntegerField(null=True, blank=True)  # the registry's review request
    # The candidate and the version serving at training time, scored on the same holdout rows.
    comparison = models.JSONField(default=dict, blank=True)
    # What the version reads (trainers.input_schema); empty for versions trained before it was recorded.
    input_schema = models.JSONField(default=list, blank=True)
    # Per trait, the curves of the evaluation rows (trainers.evaluation_curves); empty for versions trained before
    # they were recorded. Kept apart from `metrics`, which the model row and its API carry.
    evaluation = models.JSONField(default=dict, blank=True)
    # What people say about the version (what changed, why it exists); edited on its page and over the API.
    notes = models.TextField(blank=True, default="")

    class Meta:
        ordering = ["-version_no"]
        constraints = [
            models.UniqueConstraint(fields=["model", "version_no"], name="version_no_unique_per_model"),
        ]

    def __str__(self) -> str:
        return f"{self.model.key}@v{self.version_no}"

    @property
    def label(self) -> str:
        return f"v{self.version_no}"

    @property
    def quality_warnings(self) -> list[dict]:
        """Every trait's quality warnings from training, each {trait, code, message}."""
        return [
            {"trait": trait, "code": w["code"], "message": w["message"]}
            for trait, m in (self.metrics or {}).items()
            for w in (m or {}).get("qualityWarnings") or []
        ]


class VersionTag(models.Model):
    """A name pointing at one version of a model; tagged versions are never pruned."""

    model = models.ForeignKey(AlgorithmModel, on_delete=models.CASCADE, related_name="version_tags")
    version = models.ForeignKey(ModelVersion, on_delete=models.CASCADE, related_name="tags")
    name = models.SlugField(max_length=64)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]
        constraints = [models.UniqueConstraint(fields=["model", "name"], name="tag_unique_per_model")]


class ModelEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise PermissionError("Audit events are append-only")

    def delete(self):
        raise PermissionError("Audit events are append-only")


class ModelEvent(models.Model):
    """The audit trail: one row per change, written by the service that makes it, never changed."""

    model = models.ForeignKey(AlgorithmModel, null=True, blank=True, on_delete=models.DO_NOTHING,
                              db_constraint=False, related_name="events")
    model_key = models.CharField(max_length=255, blank=True, default="")
    family = models.CharField(max_length=255, blank=True, default="")
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    actor_name = models.CharField(max_length=150, blank=True, default="")
    action = models.CharField(max_length=64, db_index=True)
    from_value = models.CharField(max_length=64, blank=True, default="")
    to_value = models.CharField(max_length=64, blank=True, default="")
    message = models.TextField(blank=True, default="")
    data = models.JSONField(default=dict, blank=True)
    # The request that made the change (X-Request-Id), or "run-<id>" for a worker's run: the key into the logs.
    request_id = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = ModelEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]

    def save(self, *args, **kwargs):
        if self.pk is not None and not kwargs.get("force_insert"):
            raise PermissionError("Audit events are append-only")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise PermissionError("Audit events are append-only")


class ApiTokenQuerySet(models.QuerySet):
    def live(self):
        now = timezone.now()
        return self.filter(revoked_at__isnull=True).filter(Q(expires_at__isnull=True) | Q(expires_at__gt=now))


class ApiToken(models.Model):
    """A script's credential. Only a hash is stored; the key is shown once, at creation."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]

    @staticmethod
    def hash_key(key: str) -> str:
        return hashlib.sha256(key.encode()).hexdigest()

    @staticmethod
    def generate_key() -> str:
        return "mlc_" + secrets.token_urlsafe(32)


class Webhook(models.Model):
    """An operator's receiver of lifecycle events. The secret signs every body and is never shown again."""

    url = models.CharField(max_length=2000)
    secret = models.CharField(max_length=128)
    events = models.JSONField(default=list)
    active = models.BooleanField(default=True)
    description = models.CharField(max_length=255, blank=True, default="")
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [("manage_webhook", "Can configure outbound webhooks and see their deliveries")]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", "pending"
    DELIVERED = "delivered", "delivered"
    FAILED = "failed", "failed"


class WebhookDelivery(models.Model):
    """One event for one webhook: attempted until delivered, or failed after the last attempt."""

    Status = DeliveryStatus

    webhook = models.ForeignKey(Webhook, on_delete=models.CASCADE, related_name="deliveries")
    event = models.CharField(max_length=64)
    payload = models.JSONField(default=dict)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True, default="")
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="webhook_delivery_due")]
        constraints = [models.CheckConstraint(condition=_in("status", DeliveryStatus), name="webhook_delivery_status_valid")]

from django.conf import settings
from django.db import models
from django.db.models import Q

from lifecycle.models import AlgorithmModel, ModelVersion

from django.utils import timezone

from .choices import ExperimentStatus, RequestKind, RequestState, VersionPolicy


class PromotionRequest(models.Model):
    """A move in the approval set, waiting for a reviewer who is not its author."""

    model = models.ForeignKey(AlgorithmModel, on_delete=models.CASCADE, related_name="promotion_requests")
    kind = models.CharField(max_length=16, choices=RequestKind.choices, default=RequestKind.MOVE)
    from_status = models.CharField(max_length=16)
    to_status = models.CharField(max_length=16)
    family = models.CharField(max_length=255)
    state = models.CharField(max_length=16, choices=RequestState.choices, default=RequestState.PENDING)
    # What the request was made against: a change to either makes it stale.
    version = models.ForeignKey(ModelVersion, null=True, on_delete=models.SET_NULL, related_name="+")
    incumbent = models.ForeignKey(AlgorithmModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    # A version change: `version` is the one asking to serve, `serving_version` the one serving when asked.
    serving_version = models.ForeignKey(ModelVersion, null=True, blank=True, on_delete=models.SET_NULL,
                                        related_name="+")
    pin = models.BooleanField(default=False)  # an analyst's pin or rollback (a retrain's version does not pin)
    metrics_snapshot = models.JSONField(default=dict, blank=True)
    thresholds = models.JSONField(default=dict, blank=True)
    bypass_guard = models.BooleanField(default=False)
    guard = models.JSONField(default=dict, blank=True)
    comment = models.TextField(blank=True, default="")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    requested_by_name = models.CharField(max_length=150, blank=True, default="")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decision_comment = models.TextField(blank=True, default="")
    stale_reason = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["model", "kind"], condition=Q(state=RequestState.PENDING),
                                    name="one_pending_request_per_model_and_kind"),
            models.CheckConstraint(condition=Q(state__in=RequestState.values), name="request_state_valid"),
        ]
        permissions = [
            ("promote_model", "Can move models on the registry ladder and request promotions"),
            ("review_promotionrequest", "Can approve or reject promotion requests"),
            ("apply_without_review", "Can apply moves in the approval set without a review"),
            ("rollback_family", "Can roll a family back to its previous champion"),
        ]

    @property
    def asks(self) -> str:
        """What the request asks for, in words (the queue, the dashboard, the model page)."""
        if self.kind == RequestKind.VERSION:
            serving = f" instead of {self.serving_version.label}" if self.serving_version_id else ""
            return f"serve {self.version.label if self.version_id else 'a version'}{serving}"
        return f"{self.from_status} → {self.to_status}"

    def __str__(self) -> str:
        if self.kind == RequestKind.VERSION:
            return f"request {self.pk}: {self.model.key} serves {self.version.label if self.version else '?'}"
        return f"request {self.pk}: {self.model.key} {self.from_status} -> {self.to_status}"


class Experiment(models.Model):
    """Champion against challengers on a traffic split, with an optional holdout."""

    key = models.SlugField(max_length=255, unique=True)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    status = models.CharField(max_length=16, choices=ExperimentStatus.choices, default=ExperimentStatus.DRAFT)
    family = models.CharField(max_length=255, blank=True, default="")
    champion_model = models.ForeignKey(AlgorithmModel, null=True, blank=True, on_delete=models.PROTECT,
                                       related_name="+")
    champion_pct = models.PositiveSmallIntegerField(default=80)
    holdout_pct = models.PositiveSmallIntegerField(default=0)
    auto_promote = models.BooleanField(default=False)
    promote_threshold = models.FloatField(default=0.02)
    promote_after_days = models.PositiveIntegerField(default=14)
    started_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=Q(champion_pct__lte=100) & Q(holdout_pct__lte=100),
                                   name="experiment_pcts_at_most_100"),
            models.CheckConstraint(condition=Q(status__in=ExperimentStatus.values), name="experiment_status_valid"),
        ]

    def __str__(self) -> str:
        return self.key


class ExperimentArm(models.Model):
    """One arm's share of traffic and its live outcome counters (fed by the scoring side)."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="arms")
    arm = models.CharField(max_length=255)  # CHAMPION_ARM, HOLDOUT_ARM or a challenger's model key
    model = models.ForeignKey(AlgorithmModel, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    traffic_pct = models.PositiveSmallIntegerField(default=0)
    active = models.BooleanField(default=True)
    trials = models.PositiveIntegerField(default=0)
    successes = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "arm"], name="arm_unique_per_experiment"),
            models.CheckConstraint(condition=Q(successes__lte=models.F("trials")), name="arm_successes_le_trials"),
        ]


class ExperimentArmPeriod(models.Model):
    """An arm's responses in one hour: the history behind the arms-over-time chart. Its rows add up to the
    arm's counters, because the same call increments both."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="periods")
    arm = models.CharField(max_length=255)
    period_start = models.DateTimeField()
    trials = models.PositiveIntegerField(default=0)
    successes = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["period_start", "id"]
        constraints = [
            models.UniqueConstraint(fields=["experiment", "arm", "period_start"], name="one_period_per_arm_hour"),
            models.CheckConstraint(condition=Q(successes__lte=models.F("trials")), name="period_successes_le_trials"),
        ]


class VariantAssignment(models.Model):
    """Sticky: a customer keeps their arm for the TTL, even when the split is edited."""

    experiment = models.ForeignKey(Experiment, on_delete=models.CASCADE, related_name="assignments")
    customer_id = models.CharField(max_length=255)
    arm = models.CharField(max_length=255)
    assigned_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["experiment", "customer_id"], name="one_assignment_per_customer")]


class ChampionTenure(models.Model):
    """A model's time as its family's champion, with the live outcomes it served then (for the watch)."""

    model = models.ForeignKey(AlgorithmModel, on_delete=models.CASCADE, related_name="tenures")
    family = models.CharField(max_length=255, db_index=True)
    started_at = models.DateTimeField(default=timezone.now)
    ended_at = models.DateTimeField(null=True, blank=True)
    trials = models.PositiveIntegerField(default=0)
    successes = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-started_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["family"], condition=Q(ended_at__isnull=True),
                                    name="one_open_tenure_per_family"),
            models.CheckConstraint(condition=Q(successes__lte=models.F("trials")), name="tenure_successes_le_trials"),
        ]


class FamilyPolicy(models.Model):
    """Per-family settings of the live watch."""

    family = models.CharField(max_length=255, unique=True)
    auto_rollback = models.BooleanField(default=False)
    version_policy = models.CharField(max_length=16, choices=VersionPolicy.choices, default=VersionPolicy.GUARD)
    min_responses = models.PositiveIntegerField(default=200)
    updated_at = models.DateTimeField(auto_now=True)

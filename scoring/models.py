"""Serving: the catalog, score requests, decisions, responses, learned state per scope, traces."""

from django.conf import settings
from django.db import connections, models
from django.db.models import Q
from django.utils import timezone

from lifecycle.models import AlgorithmModel, ModelVersion

from .choices import Classification, Direction, OutcomeCategory, Scope


class OutcomeType(models.Model):
    key = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    classification = models.CharField(max_length=16, choices=Classification.choices)
    category = models.CharField(max_length=16, choices=OutcomeCategory.choices, default=OutcomeCategory.RESPONSE)
    is_system = models.BooleanField(default=False)
    ordinal = models.PositiveIntegerField(default=0)
    status = models.CharField(max_length=16, default="active")
    version = models.PositiveIntegerField(default=1)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["ordinal", "key"]

    def __str__(self) -> str:
        return self.key


class Category(models.Model):
    key = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=255)

    class Meta:
        ordering = ["key"]
        verbose_name_plural = "categories"

    def __str__(self) -> str:
        return self.key


class Channel(models.Model):
    key = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=255)
    direction = models.CharField(max_length=16, choices=Direction.choices, default=Direction.OUTBOUND)
    # The channel reports what it actually showed, with /respond and an outcome of the impression category; then
    # /recommend writes no impression rows of its own for it (contract B8), and those reports are what counts.
    tracks_impressions = models.BooleanField(default=False)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class Offer(models.Model):
    key = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=255)
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.SET_NULL, related_name="offers")
    channels = models.ManyToManyField(Channel, blank=True, related_name="offers")
    attributes = models.JSONField(default=dict, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class DecisionFlow(models.Model):
    key = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=255)
    offers = models.ManyToManyField(Offer, blank=True, related_name="flows")
    family = models.CharField(max_length=255, blank=True, default="",
                              help_text="whose champion scores, unless a model key is pinned")
    model_key = models.CharField(max_length=255, blank=True, default="",
                                 help_text="the score node's pinned model key (bypasses the registry)")
    experiment_key = models.CharField(max_length=255, blank=True, default="")

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key


class ScoreRequest(models.Model):
    """Kept for feedback by request id, for SCORE_REQUEST_RETENTION_DAYS."""

    request_id = models.CharField(max_length=40, unique=True)
    model = models.ForeignKey(AlgorithmModel, on_delete=models.CASCADE, related_name="score_requests")
    version = models.ForeignKey(ModelVersion, null=True, on_delete=models.SET_NULL, related_name="+")
    inputs = models.JSONField(default=list)
    results = models.JSONField(default=list)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(default=timezone.now, db_index=True)


class ModelAdaptation(models.Model):
    """Learned state of one model in one (scope, scopeId) cell."""

    model = models.ForeignKey(AlgorithmModel, on_delete=models.CASCADE, related_name="adaptations")
    scope = models.CharField(max_length=16, choices=Scope.choices)
    scope_id = models.CharField(max_length=255, blank=True, default="")
    evidence = models.PositiveIntegerField(default=0)
    positives = models.FloatField(default=0.0)
    negatives = models.FloatField(default=0.0)
    total_reward = models.FloatField(default=0.0)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["scope", "scope_id"]
        constraints = [
            models.UniqueConstraint(fields=["model", "scope", "scope_id"], name="one_cell_per_scope"),
            models.CheckConstraint(condition=Q(positives__gte=0) & Q(negatives__gte=0), name="cell_counts_positive"),
        ]


class Recommendation(models.Model):
    recommendation_id = models.CharField(max_length=40, unique=True)
    customer_id = models.CharField(max_length=255, db_index=True)
    channel = models.CharField(max_length=100, blank=True, default="")
    direction = models.CharField(max_length=16, blank=True, default="")
    placement = models.CharField(max_length=100, blank=True, default="")
    decision_flow_key = models.CharField(max_length=100, blank=True, default="")
    model = models.ForeignKey(AlgorithmModel, null=True, on_delete=models.SET_NULL, related_name="+")
    version = models.ForeignKey(ModelVersion, null=True, on_delete=models.SET_NULL, related_name="+")
    experiment_key = models.CharField(max_length=255, blank=True, default="")
    arm = models.CharField(max_length=255, blank=True, default="")
    attributes = models.JSONField(default=dict, blank=True)
    offers = models.JSONField(default=list)  # [{rank, offerId, propensity, propensitySource}]
    created_at = models.DateTimeField(default=timezone.now, db_index=True)


class Interaction(models.Model):
    """One /respond call, kept once per caller, endpoint and idempotency key."""

    # Keys are the caller's own: two callers may pick the same key without seeing each other's answers.
    # Rows from before keys were scoped have no actor and match no caller.
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                              related_name="+")
    scope = models.CharField(max_length=32, default="respond")
    idempotency_key = models.CharField(max_length=255)
    # sha256 of the canonical request: the same key with another body is refused, not answered from memory.
    request_hash = models.CharField(max_length=64, blank=True, default="")
    recommendation = models.ForeignKey(Recommendation, null=True, blank=True, on_delete=models.SET_NULL)
    customer_id = models.CharField(max_length=255, db_index=True)
    offer_key = models.CharField(max_length=100, blank=True, default="")
    rank = models.PositiveIntegerField(null=True, blank=True)
    outcome = models.CharField(max_length=64)
    classification = models.CharField(max_length=16)
    weight = models.FloatField()
    channel = models.CharField(max_length=100, blank=True, default="")
    direction = models.CharField(max_length=16, blank=True, default="")
    conversion_value = models.FloatField(null=True, blank=True)
    model = models.ForeignKey(AlgorithmModel, null=True, on_delete=models.SET_NULL, related_name="+")
    warning = models.CharField(max_length=255, blank=True, default="")
    response = models.JSONField(default=dict)
    timestamp = models.DateTimeField(default=timezone.now)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["actor", "scope", "idempotency_key"],
                                               name="interaction_idempotency_per_actor")]


# A trace's candidate results are stored compactly: what every candidate shares once, then one row per candidate,
# [offerId, score, rank, propensitySource, why, then per shadow its score and propensitySource]. Traces written
# before (a list of one dict per candidate) read as they were stored.
RESULT_ROWS = "rows-1"


def compact_results(model_key: str, model_type: str, version_no: int, arm: str | None, shadows: list,
                    rows: list) -> dict:
    """The stored form of a trace's candidate results: `shadows` [[modelKey, versionNo]] in order, `rows` as
    RESULT_ROWS describes."""
    return {"format": RESULT_ROWS, "modelKey": model_key, "modelType": model_type, "versionNo": version_no,
            "arm": arm, "shadows": shadows, "rows": rows}


def expand_results(stored, vendor: str = "") -> list[dict]:
    """Every candidate's result, one dict per candidate in candidate order, from either stored form. `vendor`
    (the database the value is read from) orders each dict's keys as that database gave them back when they
    were stored one dict per candidate: PostgreSQL's jsonb by length then bytewise, the others as written."""
    if not isinstance(stored, dict) or not stored:
        return list(stored or [])  # stored one dict per candidate, or none
    key, kind, no, arm = stored["modelKey"], stored["modelType"], stored["versionNo"], stored["arm"]
    shadows = stored["shadows"]
    if vendor == "postgresql":
        return [{"arm": arm, "why": r[4], "rank": r[2], "score": r[1], "offerId": r[0], "modelKey": key,
                 "modelType": kind, "versionNo": no, "shadowScores": [
                     {"score": r[5 + 2 * j], "modelKey": k, "versionNo": n, "propensitySource": r[6 + 2 * j]}
                     for j, (k, n) in enumerate(shadows)], "propensitySource": r[3]} for r in stored["rows"]]
    return [{"offerId": r[0], "score": r[1], "rank": r[2], "modelKey": key, "modelType": kind, "versionNo": no,
             "propensitySource": r[3], "why": r[4], "arm": arm, "shadowScores": [
                 {"modelKey": k, "versionNo": n, "score": r[5 + 2 * j], "propensitySource": r[6 + 2 * j]}
                 for j, (k, n) in enumerate(shadows)]} for r in stored["rows"]]


class DecisionTrace(models.Model):
    recommendation = models.OneToOneField(Recommendation, on_delete=models.CASCADE, related_name="trace")
    customer_id = models.CharField(max_length=255, db_index=True)
    decision_flow_key = models.CharField(max_length=100, blank=True, default="")
    funnel = models.JSONField(default=dict)
    scoring_results = models.JSONField(default=list)
    selected_offers = models.JSONField(default=list)
    experiment_assignment = models.JSONField(default=dict)
    model_keys = models.JSONField(default=list)
    # The family whose champion (or experiment arm) decided, "" for a flow's pinned model: shadows are read by it.
    family = models.CharField(max_length=255, blank=True, default="")
    total_duration_ms = models.FloatField(default=0)
    # [{stage, candidates, passed, durationMs}] in pipeline order; empty on traces from before stages were timed.
    pipeline = models.JSONField(default=list)
    suppression_results = models.JSONField(default=list)
    contact_policy_results = models.JSONField(default=list)
    created_at = models.DateTimeField(default=timezone.now, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["family", "-created_at"], name="trace_family_newest")]

    def candidate_results(self) -> list[dict]:
        """Every candidate's result (`scoring_results` expanded), as the trace page and the API show them."""
        return expand_results(self.scoring_results, connections[self._state.db or "default"].vendor)


class Impression(models.Model):
    """One offer shown to one customer by /recommend. Suppression rules and contact policies count these, per
    customer over a recent window (one grouped query per recommend); kept IMPRESSION_RETENTION_DAYS."""

    customer_id = models.CharField(max_length=255)
    offer_key = models.CharField(max_length=100)
    category_key = models.CharField(max_length=100, blank=True, default="")
    channel = models.CharField(max_length=100, blank=True, default="")
    direction = models.CharField(max_length=16, blank=True, default="")
    recommendation = models.ForeignKey(Recommendation, null=True, blank=True, on_delete=models.SET_NULL,
                                       related_name="impressions")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer_id", "created_at"], name="impression_customer_window"),
                   models.Index(fields=["created_at"], name="impression_created")]


class SuppressionRule(models.Model):
    """An offer (or every offer of a category) is not shown to a customer again for `days` days after one of
    `outcomes`, or once it was shown `max_impressions` times within those days."""

    key = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=255)
    offer = models.ForeignKey(Offer, null=True, blank=True, on_delete=models.CASCADE, related_name="suppression_rules")
    category = models.ForeignKey(Category, null=True, blank=True, on_delete=models.CASCADE,
                                 related_name="suppression_rules")
    outcomes = models.JSONField(default=list, blank=True)
    days = models.PositiveIntegerField(default=30)
    max_impressions = models.PositiveIntegerField(null=True, blank=True)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["key"]
        constraints = [models.CheckConstraint(
            condition=(Q(offer__isnull=False) & Q(category__isnull=True)) | (Q(offer__isnull=True)
                                                                            & Q(category__isnull=False)),
            name="suppression_offer_or_category")]

    def __str__(self) -> str:
        return self.key


class ContactPolicy(models.Model):
    """At most `max_impressions` impressions per customer within `window_hours` on one channel (no channel:
    across every channel)."""

    key = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=255)
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.CASCADE,
                                related_name="contact_policies")
    max_impressions = models.PositiveIntegerField()
    window_hours = models.PositiveIntegerField(default=24)
    active = models.BooleanField(default=True)

    class Meta:
        ordering = ["key"]
        verbose_name_plural = "contact policies"

    def __str__(self) -> str:
        return self.key


class Creative(models.Model):
    """One rendering of an offer (a banner, an email template): /respond with creativeId learns for its offer."""

    key = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=255)
    offer = models.ForeignKey(Offer, on_delete=models.CASCADE, related_name="creatives")
    channel = models.ForeignKey(Channel, null=True, blank=True, on_delete=models.SET_NULL, related_name="creatives")

    class Meta:
        ordering = ["key"]

    def __str__(self) -> str:
        return self.key

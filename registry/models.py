from django.conf import settings
from django.db import models
from django.db.models import Q

from lifecycle.models import AlgorithmModel, ModelVersion

from .choices import RequestState


class PromotionRequest(models.Model):
    """A move in the approval set, waiting for a reviewer who is not its author."""

    model = models.ForeignKey(AlgorithmModel, on_delete=models.CASCADE, related_name="promotion_requests")
    from_status = models.CharField(max_length=16)
    to_status = models.CharField(max_length=16)
    family = models.CharField(max_length=255)
    state = models.CharField(max_length=16, choices=RequestState.choices, default=RequestState.PENDING)
    # What the request was made against: a change to either makes it stale.
    version = models.ForeignKey(ModelVersion, null=True, on_delete=models.SET_NULL, related_name="+")
    incumbent = models.ForeignKey(AlgorithmModel, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    metrics_snapshot = models.JSONField(default=dict, blank=True)
    thresholds = models.JSONField(default=dict, blank=True)
    bypass_guard = models.BooleanField(default=False)
    guard = models.JSONField(default=dict, blank=True)
    comment = models.TextField(blank=True, default="")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    decided_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    decision_comment = models.TextField(blank=True, default="")
    stale_reason = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    decided_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["model"], condition=Q(state=RequestState.PENDING),
                                    name="one_pending_request_per_model"),
            models.CheckConstraint(condition=Q(state__in=RequestState.values), name="request_state_valid"),
        ]
        permissions = [
            ("promote_model", "Can move models on the registry ladder and request promotions"),
            ("review_promotionrequest", "Can approve or reject promotion requests"),
            ("apply_without_review", "Can apply moves in the approval set without a review"),
            ("rollback_family", "Can roll a family back to its previous champion"),
        ]

    def __str__(self) -> str:
        return f"request {self.pk}: {self.model.key} {self.from_status} -> {self.to_status}"

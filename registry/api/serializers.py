from rest_framework import serializers

from lifecycle.api.serializers import AlgorithmModelSerializer, StrictSerializer
from lifecycle.choices import RegistryStatus

from ..choices import RequestState
from ..models import PromotionRequest


class PromoteInputSerializer(StrictSerializer):
    toStatus = serializers.ChoiceField(choices=RegistryStatus.values)
    family = serializers.CharField(required=False, allow_blank=True, max_length=255)
    metricsSnapshot = serializers.DictField(required=False)
    bypassRollbackGuard = serializers.BooleanField(required=False, default=False)
    rollbackThresholds = serializers.DictField(child=serializers.FloatField(min_value=0), required=False)
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class PromotionRequestSerializer(serializers.ModelSerializer):
    modelId = serializers.IntegerField(source="model_id")
    modelKey = serializers.CharField(source="model.key")
    fromStatus = serializers.CharField(source="from_status")
    toStatus = serializers.CharField(source="to_status")
    versionId = serializers.SerializerMethodField()
    incumbentKey = serializers.SerializerMethodField()
    metricsSnapshot = serializers.JSONField(source="metrics_snapshot")
    rollbackThresholds = serializers.JSONField(source="thresholds")
    bypassRollbackGuard = serializers.BooleanField(source="bypass_guard")
    requestedBy = serializers.SerializerMethodField()
    decidedBy = serializers.SerializerMethodField()
    decisionComment = serializers.CharField(source="decision_comment")
    staleReason = serializers.CharField(source="stale_reason")
    createdAt = serializers.DateTimeField(source="created_at")
    decidedAt = serializers.DateTimeField(source="decided_at", allow_null=True)

    class Meta:
        model = PromotionRequest
        fields = ["id", "modelId", "modelKey", "fromStatus", "toStatus", "family", "state", "versionId",
                  "incumbentKey", "metricsSnapshot", "rollbackThresholds", "bypassRollbackGuard", "guard", "comment",
                  "requestedBy", "decidedBy", "decisionComment", "staleReason", "createdAt", "decidedAt"]
        read_only_fields = fields

    def get_versionId(self, obj) -> str | None:
        return obj.version.label if obj.version_id else None

    def get_incumbentKey(self, obj) -> str | None:
        return obj.incumbent.key if obj.incumbent_id else None

    def get_requestedBy(self, obj) -> str | None:
        return obj.requested_by.get_username() if obj.requested_by_id else None

    def get_decidedBy(self, obj) -> str | None:
        return obj.decided_by.get_username() if obj.decided_by_id else None


class PromoteResultSerializer(serializers.Serializer):
    applied = serializers.BooleanField()
    model = AlgorithmModelSerializer()
    request = PromotionRequestSerializer(allow_null=True)
    demoted = serializers.CharField(allow_null=True, help_text="key of the champion this move archived")
    rollbackGuardBreaches = serializers.ListField(child=serializers.DictField())
    guard = serializers.DictField(allow_null=True)


class DecisionInputSerializer(StrictSerializer):
    comment = serializers.CharField(required=False, allow_blank=True, default="")


class RollbackInputSerializer(StrictSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")


class FamilySerializer(serializers.Serializer):
    family = serializers.CharField()
    champion = AlgorithmModelSerializer(allow_null=True)
    challengers = AlgorithmModelSerializer(many=True)
    shadows = AlgorithmModelSerializer(many=True)
    archived = AlgorithmModelSerializer(many=True)
    previousChampion = serializers.CharField(allow_null=True)
    history = serializers.ListField(child=serializers.DictField())


class RequestFilterSerializer(serializers.Serializer):
    state = serializers.ChoiceField(choices=RequestState.values, required=False)

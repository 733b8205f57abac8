from rest_framework import serializers

from lifecycle.api.serializers import AlgorithmModelSerializer, StrictSerializer
from lifecycle.choices import RegistryStatus
from lifecycle.core.keys import MODEL_KEY_MAX_LENGTH, KeyField

from ..choices import ExperimentStatus, RequestKind, VersionPolicy
from ..models import PromotionRequest


class PromoteInputSerializer(StrictSerializer):
    toStatus = serializers.ChoiceField(choices=RegistryStatus.values)
    family = KeyField(what="family", required=False, allow_blank=True)
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
    kind = serializers.ChoiceField(choices=RequestKind.values, help_text="move (a ladder move) or version (a change "
                                   "of the version the model serves)")
    servingVersionId = serializers.SerializerMethodField(help_text="version: the version serving when asked")
    pin = serializers.BooleanField(help_text="version: whether approval pins the model to the version")
    requestedBy = serializers.SerializerMethodField()
    decidedBy = serializers.SerializerMethodField()
    decisionComment = serializers.CharField(source="decision_comment")
    staleReason = serializers.CharField(source="stale_reason")
    createdAt = serializers.DateTimeField(source="created_at")
    decidedAt = serializers.DateTimeField(source="decided_at", allow_null=True)

    class Meta:
        model = PromotionRequest
        fields = ["id", "kind", "modelId", "modelKey", "fromStatus", "toStatus", "family", "state", "versionId",
                  "servingVersionId", "pin",
                  "incumbentKey", "metricsSnapshot", "rollbackThresholds", "bypassRollbackGuard", "guard", "comment",
                  "requestedBy", "decidedBy", "decisionComment", "staleReason", "createdAt", "decidedAt"]
        read_only_fields = fields

    def get_versionId(self, obj) -> str | None:
        return obj.version.label if obj.version_id else None

    def get_servingVersionId(self, obj) -> str | None:
        return obj.serving_version.label if obj.serving_version_id else None

    def get_incumbentKey(self, obj) -> str | None:
        return obj.incumbent.key if obj.incumbent_id else None

    def get_requestedBy(self, obj) -> str | None:
        return obj.requested_by_name or (obj.requested_by.get_username() if obj.requested_by_id else None)

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
    versionPolicy = serializers.ChoiceField(choices=VersionPolicy.values)
    heldVersions = serializers.ListField(child=serializers.DictField(),
                                         help_text="versions of members held for a reviewer: model, version, reason, "
                                                   "requestId")
    watch = serializers.DictField()
    policy = serializers.DictField()
    history = serializers.ListField(child=serializers.DictField())


class ChallengerSerializer(serializers.Serializer):
    modelId = serializers.CharField(help_text="model id or key", max_length=MODEL_KEY_MAX_LENGTH)
    trafficPct = serializers.IntegerField(min_value=0, max_value=100)


class TrafficSplitSerializer(serializers.Serializer):
    championPct = serializers.IntegerField(min_value=0, max_value=100, default=80)


class ExperimentInputSerializer(StrictSerializer):
    key = KeyField(numeric_ok=False)
    name = serializers.CharField(max_length=255)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    status = serializers.ChoiceField(choices=ExperimentStatus.choices, default=ExperimentStatus.DRAFT)
    family = KeyField(what="family", required=False, allow_blank=True, default="")
    championModelId = serializers.CharField(required=False, allow_null=True, default=None,
                                            max_length=MODEL_KEY_MAX_LENGTH)
    autoPromote = serializers.BooleanField(default=False)
    promoteThreshold = serializers.FloatField(default=0.02, min_value=0)
    promoteAfterDays = serializers.IntegerField(default=14, min_value=0, max_value=3650)
    trafficSplit = TrafficSplitSerializer(required=False)
    challengers = ChallengerSerializer(many=True, required=False, default=list)
    holdoutPercent = serializers.IntegerField(min_value=0, max_value=100, default=0)
    results = serializers.DictField(required=False, help_text="accepted for compatibility; results are computed")


class ExperimentUpdateSerializer(ExperimentInputSerializer):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        for field in self.fields.values():
            field.required = False
            if hasattr(field, "default"):
                field.default = serializers.empty


class ExperimentSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    key = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    status = serializers.CharField()
    family = serializers.CharField()
    championModelId = serializers.IntegerField(source="champion_model_id", allow_null=True)
    championModelKey = serializers.SerializerMethodField()
    autoPromote = serializers.BooleanField(source="auto_promote")
    promoteThreshold = serializers.FloatField(source="promote_threshold")
    promoteAfterDays = serializers.IntegerField(source="promote_after_days")
    trafficSplit = serializers.SerializerMethodField()
    challengers = serializers.SerializerMethodField()
    holdoutPercent = serializers.IntegerField(source="holdout_pct")
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")

    def get_championModelKey(self, obj) -> str | None:
        return obj.champion_model.key if obj.champion_model_id else None

    def get_trafficSplit(self, obj) -> dict:
        return {"championPct": obj.champion_pct}

    def get_challengers(self, obj) -> list[dict]:
        return [{"modelId": a.model_id, "modelKey": a.arm, "trafficPct": a.traffic_pct}
                for a in obj.arms.all() if a.active and a.model_id and not a.arm.startswith("__")]


class AssignInputSerializer(StrictSerializer):
    customerId = serializers.CharField(max_length=255)


class FamilyPolicySerializer(StrictSerializer):
    versionPolicy = serializers.ChoiceField(
        choices=VersionPolicy.values, required=False,
        help_text="How the champion (and challengers in a running experiment) may change the version they serve: "
                  "guard (default: the guard compares the new version with the serving one on the same rows; a "
                  "breach holds it for a reviewer), review (every new version waits for a reviewer) or auto "
                  "(every new version serves at once)")
    autoRollback = serializers.BooleanField(required=False)
    minResponses = serializers.IntegerField(required=False, min_value=10, max_value=1_000_000_000)

"""JSON shapes of the API, in the seeds' camelCase. Input serializers only validate; services decide."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .. import endpoints, selectors, services
from ..choices import Effort, LearnMode, ModelType, OperationalStatus, SampleSource, VersionHold
from ..core.keys import MODEL_KEY_MAX_LENGTH, KeyField
from ..models import AlgorithmModel, ModelEvent, ModelVersion, Sample, Trait, TrainingRun


class StrictSerializer(serializers.Serializer):
    """Refuses fields it does not know instead of silently ignoring them."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError(
                    {name: [f"Unknown field. Accepted fields: {', '.join(sorted(self.fields))}"] for name in unknown})
        return super().to_internal_value(data)


class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    status = serializers.IntegerField()
    details = serializers.DictField(required=False)


class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


# ---------------------------------------------------------------------------------------------- read


class VersionRefSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    versionNo = serializers.IntegerField(source="version_no")
    versionId = serializers.CharField(source="label")
    createdAt = serializers.DateTimeField(source="created_at")


class TraitMetricsSerializer(serializers.Serializer):
    """One trait's measures from its training run (a continuous model's snapshot may carry fewer)."""

    auc = serializers.FloatField(required=False, allow_null=True, help_text="area under the ROC curve, 0-1")
    logLoss = serializers.FloatField(required=False, allow_null=True)
    accuracy = serializers.FloatField(required=False, allow_null=True)
    baseRate = serializers.FloatField(required=False, allow_null=True, help_text="share of positive labels")
    sampleCount = serializers.IntegerField(required=False)
    positives = serializers.IntegerField(required=False)
    negatives = serializers.IntegerField(required=False)
    evaluation = serializers.CharField(required=False, help_text="holdout or training: where auc was measured")
    evaluationCount = serializers.IntegerField(required=False)
    histogram = serializers.DictField(required=False)
    breaks = serializers.DictField(required=False)


class PredictorSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="a feature (or the text's terms)")
    importance = serializers.FloatField()
    trait = serializers.CharField(required=False)


# The stored JSON is answered as it is; the schema says what it holds (metrics["churn"].auc is a field).
@extend_schema_field(serializers.DictField(child=TraitMetricsSerializer(), help_text="per trait key"))
class MetricsField(serializers.JSONField):
    pass


@extend_schema_field(PredictorSerializer(many=True))
class PredictorsField(serializers.JSONField):
    pass


@extend_schema_field(serializers.DictField(help_text="the hyperparameters the run resolved (by model type)"))
class ParamsField(serializers.JSONField):
    pass


class OperationSerializer(serializers.Serializer):
    kind = serializers.CharField()
    status = serializers.CharField()
    startedAt = serializers.DateTimeField()
    finishedAt = serializers.DateTimeField(allow_null=True)
    runId = serializers.IntegerField()
    progress = serializers.IntegerField()
    message = serializers.CharField()
    error = serializers.CharField(allow_null=True)


class AlgorithmModelSerializer(serializers.ModelSerializer):
    modelType = serializers.CharField(source="model_type")
    registryStatus = serializers.CharField(source="registry_status")
    autoLearn = serializers.BooleanField(source="auto_learn")
    learnMode = serializers.CharField(source="learn_mode")
    learnSchedule = serializers.CharField(source="learn_schedule", allow_null=True)
    outcomeWeights = serializers.JSONField(source="outcome_weights", allow_null=True)
    targetField = serializers.CharField(source="target_field")
    targetSchemaKey = serializers.CharField(source="target_schema_key")
    config = serializers.SerializerMethodField()
    learningConfig = serializers.JSONField(source="learning_config")
    metricsHistory = serializers.JSONField(source="metrics_history")
    modelState = serializers.JSONField(source="model_state")
    trainingSamples = serializers.IntegerField(source="training_samples")
    zeroDataRetention = serializers.BooleanField(source="zero_data_retention")
    lastTrainedAt = serializers.DateTimeField(source="last_trained_at", allow_null=True)
    lastLearnedAt = serializers.DateTimeField(source="last_learned_at", allow_null=True)
    lastOperation = serializers.SerializerMethodField()
    metrics = MetricsField(read_only=True)
    predictors = PredictorsField(read_only=True)
    activeVersion = VersionRefSerializer(source="active_version", allow_null=True)
    traits = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")
    updatedAt = serializers.DateTimeField(source="updated_at")

    class Meta:
        model = AlgorithmModel
        fields = [
            "id", "key", "name", "modelType", "description", "status", "registryStatus", "family", "autoLearn",
            "learnMode", "learnSchedule", "outcomeWeights", "config", "targetField", "targetSchemaKey",
            "learningConfig", "metrics", "metricsHistory", "modelState", "predictors", "trainingSamples",
            "zeroDataRetention", "lastTrainedAt", "lastLearnedAt", "state", "lastOperation", "activeVersion", "pinned", "traits",
            "createdAt", "updatedAt",
        ]
        read_only_fields = fields

    def get_config(self, obj) -> dict:
        return endpoints.shown_config(obj.config)

    def get_lastOperation(self, obj) -> OperationSerializer(allow_null=True):  # type: ignore[valid-type]
        return selectors.last_operation(obj)

    def get_traits(self, obj) -> list[str]:
        return [t.key for t in obj.traits.all()]


class InputFeatureSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="the feature's name (as predictors name it; content is the input's text)")
    key = serializers.CharField(help_text="its key under features (or content)")
    source = serializers.ChoiceField(choices=["features", "content"])
    type = serializers.ChoiceField(choices=["number", "category", "text"])
    min = serializers.FloatField(required=False, allow_null=True, help_text="numbers: the smallest seen")
    max = serializers.FloatField(required=False, allow_null=True, help_text="numbers: the largest seen")
    typical = serializers.JSONField(required=False, allow_null=True,
                                    help_text="numbers: the median (what a missing number is scored as); "
                                              "categories: the most frequent")
    categories = serializers.ListField(child=serializers.CharField(), required=False,
                                       help_text="categories the model tells apart, most frequent first (at most 50)")
    moreCategories = serializers.BooleanField(required=False, allow_null=True,
                                              help_text="more categories were seen; the rest score as one 'other'")
    typicalWords = serializers.IntegerField(required=False, allow_null=True, help_text="text: the median length")
    missingRate = serializers.FloatField(allow_null=True, help_text="share of training rows without a value")


class VersionSerializer(serializers.ModelSerializer):
    metrics = MetricsField(read_only=True)
    predictors = PredictorsField(read_only=True)
    params = ParamsField(read_only=True)
    versionNo = serializers.IntegerField(source="version_no")
    versionId = serializers.CharField(source="label")
    triggeredBy = serializers.CharField(source="triggered_by")
    paramHash = serializers.CharField(source="param_hash")
    sampleCount = serializers.IntegerField(source="sample_count")
    traitKeys = serializers.JSONField(source="trait_keys")
    runId = serializers.IntegerField(source="run_id", allow_null=True)
    tags = serializers.SerializerMethodField()
    active = serializers.SerializerMethodField()
    pruned = serializers.SerializerMethodField()
    artifactSha256 = serializers.CharField(source="artifact_sha256")
    artifactSize = serializers.IntegerField(source="artifact_size")
    createdAt = serializers.DateTimeField(source="created_at")
    qualityWarnings = serializers.ListField(source="quality_warnings", child=serializers.DictField())
    held = serializers.SerializerMethodField(help_text="kept from serving until a reviewer decides")
    rejected = serializers.SerializerMethodField(help_text="rejected in review: never serves")
    heldReason = serializers.CharField(source="hold_reason", help_text="why the version policy held it")
    heldBreaches = serializers.ListField(source="hold_breaches", child=serializers.DictField())
    reviewRequestId = serializers.IntegerField(source="hold_request_id", allow_null=True,
                                               help_text="the review request that decides whether it serves")
    comparison = serializers.JSONField(
        help_text="the new version and the one serving at training time, scored on the same holdout rows: per "
                  "trait candidate/serving AUC and log loss, the AUC difference with its 95% interval and DeLong "
                  "p-value; against names the serving version")
    inputSchema = serializers.SerializerMethodField(
        help_text="the features the version was trained on; null values are unknown (a version trained before "
                  "schemas were recorded: see inputSchemaSource)")
    inputSchemaSource = serializers.SerializerMethodField(
        help_text="training: recorded when it trained; artifact: read from the stored model (types and "
                  "categories only); unknown: nothing to tell (pruned, or not trained on samples here)")

    class Meta:
        model = ModelVersion
        fields = ["id", "versionNo", "versionId", "triggeredBy", "paramHash", "params", "sampleCount", "traitKeys",
                  "metrics", "qualityWarnings", "comparison", "held", "rejected", "heldReason", "heldBreaches",
                  "reviewRequestId", "predictors", "inputSchema", "inputSchemaSource", "tags", "active", "pruned",
                  "runId", "artifactSha256", "artifactSize", "createdAt", "notes"]
        read_only_fields = fields

    def _input_schema(self, obj) -> selectors.InputSchema:
        cache = self.context.setdefault("input_schemas", {})
        if obj.pk not in cache:
            cache[obj.pk] = selectors.version_input_schema(obj)
        return cache[obj.pk]

    @extend_schema_field(InputFeatureSerializer(many=True))
    def get_inputSchema(self, obj) -> list[dict]:
        return self._input_schema(obj).features

    @extend_schema_field(serializers.ChoiceField(choices=["training", "artifact", "unknown"]))
    def get_inputSchemaSource(self, obj) -> str:
        return self._input_schema(obj).source

    def get_tags(self, obj) -> list[str]:
        return [t.name for t in obj.tags.all()]

    def get_active(self, obj) -> bool:
        return obj.model.active_version_id == obj.pk

    def get_pruned(self, obj) -> bool:
        return obj.pruned_at is not None

    def get_held(self, obj) -> bool:
        return obj.hold == VersionHold.HELD

    def get_rejected(self, obj) -> bool:
        return obj.hold == VersionHold.REJECTED


class TraitSerializer(serializers.ModelSerializer):
    positiveLabel = serializers.CharField(source="positive_label")
    negativeLabel = serializers.CharField(source="negative_label")
    sampleCount = serializers.IntegerField(source="sample_count", default=0)
    positiveSamples = serializers.IntegerField(source="positive_samples", default=0)
    negativeSamples = serializers.IntegerField(source="negative_samples", default=0)
    anchorSampleIds = serializers.JSONField(source="anchor_sample_ids")
    source = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")

    class Meta:
        model = Trait
        fields = ["key", "name", "description", "kind", "direction", "source", "positiveLabel", "negativeLabel",
                  "sampleCount",
                  "positiveSamples", "negativeSamples", "anchorSampleIds", "createdAt"]
        read_only_fields = fields

    def get_source(self, obj) -> str:
        return obj.definition.get("source", "analyst")


class SampleSerializer(serializers.ModelSerializer):
    requestId = serializers.CharField(source="request_id")
    createdAt = serializers.DateTimeField(source="created_at")

    class Meta:
        model = Sample
        fields = ["id", "features", "content", "labels", "weight", "source", "requestId", "createdAt"]
        read_only_fields = fields


class RunSerializer(serializers.ModelSerializer):
    params = ParamsField(read_only=True)
    modelKey = serializers.CharField(source="model.key")
    startedBy = serializers.SerializerMethodField()
    queuedAt = serializers.DateTimeField(source="queued_at")
    startedAt = serializers.DateTimeField(source="started_at", allow_null=True)
    heartbeatAt = serializers.DateTimeField(source="heartbeat_at", allow_null=True)
    finishedAt = serializers.DateTimeField(source="finished_at", allow_null=True)
    durationSeconds = serializers.FloatField(source="duration_seconds", allow_null=True)

    class Meta:
        model = TrainingRun
        fields = ["id", "modelKey", "kind", "status", "effort", "params", "progress", "message", "error", "result",
                  "trigger", "startedBy", "queuedAt", "startedAt", "heartbeatAt", "finishedAt", "durationSeconds"]
        read_only_fields = fields

    def get_startedBy(self, obj) -> str | None:
        return obj.started_by.get_username() if obj.started_by else None


class EventSerializer(serializers.ModelSerializer):
    modelKey = serializers.CharField(source="model_key")
    actor = serializers.CharField(source="actor_name")
    fromValue = serializers.CharField(source="from_value")
    toValue = serializers.CharField(source="to_value")
    createdAt = serializers.DateTimeField(source="created_at")
    requestId = serializers.CharField(source="request_id")

    class Meta:
        model = ModelEvent
        fields = ["id", "modelKey", "family", "actor", "action", "fromValue", "toValue", "message", "data",
                  "requestId", "createdAt"]
        read_only_fields = fields


# ---------------------------------------------------------------------------------------------- write


class TraitInputSerializer(StrictSerializer):
    name = serializers.CharField(max_length=255, required=False)
    key = serializers.RegexField(r"^[a-z0-9_]{1,64}$", max_length=64, required=False,
                                 help_text="lowercase letters, digits and underscores (derived from name when omitted)")
    description = serializers.CharField(required=False, allow_blank=True)
    positiveLabel = serializers.CharField(max_length=100, required=False)
    negativeLabel = serializers.CharField(max_length=100, required=False)
    direction = serializers.ChoiceField(choices=["higher_is_good", "higher_is_bad"], required=False,
                                        help_text="higher_is_good: a propensity; higher_is_bad: a risk (tier names "
                                                  "on the pages follow it)")

    def validate(self, attrs):
        if not attrs.get("name") and not attrs.get("key"):
            raise serializers.ValidationError("Give a name (the key is derived from it) or a key")
        return attrs


class TraitBatchSerializer(StrictSerializer):
    traits = TraitInputSerializer(many=True, allow_empty=False)


class VersionSummarySerializer(serializers.Serializer):
    versionNo = serializers.IntegerField(source="version_no")
    versionId = serializers.SerializerMethodField()
    triggeredBy = serializers.CharField(source="triggered_by")
    sampleCount = serializers.IntegerField(source="sample_count")
    createdAt = serializers.DateTimeField(source="created_at")
    active = serializers.BooleanField()
    held = serializers.SerializerMethodField()
    pruned = serializers.SerializerMethodField()

    def get_versionId(self, obj) -> str:
        return f"v{obj['version_no']}"

    def get_held(self, obj) -> bool:
        return obj["hold"] == VersionHold.HELD

    def get_pruned(self, obj) -> bool:
        return obj["pruned_at"] is not None


class AlgorithmModelDetailSerializer(AlgorithmModelSerializer):
    """One model as GET /algorithm-models/{id} answers it: with its versions, newest first (seed 001)."""

    versions = serializers.SerializerMethodField()

    class Meta(AlgorithmModelSerializer.Meta):
        fields = [*AlgorithmModelSerializer.Meta.fields, "versions"]
        read_only_fields = fields

    @extend_schema_field(VersionSummarySerializer(many=True))
    def get_versions(self, obj) -> list[dict]:
        rows = (ModelVersion.objects.filter(model=obj).order_by("-version_no")
                .values("version_no", "triggered_by", "sample_count", "created_at", "hold", "pruned_at", "pk"))
        return VersionSummarySerializer([{**r, "active": r["pk"] == obj.active_version_id} for r in rows],
                                        many=True).data


class ModelCreateSerializer(StrictSerializer):
    key = KeyField(max_length=MODEL_KEY_MAX_LENGTH, numeric_ok=False)
    name = serializers.CharField(max_length=255)
    modelType = serializers.ChoiceField(choices=ModelType.values)
    description = serializers.CharField(required=False, allow_blank=True, default="")
    config = serializers.JSONField(required=False)
    targetField = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)
    targetSchemaKey = serializers.CharField(required=False, allow_blank=True, default="", max_length=255)
    learningConfig = serializers.JSONField(required=False)
    traits = TraitInputSerializer(many=True, required=False)
    status = serializers.ChoiceField(choices=OperationalStatus.choices, required=False,
                                     help_text="Operational status (applied by the registry's rules)")
    autoLearn = serializers.BooleanField(required=False)
    learnMode = serializers.ChoiceField(choices=LearnMode.choices, required=False)
    learnSchedule = serializers.CharField(required=False, allow_null=True, max_length=16,
                                          help_text='e.g. "6h", "24h", "7d"')
    outcomeWeights = serializers.DictField(child=serializers.FloatField(), required=False, allow_null=True,
                                           help_text="outcome key -> signed weight; null: +1 positive, -1 negative")
    zeroDataRetention = serializers.BooleanField(
        required=False, help_text="true: samples are purged after each successful train (turning it on purges the "
                                  "existing ones), nothing retrains by itself, score feedback is refused with "
                                  "feature_unavailable")


class ModelUpdateSerializer(StrictSerializer):
    name = serializers.CharField(max_length=255, required=False)
    description = serializers.CharField(required=False, allow_blank=True)
    config = serializers.JSONField(required=False)
    targetField = serializers.CharField(required=False, allow_blank=True, max_length=255)
    targetSchemaKey = serializers.CharField(required=False, allow_blank=True, max_length=255)
    learningConfig = serializers.JSONField(required=False)
    status = serializers.ChoiceField(choices=OperationalStatus.choices, required=False,
                                     help_text="Operational status (applied by the registry's rules)")
    autoLearn = serializers.BooleanField(required=False)
    learnMode = serializers.ChoiceField(choices=LearnMode.choices, required=False)
    learnSchedule = serializers.CharField(required=False, allow_null=True, max_length=16,
                                          help_text='e.g. "6h", "24h", "7d"')
    outcomeWeights = serializers.DictField(child=serializers.FloatField(), required=False, allow_null=True,
                                           help_text="outcome key -> signed weight; null: +1 positive, -1 negative")
    zeroDataRetention = serializers.BooleanField(
        required=False, help_text="true: samples are purged after each successful train (turning it on purges the "
                                  "existing ones), nothing retrains by itself, score feedback is refused with "
                                  "feature_unavailable")

    FIELD_MAP = {"name": "name", "description": "description", "config": "config", "targetField": "target_field",
                 "targetSchemaKey": "target_schema_key", "learningConfig": "learning_config"}

    def changes(self) -> dict:
        return {self.FIELD_MAP[k]: v for k, v in self.validated_data.items() if k in self.FIELD_MAP}


class SampleBatchSerializer(StrictSerializer):
    samples = serializers.ListField(child=serializers.JSONField(), allow_empty=False)


class SampleBatchResultSerializer(serializers.Serializer):
    ids = serializers.ListField(child=serializers.IntegerField())
    count = serializers.IntegerField()
    unknownLabelKeys = serializers.ListField(child=serializers.CharField())
    requestId = serializers.CharField(allow_null=True, help_text="names these samples for samples/delete")


class UploadFeatureSerializer(serializers.Serializer):
    name = serializers.CharField()
    kind = serializers.CharField(help_text='number, text, yes/no, empty, or "mixed: ..."')
    filled = serializers.IntegerField(help_text="rows with a value")


class UploadTraitSerializer(serializers.Serializer):
    key = serializers.CharField()
    name = serializers.CharField()
    positive = serializers.IntegerField(help_text="positive labels in the file (quality from 0.5 up)")
    negative = serializers.IntegerField()
    positiveAfter = serializers.IntegerField(help_text="the model's positive samples once the file is stored")
    negativeAfter = serializers.IntegerField()


class UploadLabelKeySerializer(serializers.Serializer):
    key = serializers.CharField()
    rows = serializers.IntegerField()


class UploadRefusedSerializer(serializers.Serializer):
    line = serializers.IntegerField()
    reason = serializers.CharField()


class UploadSummarySerializer(serializers.Serializer):
    format = serializers.ChoiceField(choices=["csv", "jsonl"])
    delimiter = serializers.CharField(allow_null=True, help_text="comma, semicolon or tab (CSV)")
    rows = serializers.IntegerField(help_text="samples the file stores")
    features = UploadFeatureSerializer(many=True, help_text="the columns read as features")
    textRows = serializers.IntegerField(help_text="rows with text content")
    traits = UploadTraitSerializer(many=True)
    unknownLabelKeys = UploadLabelKeySerializer(many=True, help_text="label keys that match no trait: discovery "
                                                                     "can turn these into traits")
    rowsWithoutLabels = serializers.IntegerField(help_text="used by discovery, not by training")
    refused = UploadRefusedSerializer(many=True, help_text="the first 50 refused lines")
    refusedCount = serializers.IntegerField()
    warnings = serializers.ListField(child=serializers.CharField(), help_text="what to look at, in sentences")


class SampleUploadResultSerializer(serializers.Serializer):
    stored = serializers.BooleanField(help_text="false on a dry run (200)")
    ids = serializers.ListField(child=serializers.IntegerField())
    count = serializers.IntegerField(help_text="samples stored")
    unknownLabelKeys = serializers.ListField(child=serializers.CharField())
    requestId = serializers.CharField(allow_null=True, help_text="names this upload's samples for samples/delete")
    summary = UploadSummarySerializer()


class SampleDeleteFilterSerializer(StrictSerializer):
    source = serializers.ChoiceField(choices=SampleSource.values, required=False)
    trait = serializers.CharField(required=False, max_length=100, help_text="a trait key: samples labelled for it")
    label = serializers.ChoiceField(choices=["positive", "negative"], required=False,
                                    help_text="with trait: that side of 0.5")
    search = serializers.CharField(required=False, max_length=200, help_text="words in the text content")


class SampleDeleteSerializer(StrictSerializer):
    ids = serializers.ListField(child=serializers.IntegerField(min_value=1), required=False, allow_empty=False,
                                max_length=services.MAX_REMOVE_IDS)
    requestId = serializers.CharField(required=False, max_length=64,
                                      help_text="the requestId of the upload or POST samples that added them")
    filter = SampleDeleteFilterSerializer(required=False)

    def validate(self, attrs):
        if len(attrs) != 1:
            raise serializers.ValidationError("Give exactly one of ids, requestId or filter")
        return attrs


class SampleDeleteResultSerializer(serializers.Serializer):
    removed = serializers.IntegerField()
    remaining = serializers.IntegerField(help_text="the model's samples after the removal")


class TrainInputSerializer(StrictSerializer):
    effort = serializers.ChoiceField(choices=Effort.values, default=Effort.HIGH)
    reoptimizeParams = serializers.BooleanField(default=False)
    params = serializers.JSONField(required=False, default=dict)


class DiscoverInputSerializer(StrictSerializer):
    effort = serializers.ChoiceField(choices=[*Effort.values, "xhigh"], default=Effort.HIGH)


class RunAcceptedSerializer(serializers.Serializer):
    state = serializers.CharField()
    runId = serializers.IntegerField()
    run = RunSerializer()


class ActivateInputSerializer(StrictSerializer):
    version = serializers.CharField(required=False)
    tag = serializers.CharField(required=False)
    reason = serializers.CharField(required=False, allow_blank=True, default="")

    def validate(self, attrs):
        if bool(attrs.get("version")) == bool(attrs.get("tag")):
            raise serializers.ValidationError("Give exactly one of version (\"vN\") or tag")
        return attrs


class ActivatedSerializer(serializers.Serializer):
    key = serializers.CharField()
    versionNo = serializers.IntegerField()
    versionId = serializers.CharField()
    pinned = serializers.BooleanField()
    applied = serializers.BooleanField(help_text="false (202) when the family's version policy sent it to a reviewer")
    requestId = serializers.IntegerField(allow_null=True, help_text="the review request that decides (202)")
    message = serializers.CharField()


class VersionDetailSerializer(VersionSerializer):
    evaluation = serializers.JSONField(
        help_text="per trait, from the evaluation rows: roc and pr points ({x, y, threshold} at every whole score), "
                  "calibration ({x: mean predicted, y: observed rate, count} per tenth), distribution (score "
                  "histogram of positives and negatives) and confusion ({tier, threshold, tp, fp, fn, tn, precision, "
                  "recall} at each tier break); empty for versions trained before it was recorded")

    class Meta(VersionSerializer.Meta):
        fields = [*VersionSerializer.Meta.fields, "evaluation"]
        read_only_fields = fields


class VersionNotesInputSerializer(StrictSerializer):
    notes = serializers.CharField(allow_blank=True, trim_whitespace=False,
                                  help_text="what changed, why the version exists (at most 5,000 characters)")


class TagInputSerializer(StrictSerializer):
    name = KeyField(what="tag", help_text="a key that starts with a letter, e.g. \"baseline\" or \"v1\"")


class ArchiveInputSerializer(StrictSerializer):
    reason = serializers.CharField(required=False, allow_blank=True, default="")

from rest_framework import serializers
from rest_framework.validators import UniqueValidator

from lifecycle.api.serializers import AlgorithmModelSerializer, StrictSerializer
from lifecycle.core.keys import MODEL_KEY_MAX_LENGTH, KeyField

from ..models import Category, Channel, DecisionFlow, DecisionTrace, Offer, OutcomeType


class _ParsedJSONField(serializers.JSONField):
    """An item of a JSON body (the score view parses only JSON and plain text): already JSON, so not dumped again
    to check it, which cost 0.14 s of a 10,000-input call. services.score checks each input's shape."""

    def to_internal_value(self, data):
        return data


class ScoreInputSerializer(StrictSerializer):
    features = serializers.DictField(required=False)
    content = serializers.CharField(required=False, allow_blank=True, trim_whitespace=False)
    inputs = serializers.ListField(child=_ParsedJSONField(), required=False, allow_empty=False)
    traits = serializers.ListField(child=serializers.CharField(), required=False, allow_empty=False)
    feedback = serializers.DictField(required=False)
    strict = serializers.BooleanField(required=False, help_text=(
        "refuse (400 input_outside_schema) unknown or missing features and categories never seen in training, "
        "instead of scoring them and listing them in metadata"))

    def validate(self, attrs):
        single = "features" in attrs or "content" in attrs
        if single == ("inputs" in attrs):
            raise serializers.ValidationError("Give one input (features and/or content) or inputs, not both")
        return attrs


class TraitDetailSerializer(serializers.Serializer):
    label = serializers.CharField(allow_null=True)
    breaks = serializers.DictField(allow_null=True)
    band = serializers.ListField(child=serializers.IntegerField(), allow_null=True)
    native = serializers.FloatField()
    headroom = serializers.IntegerField(allow_null=True)
    confidence = serializers.CharField()
    missingImportance = serializers.FloatField(required=False, help_text=(
        "share of the trait's importance in training carried by the input's missing features"))
    confidenceReason = serializers.CharField(required=False, help_text="why confidence was lowered")


class UnseenCategorySerializer(serializers.Serializer):
    feature = serializers.CharField()
    value = serializers.CharField()


class ScoreMetadataSerializer(serializers.Serializer):
    requestId = serializers.CharField()
    versionId = serializers.CharField()
    sampleIds = serializers.ListField(child=serializers.IntegerField())
    inputsChecked = serializers.BooleanField(help_text="false when the version's inputs are unknown (an external "
                                                       "endpoint): the lists below are then empty")
    unknownFeatures = serializers.ListField(child=serializers.CharField(),
                                            help_text="names the model does not read (scored without them)")
    missingFeatures = serializers.ListField(child=serializers.CharField(),
                                            help_text="features the model reads that the input lacked (scored with "
                                                      "the values imputed in training)")
    unseenCategories = UnseenCategorySerializer(many=True, help_text="categories never seen in training (scored "
                                                                     "as 'other')")


class ScoreCardSerializer(serializers.Serializer):
    scores = serializers.DictField(child=serializers.IntegerField())
    composite = serializers.IntegerField()
    confidence = serializers.CharField()
    confidenceReason = serializers.CharField(required=False, help_text="why confidence was lowered")
    headroom = serializers.IntegerField(allow_null=True)
    detail = serializers.DictField(child=TraitDetailSerializer())
    metadata = ScoreMetadataSerializer()


class FeedbackInputSerializer(StrictSerializer):
    feedback = serializers.DictField()
    index = serializers.IntegerField(default=0, min_value=0, max_value=1_000_000)


class FeedbackResultSerializer(serializers.Serializer):
    requestId = serializers.CharField()
    sampleIds = serializers.ListField(child=serializers.IntegerField())


class RecommendInputSerializer(StrictSerializer):
    customerId = serializers.CharField(max_length=255)
    channel = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    placement = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    limit = serializers.IntegerField(required=False, default=5, min_value=1, max_value=50)
    attributes = serializers.DictField(required=False, default=dict)
    decisionFlowKey = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    family = serializers.CharField(required=False, allow_blank=True, default="", max_length=255,
                                   help_text="whose champion decides when no flow says so")


class RecommendedOfferSerializer(serializers.Serializer):
    rank = serializers.IntegerField()
    offerId = serializers.CharField()
    offerName = serializers.CharField()
    category = serializers.CharField(allow_null=True)
    propensity = serializers.FloatField()
    propensitySource = serializers.CharField()
    modelKey = serializers.CharField()
    versionNo = serializers.IntegerField()


class RecommendationSerializer(serializers.Serializer):
    recommendationId = serializers.CharField()
    interactionId = serializers.CharField()
    customerId = serializers.CharField()
    channel = serializers.CharField()
    placement = serializers.CharField()
    decisionFlowKey = serializers.CharField()
    experiment = serializers.DictField(allow_null=True)
    offers = RecommendedOfferSerializer(many=True)
    createdAt = serializers.DateTimeField()


def recommendation_payload(rec) -> dict:
    return {
        "recommendationId": rec.recommendation_id, "interactionId": rec.recommendation_id,
        "customerId": rec.customer_id, "channel": rec.channel, "placement": rec.placement,
        "decisionFlowKey": rec.decision_flow_key,
        "experiment": {"experimentKey": rec.experiment_key, "arm": rec.arm} if rec.experiment_key else None,
        "offers": rec.offers, "createdAt": rec.created_at.isoformat(),
    }


class RespondInputSerializer(StrictSerializer):
    customerId = serializers.CharField(max_length=255)
    outcome = serializers.CharField(required=False, max_length=64)
    interactionType = serializers.CharField(required=False, max_length=64, help_text="alias of outcome")
    recommendationId = serializers.CharField(required=False, allow_blank=True, default="", max_length=40)
    rank = serializers.IntegerField(required=False, min_value=1, max_value=50)
    offerId = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    creativeId = serializers.CharField(required=False, allow_blank=True, max_length=255)
    channelId = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    direction = serializers.ChoiceField(choices=["inbound", "outbound"], required=False)
    family = serializers.CharField(required=False, allow_blank=True, default="", max_length=255,
                                   help_text="without recommendationId: whose champion learns (else the flow's, or the "
                                             "only family with a champion)")
    decisionFlowKey = serializers.CharField(required=False, allow_blank=True, default="", max_length=100,
                                            help_text="without recommendationId: the flow whose model learns")
    context = serializers.DictField(required=False)
    timestamp = serializers.DateTimeField(required=False)
    conversionValue = serializers.FloatField(required=False)
    idempotencyKey = serializers.CharField(required=False, max_length=255)

    def validate(self, attrs):
        if not attrs.get("outcome") and not attrs.get("interactionType"):
            raise serializers.ValidationError({"outcome": ["This field is required."]})
        return attrs


class RespondResultSerializer(serializers.Serializer):
    interactionId = serializers.IntegerField()
    recommendationId = serializers.CharField(allow_null=True)
    customerId = serializers.CharField()
    offerId = serializers.CharField(allow_null=True)
    rank = serializers.IntegerField(allow_null=True)
    outcome = serializers.CharField()
    classification = serializers.CharField()
    weight = serializers.FloatField()
    warning = serializers.CharField(allow_null=True)
    modelKey = serializers.CharField(allow_null=True)
    learned = serializers.BooleanField()
    status = serializers.CharField()
    timestamp = serializers.CharField()


class TraceSerializer(serializers.ModelSerializer):
    requestId = serializers.CharField(source="recommendation.recommendation_id")
    customerId = serializers.CharField(source="customer_id")
    decisionFlowKey = serializers.CharField(source="decision_flow_key")
    pipeline = serializers.SerializerMethodField()
    result = serializers.SerializerMethodField()
    scoringResults = serializers.JSONField(source="scoring_results")
    selectedOffers = serializers.JSONField(source="selected_offers")
    experimentAssignment = serializers.JSONField(source="experiment_assignment")
    totalDurationMs = serializers.FloatField(source="total_duration_ms")
    createdAt = serializers.DateTimeField(source="created_at")

    class Meta:
        model = DecisionTrace
        fields = ["id", "requestId", "customerId", "decisionFlowKey", "pipeline", "result", "funnel",
                  "scoringResults", "selectedOffers", "experimentAssignment", "totalDurationMs", "createdAt"]

    def get_pipeline(self, obj) -> list[dict]:
        f = obj.funnel
        return [{"stage": "candidates", "candidates": f.get("candidateCount"), "passed": f.get("candidateCount")},
                {"stage": "qualification", "candidates": f.get("candidateCount"), "passed": f.get("afterQualification")},
                {"stage": "ranking", "candidates": f.get("afterQualification"), "passed": f.get("finalCount")}]

    def get_result(self, obj) -> dict:
        return {"offers": obj.recommendation.offers}



class TraceBriefSerializer(TraceSerializer):
    """A trace in a list: everything but the per-candidate scoring results."""

    class Meta(TraceSerializer.Meta):
        fields = [f for f in TraceSerializer.Meta.fields if f != "scoringResults"]


class AdaptationSerializer(serializers.Serializer):
    scope = serializers.CharField()
    scopeId = serializers.CharField()
    evidence = serializers.IntegerField()
    positives = serializers.FloatField()
    negatives = serializers.FloatField()
    rate = serializers.FloatField(allow_null=True)
    threshold = serializers.IntegerField()
    trusted = serializers.BooleanField()
    totalReward = serializers.FloatField()
    updatedAt = serializers.CharField()


# ------------------------------------------------------------------------------------------- catalog


class StrictModelSerializer(serializers.ModelSerializer):
    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - {n for n, f in self.fields.items() if not f.read_only})
            if unknown:
                raise serializers.ValidationError({n: ["Unknown or read-only field"] for n in unknown})
        return super().to_internal_value(data)


def _catalog_key(model_cls) -> KeyField:
    unique = UniqueValidator(queryset=model_cls.objects.all(),
                             message=f"A {model_cls._meta.verbose_name} with this key exists already")
    return KeyField(validators=[unique])


class CategorySerializer(StrictModelSerializer):
    key = _catalog_key(Category)

    class Meta:
        model = Category
        fields = ["id", "key", "name"]


class ChannelSerializer(StrictModelSerializer):
    key = _catalog_key(Channel)

    class Meta:
        model = Channel
        fields = ["id", "key", "name", "direction"]


class OfferSerializer(StrictModelSerializer):
    key = _catalog_key(Offer)
    category = serializers.SlugRelatedField(slug_field="key", queryset=Category.objects.all(), allow_null=True,
                                            required=False)
    channels = serializers.SlugRelatedField(slug_field="key", queryset=Channel.objects.all(), many=True,
                                            required=False)
    attributes = serializers.DictField(required=False)

    class Meta:
        model = Offer
        fields = ["id", "key", "name", "category", "channels", "attributes", "active"]


class OutcomeTypeSerializer(StrictModelSerializer):
    key = _catalog_key(OutcomeType)
    isSystem = serializers.BooleanField(source="is_system", read_only=True)

    class Meta:
        model = OutcomeType
        fields = ["id", "key", "name", "description", "classification", "category", "isSystem", "ordinal", "status",
                  "version"]
        read_only_fields = ["version"]


class DecisionFlowSerializer(StrictModelSerializer):
    key = _catalog_key(DecisionFlow)
    offers = serializers.SlugRelatedField(slug_field="key", queryset=Offer.objects.all(), many=True, required=False)
    family = KeyField(what="family", required=False, allow_blank=True)
    modelKey = serializers.CharField(source="model_key", required=False, allow_blank=True,
                                     max_length=MODEL_KEY_MAX_LENGTH)
    experimentKey = serializers.CharField(source="experiment_key", required=False, allow_blank=True, max_length=255)

    class Meta:
        model = DecisionFlow
        fields = ["id", "key", "name", "offers", "family", "modelKey", "experimentKey"]


class ResetLearningResultSerializer(serializers.Serializer):
    model = AlgorithmModelSerializer()
    keptVersionId = serializers.CharField(help_text="the version that keeps the learned state from before the reset")

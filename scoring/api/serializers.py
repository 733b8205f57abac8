import re

from drf_spectacular.utils import PolymorphicProxySerializer, extend_schema_field
from rest_framework import serializers
from rest_framework.validators import UniqueValidator

from lifecycle.api.serializers import AlgorithmModelSerializer, ErrorBodySerializer, StrictSerializer
from lifecycle.core.keys import MODEL_KEY_MAX_LENGTH, KeyField
from lifecycle.core.timestamps import iso

from ..models import (Category, Channel, ContactPolicy, Creative, DecisionFlow, DecisionTrace, Offer, OutcomeType,
                      SuppressionRule)
from ..services import policies


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


_SURROGATE = re.compile("[\ud800-\udfff]")
_SINGLE_FIELDS = frozenset(("features", "content"))


def score_input(data) -> dict:
    """A score body, validated. The common bodies, which ScoreInputSerializer would return as they are (an object
    of features and/or content, or a list of input objects), are taken as they are: building the serializer's
    fields cost a third of a single-row score's view. Every other body goes through the serializer."""
    if type(data) is dict and data:
        keys = data.keys()
        if keys == {"inputs"}:
            items = data["inputs"]
            if type(items) is list and items and all(type(i) is dict for i in items):
                return data
        elif keys <= _SINGLE_FIELDS:
            features, content = data.get("features", {}), data.get("content", "")
            if (type(features) is dict and type(content) is str and "\x00" not in content
                    and not _SURROGATE.search(content)):
                return data
    serializer = ScoreInputSerializer(data=data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


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


class ScoreRefusedSerializer(serializers.Serializer):
    """One input of a batch that was refused: its error in place of the card (the others were scored)."""

    error = ErrorBodySerializer()
    metadata = ScoreMetadataSerializer()


@extend_schema_field(PolymorphicProxySerializer(component_name="ScoreResult", resource_type_field_name=None,
                                                serializers=[ScoreCardSerializer, ScoreRefusedSerializer]))
class ScoreResultField(serializers.JSONField):
    pass


class ScoreBatchMetadataSerializer(serializers.Serializer):
    requestId = serializers.CharField()
    versionId = serializers.CharField()
    count = serializers.IntegerField()
    refused = serializers.IntegerField(help_text="results that carry an error instead of a card")


class ScoreBatchSerializer(serializers.Serializer):
    results = serializers.ListField(child=ScoreResultField(), help_text="one per input, in order")
    metadata = ScoreBatchMetadataSerializer()


# The answer to POST score: one card for one input, {results, metadata} for `inputs`.
SCORE_ANSWER = PolymorphicProxySerializer(component_name="ScoreAnswer", resource_type_field_name=None,
                                          serializers=[ScoreCardSerializer, ScoreBatchSerializer])


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
        "offers": rec.offers, "createdAt": iso(rec.created_at),
    }


class RespondInputSerializer(StrictSerializer):
    customerId = serializers.CharField(max_length=255)
    outcome = serializers.CharField(required=False, max_length=64)
    interactionType = serializers.CharField(required=False, max_length=64, help_text="alias of outcome")
    recommendationId = serializers.CharField(required=False, allow_blank=True, default="", max_length=40)
    rank = serializers.IntegerField(required=False, min_value=1, max_value=50)
    offerId = serializers.CharField(required=False, allow_blank=True, default="", max_length=100)
    creativeId = serializers.CharField(required=False, allow_blank=True, max_length=255, help_text=(
        "a catalog creative: stands for its offer (400 when unknown or when it contradicts offerId or the rank)"))
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
    scoringResults = serializers.JSONField(source="candidate_results")
    selectedOffers = serializers.JSONField(source="selected_offers")
    experimentAssignment = serializers.JSONField(source="experiment_assignment")
    totalDurationMs = serializers.FloatField(source="total_duration_ms")
    createdAt = serializers.DateTimeField(source="created_at")

    class Meta:
        model = DecisionTrace
        fields = ["id", "requestId", "customerId", "decisionFlowKey", "pipeline", "result", "funnel",
                  "suppressionResults", "contactPolicyResults", "scoringResults", "selectedOffers",
                  "experimentAssignment", "totalDurationMs", "createdAt"]

    suppressionResults = serializers.JSONField(source="suppression_results")
    contactPolicyResults = serializers.JSONField(source="contact_policy_results")

    def get_pipeline(self, obj) -> list[dict]:
        if obj.pipeline:
            return obj.pipeline
        f = obj.funnel  # a trace from before stages were timed
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
    tracksImpressions = serializers.BooleanField(
        source="tracks_impressions", required=False,
        help_text="the channel reports what it showed (/respond with an outcome of the impression category); "
                  "/recommend then writes no impression rows for it")

    class Meta:
        model = Channel
        fields = ["id", "key", "name", "direction", "tracksImpressions"]


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


def _policy_errors(problems: dict[str, str], names: dict[str, str]):
    if problems:
        raise serializers.ValidationError({names.get(k, k): [v] for k, v in problems.items()})


class SuppressionRuleSerializer(StrictModelSerializer):
    key = _catalog_key(SuppressionRule)
    offer = serializers.SlugRelatedField(slug_field="key", queryset=Offer.objects.all(), allow_null=True,
                                         required=False)
    category = serializers.SlugRelatedField(slug_field="key", queryset=Category.objects.all(), allow_null=True,
                                            required=False)
    outcomes = serializers.ListField(child=serializers.CharField(max_length=64), required=False,
                                     default=list(policies.DEFAULT_SUPPRESSION_OUTCOMES),
                                     help_text="after one of these outcomes on the offer (or the category) the "
                                               "customer does not see it for `days` days")
    days = serializers.IntegerField(required=False, default=30, min_value=1, max_value=100_000)
    maxImpressions = serializers.IntegerField(source="max_impressions", required=False, allow_null=True, min_value=1,
                                              max_value=1_000_000,
                                              help_text="also suppressed once shown this often within `days` days")

    class Meta:
        model = SuppressionRule
        fields = ["id", "key", "name", "offer", "category", "outcomes", "days", "maxImpressions", "active"]

    def validate(self, attrs):
        merged = {f: attrs.get(f, getattr(self.instance, f, None)) for f in
                  ("offer", "category", "outcomes", "days", "max_impressions")}
        _policy_errors(policies.rule_problems(**merged), {"max_impressions": "maxImpressions"})
        return attrs


class ContactPolicySerializer(StrictModelSerializer):
    key = _catalog_key(ContactPolicy)
    channel = serializers.SlugRelatedField(slug_field="key", queryset=Channel.objects.all(), allow_null=True,
                                           required=False, help_text="null: impressions on every channel count")
    maxImpressions = serializers.IntegerField(source="max_impressions", min_value=0, max_value=1000)
    windowHours = serializers.IntegerField(source="window_hours", required=False, default=24, min_value=1,
                                           max_value=1_000_000)

    class Meta:
        model = ContactPolicy
        fields = ["id", "key", "name", "channel", "maxImpressions", "windowHours", "active"]

    def validate(self, attrs):
        hours = attrs.get("window_hours", getattr(self.instance, "window_hours", None))
        _policy_errors(policies.rule_problems(window_hours=hours, max_impressions=attrs.get("max_impressions"),
                                              policy=True),
                       {"window_hours": "windowHours", "max_impressions": "maxImpressions"})
        return attrs


class CreativeSerializer(StrictModelSerializer):
    key = _catalog_key(Creative)
    offer = serializers.SlugRelatedField(slug_field="key", queryset=Offer.objects.all())
    channel = serializers.SlugRelatedField(slug_field="key", queryset=Channel.objects.all(), allow_null=True,
                                           required=False)

    class Meta:
        model = Creative
        fields = ["id", "key", "name", "offer", "channel"]


class ResetLearningResultSerializer(serializers.Serializer):
    model = AlgorithmModelSerializer()
    keptVersionId = serializers.CharField(help_text="the version that keeps the learned state from before the reset")

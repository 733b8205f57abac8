"""Score, feedback, recommend, respond, traces, adaptations and the catalog over the API."""

from __future__ import annotations

from django.db import transaction
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status, viewsets
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import APIView

from lifecycle.core import collector, inputs
from lifecycle import selectors as lifecycle_selectors
from lifecycle.core.api.parsers import StrictJSONParser, odd_input_error
from lifecycle.api.serializers import AlgorithmModelSerializer, ErrorSerializer
from lifecycle.core.api.filters import FilterBackend
from lifecycle.core.api.pagination import KeysetLimitOffsetPagination
from lifecycle.api.views import MODEL_ID, errors
from lifecycle.core.errors import ApplicationError, not_found
from lifecycle.core.keys import parse_id

from .. import selectors, services
from ..filters import TraceFilter
from ..models import (Category, Channel, ContactPolicy, Creative, DecisionFlow, DecisionTrace, Offer, OutcomeType,
                      SuppressionRule)
from . import serializers as s


class PlainTextParser(StrictJSONParser):
    """A raw text/plain body is one input's content (seed 000)."""

    media_type = "text/plain"

    def parse(self, stream, media_type=None, parser_context=None):
        content = stream.read().decode("utf-8", errors="replace")
        problem = inputs.text_problem(content)
        if problem:
            raise odd_input_error(inputs.OddInput("content", problem))
        return {"content": content}


def _metadata(result, index: int) -> dict:
    check = result.checks[index] if result.checks else None
    return {"requestId": result.request_id, "versionId": result.version.label, "sampleIds": result.sample_ids[index],
            "inputsChecked": result.inputs_checked,
            **(check.metadata() if check else {"unknownFeatures": [], "missingFeatures": [], "unseenCategories": []})}


def _card(result, index: int) -> dict:
    card = result.cards[index]
    if card is None:  # refused in a batch: the others were scored
        return {**result.checks[index].error.as_dict(), "metadata": _metadata(result, index)}
    return {**card, "metadata": _metadata(result, index)}


def _batch_metadata(result) -> dict:
    return {"requestId": result.request_id, "versionId": result.version.label, "count": len(result.cards),
            "refused": result.cards.refused}


def _batch_answer(result) -> HttpResponse:
    """{results, metadata} as JSON text. A scored input with nothing to report (no missing, unknown or unseen
    feature, no feedback) is written from the card columns with the metadata they share; any other goes through
    the renderer. The text is what rendering the dicts writes: a 10,000-input answer is most of a call's time."""
    renderer = JSONRenderer()
    cards, checks = result.cards, result.checks
    other = {i for i, ids in enumerate(result.sample_ids) if ids} if any(result.sample_ids) else set()
    if checks:
        other.update(i for i, check in enumerate(checks) if check.fields)
    first = next((i for i in range(len(cards)) if cards.plain(i) and i not in other), None)
    texts = [None] * len(cards) if first is None else cards.json_all(
        renderer.render(_metadata(result, first)).decode(), skip=other)
    parts = [text if text is not None else renderer.render(_card(result, i)).decode() for i, text in enumerate(texts)]
    metadata = renderer.render(_batch_metadata(result)).decode()
    body = '{"results":[' + ",".join(parts) + '],"metadata":' + metadata + "}"
    return HttpResponse(body.encode(), content_type="application/json")


def _strict(request, v) -> bool:
    if "strict" in v:
        return v["strict"]
    raw = request.query_params.get("strict")
    if raw is None:
        return False
    try:
        return serializers.BooleanField().run_validation(raw)
    except serializers.ValidationError as exc:
        raise serializers.ValidationError({"strict": exc.detail}) from None


class ScoreView(APIView):
    parser_classes = [StrictJSONParser, PlainTextParser]
    write_permission = "lifecycle.view_algorithmmodel"  # scoring is a read of the model, for every role

    @extend_schema(parameters=[MODEL_ID, OpenApiParameter("strict", bool, OpenApiParameter.QUERY, description=(
                       "as strict in the body; for a text/plain body"))],
                   request={"application/json": s.ScoreInputSerializer, "text/plain": OpenApiTypes.STR},
                   responses={200: s.SCORE_ANSWER, **errors(400, 401, 403, 404, 409)},
                   description="One input (features or content; a text/plain body is content) answers with one score "
                               "card; `inputs` (up to 10,000) answers {results: [cards], metadata}. Scores 0-100 per "
                               "trait, composite (harmonic mean), confidence, tier and headroom per trait from the "
                               "version's breaks. 409 not_scorable before the first ready or when archived.\n\n"
                               "Inputs are checked against the version's inputSchema. Names it does not read are "
                               "scored without and listed in metadata.unknownFeatures; features it reads that are "
                               "missing are scored with the values imputed in training, listed in "
                               "metadata.missingFeatures, and lower a trait's confidence by the importance they "
                               "carried (detail.confidenceReason says why); categories never seen score as 'other' "
                               "and are listed in metadata.unseenCategories. 400 no_known_features when the input "
                               "has no feature (and, for a model that reads content, no content) the model reads; "
                               "400 validation_error naming the field (details.field, e.g. features.tenure) for a "
                               "value of the wrong type. With strict true, unknown or missing features and unseen "
                               "categories are refused too (400 input_outside_schema). In a batch each result "
                               "carries its own lists, and a refused input its own error in place of the card; "
                               "with strict, one refused input refuses the call, naming it (details.field "
                               "inputs[i]...).")
    @collector.paused_for_large_bodies
    def post(self, request, pk):
        model = services.model_for_score(pk)
        v = s.score_input(request.data)
        batch = "inputs" in v
        wants_feedback = "feedback" in v or (batch and services.feedback_given(v["inputs"]))
        if wants_feedback and not request.user.has_perm("lifecycle.add_sample"):
            raise ApplicationError("Your role cannot add feedback samples; analysts can. Score without feedback.",
                                   code="forbidden", status=403)
        inputs = v["inputs"] if batch else [{k: v[k] for k in ("features", "content") if k in v}]
        result = services.score(model=model, actor=request.user, inputs=inputs, traits=v.get("traits"),
                                feedback=v.get("feedback"), strict=_strict(request, v), batch=batch)
        if not batch:
            return Response(_card(result, 0))
        if JSONRenderer().get_indent(request.accepted_media_type, {}):  # asked for indented text: the renderer
            return Response({"results": [_card(result, i) for i in range(len(result.cards))],
                             "metadata": _batch_metadata(result)})
        return _batch_answer(result)


class FeedbackView(APIView):
    write_permission = "lifecycle.add_sample"

    @extend_schema(parameters=[OpenApiParameter("request_id", str, OpenApiParameter.PATH)],
                   request=s.FeedbackInputSerializer, responses={201: s.FeedbackResultSerializer,
                                                                 **errors(400, 401, 403, 404, 409)},
                   description="Labels for content scored earlier: each becomes a sample (source feedback) for "
                               "the next retrain, also on a serving model.")
    def post(self, request, request_id):
        data = s.FeedbackInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        ids = services.feedback_by_request(request_id=request_id, actor=request.user,
                                           feedback=data.validated_data["feedback"],
                                           index=data.validated_data["index"])
        return Response({"requestId": request_id, "sampleIds": ids}, status=status.HTTP_201_CREATED)


class RecommendView(APIView):
    write_permission = "lifecycle.view_algorithmmodel"

    @extend_schema(request=s.RecommendInputSerializer, responses={200: s.RecommendationSerializer,
                                                                  **errors(400, 401, 403, 409)})
    def post(self, request):
        data = s.RecommendInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        rec = services.recommend(actor=request.user, customer_id=v["customerId"], channel=v.get("channel", ""),
                                 placement=v.get("placement", ""), limit=v["limit"], attributes=v.get("attributes"),
                                 decision_flow_key=v.get("decisionFlowKey", ""), family=v.get("family", ""))
        return Response(s.recommendation_payload(rec))


class RespondView(APIView):
    write_permission = "lifecycle.add_sample"

    @extend_schema(request=s.RespondInputSerializer,
                   parameters=[OpenApiParameter("Idempotency-Key", str, OpenApiParameter.HEADER)],
                   responses={201: s.RespondResultSerializer, 200: s.RespondResultSerializer,
                              **errors(400, 401, 403, 404),
                              422: OpenApiResponse(ErrorSerializer, description="idempotency_key_reused: the "
                                                                                "key came with another body")},
                   description="Record an outcome. An idempotency key is required (header or body) and is the "
                               "caller's own: a retried call with the same body answers 200 with the first answer "
                               "and counts once; the same key with another body answers 422 idempotency_key_reused.")
    def post(self, request):
        data = s.RespondInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        key = request.headers.get("Idempotency-Key") or v.get("idempotencyKey", "")
        answer, replayed = services.respond(
            actor=request.user, idempotency_key=key, customer_id=v["customerId"],
            outcome=v.get("outcome") or v.get("interactionType", ""), recommendation_id=v.get("recommendationId", ""),
            rank=v.get("rank"), offer_id=v.get("offerId", ""), channel=v.get("channelId", ""),
            direction=v.get("direction", ""), conversion_value=v.get("conversionValue"), timestamp=v.get("timestamp"),
            family=v.get("family", ""), decision_flow_key=v.get("decisionFlowKey", ""),
            creative_id=v.get("creativeId", ""))
        response = Response(answer, status=status.HTTP_200_OK if replayed else status.HTTP_201_CREATED)
        if replayed:
            response["Idempotent-Replayed"] = "true"
        return response


class TracePagination(KeysetLimitOffsetPagination):
    """A limit over max_limit is refused rather than cut down: a caller paging by it would skip traces. Newest
    first, as DecisionTrace orders; `cursor` (the nextCursor link) pages by keyset."""

    default_limit = 50
    max_limit = 200
    refuse_over_max = True


class DecisionTraceViewSet(viewsets.GenericViewSet):
    serializer_class = s.TraceSerializer
    queryset = DecisionTrace.objects.none()
    pagination_class = TracePagination
    filter_backends = [FilterBackend]
    filtersets = {"list": TraceFilter}

    @extend_schema(responses={200: s.TraceBriefSerializer(many=True), **errors(400, 401, 403)},
                   description="limit 50 by default, 200 at most (a larger limit is refused). Newest first. Every "
                               "answer has nextCursor: a link to the older traces by keyset (cursor, no offset), "
                               "which costs the same at any depth; limit/offset still work.")
    def list(self, request):
        page = self.paginate_queryset(self.filter_queryset(selectors.trace_list()))
        return self.get_paginated_response(s.TraceBriefSerializer(page, many=True).data)

    @extend_schema(responses={200: s.TraceSerializer, **errors(401, 403, 404)})
    def retrieve(self, request, pk=None):
        qs, trace_id = DecisionTrace.objects.select_related("recommendation"), parse_id(pk)
        trace = qs.filter(pk=trace_id).first() if trace_id is not None else \
            qs.filter(recommendation__recommendation_id=pk).first()
        if trace is None:
            raise not_found(f"No decision trace {pk!r}")
        return Response(s.TraceSerializer(trace).data)


class AdaptationsView(APIView):
    @extend_schema(parameters=[MODEL_ID], responses={200: s.AdaptationSerializer(many=True),
                                                     **errors(401, 403, 404)},
                   description="Learned state per (scope, scopeId) cell, in read order, with its evidence threshold.")
    def get(self, request, pk):
        return Response(selectors.adaptations(lifecycle_selectors.model_get(pk)))


class ResetLearningView(APIView):
    write_permission = "lifecycle.change_algorithmmodel"

    @extend_schema(parameters=[MODEL_ID], request=None,
                   responses={200: s.ResetLearningResultSerializer, **errors(400, 401, 403, 404)},
                   description="Seed 001's reset: the learned state (cells, model state, metrics, history) is kept as "
                               "a version first, then cleared, and the status set to draft. 400 for a model that "
                               "learns by training (scorecard and the other tabular types) or one on the ladder.")
    def post(self, request, pk):
        model, kept = services.model_reset_learning(model=lifecycle_selectors.model_get(pk), actor=request.user)
        return Response({"model": AlgorithmModelSerializer(lifecycle_selectors.model_get(model.pk)).data,
                         "keptVersionId": kept.label})


# ------------------------------------------------------------------------------------------- catalog


class CatalogViewSet(viewsets.ModelViewSet):
    """Catalog rows by key; every write is audited."""

    lookup_field = "key"
    lookup_value_regex = "[^/]+"

    def get_object(self):
        obj = self.get_queryset().filter(key=self.kwargs["key"]).first()
        if obj is None:
            raise not_found(f"No {self.queryset.model._meta.verbose_name} {self.kwargs['key']!r}")
        return obj

    def _audit(self, action: str, instance):
        services.catalog_record(actor=self.request.user, action=action, row=instance)

    def perform_create(self, serializer):
        with transaction.atomic():
            self._audit("created", serializer.save())

    def perform_update(self, serializer):
        with transaction.atomic():
            self._audit("updated", serializer.save())

    def perform_destroy(self, instance):
        with transaction.atomic():
            self._audit("deleted", instance)
            instance.delete()


def _catalog(model_cls, serializer_cls, perm_model: str):
    return type(f"{model_cls.__name__}ViewSet", (CatalogViewSet,), {
        "queryset": model_cls.objects.all(), "serializer_class": serializer_cls,
        "write_permission": f"scoring.change_{perm_model}",
        "write_permissions": {"create": f"scoring.add_{perm_model}", "destroy": f"scoring.delete_{perm_model}"},
    })


OfferViewSet = _catalog(Offer, s.OfferSerializer, "offer")
CategoryViewSet = _catalog(Category, s.CategorySerializer, "category")
ChannelViewSet = _catalog(Channel, s.ChannelSerializer, "channel")
OutcomeTypeViewSet = _catalog(OutcomeType, s.OutcomeTypeSerializer, "outcometype")
DecisionFlowViewSet = _catalog(DecisionFlow, s.DecisionFlowSerializer, "decisionflow")
SuppressionRuleViewSet = _catalog(SuppressionRule, s.SuppressionRuleSerializer, "suppressionrule")
ContactPolicyViewSet = _catalog(ContactPolicy, s.ContactPolicySerializer, "contactpolicy")
CreativeViewSet = _catalog(Creative, s.CreativeSerializer, "creative")

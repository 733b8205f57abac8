"""Promote, promotion requests and families over the API: validate, call one service, serialize."""

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from lifecycle import selectors as lifecycle_selectors
from lifecycle.api.serializers import AlgorithmModelSerializer
from lifecycle.api.views import MODEL_ID, errors
from drf_spectacular.types import OpenApiTypes

from lifecycle.core.api.filters import FilterBackend
from lifecycle.core.errors import not_found, validation_error
from lifecycle.core.keys import parse_id
from lifecycle.core.timestamps import iso

from .. import experiments, selectors, services
from ..filters import RequestFilter
from ..models import Experiment
from . import serializers as s


def _result(result) -> dict:
    verdict = result.verdict
    return {
        "applied": result.applied,
        "model": AlgorithmModelSerializer(lifecycle_selectors.model_get(result.model.pk)).data,
        "request": s.PromotionRequestSerializer(result.request).data if result.request else None,
        "demoted": result.demoted.key if result.demoted else None,
        "rollbackGuardBreaches": verdict.breaches if verdict else [],
        "guard": verdict.as_dict() if verdict else None,
    }


class PromoteView(APIView):
    write_permission = "registry.promote_model"

    @extend_schema(parameters=[MODEL_ID], request=s.PromoteInputSerializer,
                   responses={200: s.PromoteResultSerializer, 202: s.PromoteResultSerializer,
                              **errors(400, 401, 403, 404, 409)},
                   description="Move the model on the registry ladder. A move in the approval set (default: to "
                               "champion) answers 202 with a pending promotion request for a reviewer. Refusals: "
                               "invalid_transition (400), not_scorable (409), rollback_guard (409, with "
                               "rollbackGuardBreaches), request_pending (409).")
    def post(self, request, pk):
        model = lifecycle_selectors.model_get(pk)
        data = s.PromoteInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        result = services.model_promote(
            model=model, actor=request.user, to_status=v["toStatus"], family=v.get("family"),
            metrics_snapshot=v.get("metricsSnapshot"), bypass_guard=v["bypassRollbackGuard"],
            thresholds=v.get("rollbackThresholds"), comment=v["comment"])
        return Response(_result(result), status=status.HTTP_200_OK if result.applied else status.HTTP_202_ACCEPTED)


class PromotionRequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.PromotionRequestSerializer
    write_permission = "registry.review_promotionrequest"
    write_permissions = {"cancel": "lifecycle.view_algorithmmodel"}  # the service checks authorship
    filter_backends = [FilterBackend]
    filtersets = {"list": RequestFilter}

    def get_queryset(self):
        return selectors.request_list()

    def get_object(self):
        pk = parse_id(self.kwargs["pk"])
        req = self.get_queryset().filter(pk=pk).first() if pk is not None else None
        if req is None:
            raise not_found(f"No promotion request {self.kwargs['pk']!r}")
        self.check_object_permissions(self.request, req)
        return req

    @extend_schema(responses={200: s.PromotionRequestSerializer(many=True), **errors(400, 401, 403, 404)})
    def list(self, request, *args, **kwargs):
        return super().list(request, *args, **kwargs)

    @extend_schema(request=s.DecisionInputSerializer,
                   responses={200: s.PromoteResultSerializer, **errors(400, 401, 403, 404, 409)},
                   description="Approve: re-checks every rule and the guard, then applies the move atomically. "
                               "403 four_eyes for the requester; 409 stale_request when the model changed under it.")
    @action(detail=True, methods=["post"])
    def approve(self, request, pk=None):
        data = s.DecisionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.promotion_request_approve(request=self.get_object(), actor=request.user,
                                                    comment=data.validated_data["comment"])
        return Response(_result(result))

    @extend_schema(request=s.DecisionInputSerializer,
                   responses={200: s.PromotionRequestSerializer, **errors(400, 401, 403, 404)})
    @action(detail=True, methods=["post"])
    def reject(self, request, pk=None):
        data = s.DecisionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        req = services.promotion_request_reject(request=self.get_object(), actor=request.user,
                                                comment=data.validated_data["comment"])
        return Response(s.PromotionRequestSerializer(req).data)

    @extend_schema(request=s.DecisionInputSerializer,
                   responses={200: s.PromotionRequestSerializer, **errors(400, 401, 403, 404)})
    @action(detail=True, methods=["post"])
    def cancel(self, request, pk=None):
        data = s.DecisionInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        req = services.promotion_request_cancel(request=self.get_object(), actor=request.user,
                                                comment=data.validated_data["comment"])
        return Response(s.PromotionRequestSerializer(req).data)


def family_payload(family: str) -> dict:
    from lifecycle.api.serializers import EventSerializer

    members = selectors.family_members(family)
    if not members["members"]:
        raise not_found(f"No family {family!r}: a family gets its first member when a model is promoted with it")
    previous = selectors.previous_champion(family, current=members["champion"])
    policy = services.family_policy(family)
    ser = AlgorithmModelSerializer
    return {
        "family": family,
        "champion": ser(members["champion"]).data if members["champion"] else None,
        "challengers": ser(members["challengers"], many=True).data,
        "shadows": ser(members["shadows"], many=True).data,
        "archived": ser(members["archived"], many=True).data,
        "previousChampion": previous.key if previous else None,
        "versionPolicy": policy.version_policy,
        "heldVersions": [{"modelKey": v.model.key, "version": v.label, "reason": v.hold_reason,
                          "breaches": v.hold_breaches, "requestId": v.hold_request_id,
                          "createdAt": iso(v.created_at)} for v in selectors.held_versions(family=family)],
        "watch": services.family_watch(family).as_dict(),
        "policy": services.policy_dict(policy),
        "history": EventSerializer(selectors.family_history(family), many=True).data,
    }


class FamilyView(APIView):
    write_permission = "registry.rollback_family"

    @extend_schema(parameters=[OpenApiParameter("family", str, OpenApiParameter.PATH)],
                   responses={200: s.FamilySerializer, **errors(401, 403, 404)})
    def get(self, request, family):
        return Response(family_payload(family))

    @extend_schema(parameters=[OpenApiParameter("family", str, OpenApiParameter.PATH)],
                   request=s.FamilyPolicySerializer, responses={200: s.FamilySerializer, **errors(400, 401, 403, 404)},
                   description="The family's policies: versionPolicy (guard, review or auto: how its champion may "
                               "change the version it serves), and the live watch's autoRollback (roll back "
                               "automatically when the champion is significantly worse than its predecessor) and "
                               "minResponses.")
    def put(self, request, family):
        data = s.FamilyPolicySerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        services.family_policy_set(family=family, actor=request.user, auto_rollback=v.get("autoRollback"),
                                   min_responses=v.get("minResponses"), version_policy=v.get("versionPolicy"))
        return Response(family_payload(family))


class FamilyRollbackView(APIView):
    write_permission = "registry.rollback_family"

    @extend_schema(parameters=[OpenApiParameter("family", str, OpenApiParameter.PATH)],
                   request=s.RollbackInputSerializer, responses={200: s.FamilySerializer, **errors(400, 401, 403, 404, 409)},
                   description="Restore the previous champion of the family in one step; the current one is archived.")
    def post(self, request, family):
        data = s.RollbackInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        services.family_rollback(family=family, actor=request.user, reason=data.validated_data["reason"])
        return Response(family_payload(family))


class ExperimentViewSet(viewsets.GenericViewSet):
    serializer_class = s.ExperimentSerializer
    write_permission = "registry.add_experiment"
    write_permissions = {"update": "registry.change_experiment", "partial_update": "registry.change_experiment",
                         "destroy": "registry.delete_experiment", "collection_delete": "registry.delete_experiment",
                         "assign": "lifecycle.view_algorithmmodel"}

    def get_queryset(self):
        return Experiment.objects.select_related("champion_model").prefetch_related("arms")

    @staticmethod
    def _kwargs(v: dict) -> dict:
        names = {"key": "key", "name": "name", "description": "description", "status": "status",
                 "family": "family", "championModelId": "champion_model_id", "autoPromote": "auto_promote",
                 "promoteThreshold": "promote_threshold", "promoteAfterDays": "promote_after_days",
                 "challengers": "challengers", "holdoutPercent": "holdout_pct"}
        out = {names[k]: val for k, val in v.items() if k in names}
        if "trafficSplit" in v:
            out["champion_pct"] = v["trafficSplit"]["championPct"]
        return out

    def _out(self, experiment, code=status.HTTP_200_OK):
        return Response(s.ExperimentSerializer(experiments.experiment_get(experiment.pk)).data, status=code)

    @extend_schema(responses={200: s.ExperimentSerializer(many=True), **errors(401, 403)})
    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(s.ExperimentSerializer(page, many=True).data)

    @extend_schema(request=s.ExperimentInputSerializer, responses={201: s.ExperimentSerializer, **errors(400, 401, 403)},
                   description="championPct plus every challenger's trafficPct must be exactly 100, else 400.")
    def create(self, request):
        data = s.ExperimentInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        experiment = experiments.experiment_create(actor=request.user, **self._kwargs(data.validated_data))
        return self._out(experiment, status.HTTP_201_CREATED)

    @extend_schema(responses={200: s.ExperimentSerializer, **errors(401, 403, 404)})
    def retrieve(self, request, pk=None):
        return Response(s.ExperimentSerializer(experiments.experiment_get(pk)).data)

    @extend_schema(request=s.ExperimentUpdateSerializer, responses={200: s.ExperimentSerializer, **errors(400, 401, 403, 404)},
                   description="Partial; challengers, when given, replace the list wholesale.")
    def update(self, request, pk=None):
        data = s.ExperimentUpdateSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        changes = self._kwargs(data.validated_data)
        changes.pop("key", None)
        experiment = experiments.experiment_update(experiment=experiments.experiment_get(pk), actor=request.user,
                                                   **changes)
        return self._out(experiment)

    def partial_update(self, request, pk=None):
        return self.update(request, pk)

    @extend_schema(request=None, responses={204: None, **errors(401, 403, 404)})
    def destroy(self, request, pk=None):
        experiments.experiment_delete(experiment=experiments.experiment_get(pk), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(operation_id="v1_experiments_delete_by_query", parameters=[OpenApiParameter("id", str, required=True)],
                   request=None, responses={204: None, **errors(400, 401, 403, 404)},
                   description="DELETE /experiments?id=...")
    def collection_delete(self, request):
        ref = request.query_params.get("id")
        if not ref:
            raise validation_error("Give the experiment as ?id=")
        return self.destroy(request, ref)

    @extend_schema(responses={200: OpenApiTypes.OBJECT, **errors(401, 403, 404)},
                   description="Per arm: trials, successes, rate with a Wilson 95% interval; for challengers the "
                               "uplift over the champion (absolute, relative) and a two-proportion z-test.")
    @action(detail=True, methods=["get"])
    def results(self, request, pk=None):
        return Response(experiments.experiment_results(experiments.experiment_get(pk)))

    @extend_schema(request=s.AssignInputSerializer, responses={200: OpenApiTypes.OBJECT, **errors(400, 401, 403, 404)},
                   description="The customer's sticky arm (FNV-1a of experimentKey:customerId, kept 30 days).")
    @action(detail=True, methods=["post"])
    def assign(self, request, pk=None):
        data = s.AssignInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        experiment = experiments.experiment_get(pk)
        customer = data.validated_data["customerId"]
        return Response({"experimentKey": experiment.key, "customerId": customer,
                         "arm": experiments.experiment_assign(experiment=experiment, customer_id=customer)})

"""The algorithm-models API: validate input, call one service or selector, serialize."""

from __future__ import annotations

import logging

from django.db import connection, transaction
from django.http import JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FileUploadParser, MultiPartParser
from rest_framework.response import Response

from ..core.timestamps import iso
from .. import controls as controls_registry
from .. import selectors, services
from ..choices import State
from ..core.api.filters import FilterBackend
from ..filters import AuditFilter, EventFilter, ModelFilter, RunFilter, SampleFilter, VersionFilter
from . import serializers as s

logger = logging.getLogger(__name__)


def errors(*codes: int) -> dict:
    described = {
        400: "validation_error or invalid_transition",
        401: "not_authenticated",
        403: "forbidden (role)",
        404: "not_found",
        409: "draft_only, run_in_flight (X-Run-Id) or another rule",
    }
    return {code: OpenApiResponse(s.ErrorSerializer, description=described[code]) for code in codes}


MODEL_ID = OpenApiParameter("id", str, OpenApiParameter.PATH, description="numeric id or key")


@extend_schema_view(
    list=extend_schema(responses={200: s.AlgorithmModelSerializer, **errors(400, 401, 403)}),
    retrieve=extend_schema(parameters=[MODEL_ID], responses={200: s.AlgorithmModelSerializer, **errors(401, 403, 404)}),
)
class AlgorithmModelViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    serializer_class = s.AlgorithmModelSerializer
    lookup_value_regex = "[^/]+"
    filter_backends = [FilterBackend]
    filtersets = {"list": ModelFilter, "runs": RunFilter, "versions": VersionFilter, "samples": SampleFilter,
                  "events": EventFilter}
    write_permission = "lifecycle.change_algorithmmodel"
    write_permissions = {
        "create": "lifecycle.add_algorithmmodel",
        "train": "lifecycle.train_algorithmmodel",
        "discover": "lifecycle.train_algorithmmodel",
        "activate_version": "lifecycle.activate_version",
        "rollback": "lifecycle.activate_version",
        "unpin": "lifecycle.train_algorithmmodel",
        "version_detail": "lifecycle.train_algorithmmodel",  # PATCH: the notes, as on the version page
        "sample_delete": "lifecycle.delete_sample",
        "samples_delete": "lifecycle.delete_sample",
    }

    def get_queryset(self):
        return selectors.model_list()

    def get_object(self):
        model = selectors.model_get(self.kwargs["pk"])
        self.check_object_permissions(self.request, model)
        return model

    def _model(self):
        return self.get_object()

    def _detail(self, model, code=status.HTTP_200_OK):
        return Response(s.AlgorithmModelDetailSerializer(selectors.model_get(model.pk)).data, status=code)

    @extend_schema(parameters=[MODEL_ID], responses={200: s.AlgorithmModelDetailSerializer, **errors(401, 403, 404)})
    def retrieve(self, request, pk=None):
        return self._detail(self._model())

    @extend_schema(request=s.ModelCreateSerializer, responses={201: s.AlgorithmModelSerializer, **errors(400, 401, 403)})
    def create(self, request):
        fields, controls = controls_registry.split(request.data)
        data = s.ModelCreateSerializer(data=fields)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        with transaction.atomic():
            model = services.model_create(
                actor=request.user, key=v["key"], name=v["name"], model_type=v["modelType"],
                description=v.get("description", ""), config=v.get("config"), target_field=v.get("targetField", ""),
                target_schema_key=v.get("targetSchemaKey", ""), learning_config=v.get("learningConfig"),
                traits=fields.get("traits"))
            if v.get("zeroDataRetention"):
                model = services.model_set_zero_data_retention(model=model, actor=request.user, on=True)
            controls_registry.apply(model=model, actor=request.user, controls=controls)
        return self._detail(model, status.HTTP_201_CREATED)

    @extend_schema(parameters=[MODEL_ID], request=s.ModelUpdateSerializer,
                   responses={200: s.AlgorithmModelSerializer, **errors(400, 401, 403, 404)},
                   description="A partial update of the metadata (PUT and PATCH both accept a partial body).")
    def update(self, request, pk=None):
        model = self._model()
        fields, controls = controls_registry.split(request.data)
        data = s.ModelUpdateSerializer(data=fields)
        data.is_valid(raise_exception=True)
        with transaction.atomic():
            if data.changes():
                model = services.model_update(model=model, actor=request.user, **data.changes())
            if "zeroDataRetention" in data.validated_data:
                model = services.model_set_zero_data_retention(model=model, actor=request.user,
                                                               on=data.validated_data["zeroDataRetention"])
            controls_registry.apply(model=model, actor=request.user, controls=controls)
        return self._detail(model)

    @extend_schema(parameters=[MODEL_ID], request=s.ModelUpdateSerializer,
                   responses={200: s.AlgorithmModelSerializer, **errors(400, 401, 403, 404)})
    def partial_update(self, request, pk=None):
        return self.update(request, pk)

    @extend_schema(parameters=[MODEL_ID], request=None,
                   responses={200: s.AlgorithmModelSerializer, **errors(400, 401, 403, 404)},
                   description="Archives the model (it stops serving; samples, versions and events are kept).")
    def destroy(self, request, pk=None):
        model = services.model_archive(model=self._model(), actor=request.user)
        return self._detail(model)

    @extend_schema(parameters=[MODEL_ID], request=s.ArchiveInputSerializer,
                   responses={200: s.AlgorithmModelSerializer, **errors(400, 401, 403, 404)})
    @action(detail=True, methods=["post"])
    def archive(self, request, pk=None):
        data = s.ArchiveInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = services.model_archive(model=self._model(), actor=request.user, reason=data.validated_data["reason"])
        return self._detail(model)

    @extend_schema(parameters=[MODEL_ID], request=None,
                   responses={200: s.AlgorithmModelSerializer, **errors(400, 401, 403, 404)})
    @action(detail=True, methods=["post"])
    def restore(self, request, pk=None):
        return self._detail(services.model_restore(model=self._model(), actor=request.user))

    # -------------------------------------------------------------------------------------- traits

    @extend_schema(parameters=[MODEL_ID], methods=["GET"], responses={200: s.TraitSerializer(many=True)})
    @extend_schema(parameters=[MODEL_ID], methods=["POST"], request=s.TraitBatchSerializer,
                   responses={200: s.TraitSerializer(many=True), **errors(400, 401, 403, 404, 409)},
                   description="Upsert traits keyed by key (derived from name when omitted). Draft only.")
    @action(detail=True, methods=["get", "post"], pagination_class=None)
    def traits(self, request, pk=None):
        model = self._model()
        if request.method == "POST":
            data = s.TraitBatchSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            services.trait_upsert(model=model, actor=request.user, traits=request.data["traits"])
        return Response(s.TraitSerializer(selectors.trait_list(model=model), many=True).data)

    @extend_schema(parameters=[MODEL_ID, OpenApiParameter("trait_key", str, OpenApiParameter.PATH)], request=None,
                   responses={204: None, **errors(401, 403, 404, 409)})
    @action(detail=True, methods=["delete"], url_path=r"traits/(?P<trait_key>[^/]+)")
    def trait_delete(self, request, pk=None, trait_key=None):
        services.trait_delete(model=self._model(), actor=request.user, key=trait_key)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=[MODEL_ID], request=s.DiscoverInputSerializer,
                   responses={202: s.RunAcceptedSerializer, **errors(400, 401, 403, 404, 409)})
    @action(detail=True, methods=["post"], url_path="traits/discover")
    def discover(self, request, pk=None):
        data = s.DiscoverInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        run = services.model_discover_enqueue(model=self._model(), actor=request.user, **data.validated_data)
        return Response({"state": State.BUSY, "runId": run.pk, "run": s.RunSerializer(run).data},
                        status=status.HTTP_202_ACCEPTED)

    # -------------------------------------------------------------------------------------- samples

    @extend_schema(parameters=[MODEL_ID], methods=["GET"], responses={200: s.SampleSerializer(many=True)})
    @extend_schema(parameters=[MODEL_ID], methods=["POST"], request=s.SampleBatchSerializer,
                   responses={201: s.SampleBatchResultSerializer, **errors(400, 401, 403, 404, 409)},
                   description="Add samples: {features?, content?, labels: {trait: label}, weight?} or the "
                               "{trait, text, quality} form. All are stored or none. Draft only.")
    @action(detail=True, methods=["get", "post"])
    def samples(self, request, pk=None):
        model = self._model()
        if request.method == "GET":
            page = self.paginate_queryset(self.filter_queryset(selectors.sample_list(model=model)))
            return self.get_paginated_response(s.SampleSerializer(page, many=True).data)
        data = s.SampleBatchSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.sample_add_batch(model=model, actor=request.user, samples=request.data["samples"])
        return Response({"ids": result.ids, "count": len(result.ids), "unknownLabelKeys": result.unknown_label_keys,
                         "requestId": result.request_id or None}, status=status.HTTP_201_CREATED)

    @extend_schema(parameters=[MODEL_ID, OpenApiParameter(
                       "dryRun", bool, OpenApiParameter.QUERY, required=False,
                       description="true: answer 200 with the summary of what the file would store (refused lines "
                                   "included) and store nothing")],
                   # The raw-body form (FileUploadParser) still works with a Content-Disposition filename, but a
                   # generated client cannot send that header: only the multipart form is advertised.
                   request={"multipart/form-data": inline_serializer("SampleUpload", {"file": serializers.FileField()})},
                   responses={200: s.SampleUploadResultSerializer, 201: s.SampleUploadResultSerializer,
                              **errors(400, 401, 403, 404, 409)},
                   description="Upload JSONL (one sample a line) or CSV (content, weight, label.<trait>, features; "
                               "comma, semicolon or tab separated, read from the header). Every line is validated; "
                               "nothing is stored when any line is bad (400 with details.errors and details.summary). "
                               "The answer's summary says what the file holds: the columns read as features, labels "
                               "per trait, label keys that match no trait, rows without labels and refused lines. "
                               "requestId names the upload for POST samples/delete.")
    @action(detail=True, methods=["post"], url_path="samples/upload",
            parser_classes=[MultiPartParser, FileUploadParser])
    def upload(self, request, pk=None):
        dry_run = _flag(request.query_params, "dryRun")
        model = self._model()
        upload = request.data.get("file")
        if upload is None:
            raise services.validation_error("Send the file as multipart field 'file' or as the request body")
        result = services.samples_upload(model=model, actor=request.user, data=upload, filename=upload.name or "",
                                         content_type=getattr(upload, "content_type", ""), dry_run=dry_run)
        return Response({"stored": result.stored, "ids": result.ids, "count": len(result.ids),
                         "unknownLabelKeys": result.unknown_label_keys, "requestId": result.request_id or None,
                         "summary": result.summary},
                        status=status.HTTP_201_CREATED if result.stored else status.HTTP_200_OK)

    @extend_schema(parameters=[MODEL_ID, OpenApiParameter("sample_id", int, OpenApiParameter.PATH)], request=None,
                   responses={204: None, **errors(401, 403, 404, 409)},
                   description="Remove one explicit sample. Draft only (409 draft_only once the model has been "
                               "ready, while a run is in flight, or when archived).")
    @action(detail=True, methods=["delete"], url_path=r"samples/(?P<sample_id>[0-9]{1,30})")
    def sample_delete(self, request, pk=None, sample_id=None):
        services.samples_remove(model=self._model(), actor=request.user, ids=[int(sample_id)])
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=[MODEL_ID], request=s.SampleDeleteSerializer,
                   responses={200: s.SampleDeleteResultSerializer, **errors(400, 401, 403, 404, 409)},
                   description="Remove samples in one call, with one audit row (samples.removed) counting them. "
                               "Exactly one of: ids (all must be the model's, or 404 and nothing is removed); "
                               "requestId (what one upload or POST samples added: its answer's requestId); filter "
                               "(the samples list's source, trait, label, search: what the list shows is removed). "
                               "Draft only: 409 draft_only once the model has been ready.")
    @action(detail=True, methods=["post"], url_path="samples/delete")
    def samples_delete(self, request, pk=None):
        data = s.SampleDeleteSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        model = self._model()
        removed = services.samples_remove(model=model, actor=request.user, ids=v.get("ids"),
                                          request_id=v.get("requestId"), filters=v.get("filter"))
        return Response({"removed": removed, "remaining": selectors.sample_list(model=model).count()})

    # -------------------------------------------------------------------------------------- runs

    @extend_schema(parameters=[MODEL_ID], request=s.TrainInputSerializer,
                   responses={202: s.RunAcceptedSerializer, **errors(400, 401, 403, 404, 409)},
                   description="Train a draft or failed model; retrain a ready one in the background "
                               "(reoptimizeParams: a retune). 409 run_in_flight with X-Run-Id while a run is in flight.")
    @action(detail=True, methods=["post"])
    def train(self, request, pk=None):
        data = s.TrainInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        run = services.model_train_enqueue(model=self._model(), actor=request.user, effort=v["effort"],
                                           params=v.get("params") or {}, reoptimize_params=v["reoptimizeParams"])
        run.refresh_from_db()
        return Response({"state": State.BUSY, "runId": run.pk, "run": s.RunSerializer(run).data},
                        status=status.HTTP_202_ACCEPTED, headers={"X-Run-Id": str(run.pk)})

    @extend_schema(parameters=[MODEL_ID], responses={200: s.RunSerializer(many=True), **errors(400, 401, 403, 404)})
    @action(detail=True, methods=["get"])
    def runs(self, request, pk=None):
        page = self.paginate_queryset(self.filter_queryset(selectors.run_list(model=self._model())))
        return self.get_paginated_response(s.RunSerializer(page, many=True).data)

    @extend_schema(parameters=[MODEL_ID, OpenApiParameter("run_id", int, OpenApiParameter.PATH)],
                   responses={200: s.RunSerializer, **errors(401, 403, 404)})
    @action(detail=True, methods=["get"], url_path=r"runs/(?P<run_id>[^/]+)")
    def run_detail(self, request, pk=None, run_id=None):
        return Response(s.RunSerializer(selectors.run_get(model=self._model(), run_id=run_id)).data)

    # -------------------------------------------------------------------------------------- versions

    @extend_schema(parameters=[MODEL_ID], responses={200: s.VersionSerializer(many=True), **errors(400, 401, 403, 404)})
    @action(detail=True, methods=["get"])
    def versions(self, request, pk=None):
        page = self.paginate_queryset(self.filter_queryset(selectors.version_list(model=self._model())))
        return self.get_paginated_response(s.VersionSerializer(page, many=True).data)

    @extend_schema(parameters=[MODEL_ID, OpenApiParameter("ref", str, OpenApiParameter.PATH,
                                                          description="vN, N or a tag name")],
                   responses={200: s.VersionDetailSerializer, **errors(401, 403, 404)})
    @extend_schema(methods=["PATCH"], request=s.VersionNotesInputSerializer,
                   parameters=[MODEL_ID, OpenApiParameter("ref", str, OpenApiParameter.PATH,
                                                          description="vN, N or a tag name")],
                   responses={200: s.VersionDetailSerializer, **errors(400, 401, 403, 404)},
                   description="Set the version's notes (what changed, why it exists); audited.")
    @action(detail=True, methods=["get", "patch"], url_path=r"versions/(?P<ref>(?!active$)[^/]+)")
    def version_detail(self, request, pk=None, ref=None):
        model = self._model()
        if request.method == "PATCH":
            data = s.VersionNotesInputSerializer(data=request.data)
            data.is_valid(raise_exception=True)
            services.version_describe(model=model, actor=request.user, version=ref, notes=data.validated_data["notes"])
        return Response(s.VersionDetailSerializer(selectors.version_by_ref(model, ref)).data)

    @extend_schema(parameters=[MODEL_ID, OpenApiParameter("ref", str, OpenApiParameter.PATH)],
                   responses={200: OpenApiTypes.OBJECT, **errors(401, 403, 404)},
                   description="The model card of a version: model, version, intended use, training data, metrics, "
                               "tier breaks, importances, evaluation curves, limits and history (approvals included).")
    @action(detail=True, methods=["get"], url_path=r"versions/(?P<ref>(?!active$)[^/]+)/card")
    def version_card(self, request, pk=None, ref=None):
        return Response(selectors.version_card(selectors.version_by_ref(self._model(), ref)))

    def _activate(self, request):
        data = s.ActivateInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        v = data.validated_data
        model = self._model()
        done = services.version_activate(model=model, actor=request.user, version=v.get("version"),
                                         tag=v.get("tag"), reason=v["reason"])
        version = done.version
        if not done.applied:
            model.refresh_from_db(fields=["pinned"])
        return Response({"key": model.key, "versionNo": version.version_no, "versionId": version.label,
                         "pinned": True if done.applied else model.pinned, "applied": done.applied,
                         "requestId": done.request_id,
                         "message": done.message or f"Now serving {version.label}, pinned"},
                        status=200 if done.applied else 202)

    @extend_schema(parameters=[MODEL_ID], request=s.ActivateInputSerializer,
                   responses={200: s.ActivatedSerializer, 202: s.ActivatedSerializer,
                              **errors(400, 401, 403, 404, 409)},
                   description="Serve this version (a rollback or a pin): exactly one of version or tag. The model "
                               "stays on it; later retrains create versions without activating them. On a champion "
                               "(or a challenger in a running experiment) whose family's versionPolicy is guard or "
                               "review, an analyst's call answers 202 with the review request instead; a reviewer's "
                               "or admin's applies at once.")
    @action(detail=True, methods=["put"], url_path="versions/active")
    def activate_version(self, request, pk=None):
        return self._activate(request)

    @extend_schema(parameters=[MODEL_ID], request=s.ActivateInputSerializer,
                   responses={200: s.ActivatedSerializer, 202: s.ActivatedSerializer,
                              **errors(400, 401, 403, 404, 409)},
                   description="Same as PUT versions/active.")
    @action(detail=True, methods=["post"])
    def rollback(self, request, pk=None):
        return self._activate(request)

    @extend_schema(parameters=[MODEL_ID], request=None,
                   responses={200: s.AlgorithmModelSerializer, **errors(401, 403, 404)},
                   description="Let later retrains activate their versions again.")
    @action(detail=True, methods=["post"])
    def unpin(self, request, pk=None):
        return self._detail(services.model_unpin(model=self._model(), actor=request.user))

    @extend_schema(parameters=[MODEL_ID, OpenApiParameter("ref", str, OpenApiParameter.PATH)],
                   request=s.TagInputSerializer, responses={200: s.VersionSerializer, **errors(400, 401, 403, 404)})
    @action(detail=True, methods=["post"], url_path=r"versions/(?P<ref>[^/]+)/tags")
    def tag(self, request, pk=None, ref=None):
        data = s.TagInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        model = self._model()
        tag = services.version_tag(model=model, actor=request.user, version=ref, name=data.validated_data["name"])
        return Response(s.VersionSerializer(selectors.version_by_ref(model, tag.name)).data)

    @extend_schema(parameters=[MODEL_ID, OpenApiParameter("ref", str, OpenApiParameter.PATH),
                               OpenApiParameter("name", str, OpenApiParameter.PATH)], request=None,
                   responses={204: None, **errors(401, 403, 404)},
                   description="Remove the tag from the version it is on (404 when that version has no such tag).")
    @action(detail=True, methods=["delete"], url_path=r"versions/(?P<ref>[^/]+)/tags/(?P<name>[^/]+)")
    def version_untag(self, request, pk=None, ref=None, name=None):
        services.version_untag(model=self._model(), actor=request.user, name=name, version=ref)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=[MODEL_ID, OpenApiParameter("name", str, OpenApiParameter.PATH)], request=None,
                   responses={204: None, **errors(401, 403, 404)}, deprecated=True,
                   description="Remove a tag by its name alone; DELETE versions/{ref}/tags/{name} says which version.")
    @action(detail=True, methods=["delete"], url_path=r"tags/(?P<name>[^/]+)")
    def untag(self, request, pk=None, name=None):
        services.version_untag(model=self._model(), actor=request.user, name=name)
        return Response(status=status.HTTP_204_NO_CONTENT)

    # -------------------------------------------------------------------------------------- audit

    @extend_schema(parameters=[MODEL_ID], responses={200: s.EventSerializer(many=True), **errors(400, 401, 403, 404)})
    @action(detail=True, methods=["get"])
    def events(self, request, pk=None):
        page = self.paginate_queryset(self.filter_queryset(selectors.event_list(model=self._model())))
        return self.get_paginated_response(s.EventSerializer(page, many=True).data)


def _flag(params, name: str) -> bool:
    """A true/false query parameter; anything else is a 400 naming it."""
    raw = str(params.get(name, "")).strip().lower()
    if raw in ("", "false", "0"):
        return False
    if raw in ("true", "1"):
        return True
    raise services.validation_error(f"{name} must be true or false", field=name)


def healthz(request):
    """For load balancers: 200 when the database answers, 503 otherwise. No login."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # noqa: BLE001 - any failure means unhealthy
        # The reason goes to the log, never to an anonymous caller (it can name hosts, users and paths).
        logger.warning("healthz: the database did not answer", exc_info=True)
        return JsonResponse({"status": "unavailable", "database": "unavailable"}, status=503)
    return JsonResponse({"status": "ok", "database": "ok"})


class AuditLogViewSet(viewsets.GenericViewSet):
    serializer_class = s.EventSerializer
    filter_backends = [FilterBackend]
    filtersets = {"list": AuditFilter, "export": AuditFilter}

    def get_queryset(self):
        return selectors.audit_log()

    def _queryset(self):
        return self.filter_queryset(self.get_queryset())

    @extend_schema(responses={200: s.EventSerializer(many=True), **errors(400, 401, 403)})
    def list(self, request):
        page = self.paginate_queryset(self._queryset())
        return self.get_paginated_response(s.EventSerializer(page, many=True).data)

    @extend_schema(filters=True, responses={(200, "text/csv"): OpenApiTypes.STR, **errors(400, 401, 403)},
                   description="The filtered audit log as CSV, streamed.")
    @action(detail=False, methods=["get"])
    def export(self, request):
        return audit_csv_response(self._queryset())


def audit_csv_response(queryset):
    import json

    from ..core.exports import csv_response

    header = ["id", "createdAt", "actor", "action", "modelKey", "family", "from", "to", "message", "data",
              "requestId"]
    rows = ([e.pk, iso(e.created_at), e.actor_name, e.action, e.model_key, e.family, e.from_value,
             e.to_value, e.message, json.dumps(e.data, sort_keys=True), e.request_id]
            for e in queryset.order_by("id").iterator(chunk_size=2000))
    return csv_response(header, rows, "audit-log.csv")

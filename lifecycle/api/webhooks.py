"""The webhooks API, for admins only: configure receivers, see their deliveries, send a test ping."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from .. import webhooks
from ..core.roles import role_of
from ..models import Webhook, WebhookDelivery
from .serializers import ErrorSerializer, StrictSerializer

MANAGE = "lifecycle.manage_webhook"


class ManagesWebhooks(permissions.BasePermission):
    """Reads too: a webhook's URL and its deliveries' payloads are an admin's business."""

    def has_permission(self, request, view):
        user = request.user
        if not (user and user.is_authenticated):
            return False
        if user.has_perm(MANAGE):
            return True
        self.message = (f"Your role ({role_of(user) or 'none'}) cannot see or configure webhooks: it needs the "
                        f"permission {MANAGE}, which admins have")
        return False


class WebhookSerializer(serializers.ModelSerializer):
    createdBy = serializers.SerializerMethodField()
    createdAt = serializers.DateTimeField(source="created_at")

    class Meta:
        model = Webhook
        fields = ["id", "url", "events", "active", "description", "createdBy", "createdAt"]
        read_only_fields = fields

    def get_createdBy(self, webhook) -> str | None:
        return webhook.created_by.get_username() if webhook.created_by_id else None


class WebhookCreatedSerializer(WebhookSerializer):
    secret = serializers.CharField(help_text="Shown in this answer only: keep it to verify X-Webhook-Signature")

    class Meta(WebhookSerializer.Meta):
        fields = [*WebhookSerializer.Meta.fields, "secret"]
        read_only_fields = fields


class WebhookInputSerializer(StrictSerializer):
    url = serializers.CharField(max_length=2000)
    events = serializers.ListField(child=serializers.ChoiceField(choices=list(webhooks.EVENTS)), allow_empty=False,
                                   max_length=len(webhooks.EVENTS))
    active = serializers.BooleanField(required=False)
    description = serializers.CharField(max_length=255, required=False, allow_blank=True)


class WebhookDeliverySerializer(serializers.ModelSerializer):
    webhookId = serializers.IntegerField(source="webhook_id")
    lastStatusCode = serializers.IntegerField(source="last_status_code", allow_null=True)
    lastError = serializers.CharField(source="last_error")
    nextAttemptAt = serializers.DateTimeField(source="next_attempt_at", allow_null=True)
    createdAt = serializers.DateTimeField(source="created_at")
    deliveredAt = serializers.DateTimeField(source="delivered_at", allow_null=True)

    class Meta:
        model = WebhookDelivery
        fields = ["id", "webhookId", "event", "status", "attempts", "lastStatusCode", "lastError", "nextAttemptAt",
                  "createdAt", "deliveredAt", "payload"]
        read_only_fields = fields


def _errors(*codes: int) -> dict:
    return {code: OpenApiResponse(ErrorSerializer) for code in codes}


WEBHOOK_ID = OpenApiParameter("id", int, OpenApiParameter.PATH)


@extend_schema_view(
    list=extend_schema(responses={200: WebhookSerializer(many=True), **_errors(401, 403)}),
    retrieve=extend_schema(parameters=[WEBHOOK_ID], responses={200: WebhookSerializer, **_errors(401, 403, 404)}),
)
class WebhookViewSet(viewsets.GenericViewSet):
    permission_classes = [ManagesWebhooks]
    serializer_class = WebhookSerializer
    lookup_value_regex = "[^/]+"

    def get_queryset(self):
        return webhooks.webhook_list().select_related("created_by")

    def get_object(self):
        return webhooks.webhook_get(self.kwargs["pk"])

    def list(self, request):
        page = self.paginate_queryset(self.get_queryset())
        return self.get_paginated_response(WebhookSerializer(page, many=True).data)

    def retrieve(self, request, pk=None):
        return Response(WebhookSerializer(self.get_object()).data)

    @extend_schema(request=WebhookInputSerializer, responses={201: WebhookCreatedSerializer, **_errors(400, 401, 403)},
                   description="The answer carries the signing secret, this once.")
    def create(self, request):
        data = WebhookInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        webhook, secret = webhooks.webhook_create(actor=request.user, **data.validated_data)
        webhook.secret = secret
        response = Response(WebhookCreatedSerializer(webhook).data, status=status.HTTP_201_CREATED)
        response["Cache-Control"] = "no-store"
        return response

    @extend_schema(parameters=[WEBHOOK_ID], request=WebhookInputSerializer(partial=True),
                   responses={200: WebhookSerializer, **_errors(400, 401, 403, 404)},
                   description="A partial body: the fields given change. The secret never changes.")
    def update(self, request, pk=None):
        webhook = self.get_object()
        data = WebhookInputSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        webhook = webhooks.webhook_update(webhook=webhook, actor=request.user, **data.validated_data)
        return Response(WebhookSerializer(webhook).data)

    @extend_schema(parameters=[WEBHOOK_ID], responses={204: None, **_errors(401, 403, 404)})
    def destroy(self, request, pk=None):
        webhooks.webhook_delete(webhook=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(parameters=[WEBHOOK_ID], responses={200: WebhookDeliverySerializer(many=True),
                                                       **_errors(401, 403, 404)})
    @action(detail=True, methods=["get"])
    def deliveries(self, request, pk=None):
        page = self.paginate_queryset(webhooks.delivery_list(webhook=self.get_object()))
        return self.get_paginated_response(WebhookDeliverySerializer(page, many=True).data)

    @extend_schema(parameters=[WEBHOOK_ID], request=None,
                   responses={202: WebhookDeliverySerializer, **_errors(401, 403, 404)},
                   description="Send a `ping` event to this webhook now; the answer is its delivery.")
    @action(detail=True, methods=["post"])
    def test(self, request, pk=None):
        delivery = webhooks.webhook_ping(webhook=self.get_object(), actor=request.user)
        delivery.refresh_from_db()
        return Response(WebhookDeliverySerializer(delivery).data, status=status.HTTP_202_ACCEPTED)

"""Outbound webhooks: lifecycle events POSTed to the receivers an admin configures, signed, retried.

The services that make a change call `emit(event, payload)` inside their transaction: one delivery row per
matching active webhook is written with the change, and each is queued once the change commits (a rolled-back
change notifies nobody). A delivery is one POST of the JSON body with `X-Webhook-Event`, `X-Webhook-Delivery`
and `X-Webhook-Signature: sha256=<hex HMAC-SHA256 of the raw body>`, a 5 s timeout and no redirects followed.
A non-2xx answer or an error schedules the next attempt (30 s, 2 min, 10 min, 1 h); the periodic
`deliver_due` sends what is due; after the fifth attempt the delivery is failed. Receivers check the signature
with `verify_signature`."""

from __future__ import annotations

import hashlib
import hmac
import http.client
import ipaddress
import json
import logging
import secrets
from datetime import timedelta

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import transaction
from django.utils import timezone

from .core.timestamps import iso
from . import endpoints
from .audit import event_record
from .core import queue
from .core.errors import ApplicationError, not_found, validation_error
from .core.roles import role_of
from .models import DeliveryStatus, Webhook, WebhookDelivery

log = logging.getLogger(__name__)

EVENTS = {
    "promotion.requested": "A move on the registry ladder waits for a reviewer",
    "promotion.approved": "A reviewer approved a promotion request and the move was applied",
    "promotion.rejected": "A reviewer rejected a promotion request",
    "version.held": "A new version was held back from serving until someone reviews it",
    "champion.changed": "A family has a new champion (promotion or rollback)",
    "run.failed": "A training or discovery run failed",
    "live_watch.rolled_back": "The live watch rolled a family back to its previous champion",
}
PING = "ping"  # sent by the test button only; no webhook subscribes to it
BACKOFF = (timedelta(seconds=30), timedelta(minutes=2), timedelta(minutes=10), timedelta(hours=1))
MAX_ATTEMPTS = len(BACKOFF) + 1
TIMEOUT_SECONDS = 5
DELIVER_TASK = "lifecycle.tasks.deliver_webhook"
MAX_ERROR_LENGTH = 500


# ----------------------------------------------------------------------------------------- signatures


def sign(secret: str, body: bytes) -> str:
    """The `X-Webhook-Signature` header's value for this body."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def verify_signature(secret: str, body: bytes, header: str | None) -> bool:
    """For receivers: is `header` (X-Webhook-Signature) the signature of exactly these raw body bytes?"""
    if not isinstance(header, str) or not header.startswith("sha256="):
        return False
    return hmac.compare_digest(sign(secret, body), header)


# ----------------------------------------------------------------------------------------- the receiver


def check_url(url) -> endpoints.Endpoint:
    """The receiver's URL: http(s), no credentials, a plain host, never a link-local or reserved address, and
    on WEBHOOK_ALLOWED_HOSTS (host:port) when an operator set that list."""
    if isinstance(url, str) and "@" in url.split("://", 1)[-1].split("/", 1)[0]:
        raise validation_error("url must not carry credentials (user:password@); the signature authenticates "
                               "the sender", field="url")
    try:
        endpoint = endpoints.parse_url(url)
    except endpoints.EndpointConfigError as exc:
        raise validation_error(str(exc).replace("config.url", "url").replace(" of the scoring endpoint", ""),
                               field="url") from None
    if endpoint.is_ip and endpoints.blocked(ipaddress.ip_address(endpoint.host)):
        raise validation_error(f"url must not point at {endpoint.host}, a link-local or reserved address",
                               field="url")
    allowed = getattr(settings, "WEBHOOK_ALLOWED_HOSTS", [])
    if allowed and not endpoints.is_allowed(endpoint, allowed):
        raise validation_error(f"{endpoint.label} is not allowed; an operator adds it (host:port) to "
                               "WEBHOOK_ALLOWED_HOSTS", field="url")
    return endpoint


def _check_events(events) -> list[str]:
    if not isinstance(events, list) or not events or not all(isinstance(e, str) for e in events):
        raise validation_error(f"events must be a non-empty list of: {', '.join(EVENTS)}", field="events")
    unknown = sorted(set(events) - set(EVENTS))
    if unknown:
        raise validation_error(f"Unknown events {', '.join(unknown)}; use {', '.join(EVENTS)}", field="events")
    return [e for e in EVENTS if e in events]


# ----------------------------------------------------------------------------------------- configuration


def _require(actor) -> None:
    if not (getattr(actor, "is_authenticated", False) and actor.has_perm("lifecycle.manage_webhook")):
        raise ApplicationError(f"Your role ({role_of(actor) or 'none'}) cannot configure webhooks; admins can",
                               code="forbidden", status=403)


def _audit(*, actor, action: str, webhook: Webhook, data: dict | None = None) -> None:
    event_record(model=None, actor=actor, action=action, to_value=str(webhook.pk),
                 data={"webhookId": webhook.pk, "url": webhook.url, "events": webhook.events, **(data or {})})


@transaction.atomic
def webhook_create(*, actor, url: str, events: list, description: str = "",
                   active: bool = True) -> tuple[Webhook, str]:
    """A new webhook and its secret; the secret is returned here only (shown once, like an API key)."""
    _require(actor)
    check_url(url)
    events = _check_events(events)
    secret = "whsec_" + secrets.token_urlsafe(32)
    webhook = Webhook.objects.create(url=url, secret=secret, events=events, active=bool(active),
                                     description=(description or "")[:255], created_by=actor)
    _audit(actor=actor, action="webhook.created", webhook=webhook)
    return webhook, secret


@transaction.atomic
def webhook_update(*, webhook: Webhook, actor, **changes) -> Webhook:
    _require(actor)
    webhook = Webhook.objects.select_for_update().get(pk=webhook.pk)
    before = {"url": webhook.url, "events": webhook.events, "active": webhook.active}
    if "url" in changes:
        check_url(changes["url"])
        webhook.url = changes["url"]
    if "events" in changes:
        webhook.events = _check_events(changes["events"])
    if "active" in changes:
        if not isinstance(changes["active"], bool):
            raise validation_error("active must be true or false", field="active")
        webhook.active = changes["active"]
    if "description" in changes:
        webhook.description = str(changes["description"] or "")[:255]
    webhook.save()
    _audit(actor=actor, action="webhook.changed", webhook=webhook, data={"before": before})
    return webhook


@transaction.atomic
def webhook_delete(*, webhook: Webhook, actor) -> None:
    _require(actor)
    _audit(actor=actor, action="webhook.deleted", webhook=webhook)
    webhook.delete()


def webhook_get(pk) -> Webhook:
    ref = str(pk)
    webhook = Webhook.objects.filter(pk=int(ref)).first() if ref.isascii() and ref.isdigit() and len(ref) < 19 else None
    if webhook is None:
        raise not_found(f"No webhook {ref[:40]!r}")
    return webhook


def webhook_list():
    return Webhook.objects.all()


def delivery_list(*, webhook: Webhook | None = None):
    qs = WebhookDelivery.objects.select_related("webhook")
    return qs.filter(webhook=webhook) if webhook is not None else qs


# ----------------------------------------------------------------------------------------- events


def _enqueue(delivery_ids: list[int]) -> None:
    for delivery_id in delivery_ids:
        try:
            queue.enqueue(DELIVER_TASK, delivery_id, name=f"webhook delivery {delivery_id}")
        except Exception:  # the queue is down: the periodic sweep sends it when it is due
            log.exception("could not queue webhook delivery %s", delivery_id)


def emit(event: str, payload: dict) -> list[WebhookDelivery]:
    """Notify every active webhook subscribed to `event`. Call it inside the change's transaction: the rows are
    written with the change and sent once it commits."""
    if event not in EVENTS:
        raise ValueError(f"unknown webhook event {event!r}")
    subscribed = [w for w in Webhook.objects.filter(active=True) if event in (w.events or [])]
    return _deliveries(subscribed, event, payload)


def webhook_ping(*, webhook: Webhook, actor) -> WebhookDelivery:
    """Send a `ping` to one webhook now, whatever it subscribes to (the test button)."""
    _require(actor)
    with transaction.atomic():
        return _deliveries([webhook], PING, {"webhookId": webhook.pk, "message": "Webhook test"})[0]


def _deliveries(webhooks: list[Webhook], event: str, payload: dict) -> list[WebhookDelivery]:
    if not webhooks:
        return []
    now = timezone.now()
    # Plain JSON once, so what is stored is what is sent (dates as ISO strings).
    payload = json.loads(json.dumps(payload, cls=DjangoJSONEncoder))
    rows = [WebhookDelivery.objects.create(webhook=w, event=event, payload=payload, next_attempt_at=now,
                                           created_at=now) for w in webhooks]
    ids = [r.pk for r in rows]
    transaction.on_commit(lambda: _enqueue(ids))
    return rows


# ----------------------------------------------------------------------------------------- sending


def body_of(delivery: WebhookDelivery) -> bytes:
    """The exact bytes POSTed (and signed) for a delivery."""
    return json.dumps({"id": delivery.pk, "event": delivery.event, "createdAt": iso(delivery.created_at),
                       "data": delivery.payload}, separators=(",", ":"), sort_keys=True).encode()


def _post(url: str, body: bytes, headers: dict) -> int:
    """POST once; the answer's status code. Raises OSError / HTTPException / ValueError when there is none."""
    endpoint = check_url(url)
    family, sockaddr, address = endpoints.resolve(endpoint)
    if endpoints.blocked(address):
        raise ValueError(f"{endpoint.host} resolved to {address}, a link-local or reserved address")
    connection = endpoints.PinnedConnection(endpoint, family, sockaddr, timeout=lambda: TIMEOUT_SECONDS)
    try:
        connection.request("POST", endpoint.target, body=body, headers={**headers, "Host": endpoint.host_header})
        response = connection.getresponse()
        response.read(65536)  # a little of the answer, so the receiver is not cut off mid-write
        return response.status
    finally:
        connection.close()


def delivery_attempt(*, delivery_id: int, now=None) -> WebhookDelivery | None:
    """One attempt of a pending delivery that is due. Safe to run twice: a delivery someone else is attempting
    (locked), already ended, or not yet due is left alone."""
    now = now or timezone.now()
    with transaction.atomic():
        delivery = (WebhookDelivery.objects.select_for_update(skip_locked=True).select_related("webhook")
                    .filter(pk=delivery_id, status=DeliveryStatus.PENDING).first())
        if delivery is None or (delivery.next_attempt_at and delivery.next_attempt_at > now):
            return None
        # Claim the attempt before the call, so a second worker does not send it again meanwhile.
        delivery.attempts += 1
        delivery.next_attempt_at = now + BACKOFF[min(delivery.attempts - 1, len(BACKOFF) - 1)]
        delivery.save(update_fields=["attempts", "next_attempt_at"])
    webhook = delivery.webhook
    body = body_of(delivery)
    headers = {"Content-Type": "application/json", "User-Agent": "model-lifecycle-webhooks/1",
               "X-Webhook-Event": delivery.event, "X-Webhook-Delivery": str(delivery.pk),
               "X-Webhook-Signature": sign(webhook.secret, body)}
    code, error = None, ""
    try:
        code = _post(webhook.url, body, headers)
        if not 200 <= code < 300:
            error = f"The receiver answered {code}" + (" (redirects are not followed)" if 300 <= code < 400 else "")
    except ApplicationError as exc:
        error = exc.message
    except (OSError, http.client.HTTPException, ValueError, UnicodeError) as exc:
        error = f"{type(exc).__name__}: {exc}"
    delivery.last_status_code = code
    delivery.last_error = error[:MAX_ERROR_LENGTH]
    if not error:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = timezone.now()
        delivery.next_attempt_at = None
    elif delivery.attempts >= MAX_ATTEMPTS:
        delivery.status = DeliveryStatus.FAILED
        delivery.next_attempt_at = None
    delivery.save(update_fields=["status", "last_status_code", "last_error", "delivered_at", "next_attempt_at"])
    return delivery


def deliver_due(*, now=None) -> list[int]:
    """The periodic sweep: attempt every pending delivery whose next attempt is due."""
    now = now or timezone.now()
    due = list(WebhookDelivery.objects.filter(status=DeliveryStatus.PENDING, next_attempt_at__lte=now)
               .order_by("next_attempt_at", "id").values_list("pk", flat=True)[:500])
    for delivery_id in due:
        delivery_attempt(delivery_id=delivery_id, now=now)
    return due

"""Outbound webhooks, delivered to a real receiver on 127.0.0.1: signed, retried with backoff, failed at last."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.utils import timezone

from lifecycle import services, webhooks
from lifecycle.models import ModelEvent, WebhookDelivery
from registry import services as registry
from tests.conftest import token_client
from tests.factories import add_samples, make_model, make_user
from tests.scoring.conftest import live_model

pytestmark = pytest.mark.django_db


class Receiver:
    """An HTTP receiver in a thread: records every request, answers the queued status codes, then 200."""

    def __init__(self, answers=()):
        self.requests: list[dict] = []
        self.answers = list(answers)
        self.always: int | None = None
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                receiver.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                code = receiver.always or (receiver.answers.pop(0) if receiver.answers else 200)
                self.send_response(code)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/hooks/lifecycle"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    r = Receiver()
    yield r
    r.close()


def subscribe(admin, url, events):
    webhook, secret = webhooks.webhook_create(actor=admin, url=url, events=events)
    return webhook, secret


def test_an_approved_promotion_reaches_the_receiver_signed(receiver, admin_user, capture):
    analyst = make_user("analyst", username="ana")
    live_model(admin_user, key="champ", model_type="bayesian")
    challenger = live_model(admin_user, key="chal", model_type="thompson_bandit", rung="challenger")
    webhook, secret = subscribe(admin_user, receiver.url, ["promotion.approved", "champion.changed"])
    request = registry.model_promote(model=challenger, actor=analyst, to_status="champion", family="offers").request

    with capture(execute=True):
        registry.promotion_request_approve(request=request, actor=admin_user, comment="looks right")

    by_event = {r["headers"]["X-Webhook-Event"]: r for r in receiver.requests}
    assert set(by_event) == {"promotion.approved", "champion.changed"}
    sent = by_event["promotion.approved"]
    assert sent["path"] == "/hooks/lifecycle"
    assert webhooks.verify_signature(secret, sent["body"], sent["headers"]["X-Webhook-Signature"])
    body = json.loads(sent["body"])
    assert body["event"] == "promotion.approved"
    assert body["data"]["modelKey"] == "chal" and body["data"]["requestId"] == request.pk
    assert body["data"]["toStatus"] == "champion" and body["data"]["requestedBy"] == "ana"
    delivery = WebhookDelivery.objects.get(pk=int(sent["headers"]["X-Webhook-Delivery"]))
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 1, 200)
    changed = json.loads(by_event["champion.changed"]["body"])["data"]
    assert changed["champion"] == "chal" and changed["previousChampion"] == "champ"


def test_a_tampered_body_fails_the_signature_check(receiver, admin_user, capture):
    webhook, secret = subscribe(admin_user, receiver.url, ["run.failed"])
    with capture(execute=True):
        webhooks.webhook_ping(webhook=webhook, actor=admin_user)
    sent = receiver.requests[0]
    header = sent["headers"]["X-Webhook-Signature"]
    assert webhooks.verify_signature(secret, sent["body"], header)
    tampered = sent["body"].replace(b"Webhook test", b"Webhook jest")
    assert tampered != sent["body"]
    assert not webhooks.verify_signature(secret, tampered, header)
    assert not webhooks.verify_signature("another-secret", sent["body"], header)
    assert not webhooks.verify_signature(secret, sent["body"], None)


def test_two_failures_then_success_is_delivered_on_the_third_attempt(receiver, admin_user, capture):
    receiver.answers = [500, 500]
    webhook, _ = subscribe(admin_user, receiver.url, ["run.failed"])
    with capture(execute=True):
        [delivery] = webhooks.emit("run.failed", {"modelKey": "m"})
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("pending", 1, 500)
    assert delivery.last_error == "The receiver answered 500"
    first_retry = delivery.next_attempt_at

    # Not due yet: the sweep leaves it alone.
    assert webhooks.deliver_due(now=first_retry - timedelta(seconds=1)) == []
    webhooks.deliver_due(now=first_retry)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts) == ("pending", 2)
    assert delivery.next_attempt_at - first_retry == webhooks.BACKOFF[1]  # backing off: 30 s, then 2 min

    webhooks.deliver_due(now=delivery.next_attempt_at)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("delivered", 3, 200)
    assert delivery.next_attempt_at is None and delivery.delivered_at is not None
    assert len(receiver.requests) == 3
    # Every attempt is the same signed body under the same delivery id.
    assert len({r["body"] for r in receiver.requests}) == 1
    assert {r["headers"]["X-Webhook-Delivery"] for r in receiver.requests} == {str(delivery.pk)}


def test_a_receiver_that_always_fails_ends_failed_after_the_last_attempt(receiver, admin_user, capture):
    receiver.always = 503
    subscribe(admin_user, receiver.url, ["run.failed"])
    with capture(execute=True):
        [delivery] = webhooks.emit("run.failed", {"modelKey": "m"})
    clock = timezone.now()
    for _ in range(webhooks.MAX_ATTEMPTS + 2):
        clock += timedelta(hours=2)
        webhooks.deliver_due(now=clock)
    delivery.refresh_from_db()
    assert (delivery.status, delivery.attempts, delivery.last_status_code) == ("failed", webhooks.MAX_ATTEMPTS, 503)
    assert delivery.next_attempt_at is None
    assert len(receiver.requests) == webhooks.MAX_ATTEMPTS


def test_an_unreachable_receiver_is_retried_with_the_error(admin_user, capture):
    subscribe(admin_user, "http://127.0.0.1:9/nobody-listens", ["run.failed"])
    with capture(execute=True):
        [delivery] = webhooks.emit("run.failed", {"modelKey": "m"})
    delivery.refresh_from_db()
    assert delivery.status == "pending" and delivery.attempts == 1 and delivery.last_status_code is None
    assert "Connection" in delivery.last_error or "refused" in delivery.last_error


def test_a_failed_run_emits_run_failed(receiver, admin_user, analyst, capture):
    webhook, secret = subscribe(admin_user, receiver.url, ["run.failed"])
    model = make_model(analyst, key="doomed")
    add_samples(model, analyst, n=8)
    run = services.model_train_enqueue(model=model, actor=analyst)  # queued; nothing runs it
    with capture(execute=True):
        services.run_fail(run=run, error="out of memory")
    [sent] = receiver.requests
    assert sent["headers"]["X-Webhook-Event"] == "run.failed"
    assert webhooks.verify_signature(secret, sent["body"], sent["headers"]["X-Webhook-Signature"])
    data = json.loads(sent["body"])["data"]
    assert data == {"modelKey": "doomed", "modelId": model.pk, "family": "", "runId": run.pk, "kind": "train",
                    "state": "failed", "error": "out of memory"}


def test_only_subscribed_active_webhooks_get_an_event(receiver, admin_user, capture):
    subscribe(admin_user, receiver.url, ["promotion.rejected"])
    paused, _ = subscribe(admin_user, receiver.url, ["run.failed"])
    webhooks.webhook_update(webhook=paused, actor=admin_user, active=False)
    with capture(execute=True):
        assert webhooks.emit("run.failed", {"modelKey": "m"}) == []
    assert receiver.requests == []


def test_a_rolled_back_change_notifies_nobody(receiver, admin_user, capture):
    from django.db import transaction

    subscribe(admin_user, receiver.url, ["run.failed"])
    with capture(execute=True):
        with pytest.raises(RuntimeError):
            with transaction.atomic():
                webhooks.emit("run.failed", {"modelKey": "m"})
                raise RuntimeError("the change failed")
    assert receiver.requests == [] and not WebhookDelivery.objects.exists()


# ------------------------------------------------------------------------------------------ the API


def test_admins_configure_webhooks_and_the_secret_is_shown_once(receiver, admin_user, capture):
    api = token_client(admin_user)
    r = api.post("/api/v1/webhooks", {"url": receiver.url, "events": ["promotion.requested", "run.failed"],
                                      "description": "chat"}, format="json")
    assert r.status_code == 201, r.content
    created = r.json()
    assert created["secret"].startswith("whsec_") and created["events"] == ["promotion.requested", "run.failed"]
    assert r["Cache-Control"] == "no-store"
    shown = api.get(f"/api/v1/webhooks/{created['id']}").json()
    assert "secret" not in shown and shown["url"] == receiver.url and shown["createdBy"] == "admin"
    assert "secret" not in api.get("/api/v1/webhooks").json()["results"][0]

    r = api.put(f"/api/v1/webhooks/{created['id']}", {"active": False}, format="json")
    assert r.status_code == 200 and r.json()["active"] is False
    with capture(execute=True):
        r = api.post(f"/api/v1/webhooks/{created['id']}/test")
    # The answer is the queued delivery; the worker sends it once the request commits.
    assert r.status_code == 202 and r.json()["event"] == "ping" and r.json()["status"] == "pending"
    assert webhooks.verify_signature(created["secret"], receiver.requests[0]["body"],
                                     receiver.requests[0]["headers"]["X-Webhook-Signature"])
    listed = api.get(f"/api/v1/webhooks/{created['id']}/deliveries").json()["results"]
    assert [(d["event"], d["status"], d["attempts"], d["lastStatusCode"]) for d in listed] == [
        ("ping", "delivered", 1, 200)]
    assert ModelEvent.objects.filter(action__in=["webhook.created", "webhook.changed"]).count() == 2

    assert api.delete(f"/api/v1/webhooks/{created['id']}").status_code == 204
    r = api.get(f"/api/v1/webhooks/{created['id']}")
    assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"


@pytest.mark.parametrize("url, message", [
    ("ftp://example.com/x", "url must be an http:// or https:// URL"),
    ("https://user:pw@example.com/x", "url must not carry credentials"),
    ("http://169.254.169.254/latest/meta-data", "link-local or reserved address"),
])
def test_receiver_urls_are_checked(admin_user, url, message):
    r = token_client(admin_user).post("/api/v1/webhooks", {"url": url, "events": ["run.failed"]}, format="json")
    assert r.status_code == 400
    assert r.json()["error"]["code"] == "validation_error" and message in r.json()["error"]["message"]


def test_the_allow_list_limits_receivers_when_set(admin_user, settings):
    settings.WEBHOOK_ALLOWED_HOSTS = ["hooks.example.com:443"]
    api = token_client(admin_user)
    r = api.post("/api/v1/webhooks", {"url": "https://elsewhere.example.com/x", "events": ["run.failed"]},
                 format="json")
    assert r.status_code == 400 and "WEBHOOK_ALLOWED_HOSTS" in r.json()["error"]["message"]
    r = api.post("/api/v1/webhooks", {"url": "https://hooks.example.com/x", "events": ["run.failed"]}, format="json")
    assert r.status_code == 201


def test_unknown_events_are_refused(admin_user):
    r = token_client(admin_user).post("/api/v1/webhooks", {"url": "http://127.0.0.1:9/", "events": ["everything"]},
                                      format="json")
    assert r.status_code == 400 and r.json()["error"]["code"] == "validation_error"


@pytest.mark.parametrize("role", ["viewer", "analyst", "reviewer"])
def test_only_admins_may_see_or_configure_webhooks(role, admin_user):
    webhook, _ = subscribe(admin_user, "http://127.0.0.1:9/", ["run.failed"])
    api = token_client(make_user(role))
    for method, path in [("get", "/api/v1/webhooks"), ("post", "/api/v1/webhooks"),
                         ("get", f"/api/v1/webhooks/{webhook.pk}/deliveries"),
                         ("post", f"/api/v1/webhooks/{webhook.pk}/test")]:
        r = getattr(api, method)(path, {"url": "http://127.0.0.1:9/", "events": ["run.failed"]}, format="json")
        assert r.status_code == 403, (method, path)
        assert r.json()["error"]["code"] == "forbidden" and "admins" in r.json()["error"]["message"]
    assert not WebhookDelivery.objects.exists()


# ------------------------------------------------------------------------------------------ the page


def test_the_page_adds_a_webhook_and_shows_its_deliveries(client, admin_user, receiver, capture):
    client.force_login(admin_user)
    home = client.get("/").content.decode()
    assert 'href="/webhooks/"' in home
    r = client.post("/webhooks/new/", {"url": receiver.url, "events": ["run.failed", "promotion.approved"]})
    assert r.status_code == 200 and r["Cache-Control"] == "no-store"
    webhook = webhooks.webhook_list().get()
    assert "shown only this once" in r.content.decode() and webhook.secret in r.content.decode()
    with capture(execute=True):
        r = client.post(f"/webhooks/{webhook.pk}/test/")
    page = client.get("/webhooks/").content.decode()
    assert webhook.secret not in page
    assert "<code>ping</code>" in page and 'class="badge badge-ready">delivered<' in page and "1 / 5" in page


def test_the_page_edits_a_webhook_and_refuses_a_bad_url_in_place(client, admin_user, receiver):
    client.force_login(admin_user)
    client.post("/webhooks/new/", {"url": receiver.url, "events": ["run.failed"]})
    webhook = webhooks.webhook_list().get()
    r = client.post(f"/webhooks/{webhook.pk}/edit/", {"url": receiver.url, "events": ["version.held", "run.failed"],
                                                      "description": "chat", "active": ""}, follow=True)
    webhook.refresh_from_db()
    assert (sorted(webhook.events), webhook.description, webhook.active) == (["run.failed", "version.held"], "chat",
                                                                            False)
    assert "off (nothing is sent), 2 event(s)" in r.content.decode()
    r = client.post(f"/webhooks/{webhook.pk}/edit/", {"url": "http://user:pw@example.com/", "events": ["run.failed"],
                                                      "active": "on"}, follow=True)
    assert "was not changed" in r.content.decode()
    webhook.refresh_from_db()
    assert webhook.url == receiver.url and not webhook.active
    assert ModelEvent.objects.filter(action="webhook.changed").count() == 1


def test_the_page_and_its_link_are_for_admins_only(client, analyst):
    client.force_login(analyst)
    assert 'href="/webhooks/"' not in client.get("/").content.decode()
    assert client.get("/webhooks/").status_code == 403


def test_a_request_and_its_rejection_are_both_sent(receiver, admin_user, reviewer, capture):
    analyst = make_user("analyst", username="ana")
    live_model(admin_user, key="champ", model_type="bayesian")
    challenger = live_model(admin_user, key="chal", model_type="thompson_bandit", rung="challenger")
    subscribe(admin_user, receiver.url, ["promotion.requested", "promotion.rejected", "champion.changed"])
    with capture(execute=True):
        request = registry.model_promote(model=challenger, actor=analyst, to_status="champion",
                                         family="offers").request
    with capture(execute=True):
        registry.promotion_request_reject(request=request, actor=reviewer, comment="AUC too low")
    sent = [(r["headers"]["X-Webhook-Event"], json.loads(r["body"])["data"]) for r in receiver.requests]
    assert [event for event, _ in sent] == ["promotion.requested", "promotion.rejected"]
    assert sent[0][1]["incumbent"] == "champ" and sent[0][1]["actor"] == "ana"
    assert sent[1][1]["comment"] == "AUC too low" and sent[1][1]["requestId"] == request.pk


def test_a_live_watch_rollback_is_sent(receiver, admin_user, capture):
    from lifecycle.models import AlgorithmModel

    live_model(admin_user, key="old", model_type="bayesian", family="fam")
    new = live_model(admin_user, key="new", model_type="bayesian", family="fam", rung="challenger")
    for i in range(300):
        registry.live_record_outcome(model=AlgorithmModel.objects.get(key="old"), success=i < 60)
    registry.model_promote(model=new, actor=admin_user, to_status="champion", family="fam")
    for i in range(300):
        registry.live_record_outcome(model=new, success=i < 9)
    registry.family_policy_set(family="fam", actor=admin_user, auto_rollback=True)
    subscribe(admin_user, receiver.url, ["live_watch.rolled_back"])
    with capture(execute=True):
        assert registry.watch_families() == ["fam"]
    [sent] = receiver.requests
    data = json.loads(sent["body"])["data"]
    assert sent["headers"]["X-Webhook-Event"] == "live_watch.rolled_back"
    assert (data["champion"], data["previousChampion"], data["actor"]) == ("old", "new", "live-watch")
    assert data["watch"]["status"] == "degraded"

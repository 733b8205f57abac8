"""Operability: /metrics for Prometheus, request ids on responses, logs and audit rows."""

import io
import json
import logging
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from lifecycle import services
from lifecycle.core.logs import JsonFormatter, RequestIdFilter
from lifecycle.models import ModelEvent, TrainingRun
from tests.factories import add_samples, make_model, ready_model

TOKEN = "scrape-token-for-tests"
SCORE_ROUTE = "api/v1/algorithm-models/(?P<pk>[^/]+)/score/?$"


@pytest.fixture
def scrape(client, settings):
    settings.METRICS_TOKEN = TOKEN

    def read() -> dict:
        r = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
        assert r.status_code == 200, r.content
        assert r["Content-Type"].startswith("text/plain")
        samples = {}
        for family in text_string_to_metric_families(r.content.decode()):
            for s in family.samples:
                samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
        return samples

    return read


def value(samples: dict, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def test_metrics_need_the_bearer_token(client, settings, db):
    settings.METRICS_TOKEN = TOKEN
    r = client.get("/metrics")
    assert r.status_code == 401
    assert r.json()["error"]["code"] == "not_authenticated" and r["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong-token").status_code == 401
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Token {TOKEN}").status_code == 401
    r = client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}")
    assert r.status_code == 200 and b"lifecycle_http_requests_total" in r.content


def test_metrics_are_off_without_a_token(client, settings, admin_user):
    settings.METRICS_TOKEN = ""
    client.force_login(admin_user)  # not even an admin's session reads them
    assert client.get("/metrics").status_code == 404


def test_a_score_counts_as_served_under_its_route_pattern(scrape, api, analyst, capture):
    model = ready_model(analyst, capture)
    before = scrape()
    r = api.post(f"/api/v1/algorithm-models/{model.key}/score",
                 {"inputs": [{"features": {"tenure": 5, "plan": "basic", "spend": 20}},
                             {"features": {"tenure": 50, "plan": "pro", "spend": 80}}]}, format="json")
    assert r.status_code == 200, r.content
    after = scrape()

    assert value(after, "lifecycle_scores_served_total") - value(before, "lifecycle_scores_served_total") == 2
    labels = {"route": SCORE_ROUTE, "method": "POST", "status": "2xx"}
    assert value(after, "lifecycle_http_requests_total", **labels) - \
        value(before, "lifecycle_http_requests_total", **labels) == 1
    assert value(after, "lifecycle_http_request_duration_seconds_count", **labels) >= 1
    routes = {dict(labels)["route"] for name, labels in after if name == "lifecycle_http_requests_total"}
    assert not any(model.key in route for route in routes)  # the pattern, never the path


def test_run_gauges_follow_the_database(scrape, analyst):
    waiting, busy = make_model(analyst, key="waiting"), make_model(analyst, key="busy")
    for model in (waiting, busy):
        add_samples(model, analyst, n=8)
    queued = services.model_train_enqueue(model=waiting, actor=analyst)
    running = services.model_train_enqueue(model=busy, actor=analyst)
    TrainingRun.objects.filter(pk=queued.pk).update(queued_at=timezone.now() - timedelta(minutes=10))
    TrainingRun.objects.filter(pk=running.pk).update(status="running", started_at=timezone.now())

    samples = scrape()
    assert value(samples, "lifecycle_training_runs", status="queued") == 1
    assert value(samples, "lifecycle_training_runs", status="running") == 1
    assert value(samples, "lifecycle_training_runs", status="failed") == 0
    assert 600 <= value(samples, "lifecycle_training_queue_oldest_age_seconds") < 700
    assert value(samples, "lifecycle_promotion_requests_pending") == 0
    assert value(samples, "lifecycle_metrics_database_up") == 1

    TrainingRun.objects.filter(pk=running.pk).update(status="failed")
    samples = scrape()
    assert value(samples, "lifecycle_training_runs", status="running") == 0
    assert value(samples, "lifecycle_training_runs", status="failed") == 1


def test_the_request_id_is_answered_and_lands_on_the_audit_row(api):
    r = api.post("/api/v1/algorithm-models", {"key": "traced", "name": "Traced", "modelType": "scorecard"},
                 format="json", HTTP_X_REQUEST_ID="abc123")
    assert r.status_code == 201, r.content
    assert r["X-Request-Id"] == "abc123"
    event = ModelEvent.objects.get(model_key="traced", action="model.created")
    assert event.request_id == "abc123"
    events = api.get("/api/v1/algorithm-models/traced/events").json()
    rows = events["results"] if isinstance(events, dict) else events
    assert rows[0]["requestId"] == "abc123"


def test_an_unsafe_request_id_is_replaced(api):
    r = api.get("/api/v1/algorithm-models", HTTP_X_REQUEST_ID="=HYPERLINK(\"http://x\")")
    assert r.status_code == 200
    assert len(r["X-Request-Id"]) == 32 and r["X-Request-Id"].isalnum()


def test_a_json_log_line_carries_the_request_id(api):
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RequestIdFilter())
    handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(handler)
    try:
        r = api.get("/api/v1/algorithm-models/no-such-model", HTTP_X_REQUEST_ID="trace-42")
    finally:
        logging.getLogger().removeHandler(handler)
    assert r.status_code == 404
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    not_found = [line for line in lines if line["logger"] == "django.request"]
    assert not_found and not_found[0]["request_id"] == "trace-42" and not_found[0]["level"] == "WARNING"
    assert "no-such-model" in not_found[0]["message"]


def test_log_format_json_switches_the_console_to_json_lines(tmp_path):
    root = Path(__file__).resolve().parents[2]
    env = {**os.environ, "LOG_FORMAT": "json", "DJANGO_SETTINGS_MODULE": "config.settings", "VAR_DIR": str(tmp_path)}
    code = "import django, logging; django.setup(); logging.getLogger('lifecycle').warning('hello %s', 'there')"
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=root)
    assert out.returncode == 0, out.stderr
    line = json.loads(out.stderr.strip().splitlines()[-1])
    assert line["message"] == "hello there" and line["level"] == "WARNING" and line["request_id"] is None

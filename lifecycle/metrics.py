"""What an operator's Prometheus reads at /metrics.

Counters and the latency histogram live here and the apps above increment them. Figures that are a
count of rows (runs queued, requests pending) are read from the database at scrape time, so every web
process reports the same numbers; each app adds its own through `register_gauges`, so this module
never imports an app above it.

Under gunicorn (PROMETHEUS_MULTIPROC_DIR set before start), each process writes its counters to that
directory and a scrape adds them up; the directory must be emptied when the server starts.
"""

from __future__ import annotations

import hmac
import logging
import os
import time
from collections.abc import Callable, Iterable

from django.conf import settings
from django.db import DatabaseError
from django.http import Http404, HttpResponse, JsonResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric

from .core.errors import ApplicationError

log = logging.getLogger(__name__)

HTTP_REQUESTS = Counter(
    "lifecycle_http_requests", "HTTP requests answered, by route pattern, method and status class",
    ["route", "method", "status"])
HTTP_LATENCY = Histogram(
    "lifecycle_http_request_duration_seconds", "Time to answer an HTTP request, by route, method and status class",
    ["route", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
SCORES_SERVED = Counter("lifecycle_scores_served", "Inputs scored (one per input of a batch)")
LEARNING_CELLS_WRITTEN = Counter("lifecycle_learning_cells_written", "Adaptation cells updated by an outcome")

KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

GaugeHook = Callable[[], Iterable[Metric]]
_gauge_hooks: list[GaugeHook] = []


def register_gauges(hook: GaugeHook) -> None:
    """Add a scrape-time reader; it returns metric families and may query the database."""
    if hook not in _gauge_hooks:
        _gauge_hooks.append(hook)


def gauge(name: str, documentation: str, value: float | None = None, *, labels: list[str] | None = None,
          values: dict[tuple, float] | None = None) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, documentation, value=value, labels=labels)
    for label_values, v in (values or {}).items():
        family.add_metric(list(label_values), v)
    return family


class DatabaseCollector:
    """Runs the registered hooks on each scrape. A database that does not answer costs those figures
    and sets lifecycle_metrics_database_up to 0; the counters are still served."""

    def describe(self):
        return []  # read nothing when registered

    def collect(self):
        up = 1
        for hook in list(_gauge_hooks):
            try:
                yield from list(hook())
            except DatabaseError:
                log.warning("metrics: %s could not read the database", getattr(hook, "__name__", hook))
                up = 0
        yield gauge("lifecycle_metrics_database_up", "1 when every scrape-time database read answered", up)


def runs_gauges() -> Iterable[Metric]:
    from django.db.models import Count, Min
    from django.utils import timezone

    from .choices import RunStatus
    from .models import TrainingRun

    counts = dict(TrainingRun.objects.values_list("status").annotate(n=Count("id")).order_by())
    yield gauge("lifecycle_training_runs", "Training and discovery runs by status", labels=["status"],
                values={(s.value,): counts.get(s.value, 0) for s in RunStatus})
    oldest = TrainingRun.objects.filter(status=RunStatus.QUEUED).aggregate(t=Min("queued_at"))["t"]
    yield gauge("lifecycle_training_queue_oldest_age_seconds", "Age of the oldest queued run (0 when none waits)",
                max((timezone.now() - oldest).total_seconds(), 0.0) if oldest else 0.0)


register_gauges(runs_gauges)


def multiprocess_dir() -> str:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR", "")


def exposition() -> bytes:
    """The text a scrape answers: a fresh registry each time, as multiprocess mode requires."""
    registry = CollectorRegistry()
    if multiprocess_dir():
        from prometheus_client import multiprocess

        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(REGISTRY)
    registry.register(DatabaseCollector())
    return generate_latest(registry)


def metrics_view(request):
    """GET /metrics. Off (404) unless METRICS_TOKEN is set; then `Authorization: Bearer <token>` is required."""
    token = settings.METRICS_TOKEN
    if not token:
        raise Http404("Metrics are off: set METRICS_TOKEN to serve them")
    scheme, _, given = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), token.encode()):
        error = ApplicationError("Metrics need `Authorization: Bearer <METRICS_TOKEN>`", code="not_authenticated",
                                 status=401)
        return JsonResponse(error.as_dict(), status=401, headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    if request.method not in ("GET", "HEAD"):
        error = ApplicationError(f"Method {request.method} is not allowed", code="method_not_allowed", status=405)
        return JsonResponse(error.as_dict(), status=405, headers={"Allow": "GET, HEAD"})
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)


def _route(request) -> str:
    match = getattr(request, "resolver_match", None)
    # The pattern, never the path: one series per route however many models there are.
    return (match.route or match.view_name or "unnamed") if match else "unmatched"


class MetricsMiddleware:
    """Counts every answer and its latency by route pattern, method and status class."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        started = time.perf_counter()
        response = self.get_response(request)
        method = request.method if request.method in KNOWN_METHODS else "other"
        labels = (_route(request), method, f"{response.status_code // 100}xx")
        HTTP_REQUESTS.labels(*labels).inc()
        HTTP_LATENCY.labels(*labels).observe(time.perf_counter() - started)
        return response

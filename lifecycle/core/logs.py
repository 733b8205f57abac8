"""One request id per request: on the response, on every log line and on the audit rows it writes.

The id comes from an incoming X-Request-Id when that is a short safe token (a proxy or a client
correlating its own calls), else a fresh uuid4 hex. It is a correlation id, not an identity: a caller
may choose it, so nothing trusts it. Worker runs carry "run-<id>" instead (lifecycle.tasks).
"""

from __future__ import annotations

import json
import logging
import re
import uuid
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import datetime, timezone

from django.core.signals import request_finished

REQUEST_ID_HEADER = "X-Request-Id"
# Starts with a letter or digit (never "-", "=", "+"): safe in a log line, a header and a CSV cell.
SAFE_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,63}")

_request_id: ContextVar[str] = ContextVar("request_id", default="")


def current_request_id() -> str:
    return _request_id.get()


@contextmanager
def request_context(request_id: str):
    token = _request_id.set(request_id)
    try:
        yield request_id
    finally:
        _request_id.reset(token)


def request_id_from(header: str | None) -> str:
    header = (header or "").strip()
    return header if SAFE_REQUEST_ID.fullmatch(header) else uuid.uuid4().hex


class RequestIdMiddleware:
    """Sets the id for the whole request. It is cleared when the request finishes, not when this
    middleware returns: Django logs a 4xx/5xx answer after the middleware chain, and that line needs it too."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        request.request_id = request_id_from(request.headers.get(REQUEST_ID_HEADER))
        _request_id.set(request.request_id)
        response = self.get_response(request)
        response[REQUEST_ID_HEADER] = request.request_id
        return response


def _request_finished(**kwargs):
    _request_id.set("")


request_finished.connect(_request_finished, dispatch_uid="lifecycle.core.logs.request_finished")


class RequestIdFilter(logging.Filter):
    """Puts `request_id` on every record ("-" outside a request), for both formats."""

    def filter(self, record):
        if not getattr(record, "request_id", ""):
            record.request_id = current_request_id() or "-"
        return True


_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "request_id"}


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, any `extra=` fields, traceback."""

    def format(self, record):
        request_id = getattr(record, "request_id", "")
        entry = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": (request_id if request_id != "-" else "") or current_request_id() or None,
        }
        entry.update({k: v for k, v in vars(record).items() if k not in _STANDARD and not k.startswith("_")})
        if record.exc_info:
            entry["exc_info"] = self.formatException(record.exc_info)
        if record.stack_info:
            entry["stack_info"] = self.formatStack(record.stack_info)
        return json.dumps(entry, default=str)

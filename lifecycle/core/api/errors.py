"""One envelope for every error: {"error": {"code", "message", "status", "details"?}}."""

import math

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.renderers import JSONRenderer
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from ..errors import ApplicationError

CODES = {
    400: "validation_error",
    401: "not_authenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "throttled",
    500: "server_error",
    503: "service_unavailable",
}
DATABASE_ERRORS = (OperationalError, InterfaceError)
DATABASE_UNAVAILABLE = ("The database did not answer (it may be restarting). Nothing was changed by this request; "
                        "retry in a moment.")
PAYLOAD_TOO_LARGE = ("The request body is larger than this server accepts; send fewer rows per call (or split the "
                     "upload)")


def is_api(request) -> bool:
    """Everything under /api/ answers in the envelope, whichever layer refuses the request."""
    return request.path_info.startswith("/api/")


def envelope(status: int, message: str) -> JsonResponse:
    """The envelope outside DRF: Django's error handlers and middleware, for paths no API view answered."""
    return JsonResponse({"error": {"code": CODES.get(status, "error"), "message": message, "status": status}},
                        status=status)


def _flatten(detail, prefix="") -> list[str]:
    if isinstance(detail, dict):
        return [m for k, v in detail.items() for m in _flatten(v, f"{prefix}{k}: " if k != "non_field_errors" else prefix)]
    if isinstance(detail, list):
        return [m for item in detail for m in _flatten(item, prefix)]
    return [f"{prefix}{detail}"]


def error_response(exc: ApplicationError) -> Response:
    response = Response(exc.as_dict(), status=exc.status)
    for name, value in exc.headers.items():
        response[name] = value
    return response


def exception_handler(exc, context):
    # Errors are JSON whatever the view renders on success (the schema's YAML, Swagger UI's HTML).
    request = context.get("request")
    if request is not None:
        request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
    if isinstance(exc, ApplicationError):
        return error_response(exc)
    if isinstance(exc, DATABASE_ERRORS):
        return error_response(ApplicationError(DATABASE_UNAVAILABLE, code="service_unavailable", status=503,
                                               headers={"Retry-After": "1"}))
    if isinstance(exc, RequestDataTooBig):
        return error_response(ApplicationError(PAYLOAD_TOO_LARGE, code="payload_too_large", status=413))
    if isinstance(exc, Http404):
        exc = exceptions.NotFound(str(exc) or "Not found")
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    code = CODES.get(response.status_code, "error")
    if isinstance(exc, exceptions.Throttled):
        wait = math.ceil(exc.wait or 1)
        body = {"code": code, "status": 429,
                "message": f"Too many requests from this caller; retry after {wait} s (as Retry-After says)."}
    elif isinstance(exc, exceptions.ValidationError):
        messages = _flatten(exc.detail)
        details = {"fields": exc.detail}
        named = [k for k in exc.detail if k != "non_field_errors"] if isinstance(exc.detail, dict) else []
        if named:  # the first input refused, as the services' validation_error(field=...) names it
            details["field"] = str(named[0])
        body = {"code": "validation_error", "message": "; ".join(messages), "status": 400, "details": details}
    else:
        detail = getattr(exc, "detail", str(exc))
        body = {"code": code, "message": " ".join(_flatten(detail)), "status": response.status_code}
    if response.status_code == status.HTTP_401_UNAUTHORIZED and "WWW-Authenticate" not in response:
        response["WWW-Authenticate"] = "Token"
    response.data = {"error": body}
    return response

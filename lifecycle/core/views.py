"""What every page view needs and no domain rule: who may write (and the sentence that says why not), htmx
partials, lookups that become 404s, and the error pages (JSON envelope under /api/), which render without the
database."""

from __future__ import annotations

import sys
from functools import wraps
from typing import NamedTuple

from django.contrib import messages
from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import Resolver404
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme

from .api.errors import DATABASE_ERRORS, DATABASE_UNAVAILABLE, PAYLOAD_TOO_LARGE, envelope, is_api
from .errors import ApplicationError
from .roles import role_of


class Write(NamedTuple):
    """A kind of write a page offers: the permission, what it does, and who may (for the refusal sentence)."""

    perm: str
    what: str
    who: str


def refusal(user, write: Write) -> str:
    """Why this user may not make this write ("" when they may): the disabled button's reason and the 403's."""
    perm, what, who = write
    if user.has_perm(perm):
        return ""
    return f"Your role ({role_of(user) or 'none'}) cannot {what}; {who} can."


def require(user, write: Write) -> None:
    reason = refusal(user, write)
    if reason:
        raise PermissionDenied(reason)


def requires(write: Write):
    """A view that makes this write answers 403 with the reason to anyone whose role may not."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            require(request.user, write)
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def is_partial(request) -> bool:
    """An htmx request for a panel (not a boosted navigation or a history restore): answer the partial."""
    return bool(request.htmx and not request.htmx.boosted and not request.htmx.history_restore_request)


def render_page(request, template: str, partial: str, context: dict, *, trigger: str = "", status: int = 200):
    """The page, or only its named partial for htmx; `trigger` tells other panels to refresh (HX-Trigger)."""
    name = f"{template}#{partial}" if is_partial(request) else template
    response = render(request, name, context, status=status)
    if trigger:
        response["HX-Trigger"] = trigger
    return response


def or_404(lookup, *args, **kwargs):
    """`lookup(...)`, with its not-found refusal turned into the 404 page (the message says what is missing)."""
    try:
        return lookup(*args, **kwargs)
    except ApplicationError as exc:
        if exc.status == 404:
            raise Http404(exc.message) from None
        raise


def came_from(request) -> str:
    """The page of this site a form posted from elsewhere asks to go back to (its `next`), or "" to stay."""
    target = request.POST.get("next", "")
    if target.startswith("/") and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                                  require_https=request.is_secure()):
        return target
    return ""


def shown_once(response):
    """A page that shows a secret once (an API key, a webhook secret): no cache may keep a copy of it."""
    response["Cache-Control"] = "no-store"
    return response


def control_refused(request, message: str, *, back: str, tag: str, in_place):
    """A control's form was refused: the message goes back to the page it came from (`next`) on the panel `tag`
    names, or the editor is shown again in place (`in_place()`) with its fields marked."""
    messages.error(request, message, extra_tags=tag)
    return redirect(back) if back else in_place()


def control_saved(request, message: str, *, back: str, tag: str, page_url: str, in_place):
    """A control was saved: back to the page the form came from, to the editor's page for a plain post, or the
    editor's panel in place for htmx."""
    messages.success(request, message, extra_tags=tag)
    if back:
        return redirect(back)
    if not is_partial(request):
        return redirect(page_url)
    return in_place()


# What the envelope says under /api/ when the exception brings no message of ours.
API_MESSAGES = {
    400: "The request could not be read.",
    403: "Not allowed.",
    404: "There is no endpoint at this address; the endpoints are listed at /api/docs/.",
    409: "Not possible right now.",
    413: PAYLOAD_TOO_LARGE,
    500: "Something went wrong on our side; the error was logged. Try again in a moment.",
    503: DATABASE_UNAVAILABLE,
}


def _exception_message(exception) -> str:
    """The message our own code gave the exception. Never the resolver's: it lists every URL pattern."""
    if exception is None or isinstance(exception, Resolver404):
        return ""
    message = getattr(exception, "message", None) or (exception.args[0] if exception.args else "")
    return message if isinstance(message, str) else ""


def _error_page(request, status: int, title: str, message: str = "", *, api_message: str = "",
                headers: dict | None = None, use_database: bool = True):
    """The envelope under /api/, a flash for htmx, the error page otherwise. With `use_database` off, or when
    the database fails while the page renders, the page is rendered without the request: the navigation,
    the role and the review count each ask the database."""
    if is_api(request):
        response = envelope(status, api_message or message or API_MESSAGES.get(status, title))
    elif getattr(request, "htmx", False):
        response = HttpResponse(format_html('<div class="flash flash-error" role="alert">{}. {}</div>', title,
                                            message), status=status)
    else:
        context = {"status": status, "title": title, "message": message}
        response = None
        if use_database:
            try:
                response = render(request, "error.html", context, status=status)
            except DATABASE_ERRORS:
                pass
        if response is None:
            response = HttpResponse(render_to_string("error.html", context), status=status)
    for name, value in (headers or {}).items():
        response[name] = value
    return response


def bad_request(request, exception=None):
    # Django's own messages here (a host header, a field count) are for the log, not the caller.
    if isinstance(exception, RequestDataTooBig):
        return _error_page(request, 413, "Too large", PAYLOAD_TOO_LARGE)
    return _error_page(request, 400, "Bad request", "The request could not be read.")


def page_not_found(request, exception=None):
    return _error_page(request, 404, "Not found", _exception_message(exception))


def permission_denied(request, exception=None):
    return _error_page(request, 403, "Not allowed", _exception_message(exception))


def conflict(request, exception=None):
    """A write refused because of the object's current state (an ApplicationError with status 409)."""
    return _error_page(request, 409, "Not possible right now", _exception_message(exception))


def service_unavailable(request):
    """The database went away: say so, ask for a retry, and render nothing that needs it."""
    return _error_page(request, 503, "The database is not answering",
                       "It may be restarting. Nothing was changed; reload the page in a moment.",
                       api_message=DATABASE_UNAVAILABLE, headers={"Retry-After": "1"}, use_database=False)


def server_error(request):
    # Django calls this inside its `except`, also for errors raised by middleware before any view ran (the
    # session or the user read from a database that is down).
    if isinstance(sys.exc_info()[1], DATABASE_ERRORS):
        return service_unavailable(request)
    return _error_page(request, 500, "Something went wrong on our side", use_database=False)

"""Login with a brake on password guessing.

Failures are counted in the shared cache for a window, three ways: per username from one client address
(the limit a guesser meets first), per username from any address (a guesser who rotates addresses), and per
address over every username at a much higher limit (spraying one password over many accounts; high enough
that an office behind one proxy does not lock itself out). A cache outage must not stop every login, so
when the cache does not answer the brake stands aside and says so in the log.
"""

from __future__ import annotations

import hashlib
import logging

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError

log = logging.getLogger(__name__)


def client_address(request) -> str:
    """The caller's address. Behind TRUSTED_PROXY_COUNT proxies it is that many places from the right of
    X-Forwarded-For: each proxy appends the address it was called from, so anything further left was
    written by the caller and proves nothing."""
    hops = settings.TRUSTED_PROXY_COUNT
    remote = request.META.get("REMOTE_ADDR", "")
    if hops <= 0:
        return remote
    forwarded = [a.strip() for a in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
    return forwarded[-hops] if len(forwarded) >= hops else remote


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _counters(request, username: str) -> list[tuple[str, int]]:
    """(cache key, limit) for each count this attempt adds to."""
    user, address = _digest(username.strip().lower()), _digest(client_address(request))
    return [
        (f"login-fail:user-address:{user}:{address}", settings.LOGIN_FAILURE_LIMIT),
        (f"login-fail:user:{user}", settings.LOGIN_FAILURE_USER_LIMIT),
        (f"login-fail:address:{address}", settings.LOGIN_FAILURE_ADDRESS_LIMIT),
    ]


def _cache_down(what: str, exc: Exception) -> None:
    log.warning("login brake off: the cache did not answer while %s (%s: %s)", what, type(exc).__name__, exc)


def too_many_failures(request, username: str) -> bool:
    counters = _counters(request, username)
    try:
        counts = cache.get_many([key for key, _ in counters])
    except Exception as exc:  # any backend's connection error: log in without the brake
        _cache_down("checking the failure counts", exc)
        return False
    return any((counts.get(key) or 0) >= limit for key, limit in counters)


def bump(counters, key: str, timeout: int) -> int:
    """Add one to a counter that lives `timeout` seconds from its first count; the new count. One round trip
    when the counter exists (the login brake and the API rate limits count this way)."""
    try:
        return counters.incr(key)
    except ValueError:  # the window's first count
        if counters.add(key, 1, timeout):
            return 1
        try:
            return counters.incr(key)
        except ValueError:  # expired between add and incr
            counters.set(key, 1, timeout)
            return 1


def record_failure(request, username: str) -> None:
    try:
        for key, _ in _counters(request, username):
            bump(cache, key, settings.LOGIN_FAILURE_WINDOW)
    except Exception as exc:
        _cache_down("counting a failure", exc)


def clear_failures(request, username: str) -> None:
    """A successful login clears the user's counts, never the address's: logging in to one's own account
    must not reset a count of guesses at other accounts."""
    try:
        cache.delete_many([key for key, _ in _counters(request, username)[:2]])
    except Exception as exc:
        _cache_down("clearing the failure counts", exc)


class LoginForm(AuthenticationForm):
    error_messages = {**AuthenticationForm.error_messages,
                      "invalid_login": "Your username and password didn't match. Try again."}


class ThrottledLoginView(auth_views.LoginView):
    form_class = LoginForm

    def post(self, request, *args, **kwargs):
        username = request.POST.get("username", "")
        if too_many_failures(request, username):
            form = self.get_form()
            form.full_clean = lambda: None  # no password check at all while braked
            form._errors, form.cleaned_data = {}, {}
            form.add_error(None, ValidationError(
                f"Too many failed attempts. Wait {settings.LOGIN_FAILURE_WINDOW // 60} minutes and try again, "
                "or ask an admin to reset your password."))
            return self.render_to_response(self.get_context_data(form=form), status=429)
        response = super().post(request, *args, **kwargs)
        if request.user.is_authenticated:
            clear_failures(request, username)
        else:
            record_failure(request, username)
        return response

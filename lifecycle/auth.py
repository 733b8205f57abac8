"""Login with a brake on password guessing: after too many failures for one username (or from one
address) in a window, further attempts are refused until the window passes."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.core.exceptions import ValidationError


def _keys(request, username: str) -> list[str]:
    ip = request.META.get("REMOTE_ADDR", "")
    user = hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]
    return [f"login-fail:user:{user}", f"login-fail:ip:{ip}"]


def too_many_failures(request, username: str) -> bool:
    limit = settings.LOGIN_FAILURE_LIMIT
    return any((cache.get(k) or 0) >= limit for k in _keys(request, username))


def record_failure(request, username: str) -> None:
    for k in _keys(request, username):
        if cache.add(k, 1, settings.LOGIN_FAILURE_WINDOW):
            continue
        try:
            cache.incr(k)
        except ValueError:  # expired between add and incr
            cache.set(k, 1, settings.LOGIN_FAILURE_WINDOW)


def clear_failures(request, username: str) -> None:
    cache.delete_many(_keys(request, username)[:1])


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

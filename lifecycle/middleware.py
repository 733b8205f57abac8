from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequiredMiddleware
from django.db import InterfaceError, OperationalError
from django.shortcuts import render


class LoginRequiredMiddleware(DjangoLoginRequiredMiddleware):
    """Pages need a login; the API answers for itself (401/403 in the JSON error envelope)."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class DatabaseUnavailableMiddleware:
    """A page whose database went away mid-request says so and asks for a retry, instead of a bare 500."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        from .errors import ApplicationError

        if isinstance(exception, ApplicationError) and exception.status == 409 and \
                not request.path_info.startswith("/api/"):
            from .views import conflict

            return conflict(request, exception)
        if isinstance(exception, (OperationalError, InterfaceError)):
            response = render(request, "error.html", {
                "status": 503, "title": "The database is not answering",
                "message": "It may be restarting. Nothing was changed; reload the page in a moment."}, status=503)
            response["Retry-After"] = "1"
            return response
        return None

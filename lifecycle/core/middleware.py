from django.contrib.auth.middleware import LoginRequiredMiddleware as DjangoLoginRequiredMiddleware
from django.db import InterfaceError, OperationalError


class LoginRequiredMiddleware(DjangoLoginRequiredMiddleware):
    """Pages need a login; the API answers for itself (401/403 in the JSON error envelope)."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class DatabaseUnavailableMiddleware:
    """A request whose database went away mid-request says so and asks for a retry, instead of a bare 500: the
    error page (rendered without the database) or, under /api/, the envelope. Errors raised before any view
    ran reach the same answer through `handler500` (lifecycle.core.views.server_error)."""

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
            from .views import service_unavailable

            return service_unavailable(request)
        return None

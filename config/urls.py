from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from lifecycle.api.views import healthz
from lifecycle.core.auth import ThrottledLoginView
from lifecycle.metrics import metrics_view

urlpatterns = [
    path("healthz", login_not_required(healthz), name="healthz"),
    path("metrics", login_not_required(metrics_view), name="metrics"),  # its own bearer token
    path("login/", login_not_required(ThrottledLoginView.as_view()), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("scoring.api.urls")),
    path("api/v1/", include("registry.api.urls")),
    path("api/v1/", include("lifecycle.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="api-docs"),
    path("", include("registry.urls")),
    path("", include("scoring.urls")),
    path("", include("lifecycle.urls")),
]

# Under /api/ each answers the JSON error envelope; elsewhere our error page, never Django's technical one.
handler400 = "lifecycle.core.views.bad_request"
handler404 = "lifecycle.core.views.page_not_found"
handler403 = "lifecycle.core.views.permission_denied"
handler500 = "lifecycle.core.views.server_error"

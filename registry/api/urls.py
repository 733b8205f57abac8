from django.urls import path, re_path

from lifecycle.api.urls import OptionalSlashRouter

from .views import FamilyRollbackView, FamilyView, PromoteView, PromotionRequestViewSet

router = OptionalSlashRouter()
router.register("promotion-requests", PromotionRequestViewSet, basename="promotion-request")

urlpatterns = [
    re_path(r"^algorithm-models/(?P<pk>[^/]+)/promote/?$", PromoteView.as_view(), name="model-promote"),
    re_path(r"^families/(?P<family>[^/]+)/rollback/?$", FamilyRollbackView.as_view(), name="family-rollback"),
    re_path(r"^families/(?P<family>[^/]+)/?$", FamilyView.as_view(), name="family-detail"),
    *router.urls,
]

from django.urls import re_path

from lifecycle.api.urls import OptionalSlashRouter

from .views import ExperimentViewSet, FamilyRollbackView, FamilyView, PromoteView, PromotionRequestViewSet

router = OptionalSlashRouter()
router.register("promotion-requests", PromotionRequestViewSet, basename="promotion-request")
router.register("experiments", ExperimentViewSet, basename="experiment")

urlpatterns = [
    re_path(r"^algorithm-models/(?P<pk>[^/]+)/promote/?$", PromoteView.as_view(), name="model-promote"),
    re_path(r"^families/(?P<family>[^/]+)/rollback/?$", FamilyRollbackView.as_view(), name="family-rollback"),
    re_path(r"^families/(?P<family>[^/]+)/?$", FamilyView.as_view(), name="family-detail"),
    # The seed also deletes with DELETE /experiments?id=...
    re_path(r"^experiments/?$", ExperimentViewSet.as_view({"get": "list", "post": "create",
                                                           "delete": "collection_delete"}), name="experiment-list"),
    *router.urls,
]

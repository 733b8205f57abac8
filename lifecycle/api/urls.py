from rest_framework.routers import SimpleRouter

from .views import AlgorithmModelViewSet, AuditLogViewSet
from .webhooks import WebhookViewSet


class OptionalSlashRouter(SimpleRouter):
    """The seed's curl examples omit the trailing slash; accept both forms."""

    def __init__(self):
        super().__init__()
        self.trailing_slash = "/?"


router = OptionalSlashRouter()
router.register("algorithm-models", AlgorithmModelViewSet, basename="algorithm-model")
router.register("audit-log", AuditLogViewSet, basename="audit-log")
router.register("webhooks", WebhookViewSet, basename="webhook")

urlpatterns = router.urls

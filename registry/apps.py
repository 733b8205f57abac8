from django.apps import AppConfig


def _review_gauges():
    from lifecycle.metrics import gauge

    from .choices import RequestState
    from .models import PromotionRequest

    yield gauge("lifecycle_promotion_requests_pending", "Promotion requests waiting for a reviewer",
                PromotionRequest.objects.filter(state=RequestState.PENDING).count())


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Registry"

    def ready(self):
        from lifecycle import controls, metrics

        from . import services

        metrics.register_gauges(_review_gauges)

        controls.register(("status",), lambda *, model, actor, values: services.model_set_status(
            model=model, actor=actor, status=values["status"]))

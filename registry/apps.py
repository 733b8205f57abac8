from django.apps import AppConfig


def _review_gauges():
    from lifecycle.metrics import gauge

    from .choices import RequestState
    from .models import PromotionRequest

    yield gauge("lifecycle_promotion_requests_pending", "Promotion requests waiting for a reviewer",
                PromotionRequest.objects.filter(state=RequestState.PENDING).count())


def _register_panels():
    """The registry's parts of lifecycle's pages: the path to live on the model page; reviews, families and the
    live watch on the dashboard, and the way to the whole audit log under its recent changes."""
    from lifecycle.core import panels

    from .templatetags import registry_tags

    panels.register(name="registry.path_to_live", slot="model_main", template="registry/partials/path_to_live.html",
                    context=registry_tags.path_to_live)
    panels.register(name="registry.dashboard", slot="dashboard", template="registry/partials/dashboard_registry.html",
                    context=registry_tags.dashboard_registry)
    panels.register(name="registry.audit_log_link", slot="dashboard_events",
                    template="registry/partials/dashboard_audit_link.html")


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Registry"

    def ready(self):
        from lifecycle import controls, metrics
        from lifecycle.core.context_processors import register_choices

        from . import services
        from .choices import ExperimentStatus, RequestState, WatchStatus

        metrics.register_gauges(_review_gauges)
        register_choices(RequestState=RequestState, ExperimentStatus=ExperimentStatus, WatchStatus=WatchStatus)

        controls.register(("status",), lambda *, model, actor, values: services.model_set_status(
            model=model, actor=actor, status=values["status"]))
        _register_panels()

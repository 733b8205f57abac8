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
    panels.register(name="registry.version_hold_links", slot="version_hold_links",
                    template="registry/partials/version_hold_links.html",
                    context=lambda request, version: {"version": version})


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Registry"

    def ready(self):
        from lifecycle import controls, governance, metrics
        from lifecycle.core.context_processors import register_choices

        from . import services
        from .choices import ExperimentStatus, RequestKind, RequestState, VersionPolicy, WatchStatus

        metrics.register_gauges(_review_gauges)
        register_choices(RequestState=RequestState, ExperimentStatus=ExperimentStatus, WatchStatus=WatchStatus,
                         RequestKind=RequestKind, VersionPolicy=VersionPolicy)
        # What a champion serves is what the family's version policy let through.
        governance.register(services.version_gate)

        controls.register(("status",), lambda *, model, actor, values: services.model_set_status(
            model=model, actor=actor, status=values["status"]))
        _register_panels()

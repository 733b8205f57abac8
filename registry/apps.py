from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Registry"

    def ready(self):
        from lifecycle.api.views import register_control

        from . import services

        register_control("status", lambda *, model, actor, value: services.model_set_status(
            model=model, actor=actor, status=value))

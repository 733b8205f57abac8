from django.apps import AppConfig


class RegistryConfig(AppConfig):
    name = "registry"
    verbose_name = "Registry"

    def ready(self):
        from lifecycle import controls

        from . import services

        controls.register(("status",), lambda *, model, actor, values: services.model_set_status(
            model=model, actor=actor, status=values["status"]))

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_setup(sender, **kwargs):
    from .roles import ensure_roles
    from .schedules import ensure_schedules

    ensure_roles()
    ensure_schedules()


class LifecycleConfig(AppConfig):
    name = "lifecycle"
    verbose_name = "Model lifecycle"

    def ready(self):
        # Groups need the permissions that post_migrate creates; run after every app has migrated.
        post_migrate.connect(_ensure_setup, dispatch_uid="lifecycle.setup")

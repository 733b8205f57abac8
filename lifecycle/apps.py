from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_setup(sender, **kwargs):
    from .core.roles import ensure_roles
    from .schedules import ensure_schedules

    ensure_roles()
    ensure_schedules()


def _apply_cadence(*, model, actor, values):
    from . import services

    names = {"autoLearn": "auto_learn", "learnMode": "learn_mode", "learnSchedule": "learn_schedule"}
    services.model_set_cadence(model=model, actor=actor, **{names[k]: v for k, v in values.items()})


class LifecycleConfig(AppConfig):
    name = "lifecycle"
    verbose_name = "Model lifecycle"

    def ready(self):
        from . import controls
        from .choices import OperationalStatus, RegistryStatus, RunStatus, State, VersionHold
        from .core.context_processors import register_choices
        from .core.keys import register_url_converters
        from .models import DeliveryStatus

        register_url_converters()
        from .core.api import authcache

        authcache.connect()
        register_choices(State=State, Status=OperationalStatus, Rung=RegistryStatus, RunStatus=RunStatus,
                         DeliveryStatus=DeliveryStatus, VersionHold=VersionHold)

        # Groups need the permissions that post_migrate creates; run after every app has migrated.
        post_migrate.connect(_ensure_setup, dispatch_uid="lifecycle.setup")
        controls.register(("autoLearn", "learnMode", "learnSchedule"), _apply_cadence)

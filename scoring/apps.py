from django.apps import AppConfig
from django.apps import apps as global_apps
from django.db import DEFAULT_DB_ALIAS
from django.db.models.signals import post_migrate


def _ensure_outcome_types(sender, *, apps=global_apps, using=DEFAULT_DB_ALIAS, **kwargs):
    """The ten default outcome types after every migrate, also after a flush (which empties the tables and then
    signals post_migrate): the migration made them once, this keeps them there."""
    try:
        apps.get_model("scoring", "OutcomeType")
    except LookupError:  # scoring migrated back past its first migration: no table to fill
        return
    from .services import outcome_types_ensure_defaults

    outcome_types_ensure_defaults(using=using)


class ScoringConfig(AppConfig):
    name = "scoring"
    verbose_name = "Scoring"

    def ready(self):
        from lifecycle import controls
        from lifecycle.core.context_processors import register_choices

        from . import services
        from .choices import OutcomeCategory

        register_choices(OutcomeCategory=OutcomeCategory)
        post_migrate.connect(_ensure_outcome_types, sender=self, dispatch_uid="scoring.outcome_types")
        controls.register(("outcomeWeights",), lambda *, model, actor, values: services.model_set_outcome_weights(
            model=model, actor=actor, weights=values["outcomeWeights"]))

        from lifecycle.core import panels

        # Scoring's pages of a model, as tabs beside lifecycle's Overview.
        panels.register(name="scoring.tabs", slot="model_tabs", template="scoring/partials/model_tabs.html")
        # Outcome weights are scoring's: the path to live (the registry's) shows scoring's form for them.
        from .views import weights_step

        panels.register(name="scoring.live_weights", slot="live_weights", template="scoring/partials/live_weights.html",
                        context=weights_step)
        # The registry's review and family pages link a shadow to how it scored beside the champion.
        from .templatetags.scoring_tags import champion_regret, shadow_member_link, shadow_request_link

        panels.register(name="scoring.request_shadow_link", slot="request_card_links",
                        template="scoring/partials/shadow_request_link.html", context=shadow_request_link)
        panels.register(name="scoring.shadow_member_link", slot="family_member_links",
                        template="scoring/partials/shadow_member_link.html", context=shadow_member_link)
        # The family page charts what a learning champion's exploration cost against the best offer so far.
        panels.register(name="scoring.family_regret", slot="family_main",
                        template="scoring/partials/family_regret.html", context=champion_regret)

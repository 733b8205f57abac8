from django.apps import AppConfig


class ScoringConfig(AppConfig):
    name = "scoring"
    verbose_name = "Scoring"

    def ready(self):
        from lifecycle import controls

        from . import services

        controls.register(("outcomeWeights",), lambda *, model, actor, values: services.model_set_outcome_weights(
            model=model, actor=actor, weights=values["outcomeWeights"]))

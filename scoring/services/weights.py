"""Outcome weights: how /respond outcomes map to a training signal (seed 001)."""

from __future__ import annotations

import math
import re

from django.db import transaction

from lifecycle.core.errors import validation_error
from lifecycle.models import AlgorithmModel
from lifecycle.services import event_record

# The rule itself is a read (the weights editor shows it too); /respond and learning apply it from here.
from ..selectors import outcome_weight  # noqa: F401

OUTCOME_KEY = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
MAX_OUTCOME_WEIGHTS = 100


def clean_outcome_weights(weights) -> dict[str, float] | None:
    if weights is None:
        return None
    if not isinstance(weights, dict):
        raise validation_error("outcomeWeights must be an object of outcome key -> signed number, or null",
                               field="outcomeWeights")
    if len(weights) > MAX_OUTCOME_WEIGHTS:
        raise validation_error(f"outcomeWeights has {len(weights)} keys; at most {MAX_OUTCOME_WEIGHTS}",
                               field="outcomeWeights")
    cleaned = {}
    for key, value in weights.items():
        if not OUTCOME_KEY.match(str(key)):
            raise validation_error(f"outcome key {key!r} must be 1-64 letters, digits, '_', '.', ':' or '-'",
                                   field="outcomeWeights")
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise validation_error(f"the weight of {key!r} must be a number such as 1.0 or -1.5",
                                   field="outcomeWeights")
        if abs(value) > 1000:
            raise validation_error(f"the weight of {key!r} must be between -1000 and 1000", field="outcomeWeights")
        cleaned[str(key)] = float(value)
    return cleaned


@transaction.atomic
def model_set_outcome_weights(*, model: AlgorithmModel, actor, weights) -> AlgorithmModel:
    cleaned = clean_outcome_weights(weights)
    model = AlgorithmModel.objects.select_for_update().get(pk=model.pk)
    if model.outcome_weights == cleaned:
        return model
    before = model.outcome_weights
    model.outcome_weights = cleaned
    model.save(update_fields=["outcome_weights", "updated_at"])
    event_record(model=model, actor=actor, action="weights.changed",
                 from_value="default" if before is None else f"{len(before)} weights",
                 to_value="default" if cleaned is None else f"{len(cleaned)} weights",
                 data={"before": before, "after": cleaned})
    return model

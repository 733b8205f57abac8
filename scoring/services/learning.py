"""What a response teaches: the deciding model and its family's continuously learning shadows learn from it.
These are the writes; the propensity arithmetic and the online learner's step are scoring.learning."""

from __future__ import annotations

import json

from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from lifecycle import learners
from lifecycle import services as lifecycle_services
from lifecycle.choices import OperationalStatus, RegistryStatus, SampleSource, State, VersionTrigger
from lifecycle.core.errors import ApplicationError
from lifecycle.metrics import LEARNING_CELLS_WRITTEN
from lifecycle.model_types import CELL_TYPES, CONTINUOUS_TYPES, TABULAR_TYPES
from lifecycle.models import AlgorithmModel, ModelVersion

from .. import learning, selectors, serving
from ..choices import Scope
from ..models import ModelAdaptation, Offer, OutcomeType
from .score import offer_features
from .weights import outcome_weight


def _learn_cells(model: AlgorithmModel, *, offer: Offer | None, channel: str, direction: str, weight: float) -> None:
    """Every applicable cell in one transaction: rows made if missing, then one atomic increment each,
    so concurrent responses never lose an update."""
    keys = [(Scope.GLOBAL, "")]
    if offer is not None:
        keys.append((Scope.OFFER, offer.key))
        if offer.category_id:
            keys.append((Scope.CATEGORY, offer.category.key))
    if channel:
        keys.append((Scope.CHANNEL, channel))
    if direction:
        keys.append((Scope.DIRECTION, direction))
    keys.sort()
    ModelAdaptation.objects.bulk_create([ModelAdaptation(model=model, scope=s, scope_id=i) for s, i in keys],
                                        ignore_conflicts=True)
    q = Q()
    for scope, scope_id in keys:
        q |= Q(scope=scope, scope_id=scope_id)
    # Lock the cells in id order first: two responses touching the same cells then queue instead of
    # deadlocking on an UPDATE that locks rows in whatever order it scans them.
    ids = list(ModelAdaptation.objects.select_for_update().filter(q, model=model).order_by("id")
               .values_list("id", flat=True))
    ModelAdaptation.objects.filter(id__in=ids).update(
        evidence=F("evidence") + 1, positives=F("positives") + max(weight, 0.0),
        negatives=F("negatives") + max(-weight, 0.0), total_reward=F("total_reward") + weight,
        updated_at=timezone.now())
    LEARNING_CELLS_WRITTEN.inc(len(ids))


def _learn_shadows(model: AlgorithmModel, outcome_type: OutcomeType, *, offer, channel, direction, attributes,
                   actor) -> None:
    """The family's continuously learning shadows learn from the outcomes of the decisions they scored beside
    the deciding model, each by its own outcome weights, so a shadow warms up before it ever decides
    (otherwise it would stay at its priors and every comparison with the champion would be meaningless)."""
    if not model.family:
        return
    shadows = (AlgorithmModel.objects.select_related("active_version")
               .filter(family=model.family, registry_status=RegistryStatus.SHADOW, status=OperationalStatus.ACTIVE,
                       state=State.READY, model_type__in=CONTINUOUS_TYPES, active_version__isnull=False)
               .exclude(pk=model.pk).order_by("key"))
    for shadow in shadows:
        weight, _ = outcome_weight(shadow, outcome_type)
        if weight:
            _learn(shadow, offer=offer, channel=channel, direction=direction, weight=weight, attributes=attributes,
                   actor=actor)


def _learn(model: AlgorithmModel, *, offer, channel, direction, weight, attributes, actor) -> bool:
    now = timezone.now()
    if model.model_type in CELL_TYPES:
        _learn_cells(model, offer=offer, channel=channel, direction=direction, weight=weight)
        # trainingSamples counts what the active state learned from: for continuous learners, responses.
        AlgorithmModel.objects.filter(pk=model.pk).update(last_learned_at=now,
                                                          training_samples=F("training_samples") + 1)
        return True
    if model.model_type == "online_learner":
        _learn_cells(model, offer=offer, channel=channel, direction=direction, weight=weight)
        locked = AlgorithmModel.objects.select_for_update().get(pk=model.pk)
        params = serving.loaded(locked.active_version, locked.model_type)["params"]
        state = dict(locked.model_state or {})
        x = learning.hashed(offer_features(attributes, offer, channel) if offer else dict(attributes or {}),
                            int(params["hashDimensions"]))
        state["weights"] = learning.online_step(state.get("weights", {}), x, 1.0 if weight > 0 else 0.0,
                                                rate=params["learningRate"], l2=params["l2"],
                                                sample_weight=min(abs(weight), 10.0))
        state["updates"] = int(state.get("updates", 0)) + 1
        locked.model_state = state
        locked.last_learned_at = now
        locked.training_samples += 1
        locked.save(update_fields=["model_state", "last_learned_at", "training_samples", "updated_at"])
        return True
    if model.model_type in TABULAR_TYPES and offer is not None and not model.zero_data_retention:
        # (Under zero data retention a response is not kept as a sample: the model learns only by training.)
        # A weighted sample for the next retrain; the serving version does not change until then.
        keys = ModelVersion.objects.filter(pk=model.active_version_id).values_list("trait_keys", flat=True).first()
        trait = (model.config or {}).get("propensityTrait") or (keys[0] if keys else "")  # no artifact read
        if trait:
            lifecycle_services.sample_add_batch(model=model, actor=actor, source=SampleSource.RESPONSE, samples=[{
                "features": offer_features(attributes, offer, channel),
                "labels": {trait: 1.0 if weight > 0 else 0.0}, "weight": min(abs(weight), 1000.0)}])
            return True
    return False


def model_reset_learning(*, model: AlgorithmModel, actor) -> tuple[AlgorithmModel, ModelVersion]:
    """Seed 001's reset-learning: keep the learned state as a version first, then clear the cells, the model state,
    the metrics and the training history, and set the operational status to draft. One audited transaction."""
    with transaction.atomic():
        model = AlgorithmModel.objects.select_for_update().get(pk=model.pk)
        code, refused = selectors.reset_learning_refusal(model)
        if refused:
            raise ApplicationError(refused, code=code, status=400)
        cells = list(ModelAdaptation.objects.filter(model=model).order_by("scope", "scope_id")
                     .values("scope", "scope_id", "evidence", "positives", "negatives", "total_reward"))
        version = model.active_version
        base = learners.load(bytes(version.artifact)) if version is not None and version.artifact else {
            "format": learners.ARTIFACT_FORMAT, "modelType": model.model_type, "params": {}}
        learned = {"cells": cells, "modelState": model.model_state or {}, "trainingSamples": model.training_samples,
                   "metrics": model.metrics or {}, "metricsHistory": model.metrics_history or []}
        artifact = json.dumps({**base, "learned": learned}, sort_keys=True, default=str).encode()
        kept = lifecycle_services.version_keep(
            model=model, trigger=VersionTrigger.RESET, artifact=artifact, params=base.get("params") or {},
            metrics=model.metrics or {}, predictors=model.predictors or [], sample_count=model.training_samples)
        cleared, _ = ModelAdaptation.objects.filter(model=model).delete()
        previous_status = model.status
        model.model_state = {}
        model.metrics = {}
        model.metrics_history = []
        model.training_samples = 0
        model.last_learned_at = None
        model.status = OperationalStatus.DRAFT
        model.save(update_fields=["model_state", "metrics", "metrics_history", "training_samples", "last_learned_at",
                                  "status", "updated_at"])
        lifecycle_services.event_record(
            model=model, actor=actor, action="learning.reset", from_value=previous_status,
            to_value=OperationalStatus.DRAFT,
            message=f"Kept the learned state as {kept.label}; cleared {cleared} cell(s)",
            data={"versionNo": kept.version_no, "clearedCells": cleared,
                  "evidence": sum(c["evidence"] for c in cells)})
    return model, kept

"""Scoring one input or a batch on a model's active version, and the feedback that becomes samples."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from django.conf import settings
from django.utils import timezone

from lifecycle.choices import SampleSource, State
from lifecycle.core.errors import ApplicationError, not_found, validation_error
from lifecycle.metrics import SCORES_SERVED
from lifecycle.model_types import CONTINUOUS_TYPES, EXTERNAL_TYPE
from lifecycle.models import AlgorithmModel, ModelVersion
from lifecycle.services import ZDR_NO_FEEDBACK, sample_add_batch

from .. import cards, external, serving
from ..models import Offer, ScoreRequest


def _not_scorable(model: AlgorithmModel) -> ApplicationError:
    if model.state == State.ARCHIVED:
        why = "it is archived; restore it first"
    else:
        why = "it has never been ready; train it first (scoring starts with its first version)"
    return ApplicationError(f"Model {model.key} cannot score: {why}", code="not_scorable", status=409)


def _clean_input(item, index: int) -> dict:
    if isinstance(item, str):
        item = {"content": item}
    if not isinstance(item, dict):
        raise validation_error(f"inputs[{index}] must be an object with features or content")
    unknown = set(item) - {"features", "content", "feedback"}
    if unknown:
        raise validation_error(f"inputs[{index}]: unknown fields {sorted(unknown)}; use features, content, feedback")
    features, content = item.get("features"), item.get("content")
    if features is not None and not isinstance(features, dict):
        raise validation_error(f"inputs[{index}].features must be an object")
    if content is not None and not isinstance(content, str):
        raise validation_error(f"inputs[{index}].content must be text")
    if not features and not (content or "").strip():
        raise validation_error(f"inputs[{index}]: give features or content")
    return {"features": features or None, "content": content or None, "feedback": item.get("feedback")}


@dataclass
class ScoreResult:
    request_id: str
    version: ModelVersion
    cards: list[dict]
    sample_ids: list[list[int]]


def _predict(model: AlgorithmModel, version: ModelVersion, inputs: list[dict]) -> dict[str, list[float]]:
    if model.model_type in CONTINUOUS_TYPES:
        raise ApplicationError(f"A {model.model_type} model ranks offers: use POST /api/v1/recommend",
                               code="not_scorable", status=409)
    loaded = serving.loaded(version, model.model_type)
    rows = [{"features": i["features"], "content": i["content"]} for i in inputs]
    if model.model_type == EXTERNAL_TYPE:
        try:
            # The secret is read from the model's config (shown masked), never from the version.
            return external.predict(loaded["params"], rows,
                                    authorization=(model.config or {}).get("authorization") or "")
        except external.EndpointError as exc:
            paused = exc.retry_after is not None
            raise ApplicationError(f"The external endpoint failed: {exc}", code="endpoint_error",
                                   status=503 if paused else 502, details={"url": loaded["params"]["url"]},
                                   headers={"Retry-After": str(exc.retry_after)} if paused else None) from None
    probs = loaded.predict_proba(rows)
    return {k: v.tolist() for k, v in probs.items()}


def score(*, model: AlgorithmModel, actor, inputs: list, traits: list[str] | None = None,
          feedback: dict | None = None) -> ScoreResult:
    """Score one input or a batch on the active version (also while a retrain runs)."""
    if not model.is_scorable:
        raise _not_scorable(model)
    if not isinstance(inputs, list) or not inputs:
        raise validation_error("Give one input (features or content) or a non-empty inputs list")
    if len(inputs) > settings.SCORE_BATCH_MAX:
        raise ApplicationError(f"{len(inputs)} inputs in one call; at most {settings.SCORE_BATCH_MAX}",
                               code="payload_too_large", status=413)
    cleaned = [_clean_input(item, i) for i, item in enumerate(inputs)]
    if feedback is not None:
        if len(cleaned) != 1:
            raise validation_error("A top-level feedback map goes with one input; in a batch, give each input its "
                                   "own feedback")
        cleaned[0]["feedback"] = feedback
    # One read of the active version: the whole request is answered by it, whatever swaps meanwhile.
    # model_get brought the version along (without its artifact); otherwise read it once, also without.
    if AlgorithmModel.active_version.is_cached(model):
        version = model.active_version
    else:
        version = ModelVersion.objects.defer("artifact", "data_profile").get(pk=model.active_version_id)
    known = list(version.trait_keys) or list(learning_traits(version))
    wanted = traits or known
    missing = [t for t in wanted if t not in known]
    if missing:
        raise validation_error(f"Unknown traits {missing}; this version scores {known}", field="traits")
    probs = _predict(model, version, cleaned)
    cards_out = [cards.card({t: probs[t][i] for t in wanted}, version.metrics) for i in range(len(cleaned))]
    request_id = uuid.uuid4().hex
    sample_ids = [_feedback_samples(model, actor, item, item.get("feedback"), request_id)
                  if item.get("feedback") else [] for item in cleaned]
    # Batches are not kept (feedback goes with each input); nothing is kept under zero data retention.
    keep = cleaned if len(cleaned) <= 100 and not model.zero_data_retention else []
    ScoreRequest.objects.create(
        request_id=request_id, model=model, version=version,
        inputs=[{"features": i["features"], "content": i["content"]} for i in keep],
        results=[c["scores"] for c in cards_out[:100]],
        actor=actor if getattr(actor, "is_authenticated", False) else None)
    SCORES_SERVED.inc(len(cards_out))
    return ScoreResult(request_id=request_id, version=version, cards=cards_out, sample_ids=sample_ids)


def learning_traits(version: ModelVersion) -> list[str]:
    return list((version.params or {}).get("traits") or [])


def _feedback_samples(model, actor, item: dict, feedback, request_id: str) -> list[int]:
    if model.state == State.ARCHIVED:
        raise _not_scorable(model)
    if model.zero_data_retention:
        raise ApplicationError(ZDR_NO_FEEDBACK, code="feature_unavailable", status=409)
    if not isinstance(feedback, dict) or not feedback:
        raise validation_error("feedback must be an object of trait -> label (\"positive\", \"negative\" or 0..1)")
    samples = [{"features": item["features"], "content": item["content"], "labels": {trait: label}}
               for trait, label in feedback.items()]
    for s in samples:
        if s["features"] is None:
            s.pop("features")
        if s["content"] is None:
            s.pop("content")
    result = sample_add_batch(model=model, actor=actor, samples=samples, source=SampleSource.FEEDBACK,
                              request_id=request_id, row_label=lambda i: f"feedback[{list(feedback)[i]}]")
    return result.ids


def feedback_by_request(*, request_id: str, actor, feedback: dict, index: int = 0) -> list[int]:
    """Labels for content scored earlier, by its request id: samples for the next retrain."""
    stored = ScoreRequest.objects.select_related("model").filter(request_id=request_id).first()
    if stored is None:
        raise not_found(f"No score request {request_id!r} (kept {settings.SCORE_REQUEST_RETENTION_DAYS} days)")
    if not 0 <= index < len(stored.inputs):
        raise validation_error(f"index must point at one of the request's {len(stored.inputs)} kept inputs")
    return _feedback_samples(stored.model, actor, stored.inputs[index], feedback, request_id)


def score_requests_prune(*, now=None) -> int:
    from datetime import timedelta

    cutoff = (now or timezone.now()) - timedelta(days=settings.SCORE_REQUEST_RETENTION_DAYS)
    deleted, _ = ScoreRequest.objects.filter(created_at__lt=cutoff).delete()
    return deleted


def offer_features(attributes: dict, offer: Offer, channel: str) -> dict:
    """What a tabular model sees for one candidate: the customer's context and the offer's own attributes."""
    features = {k: v for k, v in (attributes or {}).items() if isinstance(v, (int, float, str, bool)) or v is None}
    features["offer"] = offer.key
    features["offer_category"] = offer.category.key if offer.category_id else None
    features["channel"] = channel or None
    for name, value in (offer.attributes or {}).items():
        if isinstance(value, (int, float, str, bool)):
            features[f"offer_{name}"] = value
    return features

"""Scoring's writes. Outcome weights: how /respond outcomes map to a training signal (seed 001)."""

from __future__ import annotations

import math
import re

from dataclasses import dataclass

import logging

from django.db import transaction

from lifecycle.core.errors import validation_error
from lifecycle.models import AlgorithmModel
from lifecycle.services import event_record

log = logging.getLogger(__name__)

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


# ============================================================================================ score

import random  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402

from django.conf import settings  # noqa: E402
from django.db import IntegrityError  # noqa: E402
from django.db.models import F, Q  # noqa: E402
from django.utils import timezone  # noqa: E402

from lifecycle.choices import TABULAR_TYPES, SampleSource, State  # noqa: E402
from lifecycle.core.errors import ApplicationError, not_found  # noqa: E402
from lifecycle.learners import CONTINUOUS_TYPES, EXTERNAL_TYPE  # noqa: E402
from lifecycle.metrics import LEARNING_CELLS_WRITTEN, SCORES_SERVED  # noqa: E402
from lifecycle.models import ModelVersion  # noqa: E402
from lifecycle.services import sample_add_batch  # noqa: E402

from . import cards, external, learning, selectors, serving  # noqa: E402
from .choices import Classification, Scope  # noqa: E402
from .models import (  # noqa: E402
    Channel,
    DecisionFlow,
    DecisionTrace,
    Interaction,
    ModelAdaptation,
    Offer,
    OutcomeType,
    Recommendation,
    ScoreRequest,
)


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
    keep = cleaned if len(cleaned) <= 100 else []  # batches are not kept: feedback goes with each input
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


# ============================================================================================ decisions


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


@dataclass
class Scorer:
    model: AlgorithmModel
    version: ModelVersion


def _scorer(model: AlgorithmModel | None) -> Scorer | None:
    if model is None or not model.is_scorable or model.status != "active":
        return None
    return Scorer(model, model.active_version)


def _family_for(flow: DecisionFlow | None, family: str) -> str:
    if flow and flow.family:
        return flow.family
    if family:
        return family
    default = getattr(settings, "DECISION_DEFAULT_FAMILY", "")
    if default:
        return default
    families = list(AlgorithmModel.objects.filter(registry_status="champion", status="active")
                    .values_list("family", flat=True).distinct()[:2])
    if len(families) == 1:
        return families[0]
    raise validation_error("Say whose champion decides: give decisionFlowKey (a flow with a family or a pinned "
                           "model) or family", field="decisionFlowKey")


def _cells_for(model: AlgorithmModel, offers: list[Offer], channel: Channel | None, direction: str):
    """Every cell the candidates may read, in one query."""
    # One IN list per scope, not one OR term per cell: the SQL stays small with 200 offers.
    wanted = {Scope.OFFER: {o.key for o in offers}, Scope.CATEGORY: {o.category.key for o in offers if o.category_id},
              Scope.GLOBAL: {""}, Scope.CHANNEL: {channel.key} if channel else set(),
              Scope.DIRECTION: {direction} if direction else set()}
    q = Q()
    for scope, ids in wanted.items():
        if ids:
            q |= Q(scope=scope, scope_id__in=sorted(ids))
    rows = ModelAdaptation.objects.filter(q, model=model).values_list("scope", "scope_id", "evidence",
                                                                      "positives", "negatives")
    return {(s, i): learning.Cell(e, p, n) for s, i, e, p, n in rows}


def _propensities(scorer: Scorer, offers: list[Offer], *, channel: Channel | None, direction: str,
                  attributes: dict, rng: random.Random) -> list[tuple[float, str, str, float]]:
    """(propensity, source, why, ranking key) per offer. The ranking key carries the model type's own
    exploration (a Thompson draw, an epsilon-greedy shuffle); the propensity stays the estimate."""
    model, version = scorer.model, scorer.version
    channel_key = channel.key if channel else ""
    if model.model_type in TABULAR_TYPES or model.model_type == EXTERNAL_TYPE:
        rows = [{"features": offer_features(attributes, o, channel_key), "content": None} for o in offers]
        trait = (model.config or {}).get("propensityTrait") or (version.trait_keys or learning_traits(version))[0]
        probs = _predict(model, version, rows)[trait]
        why = f"{model.key} v{version.version_no} scored trait {trait}"
        return [(float(p), "model", why, float(p)) for p in probs]
    params = serving.loaded(version, model.model_type)["params"]
    if model.model_type == "online_learner":
        state = model.model_state or {}
        weights, dims = state.get("weights", {}), int(params["hashDimensions"])
        why = f"online learner after {state.get('updates', 0)} updates"
        out = []
        for o in offers:
            p = learning.online_predict(weights, learning.hashed(offer_features(attributes, o, channel_key), dims))
            out.append((p, "model", why, p))
        return out
    cells = _cells_for(model, offers, channel, direction)
    out = []
    for o in offers:
        p = learning.propensity({
            Scope.OFFER: cells.get((Scope.OFFER, o.key)),
            Scope.CHANNEL: cells.get((Scope.CHANNEL, channel_key)) if channel else None,
            Scope.DIRECTION: cells.get((Scope.DIRECTION, direction)) if direction else None,
            Scope.CATEGORY: cells.get((Scope.CATEGORY, o.category.key)) if o.category_id else None,
            Scope.GLOBAL: cells.get((Scope.GLOBAL, "")),
        })
        value, key, why = p.value, p.value, p.detail
        if model.model_type == "thompson_bandit":
            key = learning.thompson_draw(p, rng, prior_alpha=params["priorAlpha"], prior_beta=params["priorBeta"])
            why += f"; ranked by a posterior draw ({key:.3f})"
        elif model.model_type == "bayesian":
            value = key = learning.bayesian_mean(p, prior_alpha=params["priorAlpha"], prior_beta=params["priorBeta"])
            why += f"; posterior mean with priors Beta({params['priorAlpha']:g}, {params['priorBeta']:g})"
        out.append((value, p.source, why, key))
    if model.model_type == "epsilon_greedy" and rng.random() < params["epsilon"]:
        out = [(v, src, why + f"; explored: ranked at random (epsilon {params['epsilon']:g})", rng.random())
               for v, src, why, _ in out]
    return out


def recommend(*, actor, customer_id: str, channel: str = "", placement: str = "", limit: int = 5,
              attributes: dict | None = None, decision_flow_key: str = "", family: str = "",
              seed: int | None = None) -> Recommendation:
    from registry import experiments as registry_experiments
    from registry.choices import CHAMPION_ARM, HOLDOUT_ARM
    from registry.models import Experiment

    started = time.perf_counter()
    if not customer_id:
        raise validation_error("customerId is required", field="customerId")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 50:
        raise validation_error("limit must be a whole number from 1 to 50 (default 5)", field="limit")
    attributes = attributes or {}
    if not isinstance(attributes, dict):
        raise validation_error("attributes must be an object", field="attributes")
    flow = None
    if decision_flow_key:
        flow = DecisionFlow.objects.filter(key=decision_flow_key).first()
        if flow is None:
            raise validation_error(f"No decision flow {decision_flow_key!r}", field="decisionFlowKey")
    channel_row = Channel.objects.filter(key=channel).first() if channel else None
    if channel and channel_row is None:
        raise validation_error(f"No channel {channel!r}; create it in the catalog first", field="channel")
    direction = channel_row.direction if channel_row else ""

    offers_qs = (flow.offers.all() if flow and flow.offers.exists() else Offer.objects.all())
    offers = list(offers_qs.filter(active=True).select_related("category").prefetch_related("channels"))
    funnel = {"candidateCount": len(offers)}
    if channel_row:
        offers = [o for o in offers if not o.channels.all() or channel_row in o.channels.all()]
    funnel["afterQualification"] = len(offers)

    # Who decides: the flow's pinned model, else the family's champion, or the experiment's arm.
    champion_family = ""
    arm, experiment = "", None
    if flow and flow.model_key:
        scorer = _scorer(AlgorithmModel.objects.select_related("active_version").filter(key=flow.model_key).first())
        if scorer is None:
            raise ApplicationError(f"The flow's pinned model {flow.model_key!r} is not active and ready",
                                   code="not_scorable", status=409)
    else:
        champion_family = _family_for(flow, family)
        champion = (AlgorithmModel.objects.select_related("active_version")
                    .filter(family=champion_family, registry_status="champion").first())
        scorer = _scorer(champion)
        exp_qs = Experiment.objects.filter(status="active")
        experiment = (exp_qs.filter(key=flow.experiment_key).first() if flow and flow.experiment_key
                      else exp_qs.filter(family=champion_family).first())
        if experiment is not None:
            arm = registry_experiments.experiment_assign(experiment=experiment, customer_id=customer_id)
            if arm not in (CHAMPION_ARM, HOLDOUT_ARM):
                challenger = _scorer(AlgorithmModel.objects.select_related("active_version").filter(key=arm).first())
                scorer = challenger or scorer
        if scorer is None:
            raise ApplicationError(f"Family {champion_family!r} has no active, scorable champion; promote one",
                                   code="not_scorable", status=409)
    rng = random.Random(seed if seed is not None else uuid.uuid4().int)
    if arm == HOLDOUT_ARM:
        # The holdout sees the catalog in a random order: the baseline the models are measured against.
        scored = [(0.5, "holdout", "holdout: no model decides, random order", rng.random()) for _ in offers]
    else:
        scored = _propensities(scorer, offers, channel=channel_row, direction=direction, attributes=attributes,
                               rng=rng) if offers else []
    shadows = []
    if champion_family:
        for shadow in (AlgorithmModel.objects.select_related("active_version")
                       .filter(family=champion_family, registry_status="shadow", status="active")):
            s = _scorer(shadow)
            if s is not None and offers:
                try:
                    shadows.append((s, _propensities(s, offers, channel=channel_row, direction=direction,
                                                     attributes=attributes, rng=rng)))
                except ApplicationError:
                    continue  # a shadow never breaks a decision
    ranked = sorted(range(len(offers)), key=lambda i: (-scored[i][3], offers[i].key))[:limit]
    rec_id = uuid.uuid4().hex
    chosen = [{
        "rank": r + 1, "offerId": offers[i].key, "offerName": offers[i].name,
        "category": offers[i].category.key if offers[i].category_id else None,
        "propensity": round(scored[i][0], 6), "propensitySource": scored[i][1],
        "modelKey": scorer.model.key, "versionNo": scorer.version.version_no,
    } for r, i in enumerate(ranked)]
    recommendation = Recommendation.objects.create(
        recommendation_id=rec_id, customer_id=customer_id, channel=channel, direction=direction,
        placement=placement, decision_flow_key=decision_flow_key, model=scorer.model, version=scorer.version,
        experiment_key=experiment.key if experiment else "", arm=arm, attributes=attributes, offers=chosen)
    funnel["finalCount"] = len(chosen)
    if settings.DECISION_TRACE_SAMPLE_RATE >= 1 or rng.random() < settings.DECISION_TRACE_SAMPLE_RATE:
        ranks = {i: r + 1 for r, i in enumerate(ranked)}
        DecisionTrace.objects.create(
            recommendation=recommendation, customer_id=customer_id, decision_flow_key=decision_flow_key,
            family=champion_family, funnel=funnel, selected_offers=[c["offerId"] for c in chosen],
            experiment_assignment={"experimentKey": experiment.key, "arm": arm} if experiment else {},
            model_keys=[scorer.model.key, *[s.model.key for s, _ in shadows]],
            scoring_results=[{
                "offerId": o.key, "score": round(scored[i][0], 6), "rank": ranks.get(i),
                "modelKey": scorer.model.key, "modelType": scorer.model.model_type,
                "versionNo": scorer.version.version_no, "propensitySource": scored[i][1], "why": scored[i][2],
                "arm": arm or None,
                "shadowScores": [{"modelKey": s.model.key, "versionNo": s.version.version_no,
                                  "score": round(vals[i][0], 6), "propensitySource": vals[i][1]}
                                 for s, vals in shadows],
            } for i, o in enumerate(offers)],
            total_duration_ms=round((time.perf_counter() - started) * 1000, 3))
    return recommendation


# ============================================================================================ respond


def outcome_weight(model: AlgorithmModel | None, outcome: OutcomeType) -> tuple[float, str]:
    """(weight, warning). Explicit weights win; otherwise +1 positive, -1 negative, else 0 with the seed's warning."""
    weights = model.outcome_weights if model is not None else None
    if weights is not None and outcome.key in weights:
        return float(weights[outcome.key]), ""
    default = {Classification.POSITIVE: 1.0, Classification.NEGATIVE: -1.0}.get(outcome.classification, 0.0)
    if outcome.category == "impression" and (weights is None or outcome.key not in weights):
        return default, ""  # impressions are neutral by design, not a misconfiguration
    if default == 0.0 or weights is not None:
        return default, f"no explicit weight for outcome {outcome.key}; using default ({default:+g})"
    return default, ""


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


IDEMPOTENCY_KEY_REUSED = ("This Idempotency-Key was already used for a different request. Send a new key for "
                          "a new request; a retry must repeat the first request exactly.")


def _request_hash(**fields) -> str:
    """The request as the service received it, canonical: key order, aliases and whitespace do not matter."""
    import hashlib
    import json

    return hashlib.sha256(json.dumps(fields, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def _idempotent_replay(*, user, scope: str, idempotency_key: str, request_hash: str) -> dict | None:
    """The stored answer when this caller already sent this key to this endpoint with this request; a 422
    when the key came with another request; None when the key is new."""
    previous = Interaction.objects.filter(actor=user, scope=scope, idempotency_key=idempotency_key).first()
    if previous is None:
        return None
    if previous.request_hash != request_hash:
        raise ApplicationError(IDEMPOTENCY_KEY_REUSED, code="idempotency_key_reused", status=422,
                               details={"idempotencyKey": idempotency_key})
    return previous.response


def respond(*, actor, idempotency_key: str, customer_id: str, outcome: str, recommendation_id: str = "",
            rank: int | None = None, offer_id: str = "", channel: str = "", direction: str = "",
            conversion_value: float | None = None, timestamp=None) -> tuple[dict, bool]:
    """Record an outcome once per caller and idempotency key and let the deciding model learn from it.
    Returns (answer, replayed)."""
    from registry import experiments as registry_experiments
    from registry import services as registry_services
    from registry.models import Experiment

    if not idempotency_key:
        raise validation_error("An idempotency key is required (Idempotency-Key header or idempotencyKey), so that "
                               "a retried call counts once", field="idempotencyKey")
    user = actor if getattr(actor, "is_authenticated", False) else None
    key_scope = {"user": user, "scope": "respond", "idempotency_key": idempotency_key,
                 "request_hash": _request_hash(
                     customer_id=customer_id, outcome=outcome, recommendation_id=recommendation_id, rank=rank,
                     offer_id=offer_id, channel=channel, direction=direction, conversion_value=conversion_value,
                     timestamp=timestamp.isoformat() if timestamp else None)}
    previous = _idempotent_replay(**key_scope)
    if previous is not None:
        return previous, True
    if not customer_id:
        raise validation_error("customerId is required", field="customerId")
    outcome_type = selectors.outcome_type_get(outcome)
    if outcome_type is None:
        known = ", ".join(selectors.outcome_type_list().values_list("key", flat=True))
        raise validation_error(f"Unknown outcome {outcome!r}; registered outcome types: {known}", field="outcome")
    recommendation = None
    if recommendation_id:
        recommendation = Recommendation.objects.select_related("model").filter(
            recommendation_id=recommendation_id).first()
        if recommendation is None:
            raise not_found(f"No recommendation {recommendation_id!r}")
        if recommendation.customer_id != customer_id:
            raise validation_error("This recommendation was made for another customer", field="customerId")
        if rank is not None:
            if not 1 <= rank <= len(recommendation.offers):
                raise validation_error(f"rank must be 1..{len(recommendation.offers)} for this recommendation",
                                       field="rank")
            offer_id = recommendation.offers[rank - 1]["offerId"]
        channel = channel or recommendation.channel
        direction = direction or recommendation.direction
    elif not offer_id:
        raise validation_error("Give recommendationId and rank, or offerId", field="offerId")
    offer = Offer.objects.select_related("category").filter(key=offer_id).first() if offer_id else None
    if offer_id and offer is None:
        raise validation_error(f"No offer {offer_id!r}", field="offerId")
    if channel and not direction:
        direction = Channel.objects.filter(key=channel).values_list("direction", flat=True).first() or ""
    model = recommendation.model if recommendation else None
    weight, warning = outcome_weight(model, outcome_type)
    if warning:
        log.warning(warning)
    now = timezone.now()
    answer = {
        "interactionId": None, "recommendationId": recommendation.recommendation_id if recommendation else None,
        "customerId": customer_id, "offerId": offer.key if offer else None, "rank": rank, "outcome": outcome,
        "classification": outcome_type.classification, "weight": weight, "warning": warning or None,
        "modelKey": model.key if model else None, "learned": False, "status": "recorded",
        "timestamp": (timestamp or now).isoformat(),
    }
    try:
        with transaction.atomic():
            interaction = Interaction.objects.create(
                actor=user, scope=key_scope["scope"], idempotency_key=idempotency_key,
                request_hash=key_scope["request_hash"], recommendation=recommendation, customer_id=customer_id,
                offer_key=offer.key if offer else "", rank=rank, outcome=outcome,
                classification=outcome_type.classification, weight=weight, channel=channel, direction=direction,
                conversion_value=conversion_value, model=model, warning=warning, timestamp=timestamp or now)
            answer["interactionId"] = interaction.pk
            if model is not None and weight != 0:
                answer["learned"] = _learn(model, offer=offer, channel=channel, direction=direction, weight=weight,
                                           attributes=recommendation.attributes, actor=actor)
                if model.registry_status == "champion":
                    registry_services.live_record_outcome(model=model, success=weight > 0)
            if model is not None and offer is not None:
                _learn_shadows(model, outcome_type, offer=offer, channel=channel, direction=direction,
                               attributes=recommendation.attributes if recommendation else {}, actor=actor)
            if recommendation and recommendation.experiment_key and weight != 0:
                experiment = Experiment.objects.filter(key=recommendation.experiment_key).first()
                if experiment is not None:
                    registry_experiments.experiment_record_outcome(experiment=experiment, arm=recommendation.arm,
                                                                   success=weight > 0, at=timestamp or now)
            interaction.response = answer
            interaction.save(update_fields=["response"])
    except IntegrityError:
        # A concurrent call with the same key won the race: answer what it recorded (or 422 for another body).
        previous = _idempotent_replay(**key_scope)
        if previous is None:
            raise
        return previous, True
    return answer, False


def _learn_shadows(model: AlgorithmModel, outcome_type: OutcomeType, *, offer, channel, direction, attributes,
                   actor) -> None:
    """The family's continuously learning shadows learn from the outcomes of the decisions they scored beside
    the deciding model, each by its own outcome weights, so a shadow warms up before it ever decides
    (otherwise it would stay at its priors and every comparison with the champion would be meaningless)."""
    if not model.family:
        return
    shadows = (AlgorithmModel.objects.select_related("active_version")
               .filter(family=model.family, registry_status="shadow", status="active", state=State.READY,
                       model_type__in=CONTINUOUS_TYPES, active_version__isnull=False)
               .exclude(pk=model.pk).order_by("key"))
    for shadow in shadows:
        weight, _ = outcome_weight(shadow, outcome_type)
        if weight:
            _learn(shadow, offer=offer, channel=channel, direction=direction, weight=weight, attributes=attributes,
                   actor=actor)


def _learn(model: AlgorithmModel, *, offer, channel, direction, weight, attributes, actor) -> bool:
    now = timezone.now()
    if model.model_type in ("thompson_bandit", "epsilon_greedy", "bayesian"):
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
    if model.model_type in TABULAR_TYPES and offer is not None:
        # A weighted sample for the next retrain; the serving version does not change until then.
        keys = ModelVersion.objects.filter(pk=model.active_version_id).values_list("trait_keys", flat=True).first()
        trait = (model.config or {}).get("propensityTrait") or (keys[0] if keys else "")  # no artifact read
        if trait:
            sample_add_batch(model=model, actor=actor, source=SampleSource.RESPONSE, samples=[{
                "features": offer_features(attributes, offer, channel),
                "labels": {trait: 1.0 if weight > 0 else 0.0}, "weight": min(abs(weight), 1000.0)}])
            return True
    return False



def outcome_types_ensure_defaults() -> int:
    """The ten default outcome types, made on first access when missing (as the seed product does; the
    migration makes them too, but a flushed database must not lose them for good). Safe to race."""
    from .choices import DEFAULT_OUTCOME_TYPES

    before = OutcomeType.objects.count()
    OutcomeType.objects.bulk_create([
        OutcomeType(key=key, name=name, classification=classification, category=category, is_system=True,
                    ordinal=ordinal)
        for ordinal, (key, name, classification, category) in enumerate(DEFAULT_OUTCOME_TYPES)
    ], ignore_conflicts=True)
    return OutcomeType.objects.count() - before



def catalog_record(*, actor, action: str, row) -> None:
    """The audit row of a catalog write (created, updated, deleted), for the pages and the API alike."""
    event_record(model=None, actor=actor, action=f"catalog.{action}", to_value=row.key,
                 data={"kind": row._meta.model_name})

"""Decisions: recommend ranks a catalog's offers for one customer by the deciding model, and respond records
what the customer did once per idempotency key and lets the deciding model learn from it."""

from __future__ import annotations

import hashlib
import json
import logging
import random
import time
import uuid
from dataclasses import dataclass
from typing import NamedTuple

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from lifecycle.choices import OperationalStatus, RegistryStatus
from lifecycle.core.errors import ApplicationError, not_found, validation_error
from lifecycle.core.timestamps import iso
from lifecycle.model_types import EXTERNAL_TYPE, TABULAR_TYPES
from lifecycle.models import AlgorithmModel, ModelVersion
from registry import experiments as registry_experiments
from registry import services as registry_services
from registry.choices import CHAMPION_ARM, HOLDOUT_ARM, ExperimentStatus
from registry.models import Experiment

from .. import learning, selectors, serving
from . import policies
from ..choices import OutcomeCategory, Scope
from ..models import (Channel, Creative, DecisionFlow, DecisionTrace, Impression, Interaction, ModelAdaptation, Offer,
                      Recommendation, compact_results)
from .catalog import outcome_type_for_response
from .learning import _learn, _learn_shadows
from .score import _predict, learning_traits, offer_features
from .weights import outcome_weight

log = logging.getLogger(__name__)


@dataclass
class Scorer:
    model: AlgorithmModel
    version: ModelVersion


def _scorer(model: AlgorithmModel | None) -> Scorer | None:
    if model is None or not model.is_scorable or model.status != OperationalStatus.ACTIVE:
        return None
    return Scorer(model, model.active_version)


class CategoryRef(NamedTuple):
    key: str


class OfferRow(NamedTuple):
    """An active offer as recommend reads it: the fields the filters, the models and the answer use, without a
    model instance (and a category instance) per offer. Its category is shared by the offers that name it."""

    pk: int
    key: str
    name: str
    attributes: dict
    category_id: int | None
    category: CategoryRef | None


def _offer_rows(offers_qs) -> list[OfferRow]:
    categories: dict[int, CategoryRef] = {}
    out = []
    for pk, key, name, attributes, category_id, category_key in offers_qs.values_list(
            "pk", "key", "name", "attributes", "category_id", "category__key"):
        category = None
        if category_id is not None:
            category = categories.get(category_id)
            if category is None:
                category = categories[category_id] = CategoryRef(category_key)
        out.append(OfferRow(pk, key, name, attributes, category_id, category))
    return out


def _family_for(flow: DecisionFlow | None, family: str) -> str:
    if flow and flow.family:
        return flow.family
    if family:
        return family
    default = getattr(settings, "DECISION_DEFAULT_FAMILY", "")
    if default:
        return default
    families = list(AlgorithmModel.objects.filter(registry_status=RegistryStatus.CHAMPION, status=OperationalStatus.ACTIVE)
                    .values_list("family", flat=True).distinct()[:2])
    if len(families) == 1:
        return families[0]
    raise validation_error("Say whose champion decides: give decisionFlowKey (a flow with a family or a pinned "
                           "model) or family", field="decisionFlowKey")


def _cells_for(model: AlgorithmModel, offers: list[OfferRow], channel: Channel | None, direction: str,
               offer_keys=None):
    """Every cell the candidates may read, in one query. `offer_keys`, a query of offer keys that holds the
    candidates' (the active offers they were picked from), stands for their keys in the SQL: one subquery
    instead of a parameter per offer, which costs more to compose and bind than the rows it reads."""
    # One IN list per scope, not one OR term per cell: the SQL stays small with 200 offers.
    q = Q(scope=Scope.OFFER, scope_id__in=offer_keys if offer_keys is not None else sorted({o.key for o in offers}))
    broader = {Scope.CATEGORY: {o.category.key for o in offers if o.category_id}, Scope.GLOBAL: {""},
               Scope.CHANNEL: {channel.key} if channel else set(), Scope.DIRECTION: {direction} if direction else set()}
    for scope, ids in broader.items():
        if ids:
            q |= Q(scope=scope, scope_id__in=sorted(ids))
    rows = ModelAdaptation.objects.filter(q, model=model).values_list("scope", "scope_id", "evidence",
                                                                      "positives", "negatives")
    return {(s, i): learning.Cell(e, p, n) for s, i, e, p, n in rows}


def _propensities(scorer: Scorer, offers: list[OfferRow], *, channel: Channel | None, direction: str,
                  attributes: dict, rng: random.Random, offer_keys=None) -> list[tuple[float, str, str, float]]:
    """(propensity, source, why, ranking key) per offer. The ranking key carries the model type's own
    exploration (a Thompson draw, Bayes-UCB's bound, an epsilon-greedy shuffle); the propensity stays the
    estimate (for cell learners the seed's, see scoring.learning.score_cells)."""
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
    cells = _cells_for(model, offers, channel, direction, offer_keys)
    candidates = _candidates(cells, offers, channel_key, direction)
    return [(s.propensity, s.source, s.why, s.key)
            for s in learning.score_cells(model.model_type, params, candidates, rng)]


def _candidates(cells: dict, offers, channel_key: str, direction: str) -> list[learning.Candidate]:
    """Each offer's cells by scope (from _cells_for) and the ids of its broader cells. The broader cells are the
    same for every offer of a category: looked up once, and shared."""
    offer_scope, category_scope = str(Scope.OFFER), str(Scope.CATEGORY)
    shared = {str(Scope.CHANNEL): cells.get((Scope.CHANNEL, channel_key)) if channel_key else None,
              str(Scope.DIRECTION): cells.get((Scope.DIRECTION, direction)) if direction else None}
    global_cell = cells.get((Scope.GLOBAL, ""))
    by_category: dict[str, tuple[dict, dict]] = {}
    candidates = []
    for o in offers:
        category = o.category.key if o.category_id else ""
        tier = by_category.get(category)
        if tier is None:
            tier = by_category[category] = (
                {**shared, category_scope: cells.get((Scope.CATEGORY, category)) if category else None,
                 str(Scope.GLOBAL): global_cell},
                {str(Scope.CHANNEL): channel_key, str(Scope.DIRECTION): direction, category_scope: category})
        candidates.append(learning.Candidate(cells={offer_scope: cells.get((offer_scope, o.key)), **tier[0]},
                                             names=tier[1]))
    return candidates


def recommend(*, actor, customer_id: str, channel: str = "", placement: str = "", limit: int = 5,
              attributes: dict | None = None, decision_flow_key: str = "", family: str = "",
              seed: int | None = None) -> Recommendation:
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

    pipeline, clock = [], time.perf_counter()

    def stage(name: str, candidates: int, passed: int, since: float) -> float:
        now_ = time.perf_counter()
        pipeline.append({"stage": name, "candidates": candidates, "passed": passed,
                         "durationMs": round((now_ - since) * 1000, 3)})
        return now_

    offers_qs = (flow.offers.all() if flow and flow.offers.exists() else Offer.objects.all())
    offers = _offer_rows(offers_qs.filter(active=True))
    offer_keys = offers_qs.filter(active=True).values("key")
    funnel = {"candidateCount": len(offers)}
    clock = stage("candidates", len(offers), len(offers), clock)
    if channel_row:
        # An offer goes out on its channels, or on any when it names none. One query on the link table, as
        # (offer, channel) pairs: no channel rows or related managers per offer.
        links = Offer.channels.through.objects.filter(offer__in=offers_qs.filter(active=True).values("pk"))
        named, here = set(), set()
        for offer_id, channel_id in links.values_list("offer_id", "channel_id"):
            named.add(offer_id)
            if channel_id == channel_row.pk:
                here.add(offer_id)
        offers = [o for o in offers if o.pk not in named or o.pk in here]
    funnel["afterQualification"] = len(offers)
    clock = stage("qualification", funnel["candidateCount"], len(offers), clock)
    now = timezone.now()
    rules = policies.active_rules()
    # What responses suppress is known now; the impression caps are counted under the customer's lock below.
    offers, suppression_results = policies.suppress(customer_id, offers, rules, now=now)
    funnel["afterSuppression"] = len(offers)
    clock = stage("suppression", funnel["afterQualification"], len(offers), clock)
    suppression_stage = pipeline[-1]
    contact_policies = policies.active_policies(channel_row)

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
                    .filter(family=champion_family, registry_status=RegistryStatus.CHAMPION).first())
        scorer = _scorer(champion)
        exp_qs = Experiment.objects.filter(status=ExperimentStatus.ACTIVE)
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
    clock = time.perf_counter()  # who decides is part of scoring
    rec_id = uuid.uuid4().hex
    # The recommendation id seeds the request's random numbers (draws, tie-breaks), so its trace replays.
    rng = random.Random(seed if seed is not None else int(rec_id, 16))
    if arm == HOLDOUT_ARM:
        # The holdout sees the catalog in a random order: the baseline the models are measured against.
        scored = [(0.5, "holdout", "holdout: no model decides, random order", rng.random()) for _ in offers]
    else:
        scored = _propensities(scorer, offers, channel=channel_row, direction=direction, attributes=attributes,
                               rng=rng, offer_keys=offer_keys) if offers else []
    shadows = []
    if champion_family:
        for shadow in (AlgorithmModel.objects.select_related("active_version")
                       .filter(family=champion_family, registry_status=RegistryStatus.SHADOW,
                               status=OperationalStatus.ACTIVE)):
            s = _scorer(shadow)
            if s is not None and offers:
                try:
                    shadows.append((s, _propensities(s, offers, channel=channel_row, direction=direction,
                                                     attributes=attributes, rng=rng, offer_keys=offer_keys)))
                except ApplicationError:
                    continue  # a shadow never breaks a decision
    scoring_ms = round((time.perf_counter() - clock) * 1000, 3)
    with transaction.atomic():
        clock = time.perf_counter()
        # The suppression rules' impression caps and the contact policy's count are one step per customer with
        # the impressions they allow: two concurrent recommends cannot both see room for the last one.
        counts = policies.locked_counts(customer_id, rules, contact_policies, now=now)
        excluded: set[int] = set()
        capped = [r for r in rules if r.max_impressions]
        if capped and counts is not None and offers:
            kept, late = policies.suppress(customer_id, offers, capped, now=now, counts=counts, by_outcome=False)
            kept_ids = {id(o) for o in kept}
            excluded = {i for i, o in enumerate(offers) if id(o) not in kept_ids}
            suppression_results += late
            funnel["afterSuppression"] = len(offers) - len(excluded)
            suppression_stage["passed"] = funnel["afterSuppression"]
        allowance, contact_results = policies.contact_allowance(customer_id, contact_policies, now=now,
                                                                counts=counts)
        eligible = funnel["afterSuppression"]
        funnel["afterContactPolicy"] = eligible if allowance is None else min(eligible, allowance)
        pipeline.append({"stage": "contactPolicy", "candidates": funnel["afterSuppression"],
                         "passed": funnel["afterContactPolicy"], "durationMs": round((time.perf_counter() - clock)
                                                                                     * 1000, 3)})
        pipeline.append({"stage": "scoring", "candidates": len(offers), "passed": len(offers),
                         "durationMs": scoring_ms})
        clock = time.perf_counter()
        recommendation, chosen, ranked = _record_recommendation(
            rec_id=rec_id, customer_id=customer_id, channel=channel, direction=direction, placement=placement,
            decision_flow_key=decision_flow_key, scorer=scorer, experiment=experiment, arm=arm,
            attributes=attributes, offers=offers, scored=scored, rng=rng,
            limit=limit if allowance is None else min(limit, allowance), now=now,
            write_impressions=not (channel_row and channel_row.tracks_impressions), excluded=excluded)
        stage("ranking", funnel["afterContactPolicy"], len(chosen), clock)
    funnel["finalCount"] = len(chosen)
    if settings.DECISION_TRACE_SAMPLE_RATE >= 1 or rng.random() < settings.DECISION_TRACE_SAMPLE_RATE:
        ranks = {i: r + 1 for r, i in enumerate(ranked)}
        DecisionTrace.objects.create(
            recommendation=recommendation, customer_id=customer_id, decision_flow_key=decision_flow_key,
            family=champion_family, funnel=funnel, pipeline=pipeline, suppression_results=suppression_results,
            contact_policy_results=contact_results, selected_offers=[c["offerId"] for c in chosen],
            experiment_assignment={"experimentKey": experiment.key, "arm": arm} if experiment else {},
            model_keys=[scorer.model.key, *[s.model.key for s, _ in shadows]],
            scoring_results=_scoring_results(offers, scored, ranks, scorer, arm, shadows),
            total_duration_ms=round((time.perf_counter() - started) * 1000, 3))
    return recommendation


def _scoring_results(offers, scored, ranks: dict[int, int], scorer: Scorer, arm: str, shadows) -> dict:
    """Every candidate's result for the trace, in candidate order, in the compact form `expand_results` reads:
    the deciding model and arm once, then a row per candidate with each shadow's score and source."""
    rows = [[o.key, round(propensity, 6), ranks.get(i), source, why] for i, (o, (propensity, source, why, _))
            in enumerate(zip(offers, scored))]
    for _, vals in shadows:
        for row, (score, source, *_) in zip(rows, vals):
            row += (round(score, 6), source)
    return compact_results(scorer.model.key, scorer.model.model_type, scorer.version.version_no, arm or None,
                           [[s.model.key, s.version.version_no] for s, _ in shadows], rows)


def _record_recommendation(*, rec_id, customer_id, channel, direction, placement, decision_flow_key, scorer,
                           experiment, arm, attributes, offers, scored, rng, limit, now, write_impressions=True,
                           excluded=frozenset()):
    """Rank all but the `excluded` offers (indexes), then write the recommendation and one impression per offer
    shown, unless the channel reports its impressions itself."""
    eligible = [i for i in range(len(scored)) if i not in excluded]
    ranked = ([eligible[j] for j in learning.rank([scored[i][3] for i in eligible], limit, rng)]
              if limit > 0 else [])
    chosen = [{
        "rank": r + 1, "offerId": offers[i].key, "offerName": offers[i].name,
        "category": offers[i].category.key if offers[i].category_id else None,
        "propensity": round(scored[i][0], 6), "propensitySource": scored[i][1],
        "modelKey": scorer.model.key, "versionNo": scorer.version.version_no,
    } for r, i in enumerate(ranked)]
    recommendation = Recommendation.objects.create(
        recommendation_id=rec_id, customer_id=customer_id, channel=channel, direction=direction,
        placement=placement, decision_flow_key=decision_flow_key, model=scorer.model, version=scorer.version,
        experiment_key=experiment.key if experiment else "", arm=arm, attributes=attributes, offers=chosen,
        created_at=now)
    if write_impressions:
        Impression.objects.bulk_create([
            Impression(customer_id=customer_id, offer_key=c["offerId"], category_key=c["category"] or "",
                       channel=channel, direction=direction, recommendation=recommendation, created_at=now)
            for c in chosen])
    return recommendation, chosen, ranked


IDEMPOTENCY_KEY_REUSED = ("This Idempotency-Key was already used for a different request. Send a new key for "
                          "a new request; a retry must repeat the first request exactly.")


def _request_hash(**fields) -> str:
    """The request as the service received it, canonical: key order, aliases and whitespace do not matter."""
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


def _learner_without_recommendation(*, decision_flow_key: str, family: str) -> AlgorithmModel:
    """Whose cells a response without a recommendation teaches: the flow's pinned model, or the champion of the
    family given (or the flow's, or the only one); refused when nobody can be named, never silently dropped."""
    flow = None
    if decision_flow_key:
        flow = DecisionFlow.objects.filter(key=decision_flow_key).first()
        if flow is None:
            raise not_found(f"No decision flow {decision_flow_key!r}")
        if flow.model_key:
            pinned = AlgorithmModel.objects.filter(key=flow.model_key).first()
            if pinned is None:
                raise ApplicationError(f"Decision flow {flow.key} pins model {flow.model_key!r}, which does not exist",
                                       code="not_scorable", status=409)
            return pinned
    family = _family_for(flow, family)
    champion = AlgorithmModel.objects.filter(family=family, registry_status=RegistryStatus.CHAMPION).first()
    if champion is None:
        raise ApplicationError(f"Family {family!r} has no champion to learn from this response; promote one, or "
                               "give the recommendationId the offer was shown under", code="not_scorable",
                               status=409, details={"family": family})
    return champion


def respond(*, actor, idempotency_key: str, customer_id: str, outcome: str, recommendation_id: str = "",
            rank: int | None = None, offer_id: str = "", channel: str = "", direction: str = "",
            conversion_value: float | None = None, timestamp=None, family: str = "",
            decision_flow_key: str = "", creative_id: str = "") -> tuple[dict, bool]:
    """Record an outcome once per caller and idempotency key and let the deciding model learn from it: the
    recommendation's model, or without one the champion of the family (or flow) the response names.
    Returns (answer, replayed)."""
    if not idempotency_key:
        raise validation_error("An idempotency key is required (Idempotency-Key header or idempotencyKey), so that "
                               "a retried call counts once", field="idempotencyKey")
    user = actor if getattr(actor, "is_authenticated", False) else None
    key_scope = {"user": user, "scope": "respond", "idempotency_key": idempotency_key,
                 "request_hash": _request_hash(
                     customer_id=customer_id, outcome=outcome, recommendation_id=recommendation_id, rank=rank,
                     offer_id=offer_id, channel=channel, direction=direction, conversion_value=conversion_value,
                     timestamp=timestamp.isoformat() if timestamp else None,
                     # Only when given, so the keys of calls recorded before these fields existed still replay.
                     **{k: v for k, v in (("family", family), ("decision_flow_key", decision_flow_key),
                                          ("creative_id", creative_id)) if v})}
    previous = _idempotent_replay(**key_scope)
    if previous is not None:
        return previous, True
    if not customer_id:
        raise validation_error("customerId is required", field="customerId")
    outcome_type = outcome_type_for_response(outcome)
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
        # The recommendation says where the offer went: a body that says otherwise is a mistake, not an override.
        for name, given, recorded in (("channelId", channel, recommendation.channel),
                                      ("direction", direction, recommendation.direction)):
            if given and recorded and given != recorded:
                raise validation_error(f"{name} {given!r} contradicts recommendation {recommendation_id}, which went "
                                       f"out as {recorded!r}; leave it out or send {recorded!r}", field=name)
        channel = channel or recommendation.channel
        direction = direction or recommendation.direction
    if creative_id:
        # A creative names its offer (contract B8): it stands for offerId, and must agree with one given.
        creative = Creative.objects.select_related("offer").filter(key=creative_id).first()
        if creative is None:
            raise validation_error(f"No creative {creative_id!r}; create it in the catalog first", field="creativeId")
        if offer_id and offer_id != creative.offer.key:
            raise validation_error(f"creativeId {creative_id!r} belongs to offer {creative.offer.key!r}, not "
                                   f"{offer_id!r}", field="creativeId")
        offer_id = creative.offer.key
    if not recommendation and not offer_id:
        raise validation_error("Give recommendationId and rank, creativeId, or offerId", field="offerId")
    offer = Offer.objects.select_related("category").filter(key=offer_id).first() if offer_id else None
    if offer_id and offer is None:
        raise validation_error(f"No offer {offer_id!r}", field="offerId")
    if channel and not direction:
        direction = Channel.objects.filter(key=channel).values_list("direction", flat=True).first() or ""
    model = recommendation.model if recommendation else _learner_without_recommendation(
        decision_flow_key=decision_flow_key, family=family)
    weight, warning = outcome_weight(model, outcome_type)
    if warning:
        log.warning(warning)
    now = timezone.now()
    answer = {
        "interactionId": None, "recommendationId": recommendation.recommendation_id if recommendation else None,
        "customerId": customer_id, "offerId": offer.key if offer else None, "rank": rank, "outcome": outcome,
        "classification": outcome_type.classification, "weight": weight, "warning": warning or None,
        "modelKey": model.key if model else None, "learned": False, "status": "recorded",
        "timestamp": iso(timestamp or now),
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
            if offer is not None and outcome_type.category == OutcomeCategory.IMPRESSION and channel and \
                    Channel.objects.filter(key=channel, tracks_impressions=True).exists():
                # The channel's own report of a showing is the impression its suppression and contact policy count.
                Impression.objects.create(
                    customer_id=customer_id, offer_key=offer.key,
                    category_key=offer.category.key if offer.category_id else "", channel=channel,
                    direction=direction, recommendation=recommendation, created_at=timestamp or now)
            if model is not None and weight != 0:
                answer["learned"] = _learn(model, offer=offer, channel=channel, direction=direction, weight=weight,
                                           attributes=recommendation.attributes if recommendation else {},
                                           actor=actor)
                if model.registry_status == RegistryStatus.CHAMPION:
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


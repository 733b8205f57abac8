import statistics

from django.db.models import QuerySet

from lifecycle import selectors as lifecycle_selectors
from lifecycle.core.keys import parse_id
from lifecycle.core.timestamps import iso
from lifecycle.model_types import CONTINUOUS_TYPES
from lifecycle.models import AlgorithmModel
from registry import stats
from registry.choices import CHAMPION_ARM

from .choices import EVIDENCE_THRESHOLDS, READ_ORDER, SMOOTHING_WEIGHT, Classification, OutcomeCategory
from .models import (Category, Channel, ContactPolicy, Creative, DecisionFlow, DecisionTrace, Interaction,
                     ModelAdaptation, Offer, OutcomeType, SuppressionRule, expand_results)


def trace_list(*, customer_id: str = "", request_id: str = "", offer: str = "", model: str = "", since=None,
               until=None) -> QuerySet[DecisionTrace]:
    return trace_filter(DecisionTrace.objects.select_related("recommendation"), customer_id=customer_id,
                        request_id=request_id, offer=offer, model=model, since=since, until=until)


def trace_filter(qs: QuerySet[DecisionTrace], *, customer_id: str = "", request_id: str = "", offer: str = "",
                 model: str = "", since=None, until=None) -> QuerySet[DecisionTrace]:
    """`offer` and `model` match a key among those the trace returned or consulted."""
    if customer_id:
        qs = qs.filter(customer_id=customer_id)
    if request_id:
        qs = qs.filter(recommendation__recommendation_id=request_id)
    if offer:
        qs = qs.filter(selected_offers__icontains=f'"{offer}"')
    if model:
        qs = qs.filter(model_keys__icontains=f'"{model}"')
    if since:
        qs = qs.filter(created_at__gte=since)
    if until:
        qs = qs.filter(created_at__lt=until)
    return qs


def adaptations(model: AlgorithmModel) -> list[dict]:
    order = {scope: i for i, scope in enumerate(READ_ORDER)}
    rows = sorted(ModelAdaptation.objects.filter(model=model), key=lambda c: (order[c.scope], c.scope_id))
    out = []
    for c in rows:
        total = c.positives + c.negatives
        threshold = EVIDENCE_THRESHOLDS[c.scope]
        out.append({"scope": c.scope, "scopeId": c.scope_id, "evidence": c.evidence,
                    "positives": round(c.positives, 6), "negatives": round(c.negatives, 6),
                    "rate": round(c.positives / total, 6) if total else None, "threshold": threshold,
                    "trusted": c.evidence >= threshold, "totalReward": round(c.total_reward, 6),
                    "updatedAt": iso(c.updated_at)})
    return out



def outcome_type_list() -> QuerySet[OutcomeType]:
    """The outcome types in use (the ten defaults exist after migrate)."""
    return OutcomeType.objects.filter(deleted_at__isnull=True)



def outcome_type_get(key: str) -> OutcomeType | None:
    """One outcome type in use, by key."""
    return OutcomeType.objects.filter(key=key, deleted_at__isnull=True).first()


SHADOW_WINDOW = 500  # the newest decisions a shadow is compared on
SCATTER_POINTS = 600


def shadow_comparison(shadow: AlgorithmModel, *, window: int = SHADOW_WINDOW) -> dict:
    """The shadow against the champion on the same decisions (its family's newest traces that carry its scores):
    both scores per candidate, how often they agree on the top offer and on the offers shown, and, once responses
    arrive, the success rate of the shown offers the shadow would also have shown against those it would not."""
    rows = (DecisionTrace.objects.filter(family=shadow.family, model_keys__icontains=f'"{shadow.key}"')
            .order_by("-created_at", "-id")
            .values_list("recommendation_id", "scoring_results", "selected_offers", "created_at")[:window]
            if shadow.family else [])
    pairs, agree_top, overlap, champions, shown_by_shadow, since = [], 0, 0.0, {}, {}, None
    for rec_id, stored, selected, created in rows:
        results = expand_results(stored)
        if not results or results[0].get("arm") not in (None, "", CHAMPION_ARM):
            continue  # an experiment's challenger arm or the holdout decided: not the champion's decision
        scored = []
        for r in results:
            theirs = next((s for s in r.get("shadowScores") or [] if s.get("modelKey") == shadow.key), None)
            if theirs is not None:
                scored.append((r["offerId"], float(r["score"]), float(theirs["score"]), r.get("rank")))
        if not scored:
            continue
        k = len(selected) or 1
        shadow_top = [o for o, *_ in sorted(scored, key=lambda t: (-t[2], t[0]))[:k]]
        champion_top = [o for o, _, _, rank in sorted((t for t in scored if t[3]), key=lambda t: t[3])][:k]
        agree_top += bool(champion_top) and champion_top[0] == shadow_top[0]
        overlap += len(set(shadow_top) & set(champion_top)) / k
        shown_by_shadow[rec_id] = set(shadow_top)
        key = results[0].get("modelKey", "")
        champions[key] = champions.get(key, 0) + 1
        pairs.extend((c, s, o) for o, c, s, _ in scored)
        since = created
    decisions = len(shown_by_shadow)
    step = max(1, len(pairs) // SCATTER_POINTS)
    sample = pairs[::step][:SCATTER_POINTS]
    xs, ys = [p[0] for p in pairs], [p[1] for p in pairs]
    correlation = None
    if len(pairs) > 2 and len(set(xs)) > 1 and len(set(ys)) > 1:
        correlation = round(statistics.correlation(xs, ys), 4)
    outcome = {"all": [0, 0], "agreed": [0, 0], "disagreed": [0, 0]}
    responses = (Interaction.objects.filter(recommendation_id__in=list(shown_by_shadow)).exclude(weight=0)
                 .values_list("recommendation_id", "offer_key", "weight") if shown_by_shadow else [])
    for rec_id, offer_key, weight in responses:
        side = "agreed" if offer_key in shown_by_shadow[rec_id] else "disagreed"
        for bucket in ("all", side):
            outcome[bucket][0] += 1
            outcome[bucket][1] += weight > 0
    return {
        "shadowKey": shadow.key, "family": shadow.family, "window": window, "decisions": decisions,
        "since": since, "champions": sorted(champions, key=lambda c: -champions[c]),
        "agreementTop1": round(agree_top / decisions, 6) if decisions else None,
        "overlapShown": round(overlap / decisions, 6) if decisions else None,
        "meanAbsDifference": round(sum(abs(c - s) for c, s, _ in pairs) / len(pairs), 6) if pairs else None,
        "correlation": correlation,
        "scatter": {"xLabel": "champion score", "yLabel": "shadow score", "xMin": 0, "xMax": 1, "yMin": 0, "yMax": 1,
                    "points": [{"x": round(c, 4), "y": round(s, 4), "label": o} for c, s, o in sample]},
        "outcomes": {name: stats.proportion(s, n) for name, (n, s) in outcome.items()},
    }


def catalog_lists() -> dict[str, QuerySet]:
    """The catalog page's lists, by the kind in its URLs, each with what its table shows."""
    return {
        "offers": Offer.objects.select_related("category").prefetch_related("channels"),
        "categories": Category.objects.all(),
        "channels": Channel.objects.all(),
        "outcome-types": outcome_type_list(),
        "flows": DecisionFlow.objects.prefetch_related("offers"),
        "suppression-rules": SuppressionRule.objects.select_related("offer", "category"),
        "contact-policies": ContactPolicy.objects.select_related("channel"),
        "creatives": Creative.objects.select_related("offer", "channel"),
    }


def trace_get(ref: str) -> DecisionTrace | None:
    """A trace by its id or its recommendation's id."""
    qs = DecisionTrace.objects.select_related("recommendation", "recommendation__model", "recommendation__version")
    pk = parse_id(ref)
    trace = qs.filter(pk=pk).first() if pk is not None else None
    return trace or qs.filter(recommendation__recommendation_id=ref).first()


def trace_filter_choices(limit: int = 300) -> dict[str, list[str]]:
    """Suggestions for the trace filter's offer and model fields."""
    return {"offer_keys": list(Offer.objects.values_list("key", flat=True)[:limit]),
            "model_keys": list(AlgorithmModel.objects.values_list("key", flat=True)[:limit])}


def offer_names(keys) -> dict[str, str]:
    return dict(Offer.objects.filter(key__in=list(keys)).values_list("key", "name"))


# ------------------------------------------------------------------------------------------- outcome weights


def outcome_weight(model: AlgorithmModel | None, outcome: OutcomeType) -> tuple[float, str]:
    """(weight, warning). Explicit weights win; otherwise +1 positive, -1 negative, else 0 with the seed's warning."""
    weights = model.outcome_weights if model is not None else None
    if weights is not None and outcome.key in weights:
        return float(weights[outcome.key]), ""
    default = {Classification.POSITIVE: 1.0, Classification.NEGATIVE: -1.0}.get(outcome.classification, 0.0)
    if outcome.category == OutcomeCategory.IMPRESSION and (weights is None or outcome.key not in weights):
        return default, ""  # impressions are neutral by design, not a misconfiguration
    if default == 0.0 or weights is not None:
        return default, f"no explicit weight for outcome {outcome.key}; using default ({default:+g})"
    return default, ""


SIGN = {Classification.POSITIVE: 1, Classification.NEGATIVE: -1, Classification.NEUTRAL: 0}


def weight_signal(weight: float) -> str:
    """What a response with this weight teaches, in words."""
    if weight > 0:
        return f"a success worth {weight:g}"
    if weight < 0:
        return f"a failure worth {abs(weight):g}"
    return "recorded, nothing learned"


def weight_assessment(outcome: OutcomeType, draft: dict | None) -> dict:
    """How one outcome type maps under a draft of the weights (None: the default), by the rule /respond applies
    (outcome_weight), and what is worth a warning about it: {weight, explicit, level, text, signal}."""
    probe = AlgorithmModel(outcome_weights=draft)  # never saved: outcome_weight only reads its weights
    weight, warning = outcome_weight(probe, outcome)
    explicit = draft is not None and outcome.key in draft
    sign, cls = SIGN.get(outcome.classification, 0), outcome.classification
    if explicit:
        if sign and weight and (weight > 0) != (sign > 0):
            want = "positive" if sign > 0 else "negative"
            level = "contradiction"
            text = (f"Contradicts its classification: {outcome.key} is {cls}, yet {weight:+g} teaches the model it "
                    f"is a {'failure' if weight < 0 else 'success'}. Use a {want} number unless you mean to invert it.")
        elif sign and weight == 0:
            level, text = "warn", f"Weight 0 on a {cls} outcome: these responses are recorded but teach nothing."
        elif not sign and weight:
            level, text = "note", (f"A neutral outcome weighted {weight:+g}: it teaches as a "
                                   f"{'success' if weight > 0 else 'failure'}.")
        else:
            level, text = "ok", "Explicit weight."
    elif warning and weight == 0:
        level, text = "warn", (f"Left to the default: counts 0, so the model learns nothing from it, and /respond "
                               f"warns “{warning}”.")
    elif warning:
        level, text = "warn", f"Missing from the map: falls back to {weight:+g} and /respond warns “{warning}”."
    elif outcome.category == OutcomeCategory.IMPRESSION and weight == 0:
        level, text = "note", "Default 0: impressions are neutral by design (no warning)."
    else:
        level, text = "warn", f"Left to the default ({weight:+g}, from its classification)."
    return {"weight": weight, "explicit": explicit, "level": level, "text": text, "signal": weight_signal(weight)}


def unregistered_weight_assessment(key: str, draft: dict | None) -> dict:
    """A weight kept for an outcome key the catalog does not have: /respond never uses it."""
    value = (draft or {}).get(key)
    return {"weight": value, "explicit": value is not None, "level": "warn", "signal": "",
            "text": f"Not a registered outcome type: /respond refuses the outcome {key!r}, so this weight is never "
                    "used. Clear it to drop it, or add the type to the catalog."}


# ------------------------------------------------------------------------------------------- decision traces

# What recommend writes into a ranked candidate's `why` when exploration, not the estimate, put it where it is.
EXPLORATION = (
    ("posterior draw", "Thompson sampling ranks by a random draw from each offer's posterior, so while evidence is "
                       "thin an offer can rank above one with a higher estimate."),
    ("explored", "Epsilon-greedy explored on this call: the ranking was random."),
    ("optimistic bound", "Bayes-UCB ranks by an optimistic bound of each offer's posterior that narrows as the offer's "
                         "own evidence grows, so an offer with few responses can rank above one with a higher "
                         "estimate."),
    ("tried first", "Epsilon-greedy shows an offer with no response of its own first, so every offer is tried "
                    "before the estimates decide."),
)


def trace_exploration(why: str) -> str:
    """Why exploration ordered this traced candidate, in words; "" when its estimate did."""
    return next((words for marker, words in EXPLORATION if marker in (why or "")), "")


def reset_learning_refusal(model: AlgorithmModel) -> tuple[str, str]:
    """Why the learned state of `model` cannot be reset now, as (code, sentence), or ("", ""): the service refuses
    and the adaptations page disables its button with the same sentence."""
    if model.model_type not in CONTINUOUS_TYPES:
        return ("validation_error", f"A {model.get_model_type_display()} model learns by training, not from responses: "
                "there is no learned state to reset. Train it again, or activate an earlier version.")
    refused = lifecycle_selectors.draft_status_refusal(model)
    if refused:
        return ("invalid_transition", f"Resetting learning sets the status to draft. {refused}")
    return ("", "")


# ------------------------------------------------------------------------------------------- what learning cost

REGRET_WINDOW = 20_000  # the most recent responses a family page reads
REGRET_POINTS = 30  # markers stay apart on a phone


def regret_curve(outcomes: list[tuple[str, bool]], *, points: int = REGRET_POINTS,
                 smoothing_weight: float = SMOOTHING_WEIGHT) -> list[dict]:
    """At up to `points` evenly spaced responses: the successes the decisions earned and what showing the best
    offer so far every time would have earned. The best offer so far has the highest success rate until then,
    each offer's rate pulled toward the overall rate by `smoothing_weight` pseudo-responses (the seed's blend),
    so one lucky click does not make an offer the best."""
    n = len(outcomes)
    marks = {round(n * i / points) for i in range(1, points + 1)} if n > points else set(range(1, n + 1))
    wins: dict[str, int] = {}
    shown: dict[str, int] = {}
    earned, out = 0, []
    for t, (offer, success) in enumerate(outcomes, start=1):
        shown[offer] = shown.get(offer, 0) + 1
        wins[offer] = wins.get(offer, 0) + success
        earned += success
        if t in marks:
            overall = earned / t
            rate, best = max(((wins[o] + smoothing_weight * overall) / (shown[o] + smoothing_weight), o) for o in shown)
            out.append({"responses": t, "earned": earned, "best": round(rate * t, 3), "bestOffer": best,
                        "bestRate": rate})
    return out


def champion_regret(model: AlgorithmModel, *, window: int = REGRET_WINDOW, points: int = REGRET_POINTS) -> dict:
    """How a learning champion's decisions did against the best offer so far, over its most recent responses
    (a success is a response with a positive weight, as the live watch counts it)."""
    rows = list(Interaction.objects.filter(model=model).exclude(offer_key="").order_by("-id")
                .values_list("offer_key", "weight")[:window])
    rows.reverse()
    curve = regret_curve([(offer, weight > 0) for offer, weight in rows], points=points)
    last = curve[-1] if curve else None
    return {
        "responses": len(rows), "capped": len(rows) == window, "last": last,
        "regret": round(last["best"] - last["earned"], 1) if last else None,
        "chart": {"xLabel": "responses", "yLabel": "successes", "xPrefix": "", "yMin": 0, "series": [
            {"name": "Earned by its decisions", "points": [{"x": p["responses"], "y": p["earned"]} for p in curve]},
            {"name": "The best offer so far, shown every time",
             "points": [{"x": p["responses"], "y": p["best"]} for p in curve]},
        ]},
    }

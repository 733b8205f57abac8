import statistics

from django.db.models import QuerySet

from lifecycle.core.keys import parse_id
from lifecycle.models import AlgorithmModel
from registry import stats
from registry.choices import CHAMPION_ARM

from .choices import EVIDENCE_THRESHOLDS, READ_ORDER
from .models import Category, Channel, DecisionFlow, DecisionTrace, Interaction, ModelAdaptation, Offer, OutcomeType


def trace_list(*, customer_id: str = "", request_id: str = "", offer: str = "", model: str = "", since=None,
               until=None) -> QuerySet[DecisionTrace]:
    qs = DecisionTrace.objects.select_related("recommendation")
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
                    "updatedAt": c.updated_at.isoformat()})
    return out



def outcome_type_list() -> QuerySet[OutcomeType]:
    """The outcome types in use; the defaults appear on first access if the table is empty."""
    qs = OutcomeType.objects.filter(deleted_at__isnull=True)
    if not OutcomeType.objects.exists():
        from .services import outcome_types_ensure_defaults

        outcome_types_ensure_defaults()
    return qs



def outcome_type_get(key: str) -> OutcomeType | None:
    """One outcome type by key. A missing default type (a flushed table) is made again on the spot; the
    insert skips rows that exist (also soft-deleted ones, which stay deleted), so concurrent first calls
    all find it."""
    found = OutcomeType.objects.filter(key=key, deleted_at__isnull=True).first()
    if found is None:
        from .choices import DEFAULT_OUTCOME_TYPES
        from .services import outcome_types_ensure_defaults

        if key in {k for k, *_ in DEFAULT_OUTCOME_TYPES}:
            outcome_types_ensure_defaults()
            found = OutcomeType.objects.filter(key=key, deleted_at__isnull=True).first()
    return found


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
    for rec_id, results, selected, created in rows:
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


def cadence_schedule(model: AlgorithmModel):
    """The django-q2 schedule that follows a tabular model's cadence, or None."""
    from django_q.models import Schedule

    from lifecycle.schedules import cadence_schedule_name

    return Schedule.objects.filter(name=cadence_schedule_name(model.pk)).first()


def catalog_lists() -> dict[str, QuerySet]:
    """The catalog page's lists, by the kind in its URLs, each with what its table shows."""
    return {
        "offers": Offer.objects.select_related("category").prefetch_related("channels"),
        "categories": Category.objects.all(),
        "channels": Channel.objects.all(),
        "outcome-types": outcome_type_list(),
        "flows": DecisionFlow.objects.prefetch_related("offers"),
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

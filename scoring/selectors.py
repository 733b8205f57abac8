from django.db.models import QuerySet

from lifecycle.models import AlgorithmModel

from .choices import EVIDENCE_THRESHOLDS, READ_ORDER
from .models import DecisionTrace, ModelAdaptation, OutcomeType


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

from django.db.models import QuerySet

from lifecycle.choices import RegistryStatus as Rung
from lifecycle.models import AlgorithmModel, ModelEvent

from .choices import LADDER, RequestState
from .models import Experiment, PromotionRequest


def request_list(*, state: str = "", model: AlgorithmModel | None = None) -> QuerySet[PromotionRequest]:
    qs = PromotionRequest.objects.select_related("model", "version", "incumbent", "requested_by", "decided_by")
    if state:
        qs = qs.filter(state=state)
    if model is not None:
        qs = qs.filter(model=model)
    return qs


def pending_count() -> int:
    return PromotionRequest.objects.filter(state=RequestState.PENDING).count()


def legal_moves(model: AlgorithmModel) -> tuple[str, ...]:
    return LADDER[model.registry_status]


def family_members(family: str) -> dict:
    members = list(AlgorithmModel.objects.select_related("active_version", "last_run").prefetch_related("traits")
                   .filter(family=family).order_by("key"))
    by_rung = {rung: [m for m in members if m.registry_status == rung] for rung in Rung.values}
    return {
        "members": members,
        "champion": (by_rung[Rung.CHAMPION] or [None])[0],
        "challengers": by_rung[Rung.CHALLENGER],
        "shadows": by_rung[Rung.SHADOW],
        "archived": by_rung[Rung.ARCHIVED],
    }


def family_history(family: str, limit: int = 50) -> QuerySet[ModelEvent]:
    return ModelEvent.objects.filter(family=family, action__regex=r"^(registry|promotion|guard|family)\.")[:limit]


def family_names() -> list[str]:
    return list(AlgorithmModel.objects.exclude(family="").values_list("family", flat=True).distinct().order_by("family"))


def request_stale_reason(request: PromotionRequest, model: AlgorithmModel | None = None) -> str:
    """Why a pending request can no longer be approved ("" when it still can): the approval's own rule."""
    from lifecycle.choices import OperationalStatus as Status
    from lifecycle.choices import State

    model = model or request.model
    if model.active_version_id != request.version_id:
        return "the model's active version changed since the request"
    if model.state == State.ARCHIVED or model.status == Status.ARCHIVED:
        return "the model was archived"
    if model.registry_status != request.from_status:
        return f"the model moved to {model.registry_status} since the request"
    if request.to_status == Rung.CHAMPION:
        current = (AlgorithmModel.objects.filter(family=request.family, registry_status=Rung.CHAMPION)
                   .exclude(pk=model.pk).first())
        if (current.pk if current else None) != request.incumbent_id:
            return "the family's champion changed since the request"
    return ""


def experiment_list(*, family: str = "") -> QuerySet[Experiment]:
    qs = Experiment.objects.select_related("champion_model").prefetch_related("arms__model")
    return qs.filter(family=family) if family else qs


def families_overview() -> list[dict]:
    """Every family with its champion and when that champion last trained, for the dashboard."""
    rows = {}
    for m in (AlgorithmModel.objects.exclude(family="").select_related("active_version")
              .order_by("family", "key")):
        row = rows.setdefault(m.family, {"family": m.family, "champion": None, "members": 0})
        row["members"] += 1
        if m.registry_status == Rung.CHAMPION:
            row["champion"] = m
    return list(rows.values())


# What the pages that show reviews, promotions and runs listen for (HX-Trigger events), by audit action.
CHANGE_TOPICS = (
    ("reviewsChanged", ("promotion.",)),
    ("familyChanged", ("registry.", "promotion.approved", "family.", "experiment.")),
    ("runsChanged", ("run.", "version.created", "version.activated", "model.created", "model.archived",
                     "model.restored", "status.changed")),
)


def latest_event_id() -> int:
    return ModelEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def changes_since(since: int, *, viewer=None, limit: int = 500) -> tuple[int, dict[str, dict]]:
    """The audit rows written after `since`, as the events the pages listen for: (newest id, {event: detail}).
    modelChanged carries the keys of the models that changed, so a model page refreshes only for its own.
    The viewer's own changes are skipped: the page they made them on has shown them already."""
    rows = list(ModelEvent.objects.filter(id__gt=since).order_by("id")
                .values_list("id", "action", "model_key", "actor_id")[:limit])
    if not rows:
        return since, {}
    events: dict[str, dict] = {}
    for _, action, model_key, actor_id in rows:
        if viewer is not None and actor_id == viewer.pk:
            continue
        for event, prefixes in CHANGE_TOPICS:
            if action.startswith(prefixes):
                events.setdefault(event, {})
        if model_key:
            keys = events.setdefault("modelChanged", {"keys": []})["keys"]
            if model_key not in keys:
                keys.append(model_key)
    return rows[-1][0], events

from django.db.models import QuerySet

from lifecycle.choices import RegistryStatus as Rung
from lifecycle.models import AlgorithmModel, ModelEvent

from .choices import LADDER, RequestState
from .models import PromotionRequest


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
    return ModelEvent.objects.filter(family=family, action__regex=r"^(registry|promotion|guard)\.")[:limit]


def family_names() -> list[str]:
    return list(AlgorithmModel.objects.exclude(family="").values_list("family", flat=True).distinct().order_by("family"))

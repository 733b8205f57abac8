from django.conf import settings
from django.db.models import QuerySet

from lifecycle.choices import OperationalStatus as Status
from lifecycle.choices import RegistryStatus as Rung
from lifecycle.choices import State, VersionHold
from lifecycle.core.errors import Blocker, not_found
from lifecycle.models import AlgorithmModel, ModelEvent, ModelVersion

from .choices import CHAMPION_ARM, HOLDOUT_ARM, LADDER, RequestKind, RequestState
from .models import Experiment, PromotionRequest


def request_list(*, state: str = "", model: AlgorithmModel | None = None) -> QuerySet[PromotionRequest]:
    qs = (PromotionRequest.objects.select_related("model", "version", "serving_version", "incumbent", "requested_by",
                                                  "decided_by")
          .defer("version__artifact", "serving_version__artifact"))  # a list never needs the model bytes
    return request_filter(qs, state=state, model=model)


def request_filter(qs: QuerySet[PromotionRequest], *, state: str = "",
                   model: AlgorithmModel | None = None) -> QuerySet[PromotionRequest]:
    if state:
        qs = qs.filter(state=state)
    if model is not None:
        qs = qs.filter(model=model)
    return qs


def pending_count() -> int:
    return PromotionRequest.objects.filter(state=RequestState.PENDING).count()


def four_eyes_blocker(request: PromotionRequest, actor) -> "Blocker | None":
    """Nobody approves what they asked for themselves (a worker's request has no person behind it)."""
    if request.requested_by_id is not None and request.requested_by_id == getattr(actor, "pk", None):
        return Blocker("four_eyes", "You asked for this change; another reviewer must approve it (four eyes).",
                       status=403)
    return None


GUARD_OVERRIDE_NEEDS_COMMENT = ("This approval overrides the rollback guard: say why in the comment (the audit log "
                                "keeps it beside the breaches).")


def overrides_guard(request: PromotionRequest) -> bool:
    """Does approving this request serve something the guard found wanting? The author asked to bypass it, or a
    version was held because the guard breached."""
    if request.bypass_guard:
        return True
    return request.kind == RequestKind.VERSION and bool((request.guard or {}).get("breaches"))


def approval_comment_blocker(request: PromotionRequest, comment: str) -> "Blocker | None":
    """An approval that overrides the guard says why, as a rejection does (page, API and the label share this)."""
    if overrides_guard(request) and not (comment or "").strip():
        return Blocker("validation_error", GUARD_OVERRIDE_NEEDS_COMMENT, details={"field": "comment"})
    return None


def legal_moves(model: AlgorithmModel) -> tuple[str, ...]:
    return LADDER[model.registry_status]


# ----------------------------------------------------------------------------------- blockers


def approval_required_for() -> frozenset[str]:
    """The ladder moves that wait for a reviewer's approval (a setting; a move to champion by default)."""
    return frozenset(getattr(settings, "REGISTRY_APPROVAL_REQUIRED_FOR", {Rung.CHAMPION}))


def needs_review(to_status: str, actor) -> bool:
    """Does this actor's move open a request instead of applying? The product's own automation (an actor named by a
    string, such as an experiment's auto-promotion) asks a reviewer too."""
    return to_status in approval_required_for() and (isinstance(actor, str)
                                                      or not actor.has_perm("registry.apply_without_review"))


def move_blockers(model: AlgorithmModel, to_status: str) -> list[Blocker]:
    """What stops `model` moving to `to_status` on the ladder now, whoever asks: the ladder itself, then the
    rules a rung that scores (shadow, challenger, champion) adds."""
    if to_status not in LADDER[model.registry_status]:
        legal = ", ".join(LADDER[model.registry_status])
        return [Blocker("invalid_transition",
                        f"A {model.registry_status} model cannot move to {to_status}; from {model.registry_status} "
                        f"the legal moves are: {legal}", details={"fromStatus": model.registry_status,
                                                                  "toStatus": to_status})]
    if to_status in (Rung.ARCHIVED, Rung.DRAFT):
        return []
    blockers = []
    if model.status == Status.DRAFT:
        blockers.append(Blocker("invalid_transition", "Activate it first: promote refuses a model whose operational "
                                "status is draft.", details={"status": model.status}))
    if not model.has_been_ready:
        blockers.append(Blocker("not_scorable", "Train it first: a model that has never been ready cannot score.",
                                status=409))
    elif model.state == State.ARCHIVED:
        blockers.append(Blocker("not_scorable", "The model is archived and cannot score; restore it first.",
                                status=409))
    return blockers


def promotion_blockers(model: AlgorithmModel, to_status: str, actor) -> list[Blocker]:
    """What stops this actor moving `model` to `to_status` now, first reason first: the move's own rules, then a
    request already waiting for a reviewer when the move would open another."""
    blockers = move_blockers(model, to_status)
    if needs_review(to_status, actor):
        pending = PromotionRequest.objects.filter(model=model, kind=RequestKind.MOVE,
                                                  state=RequestState.PENDING).first()
        if pending:
            blockers.append(Blocker("request_pending", f"Request #{pending.pk} is already waiting for a reviewer.",
                                    status=409, details={"requestId": pending.pk}))
    return blockers


def ladder_moves(model: AlgorithmModel, actor) -> list[tuple[str, Blocker | None]]:
    """The legal next rungs from where the model stands, each with the first reason it is unavailable (or None)."""
    return [(rung, next(iter(promotion_blockers(model, rung, actor)), None)) for rung in legal_moves(model)]


def previous_champion(family: str, *, current: AlgorithmModel | None) -> AlgorithmModel | None:
    """The model that was champion of the family before the current one."""
    seen = set()
    for event in ModelEvent.objects.filter(action="registry.moved", to_value=Rung.CHAMPION, data__family=family) \
            .order_by("-created_at", "-id"):
        if event.model_id in seen or (current and event.model_id == current.pk):
            continue
        seen.add(event.model_id)
        candidate = AlgorithmModel.objects.filter(pk=event.model_id, family=family).first()
        if candidate is not None:
            return candidate
    return None


def rollback_blocker(previous: AlgorithmModel | None) -> Blocker | None:
    """What stops a family rolling back to `previous` (its previous champion, None when it had none) now."""
    if previous is None:
        return Blocker("invalid_transition", "There is no previous champion to roll back to.")
    if not previous.is_scorable:
        return Blocker("not_scorable", f"{previous.key} cannot score any more (archived or never ready); restore it "
                       "first.", status=409)
    if previous.status != Status.ACTIVE:
        return Blocker("invalid_transition", f"{previous.key} is {previous.status}; activate it before rolling back "
                       "to it.")
    return None


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
    model = model or request.model
    if request.kind == RequestKind.VERSION:
        return version_request_stale_reason(request, model)
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


def version_request_stale_reason(request: PromotionRequest, model: AlgorithmModel) -> str:
    """A version request was weighed against the version serving then; it is stale once another serves."""
    if model.active_version_id != request.serving_version_id:
        return "the model serves another version since the request"
    if model.state == State.ARCHIVED or model.status == Status.ARCHIVED:
        return "the model was archived"
    if request.version is None or request.version.pruned_at is not None:
        return "the version asking to serve was pruned"
    return ""


def held_versions(*, family: str = "", model: AlgorithmModel | None = None) -> QuerySet[ModelVersion]:
    """Versions kept from serving until a reviewer decides, newest first (without their artifacts)."""
    qs = ModelVersion.objects.filter(hold=VersionHold.HELD).select_related("model").defer("artifact")
    if family:
        qs = qs.filter(model__family=family)
    if model is not None:
        qs = qs.filter(model=model)
    return qs.order_by("-created_at", "-id")


def experiment_list(*, family: str = "") -> QuerySet[Experiment]:
    qs = Experiment.objects.select_related("champion_model").prefetch_related("arms__model")
    return qs.filter(family=family) if family else qs


def experiment_candidates(*, family: str, experiment: Experiment | None = None) -> list[AlgorithmModel]:
    """The models that may take a challenger's share: those in the experiment now (even if they left the line-up
    since), then the family's challengers and shadows. Never the experiment's champion."""
    current = [a.model for a in experiment.arms.all()
               if a.active and a.model_id and a.arm not in (CHAMPION_ARM, HOLDOUT_ARM)] if experiment else []
    members = family_members(family) if family else {"challengers": [], "shadows": []}
    champion_id = experiment.champion_model_id if experiment else None
    taken = {m.pk for m in current} | {champion_id}
    return current + [m for m in [*members["challengers"], *members["shadows"]] if m.pk not in taken]


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


def family_versions_pick(family: str, refs: list[str]) -> list:
    """Versions of the family's models by "model-key:N" (or "model-key@vN"), in the order given. A model outside the
    family or a version it lacks is a 404."""
    from lifecycle.selectors import version_by_number

    members = {m.key: m for m in AlgorithmModel.objects.filter(family=family)}
    picked = []
    for ref in refs:
        key, _, number = str(ref).replace("@", ":").rpartition(":")
        model = members.get(key)
        version = version_by_number(model, number) if model is not None else None
        if version is None:
            raise not_found(f"Family {family} has no version {ref!r} (give model-key:N)")
        if version not in picked:
            picked.append(version)
    return picked

"""The registry's panels of the model page and the dashboard (registered in registry/apps.py, rendered by
lifecycle's `{% panels %}` over the page's context), and the registry's filters."""

from __future__ import annotations

from django import template

from lifecycle import selectors as lifecycle_selectors
from lifecycle.choices import ModelType, State
from lifecycle.choices import OperationalStatus as Status
from lifecycle.choices import RegistryStatus as Rung
from lifecycle.core.errors import ApplicationError
from lifecycle.model_types import CONTINUOUS_TYPES, TABULAR_TYPES
from lifecycle.core.roles import role_of
from lifecycle.core.views import refusal

from .. import choices, selectors, services
from ..choices import RequestKind, RequestState, WatchStatus

from ..permissions import OPERATE, PROMOTE, TRAIN

register = template.Library()

SCHEDULES = ("6h", "24h", "7d")
MOVE_LABELS = {Rung.SHADOW: "Move to shadow", Rung.CHALLENGER: "Move to challenger",
               Rung.ARCHIVED: "Archive on the ladder", Rung.DRAFT: "Back to draft"}


def _suggested_auc(model) -> tuple[float | None, str]:
    """The active version's held-out AUC (first trait that has one), as a starting metricsSnapshot.auc."""
    version = model.active_version
    for trait, metrics in ((version.metrics or {}).items() if version else ()):
        if isinstance(metrics, dict) and isinstance(metrics.get("auc"), (int, float)):
            return round(metrics["auc"], 3), f"v{version.version_no}'s AUC on {trait}"
    return None, ""


def _moves(model, user) -> list[dict]:
    """Only the legal next moves from the ladder, each with the reason it is unavailable: the role, or the first
    blocker of the rule the promote service refuses with (the same sentence)."""
    role_block = refusal(user, PROMOTE)
    moves = []
    for rung, blocker in selectors.ladder_moves(model, user):
        block = role_block or (blocker.message if blocker else "")
        if rung == Rung.CHAMPION:
            label = "Make champion" if user.has_perm("registry.apply_without_review") else "Request champion"
        else:
            label = MOVE_LABELS[rung]
        moves.append({"to": rung, "label": label, "block": block, "champion": rung == Rung.CHAMPION,
                      "confirm": rung == Rung.ARCHIVED})
    return moves


def _steps(model, pending, family_champion) -> list[dict]:
    tabular = model.model_type in TABULAR_TYPES
    external = model.model_type == ModelType.EXTERNAL_ENDPOINT

    trained = {"key": "trained", "title": "Trained", "done": model.has_been_ready}
    if model.has_been_ready:
        trained["state"] = f"Ready once; serving v{model.active_version.version_no}" + (
            " (archived: restore it to serve)" if model.state == State.ARCHIVED else "")
    elif model.state == State.BUSY:
        trained["state"], trained["missing"] = "A run is in flight", "The model becomes scorable when the run succeeds."
    elif model.state == State.FAILED:
        trained["state"] = "The last run failed"
        trained["missing"] = "Fix the traits or samples (see the run's error), then train again."
    else:
        trained["state"] = "Never trained"
        trained["missing"] = ("Train it: the first successful run makes the model scorable." if tabular else
                              "Go ready once: that snapshots its starting state and makes it scorable.")
    # A new draft's one checklist: what it still needs before its first train (lifecycle's rule).
    trained["checklist"] = lifecycle_selectors.before_first_train(model)

    active = {"key": "active", "title": "Active", "done": model.status == Status.ACTIVE}
    active["state"] = {Status.ACTIVE: "Recommend considers it", Status.DRAFT: "Operational status is draft",
                       Status.PAUSED: "Paused: recommend skips it", Status.ARCHIVED: "Archived"}[model.status]
    active["missing"] = {Status.DRAFT: "Activate it: recommend ignores a draft-status model and promote refuses it.",
                         Status.PAUSED: "Resume it: recommend skips a paused model.",
                         Status.ARCHIVED: "Operationally archived: it serves nothing."}.get(model.status, "")

    promoted = {"key": "promoted", "title": "Promoted", "done": model.registry_status == Rung.CHAMPION,
                "partial": model.registry_status in (Rung.SHADOW, Rung.CHALLENGER)}
    of, within = (f" of {model.family}", f" in {model.family}") if model.family else ("", "")
    promoted["state"] = {Rung.CHAMPION: f"Champion{of}", Rung.CHALLENGER: f"Challenger{within}",
                         Rung.SHADOW: "Shadow: scores silently, never decides", Rung.DRAFT: "Not on the ladder (draft)",
                         Rung.ARCHIVED: "Archived on the ladder"}[model.registry_status]
    if pending:
        promoted["missing"] = ""  # the pending request is shown beside the step, with its link
    elif model.registry_status == Rung.DRAFT:
        promoted["missing"] = "Move it onto the ladder (shadow or challenger), then ask for champion of a family."
    elif model.registry_status in (Rung.SHADOW, Rung.CHALLENGER):
        incumbent = f"; {family_champion.key} is champion of {model.family} now." if family_champion else "."
        promoted["missing"] = "Ask for champion of a family: a reviewer approves it" + incumbent
    elif model.registry_status == Rung.ARCHIVED:
        promoted["missing"] = "Move it back to draft to start up the ladder again."

    learning = {"key": "learning", "title": "Learning"}
    if external:
        learning.update(done=True, state="Not trained here: scores come from the operator's endpoint")
    elif not tabular:
        learning.update(done=True, state="Always on: learns from every response")
    else:
        on = lifecycle_selectors.cadence_active(model)
        learning.update(done=on, state=f"Retrains every {model.learn_schedule} on new samples" if on else "Off",
                        missing="" if on else "Turn on scheduled retraining, or the model keeps its scores until "
                                              "someone retrains it.")

    weights = {"key": "weights", "title": "Outcome weights", "done": bool(model.outcome_weights)}
    if model.outcome_weights:
        # Strongest signal first (PostgreSQL's jsonb does not keep the order the weights were written in).
        ordered = sorted(model.outcome_weights.items(), key=lambda kv: (-kv[1], kv[0]))
        weights["state"] = ", ".join(f"{k} {v:+g}" for k, v in ordered)
    elif model.outcome_weights is None:
        weights["state"] = "Default: +1 for positive outcomes, -1 for negative ones"
        weights["warning"] = ("Outcomes not classified positive or negative count as neutral, so misconfigured "
                              "weights can silently invert learning. Set explicit weights for the outcomes your "
                              "business cares about.")
    else:
        weights["state"] = "Empty map: every outcome falls back to the default and /respond warns each time"
        weights["missing"] = "Give each outcome a weight."
    return [trained, active, promoted, learning, weights]


def path_to_live(request, model) -> dict:
    """The model page's "Path to live" card (registry/partials/path_to_live.html)."""
    user = request.user
    typed = None
    session = getattr(request, "session", None)
    if session is not None and (session.get("ladder_typed") or {}).get("model") == model.key:
        typed = session.pop("ladder_typed")  # a refused move's fields, shown again once
    pending = selectors.request_list(state=RequestState.PENDING, model=model).filter(kind=RequestKind.MOVE).first()
    last_request = None if pending else selectors.request_list(model=model).filter(kind=RequestKind.MOVE).first()
    version_pending = (selectors.request_list(state=RequestState.PENDING, model=model)
                       .filter(kind=RequestKind.VERSION).first())
    governed = services.governed_as(model)
    family_champion = selectors.family_members(model.family)["champion"] if model.family else None
    if family_champion and family_champion.pk == model.pk:
        family_champion = None
    # The service's staleness rule, so the note agrees with what a reviewer's approval would find.
    pending_stale = selectors.request_stale_reason(pending, model) if pending else ""
    steps = _steps(model, pending, family_champion)
    trainable_now = model.state in (State.DRAFT, State.FAILED) and not model.has_been_ready
    moves = _moves(model, user)
    auc, auc_source = _suggested_auc(model)
    verdict = None
    if any(m["champion"] for m in moves):
        try:
            verdict = services.guard_verdict(model=model, family=model.family,
                                             metrics_snapshot={"auc": auc} if auc is not None else None,
                                             thresholds=None).as_dict()
        except ApplicationError:
            verdict = None
    blocked: dict[str, dict] = {}  # one line per reason, naming every move it stops
    for move in moves:
        if move["block"]:
            entry = blocked.setdefault(move["block"], {"reason": move["block"], "labels": [], "ids": []})
            entry["labels"].append(move["label"])
            entry["ids"].append(move["to"])
    for move in moves:
        move["why"] = "-".join(blocked[move["block"]]["ids"]) if move["block"] else ""
    return {
        "model": model,
        "steps": steps,
        "done_count": sum(1 for s in steps if s["done"]),
        "moves": moves,
        "blocked": list(blocked.values()),
        "pending": pending,
        "pending_stale": pending_stale,
        "version_pending": version_pending,
        "held": list(selectors.held_versions(model=model)[:3]),
        "governed": governed,
        "version_policy": services.family_policy(model.family).get_version_policy_display() if governed else "",
        "last_request": last_request,
        "family_champion": family_champion,
        "suggested_auc": auc,
        "auc_source": auc_source,
        "verdict": verdict,
        "trainable_now": trainable_now,
        # The lifecycle's own reason, the one beside the page's Train button and in the service's refusal.
        "train_reason": next((b.message for b in lifecycle_selectors.train_blockers(model)), "")
        if trainable_now else "",
        "tabular": model.model_type in TABULAR_TYPES,
        "train_block": refusal(user, TRAIN),
        "operate_block": refusal(user, OPERATE),
        "promote_block": refusal(user, PROMOTE),
        "readonly_note": (f"Your role ({role_of(user) or 'none'}) can follow this model's path to live but not "
                          "change its status, ladder rung, cadence or weights; analysts and admins can."),
        "can_cancel": bool(pending and (pending.requested_by_id == user.pk
                                        or user.has_perm("registry.apply_without_review"))),
        "schedules": SCHEDULES,
        "cadence_mode": model.learn_mode if model.auto_learn and model.learn_mode != "none" else "scheduled",
        "typed": typed,
        "ladder_open": bool(typed) or bool(not pending and model.registry_status != Rung.CHAMPION and model.status == Status.ACTIVE
                            and model.has_been_ready),
        "champion_needs_review": any(m["champion"] for m in moves)
        and not user.has_perm("registry.apply_without_review"),
    }


@register.filter
def negate(value):
    return -value if isinstance(value, (int, float)) else value


@register.filter
def max_value(mapping):
    """The largest number of a {name: number} map (PSI per feature), or None."""
    values = [v for v in (mapping or {}).values() if isinstance(v, (int, float))]
    return max(values) if values else None


@register.filter
def arm_label(arm):
    return choices.arm_label(arm)


def dashboard_registry(request, model=None, *, stale_days: int = 30) -> dict:
    """The dashboard's registry panels: requests waiting for a reviewer and each family's champion."""
    from datetime import timedelta

    from django.utils import timezone

    user = request.user
    families = selectors.families_overview()
    cutoff = timezone.now() - timedelta(days=stale_days)
    for f in families:
        champion = f["champion"]
        # Continuous learners learn from responses and never retrain: their last learning is what ages.
        f["learns_live"] = bool(champion and champion.model_type in CONTINUOUS_TYPES)
        trained = (champion.last_learned_at if f["learns_live"] else champion.last_trained_at) if champion else None
        f["trained"] = trained
        f["stale"] = bool(trained and trained < cutoff)
        # The live watch: a champion significantly worse than the one it replaced is raised here too.
        f["watch"] = services.family_watch(f["family"]) if f["champion"] else None
    return {
        "pending": list(selectors.request_list(state=RequestState.PENDING).order_by("created_at")[:5]),
        "pending_count": selectors.pending_count(),
        "can_review": user.has_perm("registry.review_promotionrequest"),
        "families": families,
        "degraded": [f for f in families if f["watch"] and f["watch"].status == WatchStatus.DEGRADED],
        "can_rollback": user.has_perm("registry.rollback_family"),
    }

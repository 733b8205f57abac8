"""The registry's part of the model page (lifecycle's templates include it without lifecycle importing registry)."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template

from lifecycle.choices import TABULAR_TYPES, ModelType, State
from lifecycle.choices import OperationalStatus as Status
from lifecycle.choices import RegistryStatus as Rung
from lifecycle.core.errors import ApplicationError
from lifecycle.learners import CONTINUOUS_TYPES
from lifecycle.core.roles import role_of

from .. import choices, selectors, services
from ..choices import RequestState
from lifecycle.core.views import refusal

from ..permissions import OPERATE, PROMOTE, TRAIN

register = template.Library()

SCHEDULES = ("6h", "24h", "7d")
EXAMPLE_WEIGHTS = (("convert", "1.0"), ("click", "0.3"), ("unsubscribed", "-1.5"))
MOVE_LABELS = {Rung.SHADOW: "Move to shadow", Rung.CHALLENGER: "Move to challenger",
               Rung.ARCHIVED: "Archive on the ladder", Rung.DRAFT: "Back to draft"}


def _suggested_auc(model) -> tuple[float | None, str]:
    """The active version's held-out AUC (first trait that has one), as a starting metricsSnapshot.auc."""
    version = model.active_version
    for trait, metrics in ((version.metrics or {}).items() if version else ()):
        if isinstance(metrics, dict) and isinstance(metrics.get("auc"), (int, float)):
            return round(metrics["auc"], 3), f"v{version.version_no}'s AUC on {trait}"
    return None, ""


def _moves(model, user, pending) -> list[dict]:
    """Only the legal next moves from the ladder, each with the reason it is unavailable (role, state, rule)."""
    role_block = refusal(user, PROMOTE)
    moves = []
    for rung in selectors.legal_moves(model):
        block = role_block
        if not block and rung not in (Rung.ARCHIVED, Rung.DRAFT):
            if model.status == Status.DRAFT:
                block = "Activate it first: promote refuses a model whose operational status is draft."
            elif not model.has_been_ready:
                block = "Train it first: a model that has never been ready cannot score."
            elif model.state == State.ARCHIVED:
                block = "The model is archived and cannot score; restore it first."
        if not block and rung == Rung.CHAMPION and pending:
            block = f"Request #{pending.pk} is already waiting for a reviewer."
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
        on = bool(model.auto_learn and model.learn_mode == "scheduled" and model.learn_schedule)
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


@register.inclusion_tag("registry/partials/path_to_live.html", takes_context=True)
def path_to_live(context, model):
    request = context["request"]
    user = request.user
    pending = selectors.request_list(state=RequestState.PENDING, model=model).first()
    last_request = None if pending else selectors.request_list(model=model).first()
    family_champion = selectors.family_members(model.family)["champion"] if model.family else None
    if family_champion and family_champion.pk == model.pk:
        family_champion = None
    # The service's staleness rule, so the note agrees with what a reviewer's approval would find.
    pending_stale = selectors.request_stale_reason(pending, model) if pending else ""
    steps = _steps(model, pending, family_champion)
    moves = _moves(model, user, pending)
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
    rows = [(k, f"{v:g}") for k, v in sorted((model.outcome_weights or {}).items(), key=lambda kv: (-kv[1], kv[0]))]
    return {
        "model": model,
        "request": request,
        "user": user,
        "messages": context.get("messages"),
        "steps": steps,
        "done_count": sum(1 for s in steps if s["done"]),
        "moves": moves,
        "blocked": list(blocked.values()),
        "pending": pending,
        "pending_stale": pending_stale,
        "last_request": last_request,
        "family_champion": family_champion,
        "suggested_auc": auc,
        "auc_source": auc_source,
        "verdict": verdict,
        "trainable_now": model.state in (State.DRAFT, State.FAILED) and not model.has_been_ready,
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
        "ladder_open": bool(not pending and model.registry_status != Rung.CHAMPION and model.status == Status.ACTIVE
                            and model.has_been_ready),
        "champion_needs_review": any(m["champion"] for m in moves)
        and not user.has_perm("registry.apply_without_review"),
        "weight_rows": rows + [("", "")] * (2 if rows else 0),
        "example_weights": EXAMPLE_WEIGHTS if not rows else (),
    }


def _percent(value, digits, sign: str) -> str:
    """Half-up, so 0.0625 reads 6.3% as the services' own messages say it."""
    if value is None or value == "":
        return "–"
    try:
        number = Decimal(repr(float(value))) * 100
    except (TypeError, ValueError, InvalidOperation):
        return value
    rounded = number.quantize(Decimal(1).scaleb(-int(digits)), rounding=ROUND_HALF_UP)
    return f"{rounded:{sign}.{int(digits)}f}%"


@register.filter
def pct(value, digits=1):
    """A share as a percentage, a dash when missing."""
    return _percent(value, digits, "")


@register.filter
def signed(value, digits=3):
    if value is None or value == "":
        return "–"
    try:
        number = float(value)
        return f"{number:{'+' if round(number, int(digits)) else ''}.{int(digits)}f}"
    except (TypeError, ValueError):
        return value


@register.filter
def signed_pct(value, digits=1):
    return _percent(value, digits, "+")


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


@register.inclusion_tag("registry/partials/dashboard_registry.html", takes_context=True)
def dashboard_registry(context, stale_days: int = 30):
    """The dashboard's registry panels: requests waiting for a reviewer and each family's champion."""
    from datetime import timedelta

    from django.utils import timezone

    user = context["request"].user
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
        "request": context["request"],
        "pending": list(selectors.request_list(state=RequestState.PENDING).order_by("created_at")[:5]),
        "pending_count": selectors.pending_count(),
        "can_review": user.has_perm("registry.review_promotionrequest"),
        "families": families,
        "degraded": [f for f in families if f["watch"] and f["watch"].status == "degraded"],
        "can_rollback": user.has_perm("registry.rollback_family"),
    }

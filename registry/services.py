"""Operational status, the promotion ladder and its guard, reviews and family rollback.

Every move locks the family's rows (in id order, so two promotions in one family queue behind each
other instead of deadlocking), re-checks the rules, writes the change and its audit rows together."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from lifecycle.core import keys
from lifecycle.choices import OperationalStatus as Status
from lifecycle.choices import RegistryStatus as Rung
from lifecycle import governance
from lifecycle import selectors as lifecycle_selectors
from lifecycle import services as lifecycle_services
from lifecycle.core.errors import ApplicationError, invalid_transition, not_found, validation_error
from lifecycle.models import AlgorithmModel, ModelVersion
from lifecycle.core.roles import role_of
from lifecycle.services import event_record
from lifecycle import webhooks
from lifecycle.core.timestamps import iso

from . import guard, selectors
from .choices import STATUS_TRANSITIONS, ExperimentStatus, RequestKind, RequestState, VersionPolicy, WatchStatus
from .models import ChampionTenure, Experiment, FamilyPolicy, PromotionRequest


def _forbidden(actor, needed: str, what: str) -> ApplicationError:
    return ApplicationError(
        f"Your role ({role_of(actor) or 'none'}) cannot {what}; it needs {needed}", code="forbidden", status=403)


def _require(actor, perm: str, what: str) -> None:
    if isinstance(actor, str):
        return  # the product's own automation (live watch, experiment auto-promotion), named in the audit
    if not (getattr(actor, "is_authenticated", False) and actor.has_perm(perm)):
        raise _forbidden(actor, perm, what)


def _can(actor, perm: str) -> bool:
    return not isinstance(actor, str) and actor.has_perm(perm)


def _actor_name(actor) -> str:
    return actor if isinstance(actor, str) else actor.get_username()


def _notify(event: str, *, model: AlgorithmModel | None, actor, family: str = "", **data) -> None:
    """Tell the subscribed webhooks, with the change (the rows commit with it; they are sent after)."""
    webhooks.emit(event, {"modelKey": model.key if model else None, "modelId": model.pk if model else None,
                          "family": family or (model.family if model else ""), "actor": _actor_name(actor)
                          if isinstance(actor, str) or getattr(actor, "is_authenticated", False) else "system",
                          **data})


def _tenure_close(model: AlgorithmModel) -> None:
    ChampionTenure.objects.filter(model=model, ended_at__isnull=True).update(ended_at=timezone.now())


def _tenure_open(model: AlgorithmModel, family: str) -> None:
    ChampionTenure.objects.filter(family=family, ended_at__isnull=True).update(ended_at=timezone.now())
    ChampionTenure.objects.create(model=model, family=family)


# ----------------------------------------------------------------------------------- operational status


@transaction.atomic
def model_set_status(*, model: AlgorithmModel, actor, status: str, reason: str = "") -> AlgorithmModel:
    if status not in Status.values:
        raise validation_error(f"status must be one of {', '.join(Status.values)}", field="status")
    model = AlgorithmModel.objects.select_for_update().get(pk=model.pk)
    if model.status == status:
        return model
    if status not in STATUS_TRANSITIONS[model.status]:
        allowed = ", ".join(sorted(STATUS_TRANSITIONS[model.status]))
        raise invalid_transition(f"status cannot go from {model.status} to {status}; from {model.status} it can go "
                                 f"to {allowed}", fromStatus=model.status, toStatus=status)
    refused = lifecycle_selectors.draft_status_refusal(model) if status == Status.DRAFT else ""
    if status in (Status.ARCHIVED, Status.PAUSED):
        # recommend considers only active models: the family would silently have nobody deciding.
        refused = lifecycle_selectors.champion_stop_refusal(model, status)
    if refused:
        raise invalid_transition(refused)
    previous = model.status
    model.status = status
    model.save(update_fields=["status", "updated_at"])
    event_record(model=model, actor=actor, action="status.changed", from_value=previous, to_value=status,
                 message=reason)
    return model


# ----------------------------------------------------------------------------------- the ladder


@dataclass
class PromotionResult:
    model: AlgorithmModel
    applied: bool
    request: PromotionRequest | None = None
    verdict: guard.GuardVerdict | None = None
    demoted: AlgorithmModel | None = None


def _family_lock(family: str) -> None:
    """Serialise every move in a family, including the first champion of a family with no members yet
    (no rows to lock then): a transaction-scoped advisory lock on the family's name. SQLite serialises
    writers anyway."""
    if family and connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(hashtext(%s))", [f"registry-family:{family}"])


def _lock_family(model: AlgorithmModel, family: str) -> dict[int, AlgorithmModel]:
    _family_lock(family)
    rows = AlgorithmModel.objects.select_for_update().filter(Q(pk=model.pk) | Q(family=family) if family else
                                                             Q(pk=model.pk)).order_by("pk")
    return {m.pk: m for m in rows}


def _champion_of(family: str, *, exclude: int | None = None) -> AlgorithmModel | None:
    if not family:
        return None
    qs = AlgorithmModel.objects.select_related("active_version").filter(family=family, registry_status=Rung.CHAMPION)
    if exclude:
        qs = qs.exclude(pk=exclude)
    return qs.first()


def _check_move(blockers: list[selectors.Blocker], to_status: str, family: str) -> None:
    """Refuse with the first blocker (the sentence the page shows beside the disabled button), then the input."""
    if blockers:
        raise blockers[0].error()
    if to_status == Rung.CHAMPION and not family:
        raise validation_error("A champion belongs to a family; give family (e.g. \"credit_propensity\")",
                               field="family")


def guard_verdict(*, model: AlgorithmModel, family: str, metrics_snapshot: dict | None,
                  thresholds: dict | None) -> guard.GuardVerdict:
    """The guard's verdict on making `model` the champion of `family` now (also shown before a request)."""
    try:
        limits = guard.thresholds_with(thresholds)
    except ValueError as exc:
        raise validation_error(str(exc), field="rollbackThresholds") from None
    incumbent = _champion_of(family, exclude=model.pk)
    return guard.evaluate(
        candidate_snapshot=metrics_snapshot,
        incumbent_snapshot=incumbent.metrics_snapshot if incumbent else None,
        candidate_profile=model.active_version.data_profile if model.active_version_id else None,
        incumbent_profile=incumbent.active_version.data_profile if incumbent and incumbent.active_version_id else None,
        thresholds=limits,
        candidate_warnings=model.active_version.quality_warnings if model.active_version_id else None,
    )


def _guard_refusal(verdict: guard.GuardVerdict) -> ApplicationError:
    return ApplicationError(
        "The promotion guard refused: " + "; ".join(b["message"] for b in verdict.breaches)
        + ". Nothing changed. Fix the candidate, or override with rollbackThresholds or bypassRollbackGuard: true.",
        code="rollback_guard", status=409, details={"rollbackGuardBreaches": verdict.breaches,
                                                    "checks": verdict.checks, "thresholds": verdict.thresholds})


def _apply_move(*, locked: dict[int, AlgorithmModel], model: AlgorithmModel, actor, to_status: str, family: str,
                metrics_snapshot: dict | None, verdict: guard.GuardVerdict | None, bypass: bool,
                request: PromotionRequest | None, reason: str) -> AlgorithmModel | None:
    """The move itself; the caller holds the family's locks. Returns the demoted champion, if any."""
    demoted = None
    if to_status == Rung.CHAMPION:
        incumbent = next((m for m in locked.values() if m.family == family and m.pk != model.pk
                          and m.registry_status == Rung.CHAMPION), None)
        if incumbent is not None:
            incumbent.registry_status = Rung.ARCHIVED
            incumbent.save(update_fields=["registry_status", "updated_at"])
            _tenure_close(incumbent)
            event_record(model=incumbent, actor=actor, action="registry.demoted", from_value=Rung.CHAMPION,
                         to_value=Rung.ARCHIVED, message=f"Replaced as champion of {family} by {model.key}",
                         data={"replacedBy": model.key, "family": family,
                               "requestId": request.pk if request else None})
            demoted = incumbent
    previous = model.registry_status
    model.registry_status = to_status
    if family:
        model.family = family
    if metrics_snapshot:
        model.metrics_snapshot = metrics_snapshot
    model.save(update_fields=["registry_status", "family", "metrics_snapshot", "updated_at"])
    if to_status == Rung.CHAMPION and previous != Rung.CHAMPION:
        _tenure_open(model, model.family)
    elif previous == Rung.CHAMPION and to_status != Rung.CHAMPION:
        _tenure_close(model)
    data = {"family": model.family, "metricsSnapshot": metrics_snapshot or {},
            "requestId": request.pk if request else None, "demoted": demoted.key if demoted else None}
    if verdict is not None:
        data["guard"] = verdict.as_dict()
        if bypass and verdict.breaches:
            data["rollbackGuardBreaches"] = verdict.breaches
            data["bypassRollbackGuard"] = True
    event_record(model=model, actor=actor, action="registry.moved", from_value=previous, to_value=to_status,
                 message=reason, data=data)
    if to_status == Rung.CHAMPION and previous != Rung.CHAMPION:
        _notify("champion.changed", model=model, actor=actor, champion=model.key,
                previousChampion=demoted.key if demoted else None, requestId=request.pk if request else None,
                rollback=False)
    return demoted


def model_promote(*, model: AlgorithmModel, actor, to_status: str, family: str | None = None,
                  metrics_snapshot: dict | None = None, bypass_guard: bool = False,
                  thresholds: dict | None = None, comment: str = "") -> PromotionResult:
    """Move a model on the ladder, or ask a reviewer to when the move is in the approval set."""
    _require(actor, "registry.promote_model", "move models on the registry ladder")
    if to_status not in Rung.values:
        raise validation_error(f"toStatus must be one of {', '.join(Rung.values)}", field="toStatus")
    if metrics_snapshot is not None and not isinstance(metrics_snapshot, dict):
        raise validation_error("metricsSnapshot must be an object, e.g. {\"auc\": 0.81}", field="metricsSnapshot")
    # A new family name follows the key rule (it names a page); a model keeps the family it already has.
    named = (family or "").strip()
    problem = keys.key_problem(named, what="family") if named and named != model.family else None
    if problem:
        raise validation_error(problem, field="family")
    refused = None
    try:
        with transaction.atomic():
            current = AlgorithmModel.objects.get(pk=model.pk)
            family = (family or current.family or "").strip()
            locked = _lock_family(current, family)
            model = AlgorithmModel.objects.select_related("active_version").get(pk=model.pk)
            _check_move(selectors.promotion_blockers(model, to_status, actor), to_status, family)
            verdict = None
            if to_status == Rung.CHAMPION:
                verdict = guard_verdict(model=model, family=family, metrics_snapshot=metrics_snapshot,
                                        thresholds=thresholds)
                if verdict.breaches and not bypass_guard:
                    refused = verdict
            if refused is None:
                if selectors.needs_review(to_status, actor):
                    return PromotionResult(model=model, applied=False, verdict=verdict, request=_open_request(
                        model=model, actor=actor, to_status=to_status, family=family,
                        metrics_snapshot=metrics_snapshot, thresholds=thresholds, bypass=bypass_guard,
                        verdict=verdict, comment=comment))
                demoted = _apply_move(locked=locked, model=model, actor=actor, to_status=to_status, family=family,
                                      metrics_snapshot=metrics_snapshot, verdict=verdict, bypass=bypass_guard,
                                      request=None, reason=comment)
                return PromotionResult(model=model, applied=True, verdict=verdict, demoted=demoted)
    except IntegrityError:
        raise ApplicationError("Another change to this family landed at the same moment; reload and try again",
                               code="conflict", status=409) from None
    # The refusal changes nothing but is itself a decision worth keeping in the audit trail.
    event_record(model=model, actor=actor, action="guard.refused", from_value=model.registry_status,
                 to_value=to_status, data={"guard": refused.as_dict(), "family": family,
                                           "metricsSnapshot": metrics_snapshot or {}})
    raise _guard_refusal(refused)


def _open_request(*, model, actor, to_status, family, metrics_snapshot, thresholds, bypass, verdict,
                  comment) -> PromotionRequest:
    # promotion_blockers refused a second pending request already, under the family's locks.
    incumbent = _champion_of(family, exclude=model.pk) if to_status == Rung.CHAMPION else None
    request = PromotionRequest.objects.create(
        model=model, from_status=model.registry_status, to_status=to_status, family=family,
        version=model.active_version, incumbent=incumbent, metrics_snapshot=metrics_snapshot or {},
        thresholds=thresholds or {}, bypass_guard=bypass, guard=verdict.as_dict() if verdict else {},
        comment=comment, requested_by=None if isinstance(actor, str) else actor, requested_by_name=_actor_name(actor))
    event_record(model=model, family=family, actor=actor, action="promotion.requested",
                 from_value=model.registry_status,
                 to_value=to_status, message=comment,
                 data={"requestId": request.pk, "family": family, "metricsSnapshot": metrics_snapshot or {},
                       "guard": request.guard, "incumbent": incumbent.key if incumbent else None})
    _notify("promotion.requested", model=model, actor=actor, family=family, requestId=request.pk,
            fromStatus=request.from_status, toStatus=to_status, comment=comment,
            incumbent=incumbent.key if incumbent else None)
    return request


# ----------------------------------------------------------------------------------- reviews


def promotion_request_approve(*, request: PromotionRequest, actor, comment: str = "") -> PromotionResult:
    _require(actor, "registry.review_promotionrequest", "approve promotion requests (reviewers can)")
    stale = ""
    refused = None
    with transaction.atomic():
        request = PromotionRequest.objects.select_for_update().get(pk=request.pk)
        if request.state != RequestState.PENDING:
            raise invalid_transition(f"Request {request.pk} is {request.state}; only a pending request can be approved")
        own = selectors.four_eyes_blocker(request, actor)
        if own is not None:
            raise own.error()
        uncommented = selectors.approval_comment_blocker(request, comment)
        if uncommented is not None:
            raise uncommented.error()
        if request.kind == RequestKind.VERSION:
            stale = _approve_version(request, actor=actor, comment=comment)
            if not stale:
                return PromotionResult(model=request.model, applied=True, request=request)
        model = AlgorithmModel.objects.get(pk=request.model_id)
        locked = _lock_family(model, request.family)
        model = AlgorithmModel.objects.select_related("active_version").get(pk=request.model_id)
        stale = stale or selectors.request_stale_reason(request, model)
        if stale:
            request.state = RequestState.STALE
            request.stale_reason = stale
            request.decided_at = timezone.now()
            request.save(update_fields=["state", "stale_reason", "decided_at"])
            event_record(model=model, actor=actor, action="promotion.stale", from_value=request.from_status,
                         to_value=request.to_status, message=stale, data={"requestId": request.pk})
        else:
            _check_move(selectors.move_blockers(model, request.to_status), request.to_status, request.family)
            verdict = None
            if request.to_status == Rung.CHAMPION:
                verdict = guard_verdict(model=model, family=request.family, metrics_snapshot=request.metrics_snapshot,
                                        thresholds=request.thresholds)
                if verdict.breaches and not request.bypass_guard:
                    refused = verdict
        if not stale and refused is None:
            demoted = _apply_move(locked=locked, model=model, actor=actor, to_status=request.to_status,
                                  family=request.family, metrics_snapshot=request.metrics_snapshot, verdict=verdict,
                                  bypass=request.bypass_guard, request=request, reason=comment)
            request.state = RequestState.APPROVED
            request.decided_by = actor
            request.decision_comment = comment
            request.decided_at = timezone.now()
            request.guard = verdict.as_dict() if verdict else request.guard
            request.save(update_fields=["state", "decided_by", "decision_comment", "decided_at", "guard"])
            event_record(model=model, actor=actor, action="promotion.approved", from_value=request.from_status,
                         to_value=request.to_status, message=comment,
                         data={"requestId": request.pk, "requestedBy": request.requested_by_name})
            _notify("promotion.approved", model=model, actor=actor, family=request.family, requestId=request.pk,
                    fromStatus=request.from_status, toStatus=request.to_status, comment=comment,
                    requestedBy=request.requested_by_name)
            return PromotionResult(model=model, applied=True, request=request, verdict=verdict, demoted=demoted)
    if refused is not None:
        event_record(model=model, actor=actor, action="guard.refused", from_value=request.from_status,
                     to_value=request.to_status, data={"guard": refused.as_dict(), "requestId": request.pk})
        raise _guard_refusal(refused)
    raise ApplicationError(f"Request {request.pk} is stale: {stale}. Ask for a new review if the move still makes "
                           "sense.", code="stale_request", status=409, details={"requestId": request.pk})


@transaction.atomic
def promotion_request_reject(*, request: PromotionRequest, actor, comment: str) -> PromotionRequest:
    _require(actor, "registry.review_promotionrequest", "reject promotion requests (reviewers can)")
    if not (comment or "").strip():
        raise validation_error("Say why you reject the request: the author reads the comment", field="comment")
    request = PromotionRequest.objects.select_for_update().get(pk=request.pk)
    return _close(request, actor=actor, state=RequestState.REJECTED, comment=comment, verb="rejected")


@transaction.atomic
def promotion_request_cancel(*, request: PromotionRequest, actor, comment: str = "") -> PromotionRequest:
    request = PromotionRequest.objects.select_for_update().get(pk=request.pk)
    if request.requested_by_id != getattr(actor, "pk", None) and not _can(actor, "registry.apply_without_review"):
        raise ApplicationError("Only the author of a request (or an admin) can cancel it", code="forbidden", status=403)
    return _close(request, actor=actor, state=RequestState.CANCELLED, comment=comment, verb="cancelled")


def _close(request: PromotionRequest, *, actor, state: str, comment: str, verb: str) -> PromotionRequest:
    """End a pending request (locked by the caller) without applying it: rejected or cancelled, audited."""
    if request.state != RequestState.PENDING:
        raise invalid_transition(f"Request {request.pk} is {request.state}; only a pending request can be {verb}")
    request.state = state
    request.decided_by = actor
    request.decision_comment = comment
    request.decided_at = timezone.now()
    request.save(update_fields=["state", "decided_by", "decision_comment", "decided_at"])
    event_record(model=request.model, actor=actor, action=f"promotion.{verb}", from_value=request.from_status,
                 to_value=request.to_status, message=comment, data={"requestId": request.pk, "kind": request.kind})
    if state == RequestState.REJECTED and request.kind == RequestKind.VERSION and request.version_id:
        lifecycle_services.version_reject(model=request.model, target=request.version, actor=actor,
                                          request_id=request.pk, reason=comment)
    if state == RequestState.REJECTED:
        _notify("promotion.rejected", model=request.model, actor=actor, family=request.family,
                requestId=request.pk, fromStatus=request.from_status, toStatus=request.to_status, comment=comment,
                requestedBy=request.requested_by_name, kind=request.kind,
                version=request.version.label if request.version_id else None)
    return request


# ----------------------------------------------------------------------------------- version governance


def governed_as(model: AlgorithmModel) -> str:
    """Why the family's version policy governs what `model` serves ("" when it does not): it is the champion, or
    a challenger taking real traffic in a running experiment."""
    if model.registry_status == Rung.CHAMPION and model.family:
        return f"champion of {model.family}"
    experiment = (Experiment.objects.filter(status=ExperimentStatus.ACTIVE, arms__model=model, arms__active=True)
                  .order_by("pk").first())
    return f"a challenger in experiment {experiment.key}" if experiment else ""


def version_verdict(*, candidate: ModelVersion, serving: ModelVersion | None) -> guard.GuardVerdict:
    """The guard on `candidate` replacing `serving`: paired figures when the retrain measured both on its holdout."""
    comparison = candidate.comparison if serving and (candidate.comparison or {}).get("againstId") == serving.pk \
        else None
    return guard.evaluate_version(
        candidate_metrics=candidate.metrics, serving_metrics=serving.metrics if serving else {}, comparison=comparison,
        candidate_profile=candidate.data_profile, serving_profile=serving.data_profile if serving else None,
        warnings=candidate.quality_warnings, thresholds=guard.thresholds_with(None))


def version_gate(*, model: AlgorithmModel, target: ModelVersion, actor, change: str, pin: bool, requester=None,
                 reason: str = "") -> governance.Decision:
    """Lifecycle's question before `target` serves `model` (its row locked by the caller), answered by the family's
    version policy: serve now, or keep serving the current version and open a request a reviewer decides."""
    role = governed_as(model)
    if not role:
        return governance.Decision(serve=True)
    policy = family_policy(model.family).version_policy
    audit = {"versionPolicy": policy, "governedAs": role}
    if policy == VersionPolicy.AUTO:
        return governance.Decision(serve=True, audit=audit)
    serving = model.active_version
    verdict = version_verdict(candidate=target, serving=serving)
    audit["guard"] = verdict.as_dict()
    if change == governance.Change.ACTIVATE and (_can(actor, "registry.review_promotionrequest")
                                                 or _can(actor, "registry.apply_without_review")):
        return governance.Decision(serve=True, audit={**audit, "appliedWithoutRequest": True})
    if change == governance.Change.RETRAIN and policy == VersionPolicy.GUARD and verdict.passed:
        return governance.Decision(serve=True, audit=audit)
    who = requester if requester is not None else actor
    request = _open_version_request(model=model, target=target, serving=serving, actor=who, pin=pin,
                                    verdict=verdict, comment=reason)
    if change == governance.Change.ACTIVATE:
        why = (f"{model.key} is {role}: serving {target.label} instead of {serving.label} waits for a reviewer "
               f"(request #{request.pk}).")
    elif verdict.breaches:
        why = (f"The guard held {target.label}: " + "; ".join(b["message"] for b in verdict.breaches)
               + f". {model.key} keeps serving {serving.label} until a reviewer approves request #{request.pk}.")
    else:
        why = (f"{model.family}'s version policy is review: {target.label} waits for a reviewer (request "
               f"#{request.pk}); {model.key} keeps serving {serving.label}.")
    return governance.Decision(serve=False, held=change == governance.Change.RETRAIN, reason=why,
                               breaches=verdict.breaches, request_id=request.pk, audit=audit)


def _open_version_request(*, model, target, serving, actor, pin, verdict, comment) -> PromotionRequest:
    # The latest change asked for wins: an older pending version request of the model is closed as stale.
    for older in PromotionRequest.objects.select_for_update().filter(model=model, kind=RequestKind.VERSION,
                                                                      state=RequestState.PENDING):
        older.state = RequestState.STALE
        older.stale_reason = f"a newer version change ({target.label}) was asked for"
        older.decided_at = timezone.now()
        older.save(update_fields=["state", "stale_reason", "decided_at"])
        event_record(model=model, actor=actor, action="promotion.stale", message=older.stale_reason,
                     data={"requestId": older.pk, "kind": RequestKind.VERSION})
    request = PromotionRequest.objects.create(
        model=model, kind=RequestKind.VERSION, from_status=model.registry_status, to_status=model.registry_status,
        family=model.family, version=target, serving_version=serving, pin=pin, guard=verdict.as_dict(),
        comment=comment, requested_by=None if isinstance(actor, str) else actor,
        requested_by_name=_actor_name(actor) if isinstance(actor, str) or getattr(actor, "is_authenticated", False)
        else "worker")
    event_record(model=model, family=model.family, actor=actor, action="promotion.requested",
                 from_value=serving.label if serving else "", to_value=target.label, message=comment,
                 data={"requestId": request.pk, "kind": RequestKind.VERSION, "family": model.family,
                       "guard": request.guard})
    _notify("promotion.requested", model=model, actor=actor, requestId=request.pk, kind=RequestKind.VERSION,
            version=target.label, serving=serving.label if serving else None, comment=comment,
            breaches=verdict.breaches)
    return request


def _approve_version(request: PromotionRequest, *, actor, comment: str) -> str:
    """Serve the requested version (the request locked by the caller); returns why it is stale instead, if it is."""
    # Lock the model row only: PostgreSQL cannot lock the nullable side of the join to the serving version.
    model = (AlgorithmModel.objects.select_for_update(of=("self",)).select_related("active_version")
             .get(pk=request.model_id))
    stale = selectors.request_stale_reason(request, model)
    if stale:
        return stale
    target = ModelVersion.objects.get(pk=request.version_id)
    lifecycle_services.version_serve(model=model, target=target, actor=actor, pinned=request.pin,
                                     request_id=request.pk, reason=comment)
    request.state = RequestState.APPROVED
    request.decided_by = actor
    request.decision_comment = comment
    request.decided_at = timezone.now()
    request.save(update_fields=["state", "decided_by", "decision_comment", "decided_at"])
    event_record(model=model, actor=actor, action="promotion.approved", from_value=request.serving_version.label
                 if request.serving_version_id else "", to_value=target.label, message=comment,
                 data={"requestId": request.pk, "kind": RequestKind.VERSION, "requestedBy": request.requested_by_name})
    _notify("promotion.approved", model=model, actor=actor, family=request.family, requestId=request.pk,
            kind=RequestKind.VERSION, version=target.label, comment=comment, requestedBy=request.requested_by_name)
    return ""


# ----------------------------------------------------------------------------------- families


def family_rollback(*, family: str, actor, reason: str = "", data: dict | None = None) -> PromotionResult:
    """Put the previous champion back in one step; the current one is archived. Audited on both rows."""
    _require(actor, "registry.rollback_family", "roll a family back (reviewers can)")
    with transaction.atomic():
        _family_lock(family)
        members = list(AlgorithmModel.objects.select_for_update().filter(family=family).order_by("pk"))
        if not members:
            raise not_found(f"No family {family!r}")
        current = next((m for m in members if m.registry_status == Rung.CHAMPION), None)
        previous = selectors.previous_champion(family, current=current)
        if previous is not None:
            previous = next(m for m in members if m.pk == previous.pk)  # the locked row
        blocker = selectors.rollback_blocker(previous)
        if blocker is not None:
            raise blocker.error()
        if current is not None:
            current.registry_status = Rung.ARCHIVED
            current.save(update_fields=["registry_status", "updated_at"])
            _tenure_close(current)
            event_record(model=current, actor=actor, action="registry.rolled_back", from_value=Rung.CHAMPION,
                         to_value=Rung.ARCHIVED, message=reason,
                         data={"family": family, "restored": previous.key, **(data or {})})
        before = previous.registry_status
        previous.registry_status = Rung.CHAMPION
        previous.save(update_fields=["registry_status", "updated_at"])
        _tenure_open(previous, family)
        event_record(model=previous, actor=actor, action="registry.moved", from_value=before, to_value=Rung.CHAMPION,
                     message=reason or "family rollback",
                     data={"family": family, "rollback": True, "replaced": current.key if current else None})
        _notify("champion.changed", model=previous, actor=actor, family=family, champion=previous.key,
                previousChampion=current.key if current else None, requestId=None, rollback=True)
        if actor == "live-watch":
            _notify("live_watch.rolled_back", model=previous, actor=actor, family=family, champion=previous.key,
                    previousChampion=current.key if current else None, reason=reason,
                    watch=(data or {}).get("watch"))
        return PromotionResult(model=previous, applied=True, demoted=current)


# ----------------------------------------------------------------------------------- live watch


def live_record_outcome(*, model: AlgorithmModel, success: bool) -> None:
    """One live response served by `model`; counts toward its open champion tenure (one atomic update)."""
    ChampionTenure.objects.filter(model=model, ended_at__isnull=True).update(
        trials=F("trials") + 1, successes=F("successes") + (1 if success else 0))


def family_policy(family: str) -> FamilyPolicy:
    return FamilyPolicy.objects.filter(family=family).first() or FamilyPolicy(family=family)


@transaction.atomic
def family_policy_set(*, family: str, actor, auto_rollback: bool | None = None,
                      min_responses: int | None = None, version_policy: str | None = None) -> FamilyPolicy:
    if not AlgorithmModel.objects.filter(family=family).exists():
        raise not_found(f"No family {family!r}")
    policy, _ = FamilyPolicy.objects.select_for_update().get_or_create(family=family)
    before = policy_dict(policy)
    if auto_rollback is not None:
        policy.auto_rollback = bool(auto_rollback)
    if version_policy is not None:
        if version_policy not in VersionPolicy.values:
            raise validation_error(f"versionPolicy must be one of {', '.join(VersionPolicy.values)}",
                                   field="versionPolicy")
        policy.version_policy = version_policy
    if min_responses is not None:
        if isinstance(min_responses, bool) or not isinstance(min_responses, int) or min_responses < 10:
            raise validation_error("minResponses must be a whole number of at least 10", field="minResponses")
        policy.min_responses = min_responses
    policy.save()
    event_record(model=None, family=family, actor=actor, action="family.policy_changed", to_value=family,
                 data={"family": family, "before": before, "after": policy_dict(policy)})
    return policy


def policy_dict(policy: FamilyPolicy) -> dict:
    return {"autoRollback": policy.auto_rollback, "minResponses": policy.min_responses,
            "versionPolicy": policy.version_policy}


@dataclass
class WatchVerdict:
    family: str
    status: WatchStatus
    current: dict | None = None
    previous: dict | None = None
    z: float | None = None
    p_value: float | None = None
    min_responses: int = 0

    def as_dict(self) -> dict:
        return {"family": self.family, "status": self.status, "current": self.current, "previous": self.previous,
                "z": self.z, "pValue": self.p_value, "minResponses": self.min_responses}


def _tenure_dict(t: ChampionTenure) -> dict:
    return {"modelKey": t.model.key, "trials": t.trials, "successes": t.successes,
            "rate": round(t.successes / t.trials, 6) if t.trials else None,
            "startedAt": iso(t.started_at), "endedAt": iso(t.ended_at)}


def family_watch(family: str) -> WatchVerdict:
    """Is the champion doing significantly worse live than the one it replaced did?"""
    from .stats import two_proportion_z

    policy = family_policy(family)
    current = ChampionTenure.objects.select_related("model").filter(family=family, ended_at__isnull=True).first()
    if current is None:
        return WatchVerdict(family, WatchStatus.NO_CHAMPION, min_responses=policy.min_responses)
    previous = (ChampionTenure.objects.select_related("model").filter(family=family, ended_at__isnull=False)
                .exclude(model=current.model).order_by("-ended_at", "-id").first())
    verdict = WatchVerdict(family, WatchStatus.NO_PREDECESSOR, current=_tenure_dict(current),
                           previous=_tenure_dict(previous) if previous else None, min_responses=policy.min_responses)
    if previous is None:
        return verdict
    if current.trials < policy.min_responses or previous.trials < policy.min_responses:
        verdict.status = WatchStatus.COLLECTING
        return verdict
    test = two_proportion_z(previous.successes, previous.trials, current.successes, current.trials)
    if test is None:
        verdict.status = WatchStatus.OK
        return verdict
    verdict.z, verdict.p_value = round(test[0], 4), round(test[1], 6)
    verdict.status = WatchStatus.DEGRADED if test[0] < 0 and test[1] < 0.05 else WatchStatus.OK
    return verdict


def watch_families() -> list[str]:
    """The scheduled check: roll back the opted-in families whose champion is significantly worse."""
    rolled = []
    for policy in FamilyPolicy.objects.filter(auto_rollback=True):
        verdict = family_watch(policy.family)
        if verdict.status != WatchStatus.DEGRADED:
            continue
        try:
            family_rollback(family=policy.family, actor="live-watch", data={"watch": verdict.as_dict()},
                            reason=(f"Live success rate {verdict.current['rate']:.1%} over {verdict.current['trials']} "
                                    f"responses is significantly below the previous champion's "
                                    f"{verdict.previous['rate']:.1%} (p={verdict.p_value})"))
        except ApplicationError:
            continue
        rolled.append(policy.family)
    return rolled

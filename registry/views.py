"""Registry pages: the path to live on the model page, the review queue, families and the audit log.

The same shape as lifecycle's pages: validate input, call one service or selector, render. A refusal from a
service becomes a message where the person acted (in place for htmx, after a redirect otherwise)."""

from __future__ import annotations

import json
from datetime import datetime

from django.contrib import messages
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRedirect

from lifecycle import selectors as lifecycle_selectors
from lifecycle.api.views import audit_csv_response
from lifecycle.choices import OperationalStatus as Status
from lifecycle.choices import RegistryStatus as Rung
from lifecycle.core.errors import ApplicationError
from lifecycle.filters import AuditFilter
from lifecycle.core.keys import parse_id, reverse_or_none
from lifecycle.core.listing import SortBy, clean_query, paginate, render_listing
from lifecycle.models import ModelEvent
from lifecycle.core.views import is_partial, or_404, refusal, requires

from . import experiments, selectors, services
from .choices import ASSIGNMENT_TTL_DAYS, ExperimentStatus, RequestKind, RequestState, VersionPolicy
from .forms import DecisionForm, ExperimentForm, FamilyPolicyForm, PromoteForm, RollbackForm, VersionPolicyForm
from .models import Experiment, PromotionRequest

from .permissions import EXPERIMENT_ADD, EXPERIMENT_CHANGE, EXPERIMENT_DELETE, OPERATE, PROMOTE, REVIEW, ROLLBACK

LIVE = "live"  # the message tag and anchor of the path-to-live panel on the model page


def _back_to_model(model):
    return redirect(reverse("lifecycle:model-detail", args=[model.key]) + f"#{LIVE}")


LADDER_TYPED = "ladder_typed"  # the session key of what the ladder form held when it was refused
LADDER_FIELDS = ("family", "auc", "error_rate", "comment", "bypass_guard")


def _keep_typed(request, model):
    """A refused ladder move keeps what was typed: the panel shows it again once (registry_tags.path_to_live)."""
    request.session[LADDER_TYPED] = {"model": model.key, **{f: request.POST.get(f, "") for f in LADDER_FIELDS}}


def _on_model(request, model, action, success, *, keep_typed: bool = False):
    """Run one service call for the model page; its refusal or its success becomes the panel's message."""
    try:
        result = action()
    except ApplicationError as exc:
        messages.error(request, exc.message, extra_tags=LIVE)
        if keep_typed:
            _keep_typed(request, model)
    else:
        messages.success(request, success(result) if callable(success) else success, extra_tags=LIVE)
    return _back_to_model(model)


def _next_url(request, default: str) -> str:
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()},
                                                  require_https=request.is_secure()):
        return target
    return default


# ------------------------------------------------------------------------------------ the model page's panel


@require_POST
@requires(OPERATE)
def model_status(request, ref):
    model = or_404(lifecycle_selectors.model_get, ref)
    status = request.POST.get("status", "")
    said = {Status.ACTIVE: "Active: recommend considers this model and it can move up the ladder.",
            Status.PAUSED: "Paused: recommend skips this model until you resume it."}
    return _on_model(request, model, lambda: services.model_set_status(model=model, actor=request.user, status=status),
                     said.get(status, f"Status set to {status}."))


@require_POST
@requires(PROMOTE)
def model_promote(request, ref):
    model = or_404(lifecycle_selectors.model_get, ref)
    form = PromoteForm(request.POST)
    if not form.is_valid():
        messages.error(request, form.problems(), extra_tags=LIVE)
        _keep_typed(request, model)
        return _back_to_model(model)
    data = form.cleaned_data

    def promote():
        return services.model_promote(model=model, actor=request.user, to_status=data["to_status"],
                                      family=data["family"].strip() or None, metrics_snapshot=form.metrics_snapshot(),
                                      bypass_guard=data["bypass_guard"], comment=data["comment"])

    def said(result):
        if not result.applied:
            req = result.request
            return format_html(
                "Requested: {} for champion of {} is now <strong>pending</strong> as request #{}. A reviewer must "
                "approve it before it serves as champion. <a href=\"{}\">Open request #{}</a>",
                model.key, req.family, req.pk, reverse("registry:request-detail", args=[req.pk]), req.pk)
        moved = result.model
        text = f"Moved to {moved.registry_status}"
        if moved.family:
            text += f" in family {moved.family}"
        if result.demoted:
            text += f"; {result.demoted.key} was champion and is now archived"
        return text + "."

    return _on_model(request, model, promote, said, keep_typed=True)


@require_GET
def model_guard(request, ref):
    """The guard's verdict on making this model champion with what the form holds now (no change)."""
    model = or_404(lifecycle_selectors.model_get, ref)
    form = PromoteForm({**request.GET.dict(), "to_status": Rung.CHAMPION})
    form.is_valid()
    data = form.cleaned_data
    family = (data.get("family") or model.family or "").strip()
    context = {"model": model, "family": family, "invalid": form.problems() if form.errors else ""}
    if not form.errors:
        try:
            verdict = services.guard_verdict(model=model, family=family, metrics_snapshot=form.metrics_snapshot(),
                                             thresholds=None)
            context["verdict"] = verdict.as_dict()
        except ApplicationError as exc:
            context["invalid"] = exc.message
        context["incumbent"] = selectors.family_members(family)["champion"] if family else None
    return render(request, "registry/partials/guard_preview.html", context)


# ------------------------------------------------------------------------------------ reviews

METRICS = (("auc", "AUC", 3, "higher"), ("logLoss", "Log loss", 3, "lower"), ("accuracy", "Accuracy", 3, "higher"),
           ("baseRate", "Base rate", 2, None))


def _metric_rows(candidate, champion) -> list[dict]:
    """Per trait and metric, the candidate's number beside the champion's, and which way the difference goes."""
    a_metrics = (candidate.metrics if candidate else None) or {}
    b_metrics = (champion.metrics if champion else None) or {}
    rows = []
    for trait in dict.fromkeys([*a_metrics, *b_metrics]):
        a_trait, b_trait = a_metrics.get(trait), b_metrics.get(trait)
        a_trait = a_trait if isinstance(a_trait, dict) else {}
        b_trait = b_trait if isinstance(b_trait, dict) else {}
        for key, label, digits, better in METRICS:
            a, b = a_trait.get(key), b_trait.get(key)
            if a is None and b is None:
                continue
            numbers = isinstance(a, (int, float)) and isinstance(b, (int, float))
            delta = a - b if numbers else None
            tone = ""
            if delta and better and abs(delta) >= 0.0005:
                tone = "better" if (delta > 0) == (better == "higher") else "worse"
            rows.append({"trait": trait, "label": label, "key": key, "candidate": a, "champion": b, "delta": delta,
                         "digits": digits, "tone": tone})
    return rows


def _paired(candidate, serving) -> list[dict]:
    """The retrain's paired comparison (both versions scored on the same holdout rows), per trait."""
    comparison = (candidate.comparison or {}) if candidate else {}
    if not serving or comparison.get("againstId") != serving.pk:
        return []
    rows = []
    for trait, pair in (comparison.get("traits") or {}).items():
        if "candidate" not in pair:
            rows.append({"trait": trait, "error": pair.get("error") or "not compared"})
            continue
        diff = pair.get("aucDifference")
        low, high = (pair.get("ci95") or [None, None])[:2]
        significant = low is not None and high is not None and (low > 0 or high < 0)
        rows.append({**pair, "trait": trait, "tone": ("better" if diff > 0 else "worse") if significant else "",
                     "significant": significant, "low": low, "high": high})
    return rows


def _unpaired_note(candidate, other) -> str:
    """Say so when the two versions' figures come from different rows (another model, or no paired run)."""
    if not candidate or not other:
        return ""
    parts = []
    for trait, m in (candidate.metrics or {}).items():
        o = (other.metrics or {}).get(trait)
        if isinstance(m, dict) and isinstance(o, dict) and m.get("evaluationCount") and o.get("evaluationCount"):
            parts.append(f"{trait}: {m['evaluationCount']} rows at base rate {m.get('baseRate')} against "
                         f"{o['evaluationCount']} rows at base rate {o.get('baseRate')}")
    detail = f" ({'; '.join(parts)})" if parts else ""
    return (f"Unpaired: each version was measured on its own holdout{detail}, so the differences mix the models "
            "with the rows they were measured on.")


def _review(req: PromotionRequest, user) -> dict:
    """Everything a reviewer weighs for one request: the candidate beside the family's champion, or for a version
    change, the new version beside the one serving."""
    if req.kind == RequestKind.VERSION:
        return _version_review(req, user)
    model = lifecycle_selectors.model_get(req.model_id)
    pending = req.state == RequestState.PENDING
    if pending:
        members = selectors.family_members(req.family) if req.family else {"champion": None}
        champion = members["champion"] if members["champion"] and members["champion"].pk != model.pk else None
    else:
        # A decided request is read against the champion it was weighed against, not today's.
        champion = lifecycle_selectors.model_get(req.incumbent_id) if req.incumbent_id else None
    guard_now = None
    stale = ""
    if pending:
        # Approval re-runs the guard and the staleness rules; show what it would find now.
        # The approval's own staleness rule, so the page can never disagree with approval.
        stale = selectors.request_stale_reason(req, model)
        if req.to_status == Rung.CHAMPION and not stale:
            try:
                guard_now = services.guard_verdict(model=model, family=req.family,
                                                   metrics_snapshot=req.metrics_snapshot,
                                                   thresholds=req.thresholds).as_dict()
            except ApplicationError:
                guard_now = None
    watch = services.family_watch(req.family).as_dict() if pending and req.family and champion else None
    champion_version = champion.active_version if champion else None
    return {
        **_decision_context(req, user),
        "model": model,
        "candidate_version": req.version,
        "champion": champion,
        "champion_version": champion_version,
        "incumbent_changed": pending and (champion.pk if champion else None) != req.incumbent_id,
        "sample_delta": (req.version.sample_count - champion_version.sample_count
                         if req.version and champion_version else None),
        "rows": _metric_rows(req.version, champion_version),
        "unpaired_note": _unpaired_note(req.version, champion_version),
        "warnings": req.version.quality_warnings if req.version else [],
        "guard_then": req.guard or None,
        "guard_now": guard_now,
        "stale_now": stale,
        "watch": watch,
    }


def _version_review(req: PromotionRequest, user) -> dict:
    """A version change: the version asking to serve beside the one serving when asked, paired where measured."""
    model = lifecycle_selectors.model_get(req.model_id)
    pending = req.state == RequestState.PENDING
    candidate, serving = req.version, req.serving_version
    stale = selectors.request_stale_reason(req, model) if pending else ""
    guard_now = None
    if pending and not stale and candidate:
        guard_now = services.version_verdict(candidate=candidate, serving=model.active_version).as_dict()
    paired = _paired(candidate, serving)
    return {
        **_decision_context(req, user),
        "model": model,
        "candidate_version": candidate,
        "champion": model,
        "champion_version": serving,
        "incumbent_changed": False,
        "sample_delta": (candidate.sample_count - serving.sample_count if candidate and serving else None),
        "rows": _metric_rows(candidate, serving),
        "paired": paired,
        "unpaired_note": "" if paired else _unpaired_note(candidate, serving),
        "warnings": candidate.quality_warnings if candidate else [],
        "guard_then": req.guard or None,
        "guard_now": guard_now,
        "stale_now": stale,
        "watch": None,
    }


def _decision_context(req: PromotionRequest, user) -> dict:
    """Who may decide the request, and why not (the sentence beside the disabled button)."""
    four_eyes = selectors.four_eyes_blocker(req, user)
    own = four_eyes is not None
    block = refusal(user, REVIEW) or (four_eyes.message if four_eyes else "")
    return {
        "req": req,
        "own": own,
        "approve_block": block,
        "reject_block": refusal(user, REVIEW),
        # Approving it overrides the guard: the comment is needed to approve too (the service's rule).
        "approve_needs_comment": selectors.overrides_guard(req),
        "can_cancel": req.state == RequestState.PENDING and (own or user.has_perm("registry.apply_without_review")),
    }


@require_GET
def review_queue(request):
    def queue() -> dict:
        pending = selectors.request_list(state=RequestState.PENDING).order_by("created_at", "id")
        return {"reviews": [_review(r, request.user) for r in pending],
                "can_review": not refusal(request.user, REVIEW), "back": reverse("registry:review-queue")}

    if is_partial(request) and request.GET.get("panel") == "queue":  # new or withdrawn requests (the change feed)
        return render(request, "registry/review_queue.html#queue", {**queue(), "refreshed": True})
    decided = list(selectors.request_list().exclude(state=RequestState.PENDING)[:20])
    if is_partial(request):  # the "recently decided" panel refreshing itself after a decision in place
        return render(request, "registry/review_queue.html#decided", {"decided": decided})
    return render(request, "registry/review_queue.html", {**queue(), "decided": decided})


def _request_or_404(pk) -> PromotionRequest:
    req = selectors.request_list().filter(pk=pk).first()
    if req is None:
        raise Http404(f"No promotion request {pk}")
    return req


@require_GET
def request_detail(request, pk):
    req = _request_or_404(pk)
    # Every row that names the request: the candidate's and the champion it demoted.
    events = lifecycle_selectors.event_list().filter(data__requestId=req.pk).order_by("created_at", "id")
    return render(request, "registry/request_detail.html", {
        "r": _review(req, request.user),
        "events": events,
        "back": reverse("registry:request-detail", args=[req.pk]),
    })


@require_GET
def review_count(request):
    """The navigation's pending count, refreshed after each decision (HX-Trigger: reviewDecided)."""
    current = (request.htmx.current_url_abs_path if request.htmx else "") or ""
    return render(request, "registry/partials/nav_reviews.html",
                  {"reviews_current": current.startswith(reverse("registry:review-queue"))})


@require_GET
def changes(request):
    """The change feed every page polls (registry/partials/pulse.html): 204 while nothing changed; otherwise
    the poller with its new starting point and, in HX-Trigger, the events the page's panels listen for."""
    since = parse_id(request.GET.get("since", ""))
    if since is None:
        latest, events = selectors.latest_event_id(), {}
    else:
        latest, events = selectors.changes_since(since, viewer=request.user)
        if not events and latest == since:
            return HttpResponse(status=204)
    response = render(request, "registry/partials/pulse.html", {"pulse_since": latest})
    if events:
        response["HX-Trigger"] = json.dumps(events)
    return response


def _on_queue(request) -> bool:
    return (request.htmx.current_url_abs_path or "").split("?")[0] == reverse("registry:review-queue")


def _decided(request, req: PromotionRequest, *, level: str, text):
    """After approve/reject/cancel: the card again, in place, with what happened; or a redirect without htmx."""
    if is_partial(request):
        req = _request_or_404(req.pk)
        response = render(request, "registry/partials/request_card.html", {
            "r": _review(req, request.user), "flash": {"level": level, "text": text},
            "back": _next_url(request, reverse("registry:review-queue")),
            # The queue's heading counts the pending requests; the request's own page has no such heading.
            "queue_count": selectors.pending_count() if _on_queue(request) else None})
        response["HX-Trigger"] = "reviewDecided"
        return response
    (messages.success if level == "success" else messages.error)(request, text)
    return redirect(_next_url(request, reverse("registry:review-queue")))


def _decision_comment(request) -> str:
    form = DecisionForm(request.POST)
    return form.cleaned_data["comment"].strip() if form.is_valid() else ""


@require_POST
@requires(REVIEW)
def request_approve(request, pk):
    req = _request_or_404(pk)
    try:
        result = services.promotion_request_approve(request=req, actor=request.user, comment=_decision_comment(request))
    except ApplicationError as exc:
        if exc.code == "stale_request":  # the service closed it as stale: an outcome, not a refusal of the reviewer
            return _decided(request, req, level="warning", text=f"Closed as stale. {exc.message}")
        return _decided(request, req, level="error", text=exc.message)
    model = result.model
    family_url = reverse_or_none("registry:family-detail", model.family)
    if req.kind == RequestKind.VERSION:
        text = f"Approved: {model.key} serves {req.version.label} now" + (
            ", pinned to it." if req.pin else "; later retrains follow the version policy again.")
    elif model.registry_status == Rung.CHAMPION and family_url:
        text = format_html("Approved: {} is now champion of <a href=\"{}\">{}</a>{}.", model.key, family_url,
                           model.family, f"; {result.demoted.key} is archived" if result.demoted else "")
    elif model.registry_status == Rung.CHAMPION:
        text = f"Approved: {model.key} is now champion of {model.family}" + (
            f"; {result.demoted.key} is archived." if result.demoted else ".")
    else:
        text = f"Approved: {model.key} moved to {model.registry_status}."
    return _decided(request, req, level="success", text=text)


@require_POST
@requires(REVIEW)
def request_reject(request, pk):
    req = _request_or_404(pk)
    try:
        services.promotion_request_reject(request=req, actor=request.user, comment=_decision_comment(request))
    except ApplicationError as exc:
        return _decided(request, req, level="error", text=exc.message)
    if req.kind == RequestKind.VERSION:
        kept = f"{req.model.key} keeps serving {req.serving_version.label}" if req.serving_version_id else \
            f"{req.model.key} keeps its version"
        held = f"; {req.version.label} never serves" if req.version_id and req.version.hold else ""
        text = f"Rejected: {kept}{held}. {req.requested_by_name or 'The author'} sees your comment."
    else:
        text = (f"Rejected: {req.model.key} stays {req.from_status}; "
                f"{req.requested_by_name or 'the author'} sees your comment.")
    return _decided(request, req, level="success", text=text)


@require_POST
def request_cancel(request, pk):
    req = _request_or_404(pk)
    try:
        services.promotion_request_cancel(request=req, actor=request.user, comment=_decision_comment(request))
    except ApplicationError as exc:
        return _decided(request, req, level="error", text=exc.message)
    return _decided(request, req, level="success", text=f"Cancelled request #{req.pk}.")


# ------------------------------------------------------------------------------------ families


def _when(iso: str | None):
    return datetime.fromisoformat(iso) if iso else None


@require_GET
def family_list(request):
    rows = []
    pending = {}
    for req in selectors.request_list(state=RequestState.PENDING):
        pending[req.family] = pending.get(req.family, 0) + 1
    for name in selectors.family_names():
        members = selectors.family_members(name)
        rows.append({"family": name, **members, "watch": services.family_watch(name), "pending": pending.get(name, 0)})
    return render(request, "registry/family_list.html", {"families": rows})


@require_GET
@require_GET
def family_compare(request, family):
    """Versions of the family's models side by side (?v=model-key:N, any number): metrics and overlaid ROC curves."""
    from lifecycle.selectors import versions_side_by_side
    from lifecycle.views import compare_charts

    picked = or_404(selectors.family_versions_pick, family, request.GET.getlist("v")[:12])
    compared = versions_side_by_side(picked)
    return render(request, "registry/family_compare.html", {
        "family": family, "picked": picked, "compared": compared, "too_few": len(picked) < 2,
        "charts": compare_charts(compared, lambda v: f"{v.model.key} {v.label}")})


def family_detail(request, family):
    return _family_page(request, family)


def _family_page(request, family, *, experiment_form: ExperimentForm | None = None):
    """The family page; `experiment_form` is a refused new experiment, shown again open with what was typed."""
    members = selectors.family_members(family)
    if not members["members"]:
        raise Http404(f"No family {family!r}: a family gets its first member when a model is promoted with it")
    champion = members["champion"]
    previous = selectors.previous_champion(family, current=champion)
    watch = services.family_watch(family).as_dict()
    policy = services.family_policy(family)
    blocker = selectors.rollback_blocker(previous)  # the rollback service refuses with the same sentence
    rollback_block = refusal(request.user, ROLLBACK) or (blocker.message if blocker else "")
    family_experiments = [
        {"experiment": e, "results": experiments.experiment_results(e), "timeline": experiments.experiment_timeline(e),
         "timeline_id": f"chart-exp-{e.pk}"}
        for e in selectors.experiment_list(family=family)
    ]
    return render(request, "registry/family_detail.html", {
        "family": family,
        **members,
        "previous": previous,
        "rungs": [([champion] if champion else [], Rung.CHAMPION), (members["challengers"], Rung.CHALLENGER),
                  (members["shadows"], Rung.SHADOW), (members["archived"], Rung.ARCHIVED),
                  ([m for m in members["members"] if m.registry_status == Rung.DRAFT], Rung.DRAFT)],
        "watch": watch,
        "champion_since": _when((watch.get("current") or {}).get("startedAt")),
        "policy": policy,
        "policy_form": FamilyPolicyForm(initial={"auto_rollback": policy.auto_rollback,
                                                 "min_responses": policy.min_responses}),
        "rollback_block": rollback_block,
        "policy_block": refusal(request.user, ROLLBACK),
        "version_policies": VersionPolicy.choices,
        "held": list(selectors.held_versions(family=family)),
        "pending": list(selectors.request_list(state=RequestState.PENDING).filter(family=family)),
        "experiments": family_experiments,
        **_new_experiment(request, family, experiment_form),
        "history": list(selectors.family_history(family)),
    })


def _back_to_family(family: str):
    return redirect(reverse("registry:family-detail", args=[family]))


@require_POST
@requires(ROLLBACK)
def family_rollback(request, family):
    form = RollbackForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        result = services.family_rollback(family=family, actor=request.user, reason=reason)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        text = f"Rolled back: {result.model.key} is champion of {family} again"
        messages.success(request, text + (f"; {result.demoted.key} is archived." if result.demoted else "."))
    return _back_to_family(family)


@require_POST
@requires(ROLLBACK)
def family_policy(request, family):
    form = FamilyPolicyForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Minimum responses must be a whole number of at least 10.")
        return _back_to_family(family)
    data = form.cleaned_data
    try:
        policy = services.family_policy_set(family=family, actor=request.user, auto_rollback=data["auto_rollback"],
                                            min_responses=data["min_responses"])
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        if policy.auto_rollback:
            text = (f"Automatic rollback on: when the champion does significantly worse than its predecessor over "
                    f"{policy.min_responses} responses, the family rolls back by itself.")
        else:
            text = f"Automatic rollback off: the live watch only warns (after {policy.min_responses} responses)."
        messages.success(request, text)
    return _back_to_family(family)


VERSION_POLICY_SAVED = {
    VersionPolicy.GUARD: "Version policy guard: a new version of the champion serves when the guard passes it against "
                         "the serving version; a breach holds it for a reviewer.",
    VersionPolicy.REVIEW: "Version policy review: every new version of the champion waits for a reviewer.",
    VersionPolicy.AUTO: "Version policy automatic: every new version of the champion serves at once, unreviewed.",
}


@require_POST
@requires(ROLLBACK)
def family_version_policy(request, family):
    form = VersionPolicyForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose guard, review or automatic.", extra_tags="version-policy")
        return _back_to_family(family)
    try:
        policy = services.family_policy_set(family=family, actor=request.user,
                                            version_policy=form.cleaned_data["version_policy"])
    except ApplicationError as exc:
        messages.error(request, exc.message, extra_tags="version-policy")
    else:
        messages.success(request, VERSION_POLICY_SAVED[policy.version_policy], extra_tags="version-policy")
    return _back_to_family(family)


# ------------------------------------------------------------------------------------ experiments

EXPERIMENTS = "experiments"  # the message tag and anchor of the family page's experiments section
SPLIT = "split"  # the message tag and anchor of the experiment page's split form


def _new_experiment(request, family: str, form: ExperimentForm | None) -> dict:
    """The family page's "New experiment" form: empty (the model's defaults), or the refused one as typed."""
    block = refusal(request.user, EXPERIMENT_ADD)
    if form is None and not block:
        form = ExperimentForm(candidates=selectors.experiment_candidates(family=family),
                              initial=ExperimentForm.initial_for(Experiment()))
    return {"experiment_form": form, "experiment_block": block,
            "experiment_open": bool(form is not None and form.is_bound)}


def _refused_on(form: ExperimentForm, exc: ApplicationError, *, not_done: str) -> str:
    """A refusal that names a field goes beside that field; any other (the split) is the message itself."""
    field = exc.details.get("field")
    if field in form.fields:
        form.add_error(field, exc.message)
        return f"{not_done}: fix the fields marked below."
    return exc.message


def _go(request, url: str):
    """To another page after a write: a plain redirect, or for htmx a client-side one (the whole page changes)."""
    return HttpResponseClientRedirect(url) if is_partial(request) else redirect(url)


@require_POST
@requires(EXPERIMENT_ADD)
def experiment_create(request, family):
    members = selectors.family_members(family)
    if not members["members"]:
        raise Http404(f"No family {family!r}: a family gets its first member when a model is promoted with it")
    form = ExperimentForm(request.POST, candidates=selectors.experiment_candidates(family=family))
    if not form.is_valid():
        messages.error(request, "Not created: fix the fields marked below.", extra_tags=EXPERIMENTS)
        return _family_page(request, family, experiment_form=form)
    champion = members["champion"]
    try:
        experiment = experiments.experiment_create(
            actor=request.user, key=form.cleaned_data["key"], family=family,
            champion_model_id=champion.pk if champion else None, **form.service_kwargs())
    except ApplicationError as exc:
        messages.error(request, _refused_on(form, exc, not_done="Not created"), extra_tags=EXPERIMENTS)
        return _family_page(request, family, experiment_form=form)
    messages.success(request, f"Created {experiment.name} as a draft: no customer is assigned to it until you "
                              "start it.")
    return _go(request, reverse("registry:experiment-detail", args=[experiment.key]))


# What the experiment page offers from each status: (the status it moves to, the button, what it says after).
# The moves themselves are experiments.STATUS_MOVES; this only names their buttons.
_MOVE_WORDS = {
    (ExperimentStatus.DRAFT, ExperimentStatus.ACTIVE): ("Start", "Started: {} is running."),
    (ExperimentStatus.ACTIVE, ExperimentStatus.PAUSED): ("Pause", "Paused: {} waits until you resume it."),
    (ExperimentStatus.PAUSED, ExperimentStatus.ACTIVE): ("Resume", "Resumed: {} is running again."),
}
_COMPLETE = ("Complete", "Completed: the results of {} are final.")
EXPERIMENT_MOVES = {
    status: tuple((to, *(_MOVE_WORDS.get((status, to)) or _COMPLETE)) for to in moves)
    for status, moves in experiments.STATUS_MOVES.items()
}

EXPERIMENT_STATUS_SAID = {
    ExperimentStatus.DRAFT: "Draft: no customer is assigned yet; the champion decides alone.",
    ExperimentStatus.ACTIVE: "Running: each customer's decisions come from the arm they are assigned to, and their "
                             "responses count for it.",
    ExperimentStatus.PAUSED: "Paused: the champion decides for everyone; the arms keep their counts and customers "
                             "keep their arms for when it resumes.",
    ExperimentStatus.COMPLETED: "Completed: the champion decides for everyone; the results below are final.",
}


def _experiment_page(request, experiment: Experiment, *, form: ExperimentForm | None = None):
    """The experiment page (or its main part, for htmx): results, the status buttons and the split form."""
    experiment = experiments.experiment_get(experiment.pk)
    change_block = refusal(request.user, EXPERIMENT_CHANGE)
    if form is None:
        form = ExperimentForm(initial=ExperimentForm.initial_for(experiment), creating=False,
                              candidates=selectors.experiment_candidates(family=experiment.family,
                                                                        experiment=experiment))
    delete_block = refusal(request.user, EXPERIMENT_DELETE)
    return render(request, "registry/experiment_detail.html", {
        "e": experiment,
        "res": experiments.experiment_results(experiment),
        "timeline_id": f"chart-exp-{experiment.pk}",
        "timeline": experiments.experiment_timeline(experiment),
        "family_url": reverse_or_none("registry:family-detail", experiment.family) if experiment.family else None,
        "status_said": EXPERIMENT_STATUS_SAID[experiment.status],
        "moves": [{"to": to, "label": label} for to, label, _ in EXPERIMENT_MOVES[experiment.status]],
        "state_labels": [label for _, label, _ in EXPERIMENT_MOVES[experiment.status]]
                        + (["Delete draft"] if experiment.status == ExperimentStatus.DRAFT else []),
        "change_block": change_block,
        "can_delete": experiment.status == ExperimentStatus.DRAFT and not delete_block,
        "delete_refused": experiments.delete_refusal(experiment),
        "form": form,
        "ttl_days": ASSIGNMENT_TTL_DAYS,
    })


@require_GET
def experiment_detail(request, ref):
    return _experiment_page(request, or_404(experiments.experiment_get, ref))


@require_POST
@requires(EXPERIMENT_CHANGE)
def experiment_edit(request, ref):
    experiment = or_404(experiments.experiment_get, ref)
    form = ExperimentForm(request.POST, creating=False,
                          candidates=selectors.experiment_candidates(family=experiment.family, experiment=experiment))
    if not form.is_valid():
        messages.error(request, "Not saved: fix the fields marked below.", extra_tags=SPLIT)
        return _experiment_page(request, experiment, form=form)
    try:
        experiment = experiments.experiment_update(experiment=experiment, actor=request.user,
                                                   **form.service_kwargs())
    except ApplicationError as exc:
        messages.error(request, _refused_on(form, exc, not_done="Not saved"), extra_tags=SPLIT)
        return _experiment_page(request, experiment, form=form)
    messages.success(request, f"Saved the split and settings. Customers keep the arm they were assigned for "
                              f"{ASSIGNMENT_TTL_DAYS} days; new customers follow the new split.", extra_tags=SPLIT)
    if not is_partial(request):
        return redirect(reverse("registry:experiment-detail", args=[experiment.key]) + f"#{SPLIT}")
    return _experiment_page(request, experiment)


@require_POST
@requires(EXPERIMENT_CHANGE)
def experiment_status(request, ref):
    experiment = or_404(experiments.experiment_get, ref)
    to = request.POST.get("status", "")
    before = experiment.status
    try:
        if to == experiment.status:  # nothing to do is not a change; say so rather than audit it
            raise ApplicationError(f"{experiment.name} is {experiment.status} already.", code="invalid_status_change")
        experiment = experiments.experiment_update(experiment=experiment, actor=request.user, status=to)
    except ApplicationError as exc:
        messages.error(request, exc.message)
    else:
        # The service moved it from the status it found under the lock, which another user may have changed since
        # this page read it: any move to `to` has words, the one from the status read first preferred.
        said = {move_to: words for moves in EXPERIMENT_MOVES.values() for move_to, _, words in moves}
        said.update({move_to: words for move_to, _, words in EXPERIMENT_MOVES[before]})
        messages.success(request, said[to].format(experiment.name))
    if not is_partial(request):
        return redirect(reverse("registry:experiment-detail", args=[experiment.key]))
    return _experiment_page(request, experiment)


@require_POST
@requires(EXPERIMENT_DELETE)
def experiment_delete(request, ref):
    experiment = or_404(experiments.experiment_get, ref)
    back = reverse_or_none("registry:family-detail", experiment.family) if experiment.family else None
    try:
        experiments.experiment_delete(experiment=experiment, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, f"{exc.message}.")
        return _go(request, reverse("registry:experiment-detail", args=[experiment.key]))
    messages.success(request, f"Deleted the draft experiment {experiment.name} ({experiment.key}).",
                     extra_tags=EXPERIMENTS if back else "")
    return _go(request, (back + f"#{EXPERIMENTS}") if back else reverse("registry:family-list"))


# ------------------------------------------------------------------------------------ audit log


def _audit_filters(request) -> AuditFilter:
    return AuditFilter(request.GET or None, queryset=lifecycle_selectors.audit_log())


def _action_choices() -> list[str]:
    """Suggestions for the action filter: each prefix ("registry.") before the full actions it covers."""
    actions = set(ModelEvent.objects.values_list("action", flat=True).distinct())
    return sorted(actions | {a.split(".", 1)[0] + "." for a in actions if "." in a})


@require_GET
def audit_log(request):
    filterset = _audit_filters(request)
    rows = filterset.qs.select_related("actor")
    listing = paginate(rows, sort=request.GET.get("sort"), page=request.GET.get("page"), sorts=AUDIT_SORTS,
                       default="-created", per_page=50)
    query = clean_query(request.GET, page=None, sort=None)
    return render_listing(request, "registry/audit_log.html", {
        "form": filterset.form,
        "listing": listing,
        "page": listing.page,
        "filtered": bool(filterset.values()),
        "export_url": reverse("registry:audit-export") + (f"?{query}" if query else ""),
        "actions": _action_choices(),
    })


AUDIT_SORTS = {
    "created": SortBy("When", "created_at", kind="date"),
    "actor": SortBy("Actor", "actor_name"),
    "action": SortBy("Action", "action"),
    "model": SortBy("Model", "model_key"),
    "family": SortBy("Family", "family"),
}


@require_GET
def audit_export(request):
    filterset = _audit_filters(request)
    if filterset.is_bound and filterset.errors:
        return HttpResponseBadRequest("; ".join(f"{k}: {', '.join(v)}" for k, v in filterset.errors.items()),
                                      content_type="text/plain")
    return audit_csv_response(filterset.qs)



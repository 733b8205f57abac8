"""Pages. Each view validates input, calls one service or selector and renders; a refusal from a service
becomes a message on the page. Forms post and redirect, so every button also works without htmx."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.http import Http404, HttpResponse
from django.template.loader import render_to_string
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from . import selectors, services, uploads, webhooks
from .choices import STATE_COLORS, LearnMode, OperationalStatus, RegistryStatus, State
from .model_types import EXTERNAL_TYPE, TABULAR_TYPES
from .core.errors import ApplicationError
from .filters import ModelFilter, RunFilter, SampleFilter, VersionFilter
from .forms import (ApiTokenForm, CadenceForm, ModelCreateForm, ModelEditForm, SampleForm, SampleRemoveForm, TagForm,
                    TrainForm, TraitForm, UploadForm, WebhookEditForm, WebhookForm)
from .core.listing import paginate, render_listing
from .core.forms import add_refusal
from .core.views import (Write, came_from, control_refused, control_saved, is_partial, or_404, refusal, render_page,
                         require, requires, shown_once)
from .models import ApiToken

# The writes of these pages (the 403 says the role cannot do this; analysts and admins can).
CREATE = Write("lifecycle.add_algorithmmodel", "do this", "analysts and admins")
CHANGE = Write("lifecycle.change_algorithmmodel", "do this", "analysts and admins")
DEFINE = Write("lifecycle.change_trait", "do this", "analysts and admins")
REMOVE_TRAITS = Write("lifecycle.delete_trait", "do this", "analysts and admins")
ADD_SAMPLES = Write("lifecycle.add_sample", "do this", "analysts and admins")
REMOVE_SAMPLES = Write("lifecycle.delete_sample", "remove samples", "analysts and admins")
TRAIN = Write("lifecycle.train_algorithmmodel", "do this", "analysts and admins")
DOWNLOAD = Write("lifecycle.train_algorithmmodel", "download a version's artifact", "analysts and admins")
ACTIVATE = Write("lifecycle.activate_version", "choose the version a model serves", "analysts, reviewers and admins")


def _back(model, anchor: str = "", request=None):
    """Back to the model page, or to the page the form came from when it says so in `next` (a list page)."""
    target = request.POST.get("next", "") if request is not None else ""
    if not (target.startswith("/") and url_has_allowed_host_and_scheme(
            target, allowed_hosts={request.get_host()}, require_https=request.is_secure())):
        target = reverse("lifecycle:model-detail", args=[model.key])
    return redirect(target + (f"#{anchor}" if anchor else ""))


def _apply(request, model, action, success: str, anchor: str = ""):
    """Run one service call; report its refusal or its success as a message, then show the model again."""
    try:
        action()
    except ApplicationError as exc:
        messages.error(request, exc.message, extra_tags=anchor)
    else:
        messages.success(request, success, extra_tags=anchor)
    return _back(model, anchor, request)


STATUS_COLORS = {"draft": "grey", "active": "green", "paused": "amber", "archived": "dark"}
RUNG_COLORS = {"draft": "grey", "shadow": "blue", "challenger": "amber", "champion": "green", "archived": "dark"}


def _count_rows(field: str, choices, colors) -> list[dict]:
    counts = selectors.model_counts_by(field)
    return [{"value": value, "label": label, "count": counts.get(value, 0), "color": colors.get(value, "grey"),
             "url": reverse("lifecycle:model-list") + "?" + urlencode({field: value})}
            for value, label in choices]


def _runs_context() -> dict:
    return {"runs_in_flight": list(selectors.runs_in_flight().order_by("queued_at", "id"))}


@require_GET
def home(request):
    """The dashboard: what the models are doing, what is waiting for someone, what went wrong."""
    states = _count_rows("state", State.choices, STATE_COLORS)
    context = {
        "total": sum(r["count"] for r in states),
        "groups": [
            {"title": "Training state", "field": "state", "rows": states},
            {"title": "Operational status", "field": "status",
             "rows": _count_rows("status", OperationalStatus.choices, STATUS_COLORS)},
            {"title": "Registry", "field": "registry_status",
             "rows": _count_rows("registry_status", RegistryStatus.choices, RUNG_COLORS)},
        ],
        "failed_runs": selectors.runs_failed_recent(limit=5),
        "events": list(selectors.audit_log()[:8]),
        **_runs_context(),
    }
    for group in context["groups"]:
        group["chart_id"] = f"chart-{group['field']}"
        group["chart"] = {"rows": [{"label": r["label"], "value": r["count"], "color": r["color"]} for r in group["rows"]]}
    return render(request, "dashboard/home.html", context)


@require_GET
def home_runs(request):
    """Polled by the dashboard while runs are in flight; the answer stops the polling once none are."""
    context = _runs_context()
    response = render(request, "dashboard/home.html#runs", context)
    if not context["runs_in_flight"]:
        response["HX-Trigger"] = "runsSettled"
    return response


def _listing(request, qs, sorts, default, per_page=25):
    return paginate(qs, sort=request.GET.get("sort"), page=request.GET.get("page"), sorts=sorts, default=default,
                    per_page=per_page)


@require_GET
def model_list(request):
    # A filter with an invalid value is shown with its error and left out; the others still apply.
    filterset = ModelFilter(request.GET or None, queryset=selectors.model_list())
    filters = filterset.values()
    listing = _listing(request, filterset.qs, selectors.MODEL_SORTS, "-created")
    counts = selectors.model_counts_by_state()
    context = {
        "form": filterset.form,
        "listing": listing,
        "page": listing.page,
        "counts": counts,
        "total": sum(counts.values()),
        "states": State,
        "state_colors": STATE_COLORS,
        "current_state": filters.get("state") or "",
        "filtered": bool(filters),
    }
    return render_listing(request, "lifecycle/model_list.html", context)


@requires(CREATE)
def model_create(request):
    form = ModelCreateForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            model = services.model_create(actor=request.user, key=data["key"], name=data["name"],
                                          model_type=data["model_type"], description=data["description"])
        except ApplicationError as exc:
            form.add_error(exc.details.get("field", "key").replace("modelType", "model_type")
                           if exc.details.get("field") in ("key", "name", "modelType") else None, exc.message)
        else:
            messages.success(request, f"Created {model.key}. Next: add traits and samples, then train.")
            return _back(model)
    return render(request, "lifecycle/model_create.html", {"form": form})


def _recent_runs(model) -> dict:
    runs = list(selectors.run_list(model=model)[:10])
    return {"runs": runs, "run_count": len(runs) if len(runs) < 10 else selectors.run_list(model=model).count()}


@require_GET
def model_detail(request, ref):
    model = or_404(selectors.model_get, ref)
    traits = selectors.trait_list(model=model)
    versions = list(selectors.version_list(model=model)[:20])
    events = list(selectors.event_list(model=model)[:30])
    samples = selectors.sample_list(model=model)
    sample_count = samples.count()
    context = {
        "model": model,
        "traits": traits,
        **_recent_runs(model),
        "versions": versions,
        "version_count": len(versions) if len(versions) < 20 else selectors.version_list(model=model).count(),
        "events": events,
        "sample_count": sample_count,
        "traits_by_key": {t.key: t for t in traits},
        "trainable": model.model_type in TABULAR_TYPES,
        "train_block": _train_block(model, traits),
        "charts": _model_charts(model, selectors.metrics_history(model=model)),
        "recent_samples": list(samples[:10]),
        "unknown_label_keys": selectors.unknown_label_keys(model=model) if model.definition_editable else [],
        "operation": selectors.last_operation(model),
        **_trait_form(request, model),
        "sample_form": SampleForm(traits=traits),
        "upload_form": UploadForm(),
        "train_form": TrainForm(),
        "edit_form": ModelEditForm(initial={"name": model.name, "description": model.description}),
        "state_colors": STATE_COLORS,
    }
    return render(request, "lifecycle/model_detail.html", context)


def _trait_form(request, model) -> dict:
    """The "Add a trait" form: empty, or what a refused add held (once), with whether it asks to replace."""
    typed = request.session.get("trait_typed")
    if not typed or typed.get("model") != model.key:
        return {"trait_form": TraitForm(), "trait_exists": False}
    request.session.pop("trait_typed")
    return {"trait_form": TraitForm(initial={k: typed.get(k, "") for k in ("name", "description", "positive_label",
                                                                           "negative_label", "direction")}),
            "trait_exists": typed.get("exists", False)}


def _train_block(model, traits) -> str:
    """Why Train is disabled (the service's own refusal), or "". A run in flight and an archived model have their
    own buttons, so only the other reasons are said here."""
    if model.state in (State.BUSY, State.ARCHIVED):
        return ""
    blocker = next(iter(selectors.train_blockers(model, traits=traits)), None)
    return blocker.message if blocker else ""


def _model_charts(model, history: dict) -> dict:
    """The model page's charts as data for static/js/charts.js: metrics per trait across versions and the serving
    version's score histogram."""
    def series(name):
        return [{"name": trait, "points": s[name]} for trait, s in history["traits"].items() if s[name]]

    serving = model.active_version
    metrics = {}
    if serving is not None:
        metrics = serving.metrics or {}
    histograms = [{"label": trait, "counts": (m.get("histogram") or {}).get("counts", []),
                   "edges": (m.get("histogram") or {}).get("edges", [])}
                  for trait, m in metrics.items() if isinstance(m, dict) and (m.get("histogram") or {}).get("counts")]
    return {
        "versions": len(history["versions"]),
        "auc": {"xLabel": "version", "yLabel": "AUC", "yMin": 0.5, "yMax": 1, "series": series("auc")},
        "logLoss": {"xLabel": "version", "yLabel": "log loss", "yMin": 0, "series": series("logLoss")},
        "histogram": {"xLabel": "score", "series": histograms},
        "histogram_version": serving.version_no if serving is not None else None,
    }


@require_GET
def model_progress(request, ref):
    """Polled while a run is in flight; when the run ends, tells the page to refresh its panels."""
    model = or_404(selectors.model_get, ref)
    context = {"model": model, "operation": selectors.last_operation(model), **_recent_runs(model)}
    # The progress card and the runs table (hx-select-oob="#runs"), so the run's row moves with its bar.
    response = HttpResponse(render_to_string("lifecycle/model_detail.html#progress", context, request)
                            + render_to_string("lifecycle/model_detail.html#runs", context, request))
    if model.state != State.BUSY:
        response["HX-Trigger"] = "runFinished"
    return response


@require_POST
@requires(CHANGE)
def model_edit(request, ref):
    model = or_404(selectors.model_get, ref)
    form = ModelEditForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the model a name.", extra_tags="edit")
        return _back(model, "edit")
    return _apply(request, model, lambda: services.model_update(model=model, actor=request.user, **form.cleaned_data),
                  "Saved.", "edit")


@require_POST
@requires(DEFINE)
def trait_add(request, ref):
    model = or_404(selectors.model_get, ref)
    form = TraitForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A trait needs a name.", extra_tags="traits")
        return _back(model, "traits")
    data = form.cleaned_data
    spec = {"name": data["name"], "description": data["description"], "positiveLabel": data["positive_label"],
            "negativeLabel": data["negative_label"], "direction": data["direction"] or None}
    try:
        services.trait_add(model=model, actor=request.user, spec=spec, replace=data["replace"])
    except ApplicationError as exc:
        messages.error(request, exc.message, extra_tags="traits")
        # What was typed comes back in the form; a taken key asks with a "Replace it" button.
        request.session["trait_typed"] = {"model": model.key, "exists": exc.code == "trait_exists",
                                          **{k: request.POST.get(k, "") for k in
                                             ("name", "description", "positive_label", "negative_label",
                                              "direction")}}
    else:
        messages.success(request, f"Trait {data['name']} {'replaced' if data['replace'] else 'saved'}.",
                         extra_tags="traits")
    return _back(model, "traits", request)


@require_POST
@requires(REMOVE_TRAITS)
def trait_remove(request, ref, key):
    model = or_404(selectors.model_get, ref)
    return _apply(request, model, lambda: services.trait_delete(model=model, actor=request.user, key=key),
                  f"Trait {key} removed.", "traits")


@require_GET
def run_list(request, ref):
    """Every run of a model, filtered by status and kind, sorted and paginated by the database."""
    model = or_404(selectors.model_get, ref)
    filterset = RunFilter(request.GET or None, queryset=selectors.run_list(model=model))
    listing = _listing(request, filterset.qs, selectors.RUN_SORTS, "-started")
    return render_listing(request, "lifecycle/run_list.html", {
        "model": model, "form": filterset.form, "listing": listing, "filtered": bool(filterset.values())})


@require_GET
def run_detail(request, ref, run_id):
    """One run: what it was asked to do, its steps with their timings, its log and its error."""
    model = or_404(selectors.model_get, ref)
    run = or_404(lambda pk: selectors.run_get(model=model, run_id=pk), run_id)
    phases = selectors.run_phases(run)
    longest = max((p["seconds"] or 0 for p in phases), default=0) or 1
    return render(request, "lifecycle/run_detail.html", {
        "model": model, "run": run, "phases": [{**p, "share": round(100 * (p["seconds"] or 0) / longest)} for p in phases],
        "versions": list(run.versions.values_list("version_no", flat=True)),
    })


@require_GET
def version_list(request, ref):
    """Every version of a model with its metrics and tags, and the same actions as the model page."""
    model = or_404(selectors.model_get, ref)
    filterset = VersionFilter(request.GET or None, queryset=selectors.version_list(model=model),
                              tags=selectors.version_tag_names(model=model))
    listing = _listing(request, filterset.qs, selectors.VERSION_SORTS, "-number")
    return render_listing(request, "lifecycle/version_list.html", {
        "model": model, "form": filterset.form, "listing": listing, "filtered": bool(filterset.values()),
        "inputs": _version_inputs(model)})


def _schema_number(value) -> str:
    if value is None:
        return "?"
    return f"{value:,.0f}" if abs(value) >= 10_000 else f"{value:.4g}"


def _version_inputs(model, version=None) -> dict | None:
    """What a version (by default the serving one, or else the newest) reads, as rows of the inputs table."""
    version = version or model.active_version or selectors.version_list(model=model).first()
    if version is None or model.model_type not in TABULAR_TYPES:
        return None
    schema = selectors.version_input_schema(version)
    rows = []
    for e in schema.features:
        if e["type"] == "number":
            seen = f"{_schema_number(e.get('min'))} to {_schema_number(e.get('max'))}"
            typical = _schema_number(e.get("typical"))
        elif e["type"] == "category":
            categories = e.get("categories") or []
            more = e.get("moreCategories")
            seen = ", ".join(categories[:12]) + (f" and {len(categories) - 12} more" if len(categories) > 12 else "")
            seen += " (and rarer ones, scored as other)" if more else ""
            typical = e.get("typical") or ""
        else:
            seen = "free text"
            typical = f"{e['typicalWords']} words" if e.get("typicalWords") else ""
        rows.append({**e, "seen": seen, "typical_text": typical})
    return {"version": version, "source": schema.source, "rows": rows}


SAMPLES_PER_PAGE = 50


@require_GET
def sample_list(request, ref):
    """A model's samples, 50 a page, filtered by a trait's label, by source and by words in the content."""
    model = or_404(selectors.model_get, ref)
    traits = list(model.traits.all())
    filterset = SampleFilter(request.GET or None, queryset=selectors.sample_list(model=model), traits=traits)
    filters = filterset.values()
    listing = _listing(request, filterset.qs, selectors.SAMPLE_SORTS, "-id", per_page=SAMPLES_PER_PAGE)
    return render_listing(request, "lifecycle/sample_list.html", {
        "model": model, "form": filterset.form, "listing": listing, "filtered": bool(filters),
        "traits_by_key": {t.key: t for t in traits}, **_removal(request, model),
        "label_without_trait": bool(filters.get("label") and not filters.get("trait"))})


def _removal(request, model) -> dict:
    """Whether the samples page offers select-and-remove, and if not, why (the service's refusal or the role's)."""
    block = refusal(request.user, REMOVE_SAMPLES)
    if not block:
        blocker = selectors.definition_blocker(model, "Explicit samples")
        block = blocker.message if blocker else ""
    return {"removable": not block, "remove_block": block}


@require_http_methods(["GET", "POST"])
def samples(request, ref):
    """One address, two uses: GET lists the samples, POST adds one (the form on the model page)."""
    return sample_add(request, ref) if request.method == "POST" else sample_list(request, ref)


@require_POST
@requires(ADD_SAMPLES)
def sample_add(request, ref):
    model = or_404(selectors.model_get, ref)
    form = SampleForm(request.POST, traits=model.traits.all())
    if not form.is_valid():
        messages.error(request, "; ".join(f"{form.fields[k].label if k in form.fields else k}: {', '.join(v)}"
                                          for k, v in form.errors.items()), extra_tags="samples")
        return _back(model, "samples")
    return _apply(request, model,
                  lambda: services.sample_add_batch(model=model, actor=request.user, samples=[form.as_sample()]),
                  "Sample added.", "samples")


@require_POST
@requires(ADD_SAMPLES)
def sample_upload(request, ref):
    """Preview, then store. A file posted on its own answers what it would store and stores nothing; the same file
    posted again with the preview's digest (`previewed`) and `step=store` is stored. Nothing is kept on the server
    between the two steps, so there is nothing to expire, clean up or share between web workers: the browser sends
    the file again, the server reads and checks it again, and a file other than the previewed one gets its own
    preview instead of being stored."""
    model = or_404(selectors.model_get, ref)
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        return _upload_preview(request, model, error="Choose a .jsonl or .csv file to upload.")
    upload = form.cleaned_data["file"]
    digest = uploads.digest(upload)
    store = request.POST.get("step") == "store"
    if store and form.cleaned_data["previewed"] == digest:
        return _upload_store(request, model, upload)
    return _upload_preview(request, model, upload=upload, digest=digest,
                           changed=store and bool(form.cleaned_data["previewed"]))


def _upload_preview(request, model, *, upload=None, digest: str = "", changed: bool = False, error: str = ""):
    """What the file would store (the panel for htmx, a page of its own otherwise), or why it cannot be read."""
    context = {"model": model, "filename": upload.name if upload else "", "digest": digest, "changed": changed,
               "summary": None, "error": error, "errors": []}
    if upload is not None:
        try:
            context["summary"] = services.samples_upload(model=model, actor=request.user, data=upload,
                                                         filename=upload.name,
                                                         content_type=upload.content_type or "", dry_run=True).summary
        except ApplicationError as exc:
            # The file's own problems when it has them (the message around them speaks of storing, not previewing).
            problems = exc.details.get("errors") or [exc.message]
            context["error"], context["errors"] = problems[0], problems[1:10]
    if is_partial(request):
        return render(request, "lifecycle/partials/upload_preview.html", context)
    return render(request, "lifecycle/upload_preview.html",
                  {**context, "upload_form": UploadForm(initial={"previewed": digest})})


def _upload_store(request, model, upload):
    try:
        result = services.samples_upload(model=model, actor=request.user, data=upload, filename=upload.name,
                                         content_type=upload.content_type or "")
    except ApplicationError as exc:
        messages.error(request, exc.message, extra_tags="samples")
        for line in exc.details.get("errors", [])[1:10]:
            messages.error(request, line, extra_tags="samples")
        return _back(model, "samples")
    said = f"Stored {len(result.ids):,} samples from {upload.name}."
    # A file whose rows train nothing is not a plain success: say what the rows are good for.
    if result.summary["warnings"]:
        messages.warning(request, " ".join([said, *result.summary["warnings"]]), extra_tags="samples")
    else:
        messages.success(request, said, extra_tags="samples")
    return _back(model, "samples")


@require_POST
@requires(REMOVE_SAMPLES)
def sample_remove(request, ref):
    """The samples page's select-and-remove: the ticked samples of a draft, in one call and one audit row."""
    model = or_404(selectors.model_get, ref)
    form = SampleRemoveForm(request.POST)
    back = came_from(request) or reverse("lifecycle:sample-list", args=[model.key])
    if not form.is_valid():
        messages.error(request, " ".join(form.errors.get("ids", ["Tick the samples to remove first."])),
                       extra_tags="samples")
        return redirect(back)
    try:
        removed = services.samples_remove(model=model, actor=request.user, ids=form.cleaned_data["ids"])
    except ApplicationError as exc:
        messages.error(request, exc.message, extra_tags="samples")
    else:
        messages.success(request, f"Removed {removed:,} sample{'s' if removed != 1 else ''}.", extra_tags="samples")
    return redirect(back)


@require_POST
@requires(TRAIN)
def model_train(request, ref):
    model = or_404(selectors.model_get, ref)
    form = TrainForm(request.POST)
    form.is_valid()
    data = form.cleaned_data
    return _apply(request, model, lambda: services.model_train_enqueue(
        model=model, actor=request.user, effort=data.get("effort") or "high",
        reoptimize_params=data.get("reoptimize_params", False)), "Training started.")


@require_POST
@requires(TRAIN)
def model_discover(request, ref):
    model = or_404(selectors.model_get, ref)
    return _apply(request, model, lambda: services.model_discover_enqueue(model=model, actor=request.user),
                  "Discovery started.")


@require_POST
@requires(CHANGE)
def model_archive(request, ref):
    model = or_404(selectors.model_get, ref)
    return _apply(request, model, lambda: services.model_archive(model=model, actor=request.user),
                  "Archived: the model no longer serves. Samples, versions and events are kept.")


@require_POST
@requires(CHANGE)
def model_restore(request, ref):
    model = or_404(selectors.model_get, ref)
    return _apply(request, model, lambda: services.model_restore(model=model, actor=request.user), "Restored.")


@require_POST
@requires(ACTIVATE)
def version_activate(request, ref, version_no):
    model = or_404(selectors.model_get, ref)
    try:
        done = services.version_activate(model=model, actor=request.user, version=f"v{version_no}")
    except ApplicationError as exc:
        messages.error(request, exc.message, extra_tags="versions")
    else:
        if done.applied:
            messages.success(request, f"Now serving v{version_no}, pinned: later retrains will not replace it until "
                                      "you unpin.", extra_tags="versions")
        else:
            messages.info(request, done.message, extra_tags="versions")
    return _back(model, "versions", request)


@require_POST
@requires(TRAIN)
def model_unpin(request, ref):
    model = or_404(selectors.model_get, ref)
    return _apply(request, model, lambda: services.model_unpin(model=model, actor=request.user),
                  "Unpinned: the next retrain will serve its new version.", "versions")


@require_POST
@requires(TRAIN)
def version_tag(request, ref, version_no):
    model = or_404(selectors.model_get, ref)
    form = TagForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the tag a name.", extra_tags="versions")
        return _back(model, "versions", request)
    return _apply(request, model, lambda: services.version_tag(model=model, actor=request.user,
                                                                version=f"v{version_no}", name=form.cleaned_data["name"]),
                  f"Tagged v{version_no} as {form.cleaned_data['name']}.", "versions")


def _version_charts(evaluation: list[dict], label: str) -> list[dict]:
    """Per trait, the JSON islands of the version page's charts (static/js/charts.js), drawn from the stored curves."""
    out = []
    for i, e in enumerate(evaluation):
        c = e["curves"]
        if not c:
            out.append({**e, "index": i})
            continue
        out.append({**e, "index": i, "charts": [
            {"id": f"roc-{i}", "type": "curve", "kind": "roc", "caption": "ROC curve", "hint": "dashed: chance",
             "data": {"xLabel": "false positive rate", "yLabel": "true positive rate", "diagonal": True,
                      "series": [{"name": f"{label} (AUC {e['metrics'].get('auc')})", "points": c["roc"]}]}},
            {"id": f"pr-{i}", "type": "curve", "kind": "pr", "caption": "Precision and recall", "hint": "",
             "data": {"xLabel": "recall", "yLabel": "precision", "series": [{"name": label, "points": c["pr"]}]}},
            {"id": f"cal-{i}", "type": "curve", "kind": "calibration", "caption": "Calibration",
             "hint": "dashed: perfectly calibrated",
             "data": {"xLabel": "predicted probability", "yLabel": "observed rate", "diagonal": True,
                      "series": [{"name": label, "points": c["calibration"]}]}},
            {"id": f"dist-{i}", "type": "histogram", "kind": "distribution", "caption": "Scores of each class", "hint": "",
             "data": {"xLabel": "score", "series": [
                 {"label": "positives", "counts": c["distribution"]["positives"], "edges": c["distribution"]["edges"]},
                 {"label": "negatives", "counts": c["distribution"]["negatives"], "edges": c["distribution"]["edges"]}]}},
        ]})
    return out


@require_GET
def version_detail(request, ref, version_no):
    """One version: how it came to be, what it reads, how it measured (curves, calibration, confusion at each tier
    break), its notes, its model card and its artifact."""
    model = or_404(selectors.model_get, ref)
    version = or_404(lambda n: selectors.version_get(model=model, version_no=n), version_no)
    evaluation = selectors.version_evaluation(version)
    typed = request.session.pop("version_notes", None)  # notes a refusal sent back, not lost
    return render(request, "lifecycle/version_detail.html", {
        "model": model, "version": version, "traits": _version_charts(evaluation, version.label),
        "inputs": _version_inputs(model, version), "not_recorded": selectors.NOT_RECORDED,
        "events": selectors.version_events(version), "can_download": request.user.has_perm(DOWNLOAD.perm),
        "notes": version.notes if typed is None else typed, "tiers": TIER_NAMES,
        "importance_charts": [{"id": f"importance-{i}", "rows": [
            {"label": p["name"], "value": p["importance"]} for p in e["importances"][:12]], "labelWidth": 130}
            for i, e in enumerate(evaluation)],
    })


TIER_NAMES = {"developing": "Developing", "solid": "Solid", "strong": "Strong"}


@require_POST
@requires(TRAIN)
def version_notes(request, ref, version_no):
    model = or_404(selectors.model_get, ref)
    target = reverse("lifecycle:version-detail", args=[model.key, version_no]) + "#notes"
    try:
        services.version_describe(model=model, actor=request.user, version=f"v{version_no}",
                                  notes=request.POST.get("notes", ""))
    except ApplicationError as exc:
        messages.error(request, exc.message, extra_tags="notes")
        request.session["version_notes"] = request.POST.get("notes", "")  # what was typed survives the refusal
    else:
        messages.success(request, f"Saved the notes of v{version_no}.", extra_tags="notes")
    return redirect(target)


@require_GET
def version_card(request, ref, version_no, fmt):
    """The model card of a version, as a file: HTML to read and share, JSON for scripts."""
    model = or_404(selectors.model_get, ref)
    version = or_404(lambda n: selectors.version_get(model=model, version_no=n), version_no)
    if fmt not in ("html", "json"):
        raise Http404("A model card is html or json")
    card = selectors.version_card(version)
    name = f"{model.key}-v{version.version_no}-model-card.{fmt}"
    if fmt == "json":
        import json
        response = HttpResponse(json.dumps(card, indent=2), content_type="application/json")
    else:
        response = HttpResponse(render_to_string("lifecycle/version_card.html", {"card": card}, request=request))
    response["Content-Disposition"] = f'attachment; filename="{name}"'
    return response


@require_GET
@requires(DOWNLOAD)
def version_artifact(request, ref, version_no):
    """The stored artifact (a skops/zip file) of a version, for analysts and admins."""
    model = or_404(selectors.model_get, ref)
    version = or_404(lambda n: selectors.version_get(model=model, version_no=n), version_no)
    artifact = selectors.version_artifact(version)
    if artifact is None:
        raise Http404(f"{version.label} of {model.key} has no artifact (pruned)")
    response = HttpResponse(artifact, content_type="application/zip")
    response["Content-Disposition"] = f'attachment; filename="{model.key}-v{version.version_no}.zip"'
    response["X-Artifact-Sha256"] = version.artifact_sha256
    return response


def compare_charts(compared: list[dict], name) -> list[dict]:
    """One overlaid ROC chart per trait (static/js/charts.js "curve"); `name(version)` labels each line."""
    return [{"id": f"roc-{i}", "trait": t["trait"], "missing": [r["version"] for r in t["rows"] if not r["roc"]],
             "data": {"xLabel": "false positive rate", "yLabel": "true positive rate", "diagonal": True,
                      "series": [{"name": f"{name(r['version'])} (AUC {r['auc']})", "points": r["roc"]}
                                 for r in t["rows"] if r["roc"]]}}
            for i, t in enumerate(compared)]


@require_GET
def version_compare(request, ref):
    """Any two versions side by side (defaults to the serving version against the one before it); with
    ?v=1&v=2&v=3, any number of them: a table of metrics and their ROC curves overlaid."""
    model = or_404(selectors.model_get, ref)
    numbers = request.GET.getlist("v")
    if numbers:
        picked = or_404(lambda: selectors.versions_pick(model=model, numbers=numbers[:12]))
        compared = selectors.versions_side_by_side(picked)
        return render(request, "lifecycle/compare_many.html", {
            "model": model, "picked": picked, "compared": compared, "too_few": len(picked) < 2,
            "charts": compare_charts(compared, lambda v: v.label)})
    versions = list(selectors.version_list(model=model).order_by("version_no"))
    if len(versions) < 2:
        return render(request, "dashboard/compare.html", {"model": model, "versions": versions, "too_few": True})
    by_no = {v.version_no: v for v in versions}
    serving = next((v for v in versions if v.pk == model.active_version_id), versions[-1])
    default_a = versions[versions.index(serving) - 1] if versions.index(serving) > 0 else versions[0]
    default_b = serving if serving is not default_a else versions[1]

    def pick(name, default):
        raw = str(request.GET.get(name, "")).lstrip("v")
        if not raw:
            return default
        if not (raw.isascii() and raw.isdigit()) or int(raw) not in by_no:
            raise Http404(f"Model {model.key} has no version {request.GET.get(name)!r}")
        return by_no[int(raw)]

    a, b = pick("a", default_a), pick("b", default_b)
    comparison = selectors.version_comparison(model=model, a=a, b=b)
    charts = [{"id": f"hist-{i}", "trait": row["trait"],
               "series": [{"label": f"v{a.version_no}", "counts": row["histogram_a"].get("counts", []),
                           "edges": row["histogram_a"].get("edges", [])},
                          {"label": f"v{b.version_no}", "counts": row["histogram_b"].get("counts", []),
                           "edges": row["histogram_b"].get("edges", [])}]}
              for i, row in enumerate(comparison["traits"])]
    return render(request, "dashboard/compare.html", {
        "model": model, "versions": versions, "a": a, "b": b, "comparison": comparison, "charts": charts,
    })


@require_GET
def tokens(request):
    return _tokens_page(request, ApiTokenForm())


@require_POST
def token_create(request):
    form = ApiTokenForm(request.POST)
    if not form.is_valid():
        return _tokens_page(request, form, status=400)
    try:
        token, key = services.api_token_create(user=request.user, actor=request.user, name=form.cleaned_data["name"],
                                               expires_at=form.expires_at())
    except ApplicationError as exc:
        add_refusal(form, exc)
        return _tokens_page(request, form, status=400)
    # The key is shown in this answer only: nothing can show it again (only its hash is stored).
    return shown_once(_tokens_page(request, ApiTokenForm(), new_token=token, new_key=key))


@require_POST
def token_revoke(request, pk):
    token = ApiToken.objects.filter(pk=pk, user=request.user).select_related("user").first()
    if token is None:
        raise Http404("You have no token with that id")
    services.api_token_revoke(token=token, actor=request.user)
    messages.success(request, f"Revoked {token.name} ({token.prefix}…): scripts using it now get 401.")
    return redirect("lifecycle:tokens")


def _tokens_page(request, form, *, status: int = 200, new_token=None, new_key: str = ""):
    return render(request, "dashboard/tokens.html", {
        "form": form, "tokens": selectors.api_token_list(user=request.user), "new_token": new_token,
        "new_key": new_key}, status=status)


# ------------------------------------------------------------------------------------------ learning cadence

# The same words as the outcome-weights editor's, for the one permission both need.
CADENCE = Write("lifecycle.change_algorithmmodel", "change a model's learning cadence or outcome weights",
                "analysts and admins")
CADENCE_ANCHOR = "cadence"  # the message tag and anchor of the cadence page's panel
UNIT_WORDS = {"m": "minutes", "h": "hours", "d": "days"}


def _model_kind(model) -> str:
    if model.model_type in TABULAR_TYPES:
        return "tabular"
    return "external" if model.model_type == EXTERNAL_TYPE else "continuous"


def _cadence_status(model) -> dict:
    """What runs, in words: the django-q2 schedule that follows the cadence, or why there is none."""
    schedule = selectors.cadence_schedule(model) if selectors.cadence_active(model) else None
    if schedule is not None:
        return {"on": True, "schedule": schedule, "next_run": schedule.next_run,
                "text": f"A retrain every {model.learn_schedule} when new samples have arrived since the serving "
                        "version."}
    kind = _model_kind(model)
    if kind == "continuous":
        why = "This model learns from every response as it serves; it needs no schedule and none is kept."
    elif kind == "external":
        why = "External endpoint models are never trained here, so nothing is scheduled."
    elif not model.auto_learn:
        why = "Nothing is scheduled: autoLearn is off, so the model keeps its scores until someone retrains it."
    elif model.learn_mode != LearnMode.SCHEDULED:
        why = "Nothing is scheduled: learnMode is none. Choose scheduled and an interval."
    else:
        why = "Nothing is scheduled yet."
    return {"on": False, "schedule": None, "next_run": None, "text": why}


def _cadence_said(model) -> str:
    status = _cadence_status(model)
    if status["on"]:
        return (f"Saved. Learning on: retrains every {model.learn_schedule}; the next run is due "
                f"{status['next_run']:%Y-%m-%d %H:%M} UTC.")
    return "Saved. " + status["text"]


def _cadence_context(request, model, form: CadenceForm | None = None) -> dict:
    if form is None:
        form = CadenceForm(initial={"auto_learn": model.auto_learn, "learn_mode": model.learn_mode,
                                    "learn_schedule": model.learn_schedule or ""})
    return {
        "model": model,
        "tab": "cadence",
        "kind": _model_kind(model),
        "form": form,
        "status": _cadence_status(model),
        "last_scheduled_run": selectors.run_list(model=model).filter(trigger="schedule").first(),
        "suggestions": ("6h", "24h", "7d"),
        "units": [(unit, UNIT_WORDS.get(unit, f"{minutes} minutes"))
                  for unit, minutes in services.SCHEDULE_UNIT_MINUTES.items()],
        "minimum": services.MIN_SCHEDULE_MINUTES,
        "write_block": refusal(request.user, CADENCE),
    }


@require_http_methods(["GET", "POST"])
def model_cadence(request, ref):
    """The learning cadence: its page, and the one place a cadence is saved from a page. A form posted from
    elsewhere carries `next`: the outcome goes back there as a message on the panel its anchor names; otherwise the
    refusal is shown in place, next to the field it names."""
    model = or_404(selectors.model_get, ref)
    if request.method == "GET":
        return render(request, "lifecycle/cadence.html", _cadence_context(request, model))
    require(request.user, CADENCE)
    back = came_from(request)
    tag = back.partition("#")[2] if back else CADENCE_ANCHOR
    form = CadenceForm(request.POST)

    def in_place(trigger: str = ""):
        return render_page(request, "lifecycle/cadence.html", "panel", _cadence_context(request, model, form),
                           trigger=trigger)

    if not form.is_valid():
        message = f"Not saved: {form.problems()}" if back else "Not saved: fix the fields marked below."
        return control_refused(request, message, back=back, tag=tag, in_place=in_place)
    data = form.cleaned_data
    try:
        model = services.model_set_cadence(model=model, actor=request.user, auto_learn=data["auto_learn"],
                                           learn_mode=data["learn_mode"],
                                           learn_schedule=data["learn_schedule"].strip() or None)
    except ApplicationError as exc:
        field = None if back else CadenceForm.FIELDS.get(exc.details.get("field", ""))
        if field:
            form.add_error(field, exc.message)
        message = "Not saved: fix the fields marked below." if field else exc.message
        return control_refused(request, message, back=back, tag=tag, in_place=in_place)
    form = None
    return control_saved(request, _cadence_said(model), back=back, tag=tag,
                         page_url=reverse("lifecycle:model-cadence", args=[model.key]) + f"#{CADENCE_ANCHOR}",
                         in_place=lambda: in_place(trigger="cadenceChanged"))


# ------------------------------------------------------------------------------------------ webhooks

WEBHOOKS = Write("lifecycle.manage_webhook", "see or configure webhooks", "admins")


def _webhooks_page(request, form, *, status: int = 200, new_webhook=None, new_secret: str = ""):
    return render(request, "lifecycle/webhooks.html", {
        "form": form, "webhooks": webhooks.webhook_list().select_related("created_by"),
        "deliveries": webhooks.delivery_list()[:50], "new_webhook": new_webhook, "new_secret": new_secret,
        "max_attempts": webhooks.MAX_ATTEMPTS, "event_choices": form.fields["events"].choices}, status=status)


@require_GET
@requires(WEBHOOKS)
def webhook_list(request):
    return _webhooks_page(request, WebhookForm())


@require_POST
@requires(WEBHOOKS)
def webhook_create(request):
    form = WebhookForm(request.POST)
    if not form.is_valid():
        return _webhooks_page(request, form, status=400)
    try:
        webhook, secret = webhooks.webhook_create(actor=request.user, url=form.cleaned_data["url"],
                                                  events=form.cleaned_data["events"],
                                                  description=form.cleaned_data["description"])
    except ApplicationError as exc:
        add_refusal(form, exc)
        return _webhooks_page(request, form, status=400)
    # The secret is shown in this answer only, as an API key is.
    return shown_once(_webhooks_page(request, WebhookForm(), new_webhook=webhook, new_secret=secret))


@require_POST
@requires(WEBHOOKS)
def webhook_edit(request, pk):
    webhook = or_404(webhooks.webhook_get, pk)
    form = WebhookEditForm(request.POST)
    if not form.is_valid():
        problems = "; ".join(f"{form.fields[name].label or name}: {' '.join(errs)}" for name, errs in form.errors.items())
        messages.error(request, f"The webhook to {webhook.url} was not changed. {problems}")
        return redirect("lifecycle:webhook-list")
    data = form.cleaned_data
    try:
        webhook = webhooks.webhook_update(webhook=webhook, actor=request.user, url=data["url"], events=data["events"],
                                          description=data["description"], active=data["active"])
    except ApplicationError as exc:
        messages.error(request, f"The webhook to {webhook.url} was not changed. {exc.message}")
    else:
        state = "on" if webhook.active else "off (nothing is sent)"
        messages.success(request, f"Saved the webhook to {webhook.url}: {state}, {len(webhook.events)} event(s).")
    return redirect("lifecycle:webhook-list")


@require_POST
@requires(WEBHOOKS)
def webhook_delete(request, pk):
    webhook = or_404(webhooks.webhook_get, pk)
    webhooks.webhook_delete(webhook=webhook, actor=request.user)
    messages.success(request, f"Deleted the webhook to {webhook.url}; nothing more is sent there.")
    return redirect("lifecycle:webhook-list")


@require_POST
@requires(WEBHOOKS)
def webhook_test(request, pk):
    webhook = or_404(webhooks.webhook_get, pk)
    delivery = webhooks.webhook_ping(webhook=webhook, actor=request.user)
    messages.info(request, f"Sent a ping to {webhook.url} (delivery {delivery.pk}); its status is below.")
    return redirect("lifecycle:webhook-list")

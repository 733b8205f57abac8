"""Pages. Each view validates input, calls one service or selector and renders; a refusal from a service
becomes a message on the page. Forms post and redirect, so every button also works without htmx."""

from __future__ import annotations

from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.html import format_html
from django.views.decorators.http import require_GET, require_POST

from . import selectors, services
from .choices import STATE_COLORS, TABULAR_TYPES, State
from .errors import ApplicationError
from .forms import ModelCreateForm, ModelEditForm, ModelFilterForm, SampleForm, TagForm, TrainForm, TraitForm, UploadForm
from .roles import role_of


def permission_required(perm: str):
    """A write that the user's role may not make answers 403 with the reason."""

    def decorator(view):
        @wraps(view)
        def wrapper(request, *args, **kwargs):
            if not request.user.has_perm(perm):
                raise PermissionDenied(
                    f"Your role ({role_of(request.user) or 'none'}) cannot do this; analysts and admins can.")
            return view(request, *args, **kwargs)

        return wrapper

    return decorator


def _model_or_404(ref):
    try:
        return selectors.model_get(ref)
    except ApplicationError as exc:
        raise Http404(exc.message) from None


def _back(model, anchor: str = ""):
    return redirect(reverse("lifecycle:model-detail", args=[model.key]) + (f"#{anchor}" if anchor else ""))


def _apply(request, model, action, success: str, anchor: str = ""):
    """Run one service call; report its refusal or its success as a message, then show the model again."""
    try:
        action()
    except ApplicationError as exc:
        messages.error(request, exc.message, extra_tags=anchor)
    else:
        messages.success(request, success, extra_tags=anchor)
    return _back(model, anchor)


@require_GET
def home(request):
    return redirect("lifecycle:model-list")


@require_GET
def model_list(request):
    form = ModelFilterForm(request.GET or None)
    filters = form.cleaned_data if form.is_valid() else {}
    qs = selectors.model_list(search=filters.get("search", ""), state=filters.get("state"),
                              model_type=filters.get("model_type"))
    page = Paginator(qs, 25).get_page(request.GET.get("page"))
    counts = selectors.model_counts_by_state()
    context = {
        "form": form,
        "page": page,
        "counts": counts,
        "total": sum(counts.values()),
        "states": State,
        "state_colors": STATE_COLORS,
        "current_state": filters.get("state") or "",
        "filtered": any(filters.values()),
    }
    # htmx asks for the results only; a boosted request or a history restore needs the whole page.
    partial = request.htmx and not request.htmx.boosted and not request.htmx.history_restore_request
    if not partial:
        return render(request, "lifecycle/model_list.html", context)
    response = render(request, "lifecycle/model_list.html#results", context)
    # The address bar follows the filter, without the empty fields a form sends.
    query = urlencode([(k, v) for k, v in request.GET.items() if v])
    response["HX-Push-Url"] = request.path + (f"?{query}" if query else "")
    return response


@permission_required("lifecycle.add_algorithmmodel")
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


@require_GET
def model_detail(request, ref):
    model = _model_or_404(ref)
    traits = selectors.trait_list(model=model)
    runs = list(selectors.run_list(model=model)[:10])
    versions = list(selectors.version_list(model=model)[:20])
    events = list(selectors.event_list(model=model)[:30])
    samples = selectors.sample_list(model=model)
    sample_count = samples.count()
    context = {
        "model": model,
        "traits": traits,
        "runs": runs,
        "versions": versions,
        "events": events,
        "sample_count": sample_count,
        "traits_by_key": {t.key: t for t in traits},
        "trainable": model.model_type in TABULAR_TYPES,
        "next_steps": _next_steps(model, traits, sample_count),
        "recent_samples": list(samples[:10]),
        "unknown_label_keys": selectors.unknown_label_keys(model=model) if model.definition_editable else [],
        "operation": selectors.last_operation(model),
        "trait_form": TraitForm(),
        "sample_form": SampleForm(traits=traits),
        "upload_form": UploadForm(),
        "train_form": TrainForm(),
        "edit_form": ModelEditForm(initial={"name": model.name, "description": model.description}),
        "state_colors": STATE_COLORS,
    }
    return render(request, "lifecycle/model_detail.html", context)


def _next_steps(model, traits, sample_count) -> list[dict]:
    """What a model that has never served still needs before it can be trained, for the checklist."""
    if model.has_been_ready or model.state not in (State.DRAFT, State.FAILED) or model.model_type not in TABULAR_TYPES:
        return []
    one_sided = [t.name for t in traits if not (t.positive_samples and t.negative_samples)]
    return [
        {"done": bool(traits), "text": "Define at least one trait", "anchor": "traits"},
        {
            "done": bool(traits) and sample_count > 0 and not one_sided,
            "anchor": "samples",
            "text": "Add labelled samples with positive and negative examples for every trait"
            + (
                f" (missing for {', '.join(one_sided)})"
                if traits and sample_count and one_sided
                else ""
            ),
        },
        {
            "done": False,
            "text": "Train: the first successful run makes the model scorable",
            "anchor": "",
        },
    ]


@require_GET
def model_progress(request, ref):
    """Polled while a run is in flight; when the run ends, tells the page to refresh its panels."""
    model = _model_or_404(ref)
    response = render(request, "lifecycle/model_detail.html#progress",
                      {"model": model, "operation": selectors.last_operation(model)})
    if model.state != State.BUSY:
        response["HX-Trigger"] = "runFinished"
    return response


@require_POST
@permission_required("lifecycle.change_algorithmmodel")
def model_edit(request, ref):
    model = _model_or_404(ref)
    form = ModelEditForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the model a name.", extra_tags="edit")
        return _back(model, "edit")
    return _apply(request, model, lambda: services.model_update(model=model, actor=request.user, **form.cleaned_data),
                  "Saved.", "edit")


@require_POST
@permission_required("lifecycle.change_trait")
def trait_add(request, ref):
    model = _model_or_404(ref)
    form = TraitForm(request.POST)
    if not form.is_valid():
        messages.error(request, "A trait needs a name.", extra_tags="traits")
        return _back(model, "traits")
    data = form.cleaned_data
    spec = {"name": data["name"], "description": data["description"], "positiveLabel": data["positive_label"],
            "negativeLabel": data["negative_label"]}
    return _apply(request, model, lambda: services.trait_upsert(model=model, actor=request.user, traits=[spec]),
                  f"Trait {data['name']} saved.", "traits")


@require_POST
@permission_required("lifecycle.delete_trait")
def trait_remove(request, ref, key):
    model = _model_or_404(ref)
    return _apply(request, model, lambda: services.trait_delete(model=model, actor=request.user, key=key),
                  f"Trait {key} removed.", "traits")


@require_POST
@permission_required("lifecycle.add_sample")
def sample_add(request, ref):
    model = _model_or_404(ref)
    form = SampleForm(request.POST, traits=model.traits.all())
    if not form.is_valid():
        messages.error(request, "; ".join(f"{form.fields[k].label if k in form.fields else k}: {', '.join(v)}"
                                          for k, v in form.errors.items()), extra_tags="samples")
        return _back(model, "samples")
    return _apply(request, model,
                  lambda: services.sample_add_batch(model=model, actor=request.user, samples=[form.as_sample()]),
                  "Sample added.", "samples")


@require_POST
@permission_required("lifecycle.add_sample")
def sample_upload(request, ref):
    model = _model_or_404(ref)
    form = UploadForm(request.POST, request.FILES)
    if not form.is_valid():
        messages.error(request, "Choose a .jsonl or .csv file to upload.", extra_tags="samples")
        return _back(model, "samples")
    upload = form.cleaned_data["file"]
    try:
        result = services.samples_upload(model=model, actor=request.user, data=upload.read(), filename=upload.name,
                                         content_type=upload.content_type or "")
    except ApplicationError as exc:
        messages.error(request, exc.message, extra_tags="samples")
        for line in exc.details.get("errors", [])[1:10]:
            messages.error(request, line, extra_tags="samples")
    else:
        messages.success(request, f"Uploaded {len(result.ids)} samples from {upload.name}.", extra_tags="samples")
    return _back(model, "samples")


@require_POST
@permission_required("lifecycle.train_algorithmmodel")
def model_train(request, ref):
    model = _model_or_404(ref)
    form = TrainForm(request.POST)
    form.is_valid()
    data = form.cleaned_data
    return _apply(request, model, lambda: services.model_train_enqueue(
        model=model, actor=request.user, effort=data.get("effort") or "high",
        reoptimize_params=data.get("reoptimize_params", False)), "Training started.")


@require_POST
@permission_required("lifecycle.train_algorithmmodel")
def model_discover(request, ref):
    model = _model_or_404(ref)
    return _apply(request, model, lambda: services.model_discover_enqueue(model=model, actor=request.user),
                  "Discovery started.")


@require_POST
@permission_required("lifecycle.change_algorithmmodel")
def model_archive(request, ref):
    model = _model_or_404(ref)
    return _apply(request, model, lambda: services.model_archive(model=model, actor=request.user),
                  "Archived: the model no longer serves. Samples, versions and events are kept.")


@require_POST
@permission_required("lifecycle.change_algorithmmodel")
def model_restore(request, ref):
    model = _model_or_404(ref)
    return _apply(request, model, lambda: services.model_restore(model=model, actor=request.user), "Restored.")


@require_POST
@permission_required("lifecycle.train_algorithmmodel")
def version_activate(request, ref, version_no):
    model = _model_or_404(ref)
    return _apply(request, model, lambda: services.version_activate(model=model, actor=request.user,
                                                                     version=f"v{version_no}"),
                  f"Now serving v{version_no}, pinned: later retrains will not replace it until you unpin.",
                  "versions")


@require_POST
@permission_required("lifecycle.train_algorithmmodel")
def model_unpin(request, ref):
    model = _model_or_404(ref)
    return _apply(request, model, lambda: services.model_unpin(model=model, actor=request.user),
                  "Unpinned: the next retrain will serve its new version.", "versions")


@require_POST
@permission_required("lifecycle.train_algorithmmodel")
def version_tag(request, ref, version_no):
    model = _model_or_404(ref)
    form = TagForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Give the tag a name.", extra_tags="versions")
        return _back(model, "versions")
    return _apply(request, model, lambda: services.version_tag(model=model, actor=request.user,
                                                                version=f"v{version_no}", name=form.cleaned_data["name"]),
                  f"Tagged v{version_no} as {form.cleaned_data['name']}.", "versions")


def _error_page(request, status: int, title: str, exception=None):
    message = str(exception) if exception and str(exception) else ""
    if request.htmx:
        return HttpResponse(format_html('<div class="flash flash-error" role="alert">{}. {}</div>', title, message),
                            status=status)
    return render(request, "error.html", {"status": status, "title": title, "message": message}, status=status)


def page_not_found(request, exception=None):
    return _error_page(request, 404, "Not found", exception)


def permission_denied(request, exception=None):
    return _error_page(request, 403, "Not allowed", exception)


def server_error(request):
    return _error_page(request, 500, "Something went wrong on our side")

"""Scoring pages: outcome weights, try a score, adaptations, decision traces and the catalog.

The same shape as the other apps' pages: validate input, call one service or selector, render. A refusal from a
service is shown where the person acted: next to the field it names, or at the top of the panel. htmx requests get
the page's partial; every form also works as a plain post."""

from __future__ import annotations

from datetime import datetime

from django.contrib import messages
from django.db import IntegrityError, transaction
from django.http import Http404
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from lifecycle import selectors as lifecycle_selectors
from lifecycle.choices import ModelType, State, TraitDirection, tier_word
from lifecycle.core.errors import ApplicationError
from lifecycle.model_types import CONTINUOUS_TYPES, TABULAR_TYPES
from lifecycle.core.listing import SortBy, paginate_keyset, render_listing
from lifecycle.models import AlgorithmModel
from lifecycle.core.views import (Write, came_from, control_refused, control_saved, is_partial, or_404, refusal,
                                  render_page, require, requires)

from . import cards, selectors, services
from .choices import COLD_START_PROPENSITY, EVIDENCE_THRESHOLDS, READ_ORDER, SMOOTHING_WEIGHT, Scope
from .filters import TraceFilter
from .forms import (CategoryForm, ChannelForm, ContactPolicyForm, CreativeForm, DecisionFlowForm,
                    SuppressionRuleForm, FeedbackForm, OfferForm,
                    OutcomeTypeForm, OutcomeWeightsForm, TryScoreForm, weight_field_name)
from .models import (Category, Channel, ContactPolicy, Creative, DecisionFlow, DecisionTrace, Offer, OutcomeType,
                     SuppressionRule)

# The writes of these pages: (permission, what it does, who may). The same words explain a missing control.
OPERATE = Write("lifecycle.change_algorithmmodel", "change a model's learning cadence or outcome weights",
                "analysts and admins")
FEEDBACK = Write("lifecycle.add_sample", "give feedback on scores (feedback becomes training samples)",
                 "analysts and admins")
RESET = Write("lifecycle.change_algorithmmodel", "reset a model's learning", "analysts and admins")







def _model_kind(model: AlgorithmModel) -> str:
    if model.model_type in TABULAR_TYPES:
        return "tabular"
    if model.model_type == ModelType.EXTERNAL_ENDPOINT:
        return "external"
    return "continuous"


def _model_context(model: AlgorithmModel, tab: str) -> dict:
    return {"model": model, "tab": tab, "kind": _model_kind(model)}


# ============================================================================================ outcome weights

WEIGHTS = "weights"  # message tag and anchor of the editor


def _weights_rows(model: AlgorithmModel, form: OutcomeWeightsForm, types: list[OutcomeType]) -> list[dict]:
    draft = form.draft() if form.is_bound else model.outcome_weights
    rows = []
    for index, key in enumerate(form.keys, start=1):
        field = form[weight_field_name(key)]
        outcome = next((t for t in types if t.key == key), None)
        if field.errors:
            assessment = {"weight": None, "explicit": False, "level": "error", "text": field.errors[0], "signal": ""}
        elif outcome is None:
            assessment = selectors.unregistered_weight_assessment(key, draft)
        else:
            assessment = selectors.weight_assessment(outcome, draft)
        rows.append({"index": index, "key": key, "outcome": outcome, "field": field, **assessment})
    return rows


def _weights_keys(model: AlgorithmModel, known: list[str]) -> list[str]:
    """A row per outcome type, then one per saved weight whose outcome type the catalog does not have."""
    return known + [k for k in (model.outcome_weights or {}) if k not in known]


def _weights_form(model: AlgorithmModel, known: list[str], **kwargs) -> OutcomeWeightsForm:
    initial = {weight_field_name(k): f"{v:g}" for k, v in (model.outcome_weights or {}).items()}
    return OutcomeWeightsForm(initial=initial, keys=_weights_keys(model, known), **kwargs)


def _weights_context(request, model: AlgorithmModel, form: OutcomeWeightsForm | None = None) -> dict:
    types = list(selectors.outcome_type_list())
    if form is None:
        form = _weights_form(model, [t.key for t in types])
    rows = _weights_rows(model, form, types)
    draft = form.draft() if form.is_bound else model.outcome_weights
    return {
        **_model_context(model, "weights"),
        "form": form,
        "rows": rows,
        "summary": {
            "explicit": sum(1 for r in rows if r["explicit"]),
            "default": sum(1 for r in rows if not r["explicit"] and r["outcome"] is not None),
            "warnings": sum(1 for r in rows if r["level"] in ("warn", "contradiction", "error")),
            "draft_is_default": draft is None,
            "unsaved": form.is_bound and draft != model.outcome_weights,
        },
        "saved": sorted((model.outcome_weights or {}).items(), key=lambda kv: kv[0]),
        "write_block": refusal(request.user, OPERATE),
    }


def _weights_said(before, after) -> str:
    if before == after:
        return "Nothing changed: these weights were saved already."
    if after is None:
        return ("Outcome weights reset to the default (null): +1 for positive outcomes, -1 for negative ones and 0 "
                "(with a warning) for neutral ones.")
    listed = ", ".join(f"{k} {v:+g}" for k, v in after.items())
    return f"Saved {len(after)} outcome weight{'s' if len(after) != 1 else ''}: {listed}."


@require_http_methods(["GET", "POST"])
def model_weights(request, ref):
    """The outcome-weights editor, and the one place weights are saved from a page. A form posted from elsewhere
    carries `next`: the outcome goes back there as a message on the panel its anchor names; otherwise the refusal is
    shown in place, on the rows it names."""
    model = or_404(lifecycle_selectors.model_get, ref)
    if request.method == "GET":
        return render(request, "scoring/weights.html", _weights_context(request, model))
    require(request.user, OPERATE)
    back = came_from(request)
    tag = back.partition("#")[2] if back else WEIGHTS
    before = model.outcome_weights
    form = None

    def in_place(trigger: str = ""):
        return render_page(request, "scoring/weights.html", "editor", _weights_context(request, model, form),
                           trigger=trigger)

    if request.POST.get("reset"):
        weights = None
    else:
        known = list(selectors.outcome_type_list().values_list("key", flat=True))
        form = OutcomeWeightsForm(request.POST, keys=_weights_keys(model, known))
        if not form.is_valid():
            message = f"Not saved: {form.problems()}" if back else "Not saved: fix the rows marked below."
            return control_refused(request, message, back=back, tag=tag, in_place=in_place)
        weights = form.weights()
    try:
        model = services.model_set_outcome_weights(model=model, actor=request.user, weights=weights)
    except ApplicationError as exc:
        return control_refused(request, exc.message, back=back, tag=tag, in_place=in_place)
    form = None
    return control_saved(request, _weights_said(before, model.outcome_weights), back=back, tag=tag,
                         page_url=reverse("scoring:model-weights", args=[model.key]) + f"#{WEIGHTS}",
                         in_place=lambda: in_place(trigger="weightsChanged"))


@require_GET
def model_weights_preview(request, ref):
    """How each outcome would map with what the editor holds now (nothing is saved)."""
    model = or_404(lifecycle_selectors.model_get, ref)
    known = list(selectors.outcome_type_list().values_list("key", flat=True))
    form = OutcomeWeightsForm(request.GET, keys=_weights_keys(model, known))
    form.is_valid()
    return render(request, "scoring/weights.html#preview", {**_weights_context(request, model, form), "preview": True})


def weights_step(request, model: AlgorithmModel) -> dict | None:
    """The outcome-weights step of the model page's path to live (the panel "scoring.live_weights"): the way to
    the editor and, for those who may, its form in short, posting back to the model page."""
    types = list(selectors.outcome_type_list())
    block = refusal(request.user, OPERATE)
    form = None if block else _weights_form(model, [t.key for t in types], auto_id="live-%s")
    # The same typed rows as the editor's page (classification, number, what it maps to): one editor, two places.
    return {"weights_block": block, "weights_form": form,
            "weights_rows": _weights_rows(model, form, types) if form else [],
            "weights_back": reverse("lifecycle:model-detail", args=[model.key]) + "#live"}


# ============================================================================================ try a score

TRY = "try"
TIER_NAMES = cards.TIERS


def _bar(score: int, breaks: dict | None) -> list[dict]:
    """Segments of the 0-100 bar, one per tier, from the version's breaks."""
    if not breaks:
        return []
    edges = [0, breaks["developing"], breaks["solid"], breaks["strong"], 100]
    out = []
    for i, name in enumerate(TIER_NAMES):
        low, high = max(0.0, float(edges[i])), min(100.0, float(edges[i + 1]))
        current = low <= score < high or (name == "Strong" and score >= low)
        out.append({"name": name, "left": round(low, 2), "width": round(max(high - low, 0.0), 2),
                    "range": f"{round(low)}–{round(high)}", "current": current})
    return out


def _card_rows(card: dict, traits: dict) -> list[dict]:
    rows = []
    for index, (key, score) in enumerate(card["scores"].items(), start=1):
        d = card["detail"][key]
        trait = traits.get(key)
        label = d["label"]
        direction = trait.direction if trait else None
        following = TIER_NAMES[TIER_NAMES.index(label) + 1] if label and label != "Strong" else None
        word = tier_word(label, direction)
        if label is None:
            tier_text = ("No tier: the version's evaluation is too thin to place breaks (confidence low)."
                         if d["confidence"] == "low" else "No tier: this version has no breaks for the trait.")
        elif following:
            tier_text = (f"{word}: {d['headroom']} point{'s' if d['headroom'] != 1 else ''} below "
                         f"{tier_word(following, direction)}.")
        elif direction == TraitDirection.HIGHER_IS_BAD:
            tier_text = f"{word}: the top tier (for this trait a higher score is worse)."
        else:
            tier_text = f"{word}: the top tier."
        segments = [{**seg, "name": tier_word(seg["name"], direction)}
                    for seg in _bar(score, d["breaks"] if label else None)]
        rows.append({"index": index, "key": key, "name": trait.name if trait else key, "trait": trait,
                     "score": score, "label": label, "label_word": word, "tier_text": tier_text, "detail": d,
                     "segments": segments,
                     "breaks_text": ", ".join(f"{s['name']} {s['range']}" for s in segments),
                     "positive": trait.positive_label if trait else "positive",
                     "negative": trait.negative_label if trait else "negative"})
    return rows


def _trait_choices(model: AlgorithmModel, traits: dict) -> list[tuple[str, str]]:
    version = model.active_version
    keys = list(version.trait_keys or services.learning_traits(version)) if version else []
    return [(k, traits[k].name if k in traits else k) for k in keys]


def _try_schema(model: AlgorithmModel) -> list[dict]:
    """What the serving version reads, for the form's fields (none: the JSON box alone)."""
    version = model.active_version
    if version is None or model.model_type not in TABULAR_TYPES:
        return []
    return lifecycle_selectors.version_input_schema(version).features


def _try_form(model: AlgorithmModel, data=None) -> TryScoreForm:
    traits = {t.key: t for t in model.traits.all()}
    return TryScoreForm(data, trait_choices=_trait_choices(model, traits), schema=_try_schema(model))


def _input_warnings(check, form: TryScoreForm) -> list[dict]:
    """The score's input check in sentences, beside the card."""
    if check is None:
        return []
    warnings = []
    if check.unknown:
        hints = services.feature_suggestions(check.unknown, form.schema)
        warnings.append({"title": "Not read by this model", "items": check.unknown,
                         "text": "scored without them" + (f"; did you mean {', '.join(hints)}?" if hints else ".")})
    if check.missing:
        warnings.append({"title": "Missing", "items": check.missing,
                         "text": "scored with the values imputed in training; confidence drops by the importance "
                                 "they carried."})
    if check.unseen:
        warnings.append({"title": "Never seen in training", "items": [f"{u['feature']} = {u['value']}"
                                                                      for u in check.unseen],
                         "text": "scored as the category 'other'."})
    return warnings


def _try_context(request, model: AlgorithmModel, form: TryScoreForm | None = None, result=None) -> dict:
    version = model.active_version
    traits = {t.key: t for t in model.traits.all()}
    if form is None:
        form = _try_form(model)
    card = result.cards[0] if result else None
    if model.model_type in CONTINUOUS_TYPES:
        note = (f"A {model.get_model_type_display()} model ranks offers for /recommend; it has no score card. "
                "Scoring it here is refused; look at its adaptations and decision traces instead.")
    elif model.state == State.ARCHIVED:
        note = "Archived: this model serves nothing. Restore it to score again."
    elif not model.is_scorable:
        note = "Not scorable yet: scoring starts with the first successful train (version 1)."
    else:
        note = ""
    return {
        **_model_context(model, "try"),
        "form": form,
        "version": version,
        "note": note,
        "result": result,
        "card": card,
        "rows": _card_rows(card, traits) if card else [],
        "feedback_block": refusal(request.user, FEEDBACK),
        "warnings": _input_warnings(result.checks[0] if result and result.checks else None, form),
    }


@require_http_methods(["GET", "POST"])
def model_try(request, ref):
    """Scoring is a read of the model, open to every role (as over the API); feedback is a write."""
    model = or_404(lifecycle_selectors.model_get, ref)
    if request.method == "GET":
        return render(request, "scoring/try.html", _try_context(request, model))
    form = _try_form(model, request.POST)
    if not form.is_valid():
        return render_page(request, "scoring/try.html", "panel", _try_context(request, model, form))
    try:
        result = services.score(model=model, actor=request.user, inputs=[form.score_input()],
                                traits=form.cleaned_data["traits"] or None)
    except ApplicationError as exc:
        named = form.field_for(str(exc.details.get("field", "")))
        if named and named != "features":  # next to the field it names; the card says it too
            form.add_error(named, exc.message)
        messages.error(request, exc.message, extra_tags=TRY)
        return render_page(request, "scoring/try.html", "panel", _try_context(request, model, form))
    return render_page(request, "scoring/try.html", "panel", _try_context(request, model, form, result))


@require_POST
@requires(FEEDBACK)
def score_feedback(request, ref, request_id):
    model = or_404(lifecycle_selectors.model_get, ref)
    form = FeedbackForm(request.POST)
    index = request.POST.get("row", "")
    context = {"model": model, "request_id": request_id, "index": index, "trait_key": request.POST.get("trait", "")}
    if not form.is_valid():
        context["refused"] = "Choose a trait and positive or negative."
    else:
        trait, label = form.cleaned_data["trait"], form.cleaned_data["label"]
        try:
            ids = services.feedback_by_request(request_id=request_id, actor=request.user, feedback={trait: label})
        except ApplicationError as exc:
            context["refused"] = exc.message
        else:
            found = model.traits.filter(key=trait).first()
            word = (found.positive_label if label == "positive" else found.negative_label) if found else label
            context["recorded"] = {"trait": found.name if found else trait, "word": word, "label": label, "ids": ids}
    if is_partial(request):
        return render(request, "scoring/try.html#feedback-result", context)
    if "refused" in context:
        messages.error(request, context["refused"], extra_tags=TRY)
    else:
        r = context["recorded"]
        messages.success(request, f"Feedback recorded: {r['trait']} is {r['word']} (sample "
                                  f"{', '.join(f'#{i}' for i in r['ids'])}) for the next retrain.", extra_tags=TRY)
    return redirect(reverse("scoring:model-try", args=[model.key]) + f"#{TRY}")


# ============================================================================================ adaptations


def _evidence_bar(evidence: int, threshold: int) -> dict:
    scale = max(threshold * 1.5, evidence, 1)
    return {"fill": round(100 * min(evidence, scale) / scale, 2), "mark": round(100 * threshold / scale, 2)}


@require_GET
def model_adaptations(request, ref):
    model = or_404(lifecycle_selectors.model_get, ref)
    cells = selectors.adaptations(model)
    groups = []
    for scope in READ_ORDER:
        rows = [{**c, "bar": _evidence_bar(c["evidence"], c["threshold"]),
                 "missing": max(c["threshold"] - c["evidence"], 0), "updated": datetime.fromisoformat(c["updatedAt"])}
                for c in cells if c["scope"] == scope]
        groups.append({"scope": scope, "label": Scope(scope).label, "threshold": EVIDENCE_THRESHOLDS[scope],
                       "rows": rows, "trusted": sum(1 for r in rows if r["trusted"])})
    return render(request, "scoring/adaptations.html", {
        **_model_context(model, "adaptations"),
        "groups": groups,
        "count": len(cells),
        "read_order": [(s, Scope(s).label, EVIDENCE_THRESHOLDS[s]) for s in READ_ORDER],
        "smoothing_weight": SMOOTHING_WEIGHT,
        "cold_start": COLD_START_PROPENSITY,
        "reset_block": refusal(request.user, RESET) or selectors.reset_learning_refusal(model)[1],
    })


@require_POST
@requires(RESET)
def model_reset_learning(request, ref):
    model = or_404(lifecycle_selectors.model_get, ref)
    try:
        model, kept = services.model_reset_learning(model=model, actor=request.user)
    except ApplicationError as exc:
        messages.error(request, exc.message, extra_tags="reset")
    else:
        messages.success(request, f"Learning reset: the learned state is kept as {kept.label}; every cell is cleared "
                                  "and the model is draft-status until you activate it again.", extra_tags="reset")
    return redirect(reverse("scoring:model-adaptations", args=[model.key]) + "#reset")


# ============================================================================================ shadow vs champion


@require_GET
def model_shadow(request, ref):
    model = or_404(lifecycle_selectors.model_get, ref)
    comparison = selectors.shadow_comparison(model)
    return render(request, "scoring/shadow.html", {
        **_model_context(model, "shadow"),
        "cmp": comparison,
        "outcome_bars": {"unit": "%", "labelWidth": 130, "rows": [
            {"label": label, "value": round(100 * o["rate"], 1), "color": color,
             "note": f"{o['successes']} of {o['trials']}"}
            for label, o, color in (("All shown", comparison["outcomes"]["all"], "dark"),
                                    ("Shadow agreed", comparison["outcomes"]["agreed"], "green"),
                                    ("Shadow disagreed", comparison["outcomes"]["disagreed"], "amber"))
            if o["trials"]]},
    })


# ============================================================================================ decision traces

TRACES_PER_PAGE = 25
TRACE_SORTS = {
    "created": SortBy("When", "created_at", kind="date"),
    "customer": SortBy("Customer", "customer_id"),
    "took": SortBy("Took", "total_duration_ms", kind="number"),
}


@require_GET
def trace_list(request):
    # A filter with an invalid value is shown with its error and left out; the others still apply.
    filterset = TraceFilter(request.GET or None,
                            queryset=selectors.trace_list().select_related("recommendation__version"))
    # By keyset (Newer / Older): page 2,000 of 100,000 traces costs what the first does.
    listing = paginate_keyset(filterset.qs, sort=request.GET.get("sort"), after=request.GET.get("after"),
                              before=request.GET.get("before"), sorts=TRACE_SORTS, default="-created",
                              per_page=TRACES_PER_PAGE)
    return render_listing(request, "scoring/trace_list.html", {
        "form": filterset.form,
        "listing": listing,
        "page": listing.page,
        "filtered": bool(filterset.values()),

        **selectors.trace_filter_choices(),
    })


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _pct(p: float) -> str:
    return f"{100 * p:.1f}%"


SOURCE_WORDS = {
    "offer": "Its own evidence decided: the offer's cell has at least {offer} responses (the offer threshold), so "
             "its own success rate is its propensity.",
    "offer_blend": "Its own evidence is thin (1 to {offer_less} responses, below the offer threshold of {offer}), so "
                   "its rate was blended with the strongest broader tier at smoothing weight {k}.",
    "channel": "The offer has no response of its own yet, so the channel tier answered: the channel's cell has at "
               "least {channel} responses.",
    "direction": "The offer has no response of its own yet and the channel has fewer than {channel}, so the "
                 "direction tier answered (at least {direction} responses).",
    "category": "The offer has no response of its own yet and neither channel nor direction has enough, so its "
                "category answered (at least {category} responses).",
    "global": "Neither the offer nor its channel, direction or category has enough evidence, so the model's global "
              "rate answered (at least {global_} responses).",
    "default": "No tier has enough evidence yet (offer {offer}, channel {channel}, direction {direction}, category "
               "{category}, global {global_}), so it starts from the cold-start {cold}.",
    "model": "The model scored this offer from the customer's attributes and the offer's own features.",
    "holdout": "This customer is in the experiment's holdout: no model decides, the offers come in random order "
               "(the baseline the models are measured against).",
}


def _source_words(source: str) -> str:
    t = EVIDENCE_THRESHOLDS
    template = SOURCE_WORDS.get(source)
    if template is None:
        return f"Source: {source}."
    return template.format(offer=t[Scope.OFFER], offer_less=t[Scope.OFFER] - 1, k=f"{SMOOTHING_WEIGHT:g}",
                           channel=t[Scope.CHANNEL], direction=t[Scope.DIRECTION], category=t[Scope.CATEGORY],
                           global_=t[Scope.GLOBAL], cold=f"{COLD_START_PROPENSITY:g}")


def _arm_words(arm: str | None, experiment: dict) -> str:
    if not arm:
        return "No experiment routed this call."
    key = experiment.get("experimentKey") or "the experiment"
    if arm == "__champion__":
        return f"Experiment {key} sent this customer to the champion arm."
    if arm == "__holdout__":
        return f"Experiment {key} put this customer in its holdout."
    return f"Experiment {key} sent this customer to the challenger arm: {arm}."


def _type_label(model_type: str) -> str:
    return ModelType(model_type).label if model_type in ModelType.values else model_type


def _explain(trace: DecisionTrace) -> dict:
    """Per candidate, in plain words: where it ranked and why, who scored it and what the shadows said."""
    results = trace.candidate_results()
    names = selectors.offer_names(r["offerId"] for r in results)
    ranked = sorted((r for r in results if r.get("rank")), key=lambda r: r["rank"])
    unranked = sorted((r for r in results if not r.get("rank")), key=lambda r: -r["score"])
    limit_cut = len(unranked)
    shadow_keys = list(dict.fromkeys(s["modelKey"] for r in results for s in r.get("shadowScores") or []))
    shadow_rank = {}
    for key in shadow_keys:
        scored = [(s["score"], r["offerId"]) for r in results for s in r.get("shadowScores") or []
                  if s["modelKey"] == key]
        for i, (_, offer) in enumerate(sorted(scored, key=lambda x: (-x[0], x[1])), start=1):
            shadow_rank[(key, offer)] = i
    candidates = []
    total = len(results)
    for r in ranked + unranked:
        rank = r.get("rank")
        score = float(r["score"])
        why = r.get("why") or ""
        exploration = selectors.trace_exploration(why)
        explored = bool(exploration)
        words = []
        if rank:
            words.append(f"Ranked {_ordinal(rank)} of {total} with a propensity of {score:.3f} ({_pct(score)}).")
            above = ranked[rank - 2] if rank > 1 else None
            below = ranked[rank] if rank < len(ranked) else None
            if above is not None and float(above["score"]) < score:
                words.append(f"Its estimate is higher than {above['offerId']}'s ({float(above['score']):.3f}) above "
                             "it: the model's exploration put it here, not its estimate.")
            elif above is not None and float(above["score"]) == score and not explored:
                words.append(f"Tied with {above['offerId']} above it ({score:.3f}): equal estimates go in a random "
                             "order, drawn from this recommendation's own random numbers.")
            elif above is not None:
                words.append(f"Below {above['offerId']} ({float(above['score']):.3f}).")
            if below is not None and float(below["score"]) > score:
                words.append(f"It stays above {below['offerId']} ({float(below['score']):.3f}) although that estimate "
                             "is higher: exploration again.")
            elif below is not None:
                words.append(f"Above {below['offerId']} ({float(below['score']):.3f}).")
        else:
            words.append(f"Scored {score:.3f} ({_pct(score)}) but left out: the answer had room for "
                         f"{len(ranked)} offer{'s' if len(ranked) != 1 else ''} and this one ranked below them.")
        shadows = [{**s, "would_rank": shadow_rank.get((s["modelKey"], r["offerId"])),
                    "delta": float(s["score"]) - score} for s in r.get("shadowScores") or []]
        candidates.append({
            "offer": r["offerId"], "name": names.get(r["offerId"], ""), "rank": rank, "score": score,
            "source": r.get("propensitySource") or "", "source_words": _source_words(r.get("propensitySource") or ""),
            "why": why, "exploration": exploration, "words": words, "model_key": r.get("modelKey"),
            "model_type": _type_label(r.get("modelType") or ""), "version_no": r.get("versionNo"), "arm": r.get("arm"),
            "arm_words": _arm_words(r.get("arm"), trace.experiment_assignment or {}), "shadows": shadows,
        })
    funnel = trace.funnel or {}
    cand, qual, final = (funnel.get("candidateCount"), funnel.get("afterQualification"), funnel.get("finalCount"))
    supp, contact = funnel.get("afterSuppression"), funnel.get("afterContactPolicy")  # absent on older traces
    last = contact if contact is not None else qual
    return {"candidates": candidates, "shadow_keys": shadow_keys, "left_out": limit_cut,
            "funnel": [
                {"stage": "Candidates", "count": cand,
                 "words": f"offers of flow {trace.decision_flow_key}" if trace.decision_flow_key else
                          "active offers in the catalog"},
                {"stage": "Qualified", "count": qual,
                 "words": (f"offered on channel {trace.recommendation.channel}" if trace.recommendation.channel
                           else "no channel given: all qualify"),
                 "dropped": (cand - qual) if cand is not None and qual is not None else None},
                *([] if supp is None else [
                    {"stage": "Not suppressed", "count": supp,
                     "words": "; ".join(f"{r['offerId']}: rule {r['rule']}, {r['reason']}"
                                        for r in trace.suppression_results) or "no suppression rule applied",
                     "dropped": (qual - supp) if qual is not None else None},
                    {"stage": "Within contact policy", "count": contact,
                     "words": "; ".join(f"{p['policy']}: {p['used']} of {p['maxImpressions']} used in "
                                        f"{p['windowHours']} h" for p in trace.contact_policy_results)
                              or "no contact policy applies",
                     "dropped": (supp - contact) if contact is not None else None}]),
                {"stage": "Returned", "count": final, "words": "ranked, up to the answer's limit",
                 "dropped": (last - final) if last is not None and final is not None else None},
            ]}


def _trace_or_404(ref: str) -> DecisionTrace:
    trace = selectors.trace_get(ref)
    if trace is None:
        raise Http404(f"No decision trace {ref!r}: traces are kept for sampled recommendations only")
    return trace


@require_GET
def trace_detail(request, ref):
    trace = _trace_or_404(ref)
    return render(request, "scoring/trace_detail.html", {"trace": trace, "rec": trace.recommendation,
                                                         **_explain(trace)})


# ============================================================================================ catalog

CATALOG = {
    # kind in the URL: (model, form, permission suffix, title, singular)
    "offers": (Offer, OfferForm, "offer", "Offers", "offer"),
    "categories": (Category, CategoryForm, "category", "Categories", "category"),
    "channels": (Channel, ChannelForm, "channel", "Channels", "channel"),
    "outcome-types": (OutcomeType, OutcomeTypeForm, "outcometype", "Outcome types", "outcome type"),
    "flows": (DecisionFlow, DecisionFlowForm, "decisionflow", "Decision flows", "decision flow"),
    "suppression-rules": (SuppressionRule, SuppressionRuleForm, "suppressionrule", "Suppression rules",
                          "suppression rule"),
    "contact-policies": (ContactPolicy, ContactPolicyForm, "contactpolicy", "Contact policies", "contact policy"),
    "creatives": (Creative, CreativeForm, "creative", "Creatives", "creative"),
}


def _catalog_kind(kind: str):
    if kind not in CATALOG:
        raise Http404(f"No catalog list {kind!r}; there are {', '.join(CATALOG)}")
    return CATALOG[kind]


def _catalog_write(kind: str, verb: str) -> Write:
    _, _, perm, title, singular = CATALOG[kind]
    what = {"add": f"add {title.lower()} to the catalog", "change": f"edit {title.lower()} in the catalog"}[verb]
    return Write(f"scoring.{verb}_{perm}", what, "analysts and admins")


@require_GET
def catalog(request):
    user = request.user
    sections = []
    for kind, qs in selectors.catalog_lists().items():
        _, _, perm, title, singular = CATALOG[kind]
        rows = list(qs)
        sections.append({"kind": kind, "title": title, "singular": singular, "rows": rows,
                         "can_add": user.has_perm(f"scoring.add_{perm}"),
                         "can_change": user.has_perm(f"scoring.change_{perm}")})
    return render(request, "scoring/catalog.html", {"sections": sections,
                                                    "any_write": any(s["can_add"] for s in sections)})


def _catalog_form_page(request, kind: str, instance=None):
    model_cls, form_cls, perm, title, singular = _catalog_kind(kind)
    verb = "change" if instance is not None else "add"
    if request.method == "POST":
        require(request.user, _catalog_write(kind, verb))
        form = form_cls(request.POST, instance=instance)
        if form.is_valid():
            try:
                with transaction.atomic():
                    row = form.save()
                    services.catalog_record(actor=request.user, action="updated" if instance else "created",
                                            row=row)
            except IntegrityError:
                form.add_error("key", f"A {singular} with this key exists already.")
            else:
                messages.success(request, f"{'Saved' if instance else 'Created'} {singular} {row.key}.",
                                 extra_tags=kind)
                return redirect(reverse("scoring:catalog") + f"#{kind}")
    else:
        form = form_cls(instance=instance)
    return render(request, "scoring/catalog_form.html", {
        "form": form, "kind": kind, "title": title, "singular": singular, "instance": instance,
        "write_block": refusal(request.user, _catalog_write(kind, verb)),
    })


@require_http_methods(["GET", "POST"])
def catalog_create(request, kind):
    return _catalog_form_page(request, kind)


@require_http_methods(["GET", "POST"])
def catalog_edit(request, kind, key):
    model_cls = _catalog_kind(kind)[0]
    instance = model_cls.objects.filter(key=key).first()
    if instance is None:
        raise Http404(f"No {CATALOG[kind][4]} {key!r}")
    return _catalog_form_page(request, kind, instance)

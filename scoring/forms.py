"""Page forms of scoring: they only shape input; the services decide (and their refusals are shown in place)."""

from __future__ import annotations

import json

from django import forms

from lifecycle.core import inputs
from lifecycle.core.forms import ProblemsMixin
from lifecycle.core.keys import KeyFormField

from .models import Category, Channel, ContactPolicy, Creative, DecisionFlow, Offer, OutcomeType, SuppressionRule
from .services import policies

NUMBER_ERROR = "Write a number such as 1.0 or -1.5, or leave it blank for the default."


def weight_field_name(key: str) -> str:
    return f"weight__{key}"


class OutcomeWeightsForm(ProblemsMixin, forms.Form):
    """One optional weight per outcome key; a blank row is left to the default."""

    def __init__(self, *args, keys=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.keys = list(keys)
        for key in self.keys:
            self.fields[weight_field_name(key)] = forms.FloatField(
                required=False, label=f"Weight for {key}", error_messages={"invalid": NUMBER_ERROR},
                widget=forms.NumberInput(attrs={"step": "any", "inputmode": "decimal"}))

    def weights(self) -> dict[str, float] | None:
        """The map to save: every filled row; None (the default) when every row is blank."""
        chosen = {k: self.cleaned_data[weight_field_name(k)] for k in self.keys
                  if self.cleaned_data.get(weight_field_name(k)) is not None}
        return chosen or None

    def draft(self) -> dict[str, float] | None:
        """What the rows say so far, for the preview: unparsable rows count as blank."""
        data = getattr(self, "cleaned_data", None)
        if data is None:
            self.is_valid()
            data = self.cleaned_data
        chosen = {k: data[weight_field_name(k)] for k in self.keys if data.get(weight_field_name(k)) is not None}
        return chosen or None

    def raw(self, key: str) -> str:
        return (self.data.get(weight_field_name(key)) or "").strip() if self.is_bound else ""



def _json_object(raw: str, example: str):
    raw = (raw or "").strip()
    if not raw:
        return None
    try:
        value = inputs.loads(raw)
    except inputs.OddInput as exc:
        raise forms.ValidationError(f"{exc}. Write an object such as {example}.") from None
    except json.JSONDecodeError as exc:
        raise forms.ValidationError(f"Not valid JSON ({exc.msg}, line {exc.lineno} column {exc.colno}). "
                                    f"Write an object such as {example}.") from None
    if not isinstance(value, dict):
        raise forms.ValidationError(f"Give a JSON object such as {example}, not a {type(value).__name__}.")
    return value


def _number(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.6g}"


def _feature_help(entry: dict) -> str:
    """What the model saw of a feature in training, in a few words (its type and typical value are shown apart)."""
    if entry["type"] == "number":
        known = entry.get("min") is not None and entry.get("max") is not None
        words = f"{_number(entry['min'])} to {_number(entry['max'])} in training" if known else ""
    elif entry["type"] == "category":
        categories = entry.get("categories") or []
        words = ", ".join(categories[:6]) + (" …" if len(categories) > 6 or entry.get("moreCategories") else "")
    else:
        words = f"about {entry['typicalWords']} words" if entry.get("typicalWords") else ""
    if entry.get("missingRate"):
        words += f"{'; ' if words else ''}missing in {entry['missingRate']:.0%} of rows"
    return words


def _placeholder(entry: dict) -> str:
    typical = entry.get("typical")
    if entry["type"] == "number":
        return _number(typical)
    return str(typical) if typical is not None else ""


class TryScoreForm(forms.Form):
    """A field per feature the serving version reads (from its input schema), plus a JSON box for scripts and
    for names the schema does not have. A field left blank is missing: the model scores it as it was imputed in
    training. What is typed into a number field is sent as typed when it is not a number, so the refusal names it."""

    features = forms.CharField(
        required=False, label="Features (JSON object)",
        help_text='Numbers, categories and text by name, e.g. {"tenure": 4, "plan": "basic"}.',
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false",
                                     "placeholder": '{"tenure": 4, "plan": "basic", "spend": 42.5}'}))
    content = forms.CharField(required=False, label="Content (text)", widget=forms.Textarea(attrs={"rows": 3}),
                              help_text="Free text such as a note or a message; give features, content or both.")
    traits = forms.MultipleChoiceField(required=False, label="Traits", widget=forms.CheckboxSelectMultiple,
                                       help_text="Leave all unticked to score every trait.")

    def __init__(self, *args, trait_choices=(), schema=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["traits"].choices = list(trait_choices)
        self.schema = [e for e in schema if e["source"] == "features"]
        content = next((e for e in schema if e["source"] != "features"), None)
        self.reads_content = content is not None
        if content is not None:
            seen = _feature_help(content)
            self.fields["content"].help_text = "Free text, read as the feature content" + (f" ({seen})." if seen else ".")
        elif schema:
            self.fields["content"].help_text = "This version does not read content: text here is not scored."
        example = {e["key"]: e["typical"] for e in self.schema[:2] if e.get("typical") is not None}
        if example:
            self.fields["features"].widget.attrs["placeholder"] = json.dumps(example)
            self.fields["features"].help_text = (f"Any features by name, e.g. {json.dumps(example)}; a field above "
                                                 "wins over the same name here.")
        self.feature_fields = []
        for i, entry in enumerate(self.schema):
            name = f"feature_{i}"
            attrs = {"placeholder": _placeholder(entry), "autocomplete": "off", "spellcheck": "false"}
            if entry["type"] == "number":
                attrs["inputmode"] = "decimal"
            elif entry["type"] == "category":
                attrs["list"] = f"{name}-categories"
            widget = forms.Textarea(attrs={**attrs, "rows": 2}) if entry["type"] == "text" else forms.TextInput(attrs)
            self.fields[name] = forms.CharField(required=False, label=entry["name"], help_text=_feature_help(entry),
                                                widget=widget)
            self.feature_fields.append({"name": name, "entry": entry})

    def clean_features(self):
        return _json_object(self.cleaned_data["features"], '{"tenure": 4}')

    def bound_features(self) -> list[dict]:
        """Per feature: its bound field, its schema entry and the id of its category list."""
        return [{"field": self[f["name"]], "entry": f["entry"], "list_id": f"{f['name']}-categories"}
                for f in self.feature_fields]

    def field_for(self, path: str) -> str | None:
        """The form field a refusal's field path names ("features.tenure"), if the form has one."""
        if path == "content":
            return "content"
        for f in self.feature_fields:
            if path == f"features.{f['entry']['key']}":
                return f["name"]
        return "features" if path == "features" or path.startswith("features.") else None

    def score_input(self) -> dict:
        data = self.cleaned_data
        features = dict(data["features"] or {})
        for f in self.feature_fields:
            raw = (data.get(f["name"]) or "").strip()
            if raw:
                features[f["entry"]["key"]] = _typed(raw) if f["entry"]["type"] == "number" else raw
        return {k: v for k, v in (("features", features), ("content", data["content"])) if v}


def _typed(raw: str):
    """A number field's text as a number; anything else as typed, for the service to refuse by name."""
    try:
        number = float(raw)
    except ValueError:
        return raw
    if number != number or number in (float("inf"), float("-inf")):
        return raw
    return int(number) if number.is_integer() and abs(number) < 2**53 else number


class FeedbackForm(forms.Form):
    trait = forms.CharField(max_length=100)
    label = forms.ChoiceField(choices=[("positive", "positive"), ("negative", "negative")])


# ------------------------------------------------------------------------------------------- catalog


class CatalogForm(forms.ModelForm):
    """A catalog row by key; the key names the row in scripts and traces, so it is fixed once created."""

    key = KeyFormField(help_text="Lowercase letters, digits, '.', '_' or '-'; used by the API and in traces.")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.pk:
            # Shown, not checked again: a row whose key predates the key rule can still be edited.
            self.fields["key"] = forms.CharField(disabled=True, required=False,
                                                 help_text="Fixed: scripts, weights and traces refer to it.")


class CategoryForm(CatalogForm):
    class Meta:
        model = Category
        fields = ["key", "name"]


class ChannelForm(CatalogForm):
    class Meta:
        model = Channel
        fields = ["key", "name", "direction", "tracks_impressions"]
        labels = {"tracks_impressions": "Reports its own impressions"}
        help_texts = {"direction": "Inbound: the customer comes to you (web, app); outbound: you reach out (email).",
                      "tracks_impressions": "The channel sends what it actually showed as responses with the "
                                            "impression outcome; recommend then records no impressions for it."}


class OfferForm(CatalogForm):
    attributes = forms.CharField(
        required=False, label="Attributes (JSON object)",
        help_text="What tabular models see as offer_<name> features, e.g. {\"apr\": 12.9, \"tier\": \"gold\"}.",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false", "placeholder": '{"apr": 12.9}'}))

    class Meta:
        model = Offer
        fields = ["key", "name", "category", "channels", "attributes", "active"]
        widgets = {"channels": forms.CheckboxSelectMultiple}
        help_texts = {"channels": "None ticked: offered on every channel.",
                      "active": "Only active offers are candidates for recommend."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["category"].empty_label = "No category"
        if self.instance.pk and not self.is_bound:
            self.initial["attributes"] = json.dumps(self.instance.attributes or {}, ensure_ascii=False)

    def clean_attributes(self):
        return _json_object(self.cleaned_data["attributes"], '{"apr": 12.9}') or {}


class OutcomeTypeForm(CatalogForm):
    class Meta:
        model = OutcomeType
        fields = ["key", "name", "description", "classification", "category", "ordinal"]
        widgets = {"description": forms.Textarea(attrs={"rows": 2})}
        help_texts = {
            "classification": "With no outcome weights, positive counts +1, negative -1, neutral 0 (with a warning).",
            "category": "Impressions are neutral by design; responses are what customers do.",
            "ordinal": "Order in lists and in the outcome-weights editor.",
        }


class DecisionFlowForm(CatalogForm):
    family = KeyFormField(what="family", required=False,
                          help_text="Whose champion scores, unless a model key is pinned.")

    class Meta:
        model = DecisionFlow
        fields = ["key", "name", "offers", "family", "model_key", "experiment_key"]
        widgets = {"offers": forms.CheckboxSelectMultiple}
        labels = {"model_key": "Pinned model key", "experiment_key": "Experiment key"}
        help_texts = {"offers": "None ticked: the whole active catalog is considered.",
                      "model_key": "Bypasses the registry: this model scores every call of the flow.",
                      "experiment_key": "Routes customers of this flow through an active experiment."}


class SuppressionRuleForm(CatalogForm):
    outcomes = forms.CharField(
        required=False, label="After outcomes",
        help_text="Outcome type keys, comma-separated: after one of these the customer does not see the offer again "
                  "for the days below.", initial=", ".join(policies.DEFAULT_SUPPRESSION_OUTCOMES))

    class Meta:
        model = SuppressionRule
        fields = ["key", "name", "offer", "category", "outcomes", "days", "max_impressions", "active"]
        labels = {"max_impressions": "At most impressions"}
        help_texts = {"offer": "The offer suppressed, or leave it empty and pick a category.",
                      "category": "Every offer of this category is suppressed together.",
                      "days": "How long the rule looks back, in days.",
                      "max_impressions": "Optional: also suppressed once shown this often within those days.",
                      "active": "Only active rules suppress."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["offer"].empty_label = "No single offer"
        self.fields["category"].empty_label = "No category"
        if self.instance.pk and not self.is_bound:
            self.initial["outcomes"] = ", ".join(self.instance.outcomes or [])

    def clean_outcomes(self):
        return [o.strip() for o in self.cleaned_data["outcomes"].split(",") if o.strip()]

    def clean(self):
        data = super().clean()
        for name, message in policies.rule_problems(
                offer=data.get("offer"), category=data.get("category"), outcomes=data.get("outcomes"),
                days=data.get("days"), max_impressions=data.get("max_impressions")).items():
            self.add_error(name if name in self.fields else None, message)
        return data


class ContactPolicyForm(CatalogForm):
    class Meta:
        model = ContactPolicy
        fields = ["key", "name", "channel", "max_impressions", "window_hours", "active"]
        labels = {"max_impressions": "At most impressions", "window_hours": "Window (hours)"}
        help_texts = {"channel": "Empty: impressions on every channel count, and every recommend obeys it.",
                      "max_impressions": "Offers shown to one customer within the window, at most.",
                      "active": "Only active policies limit."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].empty_label = "Every channel"

    def clean(self):
        data = super().clean()
        for name, message in policies.rule_problems(window_hours=data.get("window_hours"),
                                                     max_impressions=data.get("max_impressions"), policy=True).items():
            self.add_error(name, message)
        return data


class CreativeForm(CatalogForm):
    class Meta:
        model = Creative
        fields = ["key", "name", "offer", "channel"]
        help_texts = {"offer": "/respond with this creativeId learns for this offer."}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["channel"].empty_label = "Any channel"

"""Page forms: they only shape input; the services decide."""

import json

from django import forms

from .core import inputs
from .choices import Effort, LearnMode, ModelType, TraitDirection
from .core.forms import ProblemsMixin
from .core.keys import MODEL_KEY_MAX_LENGTH, KeyFormField
from .webhooks import EVENTS


class ModelCreateForm(forms.Form):
    key = KeyFormField(max_length=MODEL_KEY_MAX_LENGTH, numeric_ok=False,
                       help_text="Lowercase letters, digits, '.', '_' or '-'; used in URLs and scripts.")
    name = forms.CharField(max_length=255)
    model_type = forms.ChoiceField(choices=ModelType.choices, label="Model type",
                                   initial=ModelType.LOGISTIC_REGRESSION)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


class ModelEditForm(forms.Form):
    name = forms.CharField(max_length=255)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 3}))


class TraitForm(forms.Form):
    name = forms.CharField(max_length=255, help_text="The key is derived from the name.")
    description = forms.CharField(required=False)
    positive_label = forms.CharField(max_length=100, initial="positive", label="Positive label")
    negative_label = forms.CharField(max_length=100, initial="negative", label="Negative label")
    direction = forms.ChoiceField(choices=TraitDirection.choices, initial=TraitDirection.HIGHER_IS_GOOD,
                                  widget=forms.RadioSelect, label="A high score is", required=False)
    # Set by the "Replace it" button the page offers after it asked about an existing trait.
    replace = forms.BooleanField(required=False, widget=forms.HiddenInput)


class SampleForm(forms.Form):
    content = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}), label="Text content")
    features = forms.CharField(required=False, label="Features (JSON object)",
                               widget=forms.Textarea(attrs={"rows": 2, "placeholder": '{"income": 52000, "region": "north"}'}))
    trait = forms.ChoiceField(label="Trait")
    label = forms.ChoiceField(choices=[("positive", "positive"), ("negative", "negative")], label="Label")

    def __init__(self, *args, traits=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["trait"].choices = [(t.key, t.name) for t in traits]

    def clean_features(self):
        raw = self.cleaned_data["features"].strip()
        if not raw:
            return None
        try:
            value = inputs.loads(raw)
        except inputs.OddInput as exc:
            raise forms.ValidationError(str(exc)) from None
        except json.JSONDecodeError as exc:
            raise forms.ValidationError(f"Not valid JSON: {exc.msg}") from None
        if not isinstance(value, dict):
            raise forms.ValidationError("Give a JSON object, like {\"income\": 52000}")
        return value

    def as_sample(self) -> dict:
        data = self.cleaned_data
        return {"features": data["features"], "content": data["content"], "labels": {data["trait"]: data["label"]}}


class CadenceForm(ProblemsMixin, forms.Form):
    """The learning cadence, on its page and in the model page's path to live (which sends `next` to come back)."""

    auto_learn = forms.BooleanField(required=False, label="autoLearn: retrain on a schedule")
    learn_mode = forms.ChoiceField(choices=LearnMode.choices, label="learnMode")
    # Not validated here: services.schedule_minutes owns the grammar, and its refusal is shown in place.
    learn_schedule = forms.CharField(required=False, max_length=16, label="learnSchedule",
                                     widget=forms.TextInput(attrs={"list": "learn-schedules", "placeholder": "24h",
                                                                   "autocomplete": "off", "spellcheck": "false"}))

    FIELDS = {"autoLearn": "auto_learn", "learnMode": "learn_mode", "learnSchedule": "learn_schedule"}



class UploadForm(forms.Form):
    """A samples file, previewed before it is stored: the preview's digest comes back with the file, and only the
    file that was previewed is stored (choosing another one shows its own preview first)."""

    file = forms.FileField(label="Samples file (.jsonl or .csv)")
    previewed = forms.CharField(required=False, max_length=64, widget=forms.HiddenInput)


class SampleIdsField(forms.Field):
    """The ids of the samples ticked on a list (one `ids` value per checkbox)."""

    widget = forms.MultipleHiddenInput

    def to_python(self, value):
        if not value:
            raise forms.ValidationError("Tick the samples to remove first.")
        try:
            ids = [int(v) for v in value]
        except (TypeError, ValueError):
            raise forms.ValidationError("Sample ids are whole numbers.") from None
        if any(i < 1 for i in ids):
            raise forms.ValidationError("Sample ids are whole numbers from 1.")
        return ids


class SampleRemoveForm(forms.Form):
    ids = SampleIdsField()


class TrainForm(forms.Form):
    effort = forms.ChoiceField(choices=Effort.choices, initial=Effort.HIGH)
    reoptimize_params = forms.BooleanField(required=False, label="Re-optimise parameters (retune)")


class TagForm(forms.Form):
    name = KeyFormField(what="tag", label="Tag", help_text="Starts with a letter, e.g. baseline or v1.")


class ApiTokenForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Where the key is used, e.g. \"nightly scoring job\".")
    expires_on = forms.DateField(required=False, label="Expires on",
                                 widget=forms.DateInput(attrs={"type": "date"}),
                                 help_text="Leave empty for a key that lasts until you revoke it.")

    def clean_expires_on(self):
        from django.utils import timezone

        day = self.cleaned_data["expires_on"]
        if day and day <= timezone.localdate():
            raise forms.ValidationError("Choose a day after today.")
        return day

    def expires_at(self):
        import datetime

        from django.utils import timezone

        day = self.cleaned_data.get("expires_on")
        if not day:
            return None
        return timezone.make_aware(datetime.datetime.combine(day, datetime.time.min))


class WebhookForm(forms.Form):
    """A receiver: its URL, the events it gets and a note (the edit form adds whether it is on)."""

    url = forms.CharField(max_length=2000, label="Receiver URL", widget=forms.URLInput(attrs={"placeholder": "https://"}),
                          help_text="http(s); events are POSTed here as JSON, signed with the secret shown once.")
    events = forms.MultipleChoiceField(widget=forms.CheckboxSelectMultiple, help_text="What to send.")
    description = forms.CharField(max_length=255, required=False)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["events"].choices = [(name, f"{name}: {text}") for name, text in EVENTS.items()]


class WebhookEditForm(WebhookForm):
    active = forms.BooleanField(required=False, label="On", help_text="Off keeps the receiver but sends nothing.")

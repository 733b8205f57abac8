"""Page forms of the registry: they only shape input; the services decide."""

from __future__ import annotations

from django import forms

from lifecycle.choices import LearnMode
from lifecycle.choices import RegistryStatus as Rung
from lifecycle.core.keys import KeyFormField

DATETIME_LOCAL = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]


class PromoteForm(forms.Form):
    to_status = forms.ChoiceField(choices=Rung.choices)
    family = KeyFormField(what="family", required=False, help_text="")
    auc = forms.FloatField(required=False, min_value=0, max_value=1, label="AUC")
    error_rate = forms.FloatField(required=False, min_value=0, max_value=1, label="Error rate")
    comment = forms.CharField(required=False, max_length=2000)
    bypass_guard = forms.BooleanField(required=False)

    def metrics_snapshot(self) -> dict | None:
        data = self.cleaned_data
        snapshot = {name: data[field] for name, field in (("auc", "auc"), ("errorRate", "error_rate"))
                    if data.get(field) is not None}
        return snapshot or None

    def problems(self) -> str:
        return "; ".join(f"{self.fields[k].label or k}: {', '.join(v)}" if k in self.fields else ", ".join(v)
                         for k, v in self.errors.items())


class CadenceForm(forms.Form):
    auto_learn = forms.BooleanField(required=False, label="Learn automatically")
    learn_mode = forms.ChoiceField(choices=LearnMode.choices, label="Mode")
    learn_schedule = forms.CharField(required=False, max_length=16, label="Every")


class OutcomeWeightsForm:
    """Rows of outcome key and weight, posted as parallel lists (`outcome`, `weight`); blank rows are dropped."""

    def __init__(self, data):
        self.data = data
        self.errors: list[str] = []
        self.weights: dict[str, float] = {}

    def is_valid(self) -> bool:
        keys, values = self.data.getlist("outcome"), self.data.getlist("weight")
        for key, value in zip(keys, values, strict=False):
            key, value = key.strip(), value.strip()
            if not key and not value:
                continue
            if not key:
                self.errors.append(f"the weight {value} has no outcome key")
                continue
            try:
                number = float(value)
            except ValueError:
                self.errors.append(f"the weight of {key!r} must be a number such as 1.0 or -1.5")
                continue
            if key in self.weights:
                self.errors.append(f"{key!r} appears twice")
            self.weights[key] = number
        if not self.weights and not self.errors:
            self.errors.append("give at least one outcome and its weight, or reset to the default")
        return not self.errors


class DecisionForm(forms.Form):
    comment = forms.CharField(required=False, max_length=2000)


class RollbackForm(forms.Form):
    reason = forms.CharField(required=False, max_length=2000)


class FamilyPolicyForm(forms.Form):
    auto_rollback = forms.BooleanField(required=False, label="Roll back automatically")
    min_responses = forms.IntegerField(min_value=10, label="Minimum responses")


class AuditFilterForm(forms.Form):
    model = forms.CharField(required=False, label="Model", widget=forms.TextInput(attrs={"placeholder": "key or id"}))
    family = forms.CharField(required=False, label="Family")
    actor = forms.CharField(required=False, label="Actor", widget=forms.TextInput(attrs={"placeholder": "username"}))
    action = forms.CharField(required=False, label="Action",
                             widget=forms.TextInput(attrs={"placeholder": "e.g. promotion.", "list": "audit-actions"}))
    since = forms.DateTimeField(required=False, label="Since", input_formats=DATETIME_LOCAL,
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))
    until = forms.DateTimeField(required=False, label="Until", input_formats=DATETIME_LOCAL,
                                widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"))

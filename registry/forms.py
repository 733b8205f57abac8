"""Page forms of the registry: they only shape input; the services decide."""

from __future__ import annotations

from django import forms

from .choices import VersionPolicy

from lifecycle.choices import RegistryStatus as Rung
from lifecycle.core.keys import KeyFormField


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


class DecisionForm(forms.Form):
    comment = forms.CharField(required=False, max_length=2000)


class RollbackForm(forms.Form):
    reason = forms.CharField(required=False, max_length=2000)


class FamilyPolicyForm(forms.Form):
    auto_rollback = forms.BooleanField(required=False, label="Roll back automatically")
    min_responses = forms.IntegerField(min_value=10, label="Minimum responses")


class VersionPolicyForm(forms.Form):
    version_policy = forms.ChoiceField(choices=VersionPolicy.choices, widget=forms.RadioSelect,
                                       label="Version policy")

"""Page forms of the registry: they only shape input; the services decide."""

from __future__ import annotations

from django import forms

from .choices import CHAMPION_ARM, HOLDOUT_ARM, VersionPolicy

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


class ExperimentForm(forms.Form):
    """A new experiment, or an experiment's split and settings. Only shapes input: whether the shares add up is
    the service's to say, so its sentence is the one the page shows."""

    key = KeyFormField(numeric_ok=False, label="Key")
    name = forms.CharField(max_length=255, label="Name")
    description = forms.CharField(required=False, max_length=2000, label="Description",
                                  widget=forms.Textarea(attrs={"rows": 2}))
    champion_pct = forms.IntegerField(min_value=0, max_value=100, label="Champion share")
    holdout_pct = forms.IntegerField(min_value=0, max_value=100, required=False, label="Holdout")
    auto_promote = forms.BooleanField(required=False, label="Auto-promote")
    # In percentage points on the page; the service stores a fraction (0.02).
    promote_points = forms.FloatField(min_value=0, max_value=100, label="Uplift of at least")
    promote_after_days = forms.IntegerField(min_value=0, max_value=3650, label="After")

    def __init__(self, *args, candidates=(), creating: bool = True, **kwargs):
        super().__init__(*args, **kwargs)
        if not creating:
            del self.fields["key"]
        self.candidates = list(candidates)
        for model in self.candidates:
            self.fields[self.share_name(model)] = forms.IntegerField(
                min_value=0, max_value=100, required=False, label=f"Share of {model.key}")

    @staticmethod
    def share_name(model) -> str:
        return f"share_{model.pk}"

    @classmethod
    def initial_for(cls, experiment) -> dict:
        """What the form shows for a saved experiment, or for a new one (`Experiment()`: the model's defaults)."""
        initial = {"name": experiment.name, "description": experiment.description,
                   "champion_pct": experiment.champion_pct, "holdout_pct": experiment.holdout_pct,
                   "auto_promote": experiment.auto_promote, "promote_points": f"{experiment.promote_threshold * 100:g}",
                   "promote_after_days": experiment.promote_after_days}
        for arm in experiment.arms.all() if experiment.pk else ():
            if arm.active and arm.model_id and arm.arm not in (CHAMPION_ARM, HOLDOUT_ARM):
                initial[f"share_{arm.model_id}"] = arm.traffic_pct
        return initial

    def share_rows(self) -> list[dict]:
        """One row per model that may take a share: the model and its bound field."""
        return [{"model": m, "field": self[self.share_name(m)]} for m in self.candidates]

    def service_kwargs(self) -> dict:
        data = self.cleaned_data
        challengers = [{"modelId": m.pk, "trafficPct": data[self.share_name(m)]} for m in self.candidates
                       if data.get(self.share_name(m)) is not None]
        return {"name": data["name"].strip(), "description": data["description"].strip(),
                "champion_pct": data["champion_pct"], "holdout_pct": data["holdout_pct"] or 0,
                "challengers": challengers, "auto_promote": data["auto_promote"],
                "promote_threshold": round(data["promote_points"] / 100, 6),
                "promote_after_days": data["promote_after_days"]}

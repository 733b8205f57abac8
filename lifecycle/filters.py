"""The filters of the lifecycle lists, one FilterSet each for the page, the API and the schema; the selectors
say what each one means."""

from __future__ import annotations

from django import forms
from django_filters import CharFilter, ChoiceFilter

from . import selectors
from .choices import ModelType, OperationalStatus, RegistryStatus, RunKind, RunStatus, SampleSource, State
from .core.filters import ListFilter, moment_filter, search_filter


class ModelFilter(ListFilter):
    search = search_filter("key, name or description", help_text="words in the key, name or description")
    state = ChoiceFilter(choices=State.choices, empty_label="Any state", label="State")
    status = ChoiceFilter(choices=OperationalStatus.choices, empty_label="Any status", label="Operational status")
    registry_status = ChoiceFilter(choices=RegistryStatus.choices, empty_label="Any rung", label="Registry")
    family = CharFilter(label="Family")
    model_type = ChoiceFilter(choices=ModelType.choices, empty_label="Any type", label="Type")

    api_names = {"registry_status": "registryStatus", "model_type": "modelType"}

    def filter_queryset(self, queryset):
        return selectors.model_filter(queryset, **self.values())


class RunFilter(ListFilter):
    status = ChoiceFilter(choices=RunStatus.choices, empty_label="Any status", label="Status")
    kind = ChoiceFilter(choices=RunKind.choices, empty_label="Any kind", label="Kind")

    def filter_queryset(self, queryset):
        return selectors.run_filter(queryset, **self.values())


class VersionFilter(ListFilter):
    tag = CharFilter(label="Tag", help_text="versions carrying this tag")

    def __init__(self, *args, tags=None, **kwargs):
        super().__init__(*args, **kwargs)
        if tags is not None:
            self.offer_choices("tag", ((t, t) for t in tags), "Any version")

    def filter_queryset(self, queryset):
        return selectors.version_filter(queryset, **self.values())


class SampleFilter(ListFilter):
    search = search_filter("words in the text content", max_length=200, help_text="words in the text content")
    trait = CharFilter(label="Trait", help_text="a trait key: samples labelled for it")
    label = ChoiceFilter(choices=[("positive", "Positive (≥ 0.5)"), ("negative", "Negative (< 0.5)")],
                         empty_label="Any label", label="Label", help_text="with trait: that side of 0.5")
    source = ChoiceFilter(choices=SampleSource.choices, empty_label="Any source", label="Source")

    def __init__(self, *args, traits=None, **kwargs):
        super().__init__(*args, **kwargs)
        if traits is not None:
            self.offer_choices("trait", ((t.key, t.name) for t in traits), "Any trait")

    def filter_queryset(self, queryset):
        return selectors.sample_filter(queryset, **self.values())


class EventFilter(ListFilter):
    action = CharFilter(label="Action", help_text="a prefix, e.g. run.")

    def filter_queryset(self, queryset):
        return selectors.event_filter(queryset, **self.values())


class AuditFilter(ListFilter):
    model = CharFilter(label="Model", help_text="id or key", widget=forms.TextInput(attrs={"placeholder": "key or id"}))
    family = CharFilter(label="Family")
    actor = CharFilter(label="Actor", help_text="username", widget=forms.TextInput(attrs={"placeholder": "username"}))
    action = CharFilter(label="Action", help_text="a prefix, e.g. registry. or promotion.approved",
                        widget=forms.TextInput(attrs={"placeholder": "e.g. promotion.", "list": "audit-actions"}))
    since = moment_filter("Since", help_text="from this moment on")
    until = moment_filter("Until", help_text="before this moment")

    def filter_queryset(self, queryset):
        return selectors.audit_filter(queryset, **self.values())

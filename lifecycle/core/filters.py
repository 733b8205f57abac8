"""A list's filters, declared once for its page form, its API parameters and its schema.

Each app's `filters.py` holds one `ListFilter` per list: the parameters' names, types, choices and labels. The
page renders `filterset.form` and filters with `filterset.qs`, where an invalid value is shown on its field and
left out; the API reads the same FilterSet under the API's spelling of the names (`for_api()`), where an invalid
value is a 400 naming the parameter (lifecycle.core.api.filters.FilterBackend). What a filter means stays in
the list's selector: `filter_queryset` hands it the valid values by its keyword arguments.

    class RunFilter(ListFilter):
        status = ChoiceFilter(choices=RunStatus.choices, empty_label="Any status", label="Status")

        def filter_queryset(self, queryset):
            return selectors.run_filter(queryset, **self.values())

    filterset = RunFilter(request.GET or None, queryset=selectors.run_list(model=model))
    filterset.form, filterset.qs
"""

from __future__ import annotations

from typing import ClassVar

import django_filters
from django import forms
from django_filters.fields import ChoiceField

# What a page's datetime-local input sends ("2025-01-31T09:30"); ISO 8601 from the API is read as well.
DATETIME_LOCAL = ["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%d"]


def search_filter(placeholder: str, **kwargs) -> django_filters.CharFilter:
    return django_filters.CharFilter(
        label="Search", widget=forms.TextInput(attrs={"placeholder": placeholder, "type": "search"}), **kwargs)


def moment_filter(label: str, **kwargs) -> django_filters.DateTimeFilter:
    return django_filters.DateTimeFilter(
        label=label, input_formats=DATETIME_LOCAL,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"), **kwargs)


class ListFilter(django_filters.FilterSet):
    # A parameter the API spells differently from the page ({"registry_status": "registryStatus"}).
    api_names: ClassVar[dict[str, str]] = {}

    @classmethod
    def for_api(cls) -> type[ListFilter]:
        """The same filters under the API's parameter names (the page keeps its own, which its links use)."""
        api = cls.__dict__.get("_api")
        if api is None:
            api = type(cls)(cls.__name__, (cls,), {"__module__": cls.__module__, "__doc__": cls.__doc__})
            api.base_filters = {cls.api_names.get(name, name): f for name, f in cls.base_filters.items()}
            cls._api = api
        return api

    def values(self) -> dict:
        """The valid, non-empty values by the selector's argument names; an invalid one is left out."""
        if not self.is_bound:
            return {}
        self.form.is_valid()
        return {self.filters[name].field_name: value for name, value in self.form.cleaned_data.items()
                if value not in (None, "")}

    def offer_choices(self, name: str, choices, empty_label: str) -> None:
        """Narrow a free-text filter to a select of what exists (a model's own traits or tags, for its page)."""
        chosen = self.filters[name]
        chosen.__dict__.pop("_field", None)  # a form field built before now would keep the free text
        chosen.field_class = ChoiceField
        chosen.extra.update(choices=list(choices), empty_label=empty_label)

    def filter_queryset(self, queryset):
        raise NotImplementedError(f"{type(self).__name__} names its selector in filter_queryset")

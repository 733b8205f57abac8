"""The filters of the registry's lists (the audit log's are lifecycle.filters.AuditFilter, beside its API)."""

from __future__ import annotations

from django_filters import CharFilter, ChoiceFilter

from lifecycle import selectors as lifecycle_selectors
from lifecycle.core.filters import ListFilter

from . import selectors
from .choices import RequestState


class RequestFilter(ListFilter):
    state = ChoiceFilter(choices=RequestState.choices, empty_label="Any state", label="State")
    model = CharFilter(label="Model", help_text="id or key")

    def filter_queryset(self, queryset):
        values = self.values()
        if "model" in values:  # an unknown model is a 404, as its own address would be
            values["model"] = lifecycle_selectors.model_get(values["model"])
        return selectors.request_filter(queryset, **values)

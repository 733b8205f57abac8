"""The filters of the decision traces, one FilterSet for the page, the API and the schema; the selector says
what each one means."""

from __future__ import annotations

from django import forms
from django_filters import CharFilter

from lifecycle.core.filters import ListFilter, moment_filter

from . import selectors


class TraceFilter(ListFilter):
    customer = CharFilter(field_name="customer_id", label="Customer", max_length=255, widget=forms.TextInput(
        attrs={"placeholder": "customer id", "type": "search"}))
    request = CharFilter(field_name="request_id", label="Request id", max_length=255,
                         help_text="the recommendationId of one call")
    offer = CharFilter(label="Offer returned", max_length=100, help_text="an offer key the call returned",
                       widget=forms.TextInput(attrs={"placeholder": "offer key", "list": "trace-offers"}))
    model = CharFilter(label="Model", max_length=255, help_text="a model key the call consulted",
                       widget=forms.TextInput(attrs={"placeholder": "model key", "list": "trace-models"}))
    since = moment_filter("Since (UTC)", help_text="from this moment on")
    until = moment_filter("Until (UTC)", help_text="before this moment")

    api_names = {"customer": "customerId", "request": "requestId"}

    def filter_queryset(self, queryset):
        return selectors.trace_filter(queryset, **self.values())

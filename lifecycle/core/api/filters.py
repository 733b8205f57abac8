"""The API side of lifecycle.core.filters: each list action of a view names its FilterSet.

    filter_backends = [FilterBackend]
    filtersets = {"list": ModelFilter, "runs": RunFilter}

`self.filter_queryset(qs)` in that action (ListModelMixin.list calls it) reads the query string with the
FilterSet's API names; an invalid value is a 400 whose envelope names the parameter. The schema lists the same
parameters with their choices.
"""

from __future__ import annotations

from django_filters.rest_framework import DjangoFilterBackend


class FilterBackend(DjangoFilterBackend):
    def get_filterset_class(self, view, queryset=None):
        # One view serves several lists (a model's runs, versions, samples), so the FilterSet follows the action
        # rather than the view's queryset; the schema asks with the view's own model, which is why it is not
        # checked against the FilterSet.
        filterset = getattr(view, "filtersets", {}).get(getattr(view, "action", None))
        return filterset.for_api() if filterset is not None else None

"""Sort and paginate a list page on the server, whatever the number of rows.

A page asks for one window of rows (`LIMIT`/`OFFSET`) and one `COUNT`; nothing loads the whole list. The sort
comes from a whitelist, so an unknown `?sort=` falls back to the default instead of reaching `order_by`, and
every ordering ends on the primary key so rows never swap places between two pages.

    listing = paginate(qs, sort=request.GET.get("sort"), page=request.GET.get("page"),
                       sorts={"name": SortBy("Name", "name"), "created": SortBy("Created", "created_at", kind="date")},
                       default="-created")
    listing.page        # a django.core.paginator.Page
    listing.sort        # the Sort in force: key, descending, param ("-created")
    listing.choices     # [(param, label, selected)] for a "Sort by" select

Templates: `{% sort_header listing "name" "Name" %}` (a `<th>`), `{% sort_select listing form="filters" %}` and
`{% pager listing.page noun="model" %}`, in lifecycle/templatetags/lifecycle_tags.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from urllib.parse import urlencode

from django.core.paginator import Page, Paginator
from django.db.models import F, QuerySet
from django.db.models.expressions import BaseExpression
from django.shortcuts import render

# How each kind of column reads in each direction, for the "Sort by" select.
DIRECTION_WORDS = {
    "text": ("A to Z", "Z to A"),
    "date": ("oldest first", "newest first"),
    "number": ("lowest first", "highest first"),
    "choice": ("A to Z", "Z to A"),
}


class SortBy:
    """One sortable column: a label, the fields or expressions it orders by (ascending) and its kind."""

    def __init__(self, label: str, *fields: str | BaseExpression, kind: str = "text", nullable: bool = False):
        if not fields:
            raise ValueError("SortBy needs at least one field")
        if kind not in DIRECTION_WORDS:
            raise ValueError(f"kind must be one of {sorted(DIRECTION_WORDS)}")
        self.label, self.fields, self.kind, self.nullable = label, fields, kind, nullable

    def order_by(self, descending: bool) -> list:
        terms = [F(f) if isinstance(f, str) else f for f in self.fields]
        if not self.nullable:
            # A plain ORDER BY, so PostgreSQL can walk an index (it will not for "DESC NULLS LAST" on an
            # ascending one, even for a NOT NULL column).
            return [t.desc() if descending else t.asc() for t in terms]
        # Empty values (a run that never finished) go last in both directions, on every database: they are the
        # least informative.
        return [t.desc(nulls_last=True) if descending else t.asc(nulls_last=True) for t in terms]


@dataclass(frozen=True)
class Sort:
    key: str
    descending: bool

    @property
    def param(self) -> str:
        return f"-{self.key}" if self.descending else self.key

    @classmethod
    def parse(cls, raw, sorts: Mapping[str, SortBy]) -> Sort | None:
        raw = str(raw or "").strip()
        key = raw.removeprefix("-")
        return cls(key, raw.startswith("-")) if key in sorts else None


@dataclass(frozen=True)
class Listing:
    page: Page
    sort: Sort
    sorts: Mapping[str, SortBy] = field(repr=False)
    default: str = ""

    @property
    def choices(self) -> list[tuple[str, str, bool]]:
        out = []
        for key, spec in self.sorts.items():
            ascending, descending = DIRECTION_WORDS[spec.kind]
            # Dates and numbers are usually wanted newest or highest first; text from A.
            directions = ((False, ascending), (True, descending))
            if spec.kind in ("date", "number"):
                directions = directions[::-1]
            for desc, words in directions:
                param = f"-{key}" if desc else key
                out.append((param, f"{spec.label}, {words}", param == self.sort.param))
        return out


def paginate(queryset: QuerySet, *, sort, page, sorts: Mapping[str, SortBy], default: str, per_page: int = 25,
             tiebreak: str = "pk") -> Listing:
    """One page of `queryset` in the requested order. Bad `sort` -> `default`; bad `page` -> the nearest page."""
    current = Sort.parse(sort, sorts) or Sort.parse(default, sorts)
    if current is None:
        raise ValueError(f"default sort {default!r} is not one of {sorted(sorts)}")
    ordering = sorts[current.key].order_by(current.descending)
    if sorts[current.key].fields not in ((tiebreak,), ("id",), ("pk",)):
        ordering.append(f"-{tiebreak}" if current.descending else tiebreak)
    paginator = Paginator(queryset.order_by(*ordering), per_page)
    return Listing(page=paginator.get_page(page), sort=current, sorts=sorts, default=default)


def clean_query(params, **changes) -> str:
    """The query string of `params` without empty values and with `changes` applied (None removes a key);
    "" when nothing is left. Empty fields are what a GET form sends for "any"; they only clutter the address."""
    pairs = {k: v for k, v in params.items() if v not in ("", None)}
    for k, v in changes.items():
        if v is None or v == "":
            pairs.pop(k, None)
        else:
            pairs[k] = v
    return urlencode(pairs)


def wants_results_only(request) -> bool:
    """htmx asks for the results only; a boosted request or a history restore needs the whole page."""
    htmx = getattr(request, "htmx", None)
    return bool(htmx and not htmx.boosted and not htmx.history_restore_request)


def render_listing(request, template: str, context: dict, *, partial: str = "results"):
    """The whole page, or only its `partial` for htmx; the address bar then follows the filter and sort."""
    if not wants_results_only(request):
        return render(request, template, context)
    response = render(request, f"{template}#{partial}", context)
    # The default order needs no words in the address (the "Sort by" select sends it with every filter).
    listing = context.get("listing")
    default = listing is not None and request.GET.get("sort") == listing.default
    query = clean_query(request.GET, **({"sort": None} if default else {}))
    response["HX-Push-Url"] = request.path + (f"?{query}" if query else "")
    return response

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


# ------------------------------------------------------------------------------------------ keyset pages
# A deep OFFSET page walks every row before it. Keyset pages ask for the rows just after (or just before) a row
# named by its sort value and primary key, so page 2,000 costs what the first does. The cursor is opaque: the
# sort it was made for, the row's sort value and its key, in URL-safe base64.


def encode_cursor(sort: Sort, value, pk) -> str:
    import base64
    import json

    if hasattr(value, "isoformat"):
        value = value.isoformat()
    raw = json.dumps([sort.param, value, pk], separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(raw, sort: Sort, model, field_name: str):
    """(value, pk) of a cursor made for `sort`, or None for anything else (a bad or stale cursor is the first page)."""
    import base64
    import binascii
    import json

    from django.core.exceptions import ValidationError
    from django.db import connection

    from .keys import ID_MAX

    raw = str(raw or "").strip()
    if not raw or len(raw) > 400:
        return None
    try:
        param, value, pk = json.loads(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if param != sort.param or not isinstance(pk, int) or isinstance(pk, bool) or not 0 < pk <= ID_MAX:
            return None
        field = model._meta.get_field(field_name)
        value = field.to_python(value)
        # What the database cannot take is no cursor (a time in year 1 with an offset leaves the range in UTC).
        field.get_db_prep_value(value, connection, prepared=False)
        return value, pk
    except (ValueError, TypeError, OverflowError, binascii.Error, ValidationError, UnicodeDecodeError):
        return None


class KeysetPage:
    """One keyset page: what a template needs of a Paginator page (`object_list`, `paginator.count`), and the
    cursors of the pages either side instead of page numbers."""

    def __init__(self, rows: list, *, queryset: QuerySet, next_cursor: str, previous_cursor: str):
        self.object_list, self.next_cursor, self.previous_cursor = rows, next_cursor, previous_cursor
        self._queryset = queryset
        self.paginator = self

    @property
    def count(self) -> int:
        if not hasattr(self, "_count"):
            self._count = self._queryset.count()
        return self._count

    def has_next(self) -> bool:
        return bool(self.next_cursor)

    def has_previous(self) -> bool:
        return bool(self.previous_cursor)

    def __iter__(self):
        return iter(self.object_list)

    def __len__(self):
        return len(self.object_list)


def keyset_window(queryset: QuerySet, *, sort: Sort, spec: SortBy, after=None, before=None, per_page: int = 25):
    """(rows, next_cursor, previous_cursor) of the page after cursor `after` or before cursor `before` (neither:
    the first page), ordered by `spec`'s single field and then the primary key, both in the sort's direction."""
    if len(spec.fields) != 1 or not isinstance(spec.fields[0], str) or spec.nullable:
        raise ValueError("keyset pages need a single non-null field to sort by")
    name, model = spec.fields[0], queryset.model
    field_name = model._meta.pk.name if name in ("pk", "id") else name
    desc = sort.descending
    ordering = [f"-{field_name}", "-pk"] if desc else [field_name, "pk"]
    reverse = [o.removeprefix("-") if o.startswith("-") else f"-{o}" for o in ordering]
    from django.db.models import Q

    def beyond(key, forward: bool) -> Q:
        value, pk = key
        op = "lt" if desc == forward else "gt"
        if field_name == model._meta.pk.name:
            return Q(**{f"pk__{op}": pk})
        # "value <= v AND (value < v OR (value = v AND pk < k))": the first term alone is a range an index on the
        # field starts from; the OR alone makes SQLite walk the index from its end.
        return Q(**{f"{field_name}__{op}e": value}) & (Q(**{f"{field_name}__{op}": value})
                                                      | Q(**{field_name: value, f"pk__{op}": pk}))

    after_key = decode_cursor(after, sort, model, field_name)
    before_key = None if after_key else decode_cursor(before, sort, model, field_name)
    if before_key:
        rows = list(queryset.filter(beyond(before_key, False)).order_by(*reverse)[:per_page + 1])
        more_before = len(rows) > per_page
        rows = rows[:per_page][::-1]
        more_after = True
    else:
        qs = queryset.filter(beyond(after_key, True)) if after_key else queryset
        rows = list(qs.order_by(*ordering)[:per_page + 1])
        more_after = len(rows) > per_page
        rows = rows[:per_page]
        more_before = bool(after_key)
    if not rows:
        return rows, "", ""

    def cursor(row) -> str:
        return encode_cursor(sort, getattr(row, field_name), row.pk)

    return rows, (cursor(rows[-1]) if more_after else ""), (cursor(rows[0]) if more_before else "")


def paginate_keyset(queryset: QuerySet, *, sort, after=None, before=None, sorts: Mapping[str, SortBy], default: str,
                    per_page: int = 25) -> Listing:
    """Like `paginate`, but by keyset: `after`/`before` are cursors from the page's `next_cursor`/`previous_cursor`.
    Every sort in `sorts` must be one non-null field (the primary key breaks ties)."""
    current = Sort.parse(sort, sorts) or Sort.parse(default, sorts)
    if current is None:
        raise ValueError(f"default sort {default!r} is not one of {sorted(sorts)}")
    rows, next_cursor, previous_cursor = keyset_window(queryset, sort=current, spec=sorts[current.key], after=after,
                                                       before=before, per_page=per_page)
    page = KeysetPage(rows, queryset=queryset, next_cursor=next_cursor, previous_cursor=previous_cursor)
    return Listing(page=page, sort=current, sorts=sorts, default=default)

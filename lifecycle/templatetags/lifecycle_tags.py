import json
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

from django import template

register = template.Library()


@register.filter
def get_item(mapping, key):
    if not mapping:
        return None
    return mapping.get(key)


@register.filter
def fmt(value, digits=3):
    """A metric for people: fixed decimals, a dash when missing."""
    if value is None or value == "":
        return "–"
    try:
        return f"{float(value):.{int(digits)}f}"
    except (TypeError, ValueError):
        return value


def _percent(value, digits, sign: str) -> str:
    """Half-up, so 0.0625 reads 6.3% as the services' own messages say it."""
    if value is None or value == "":
        return "–"
    try:
        number = Decimal(repr(float(value))) * 100
    except (TypeError, ValueError, InvalidOperation):
        return value
    rounded = number.quantize(Decimal(1).scaleb(-int(digits)), rounding=ROUND_HALF_UP)
    return f"{rounded:{sign}.{int(digits)}f}%"


@register.filter
def pct(value, digits=1):
    """A share as a percentage, a dash when missing."""
    return _percent(value, digits, "")


@register.filter
def signed_pct(value, digits=1):
    return _percent(value, digits, "+")


@register.filter
def signed(value, digits=None):
    """A number with its direction: without digits the sign always shows (a weight: +1, -1.5, +0); with digits
    (a difference) a value that rounds to zero carries none (0.000)."""
    if value is None or value == "":
        return "–"
    try:
        number = float(value)
        if digits is None:
            return f"{number:+g}"
        return f"{number:{'+' if round(number, int(digits)) else ''}.{int(digits)}f}"
    except (TypeError, ValueError):
        return value


@register.filter
def bar_height(count, counts):
    """Histogram bar height in percent of the tallest bar."""
    top = max(counts or [0]) or 1
    return round(100 * (count or 0) / top)


@register.filter
def messages_for(messages, section=""):
    """The flash messages that belong to one panel of the page (tagged with its anchor when queued), so a
    refusal shows next to the form that caused it; untagged messages belong to the top of the page."""
    section = section or ""
    return [m for m in (messages or []) if (m.extra_tags or "") == section]


@register.filter
def features_text(features):
    """A sample's features as `name=value` pairs, the way a person writes them (not a Python repr)."""
    if not features:
        return ""
    if not isinstance(features, dict):
        return json.dumps(features, ensure_ascii=False)
    return ", ".join(f"{k}={'–' if v is None else v}" for k, v in features.items())


@register.filter
def label_word(quality, trait=None):
    """A stored label quality in words: the trait's own positive/negative label, or a share in between."""
    try:
        q = float(quality)
    except (TypeError, ValueError):
        return quality
    positive = getattr(trait, "positive_label", None) or "positive"
    negative = getattr(trait, "negative_label", None) or "negative"
    if q >= 1.0:
        return positive
    if q <= 0.0:
        return negative
    return f"{q:.2f}"


@register.filter
def action_text(action):
    """An audit action code (`run.queued`) as a phrase (`Run queued`); the code itself stays in the title."""
    words = str(action or "").replace(".", " ").replace("_", " ").strip()
    return words[:1].upper() + words[1:]


@register.filter
def index(sequence, i):
    try:
        return sequence[int(i)]
    except (IndexError, TypeError, ValueError):
        return None


@register.filter
def predictor_pairs(row):
    """Two versions' top predictors as rows of (before, after), padded so the table stays rectangular."""
    a, b = list(row.get("a") or []), list(row.get("b") or [])
    n = max(len(a), len(b))
    return [(a[i] if i < len(a) else None, b[i] if i < len(b) else None) for i in range(n)]


LOWER_IS_BETTER = {"logLoss"}
NEUTRAL = {"baseRate"}


@register.simple_tag
def delta_text(name, delta):
    """A metric's change in words and sign, so colour is never the only signal."""
    from django.utils.html import format_html
    from django.utils.safestring import mark_safe

    if abs(delta) < 0.0005:
        return mark_safe('<span class="delta">±0.000</span>')
    if name in NEUTRAL:
        return format_html('<span class="delta">{}</span>', f"{delta:+.3f}")  # format_html escapes to text first
    better = (delta < 0) if name in LOWER_IS_BETTER else (delta > 0)
    return format_html('<span class="delta {}">{} <span class="small">{}</span></span>',
                       "is-better" if better else "is-worse", f"{delta:+.3f}", "better" if better else "worse")


# ------------------------------------------------------------------ lists: sort headers, sort select, pager
# Generic: they know a lifecycle.core.listing.Listing (or, for the pager, any Paginator page) and the request's
# query string, nothing about what the rows are. Every link keeps the other parameters (the filters) and
# works as a plain link; with htmx it swaps `target` (the page's results partial) in place.


def _list_url(context, **changes) -> str:
    from lifecycle.core.listing import clean_query

    request = context.get("request")
    if request is None:
        return "?" + clean_query({}, **changes)
    query = clean_query(request.GET, **changes)
    return request.path + (f"?{query}" if query else "")


@register.inclusion_tag("partials_sort_header.html", takes_context=True)
def sort_header(context, listing, key, label, *, num=False, target="#results", extra_class=""):
    """A sortable `<th>`: a link that sorts by `key`, or reverses the sort when it is already by `key`.
    The first click sorts dates and numbers highest first, text A to Z."""
    from lifecycle.core.listing import DIRECTION_WORDS

    spec = listing.sorts[key]
    active = listing.sort.key == key
    next_desc = (not listing.sort.descending) if active else spec.kind in ("date", "number")
    param = f"-{key}" if next_desc else key
    aria_sort = ("descending" if listing.sort.descending else "ascending") if active else ""
    return {
        "label": label, "active": active, "descending": listing.sort.descending, "num": num, "target": target,
        "extra_class": extra_class, "aria_sort": aria_sort,
        "url": _list_url(context, sort=param, page=None, after=None, before=None),
        "next_words": DIRECTION_WORDS[spec.kind][1 if next_desc else 0],
    }


@register.inclusion_tag("partials_sort_select.html", takes_context=True)
def sort_select(context, listing, *, form="", target="#results", id="sort-by"):
    """A "Sort by" select for the same sorts (every column in both directions, and those without a header).
    With `form` (the id of the page's filter form) it belongs to that form, so a filter keeps the sort and
    the form's own submit button sends it; without, it is a small GET form of its own."""
    request = context.get("request")
    others = [(k, v) for k, v in (request.GET.items() if request else [])
              if v and k not in ("sort", "page", "after", "before")]
    return {"choices": listing.choices, "form": form, "target": target, "id": id,
            "path": request.path if request else "", "others": others}


@register.inclusion_tag("partials_pager.html", takes_context=True)
def pager(context, page, *, noun="row", plural="", matching=False, previous="Previous", next="Next",
          target="#results"):
    """Previous / next, "page X of Y" and the number of rows ("3 samples", or with `matching` "3 samples
    match"), for any Paginator page."""
    count = page.paginator.count
    return {
        "page": page, "count": count, "noun": noun if count == 1 else (plural or f"{noun}s"), "matching": matching,
        "previous_label": previous, "next_label": next, "target": target,
        "previous_url": _list_url(context, page=page.previous_page_number()) if page.has_previous() else "",
        "next_url": _list_url(context, page=page.next_page_number()) if page.has_next() else "",
    }


@register.inclusion_tag("partials_keyset_pager.html", takes_context=True)
def keyset_pager(context, page, *, noun="row", plural="", matching=False, previous="Newer", next="Older",
                 target="#results"):
    """Newer / older links by keyset (lifecycle.core.listing.KeysetPage) and the number of rows: no page numbers,
    so a deep page costs what the first does."""
    count = page.paginator.count
    return {
        "count": count, "noun": noun if count == 1 else (plural or f"{noun}s"), "matching": matching,
        "previous_label": previous, "next_label": next, "target": target,
        "previous_url": _list_url(context, page=None, after=None, before=page.previous_cursor)
        if page.has_previous() else "",
        "next_url": _list_url(context, page=None, before=None, after=page.next_cursor) if page.has_next() else "",
    }


@register.simple_tag
def link_or_text(viewname, *args, text=None, css_class=""):
    """A link to the page that stored values name, or just the text when a value breaks the key rule (a
    family named before the rule existed): a page never fails on what it is showing."""
    from django.utils.html import conditional_escape, format_html

    from ..core.keys import reverse_or_none

    label = args[-1] if text is None else text
    url = reverse_or_none(viewname, *args)
    if url is None:
        return conditional_escape(label)
    if css_class:
        return format_html('<a class="{}" href="{}">{}</a>', css_class, url, label)
    return format_html('<a href="{}">{}</a>', url, label)


# ------------------------------------------------------------------ panels the apps above lifecycle register


@register.simple_tag(takes_context=True)
def panels(context, slot, model=None):
    """Every panel registered for `slot` (lifecycle.core.panels), in order, each rendered with the page's context
    and its own on top: `{% panels "model_main" model %}`, `{% panels "dashboard" %}`."""
    from django.utils.safestring import mark_safe

    from ..core.panels import for_slot

    request = context.get("request")
    html = []
    for panel in for_slot(slot):
        own = panel.context(request, model) if panel.context else {}
        if own is None:
            continue
        template = context.template.engine.get_template(panel.template)
        with context.push({"model": model, **own} if model is not None else own):
            html.append(template.render(context))
    return mark_safe("".join(html))

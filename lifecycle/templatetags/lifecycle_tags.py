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


@register.filter
def bar_height(count, counts):
    """Histogram bar height in percent of the tallest bar."""
    top = max(counts or [0]) or 1
    return round(100 * (count or 0) / top)

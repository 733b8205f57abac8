"""Numbers of the scoring pages, written for people."""

from __future__ import annotations

from django import template

register = template.Library()

# An icon and a word per level, so a warning never rests on colour alone.
LEVEL_WORDS = {"ok": ("✓", "OK"), "note": ("ℹ", "Note"), "warn": ("⚠", "Warning"), "contradiction": ("⚠", "Warning"),
               "error": ("✗", "Error")}


@register.filter
def signed(value, digits=None):
    """+1, -1.5, +0: the sign always shown, so a weight's direction reads without colour."""
    if value is None or value == "":
        return "–"
    try:
        number = float(value)
    except (TypeError, ValueError):
        return value
    if digits is not None:
        return f"{number:+.{int(digits)}f}"
    return f"{number:+g}"


@register.filter
def pct(value, digits=1):
    """A share in [0, 1] as a percentage; a dash when unknown."""
    if value is None or value == "":
        return "–"
    try:
        return f"{100 * float(value):.{int(digits)}f}%"
    except (TypeError, ValueError):
        return value


@register.filter
def level_icon(level):
    return LEVEL_WORDS.get(level, ("", ""))[0]


@register.filter
def level_word(level):
    return LEVEL_WORDS.get(level, ("", level))[1]


@register.filter
def source_label(source):
    """A propensitySource as a short phrase."""
    return {"offer": "offer evidence", "offer_blend": "offer blended", "channel": "channel tier",
            "direction": "direction tier", "category": "category tier", "global": "global tier",
            "default": "cold start", "model": "model score", "holdout": "holdout"}.get(source, source or "–")

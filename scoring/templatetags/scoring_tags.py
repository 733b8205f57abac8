"""Numbers of the scoring pages, written for people."""

from __future__ import annotations

from django import template

register = template.Library()

# An icon and a word per level, so a warning never rests on colour alone.
LEVEL_WORDS = {"ok": ("✓", "OK"), "note": ("ℹ", "Note"), "warn": ("⚠", "Warning"), "contradiction": ("⚠", "Warning"),
               "error": ("✗", "Error")}


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

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


# ------------------------------------------------------------------ scoring's links on the registry's pages
# Panel contexts (registered in scoring/apps.py): the registry's templates render the slots and name nothing of ours.


def shadow_request_link(request, promotion) -> dict | None:
    """A request that takes a model off the shadow rung of a family links to how it scored beside the champion
    (slot request_card_links, which passes the request); any other request shows nothing."""
    from lifecycle.choices import RegistryStatus as Rung

    if promotion.from_status != Rung.SHADOW or not promotion.family:
        return None
    return {"model": promotion.model}


def shadow_member_link(request, model) -> dict | None:
    """A shadow in a family's line-up links to its comparison with the champion (slot family_member_links)."""
    from lifecycle.choices import RegistryStatus as Rung

    return {} if model.registry_status == Rung.SHADOW else None


def champion_regret(request, model) -> dict | None:
    """A family whose champion learns from every response charts what its learning cost against the best offer
    so far (slot family_main, which passes the champion); other champions show nothing."""
    from lifecycle.model_types import CONTINUOUS_TYPES

    from .. import selectors

    if model.model_type not in CONTINUOUS_TYPES:
        return None
    return {"regret": selectors.champion_regret(model)}

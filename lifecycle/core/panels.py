"""Panels: what the apps above lifecycle add to its pages, as NetBox's template extensions do.

Each app registers its panels in its AppConfig.ready(); a page renders a slot with `{% panels "slot" model %}`
(lifecycle_tags), every panel of the slot in order, each with its own context over the page's. So the model
pages and the dashboard show what registry and scoring add without lifecycle naming their templates, tag
libraries or URLs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

# Where a page renders panels, and what goes there.
SLOTS = {
    "model_tabs": "links in the tab bar of a model's pages, after Overview",
    "model_main": "cards on the model page, between the run's progress and the traits",
    "dashboard": "cards in the dashboard's activity column, beside the recent changes",
    "dashboard_events": "links under the dashboard's recent changes",
    "live_weights": "the outcome-weights step of the model page's path to live: the way to set them",
    "request_card_links": "links under a promotion request's comment on its card (the panel gets the request)",
    "family_member_links": "links under a model's type in a family's line-up",
    "family_main": "cards on a family's page after its line-up (the panel gets the champion; none without one)",
    "version_hold_links": "links beside a held or rejected version in a versions table (the panel gets the version)",
}


@dataclass(frozen=True)
class Panel:
    """`context(request, model or None)` returns the panel's own variables, or None to leave the panel out."""

    name: str
    slot: str
    template: str
    order: int = 100
    context: Callable[[Any, Any], dict | None] | None = None


_PANELS: dict[str, Panel] = {}


def register(*, name: str, slot: str, template: str, order: int = 100,
             context: Callable[[Any, Any], dict | None] | None = None) -> Panel:
    """Add a panel to a slot; registering the same name again replaces it (ready() may run more than once)."""
    if slot not in SLOTS:
        raise ValueError(f"No page renders the slot {slot!r}; the slots are {', '.join(SLOTS)}")
    panel = Panel(name=name, slot=slot, template=template, order=order, context=context)
    _PANELS[name] = panel
    return panel


def for_slot(slot: str) -> list[Panel]:
    """The panels of one slot, in their order (then by name, so equal orders stay stable)."""
    return sorted((p for p in _PANELS.values() if p.slot == slot), key=lambda p: (p.order, p.name))

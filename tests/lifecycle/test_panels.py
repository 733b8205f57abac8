"""Panels: lifecycle's pages show what the apps above register, in order, each with its own context."""

import pytest
from django.template import engines
from django.test import RequestFactory

from lifecycle.core import panels


@pytest.fixture
def only_these_panels(monkeypatch):
    """The registry emptied for one test, so the registrations of registry and scoring stay untouched."""
    monkeypatch.setattr(panels, "_PANELS", {})


def render(source: str, **context) -> str:
    request = RequestFactory().get("/")
    return engines["django"].from_string(source).render(context, request)


def test_a_slot_renders_its_panels_in_order_each_over_the_page_context(only_these_panels):
    panels.register(name="second", slot="model_main", order=20, template="lifecycle/partials_state.html",
                    context=lambda request, model: {"state": f"{model}-second"})
    panels.register(name="first", slot="model_main", order=10, template="lifecycle/partials_state.html")
    panels.register(name="hidden", slot="model_main", order=15, template="lifecycle/partials_state.html",
                    context=lambda request, model: None)
    panels.register(name="elsewhere", slot="dashboard", template="lifecycle/partials_state.html")

    html = render('{% panels "model_main" model %}|{{ state }}', model="m1", state="page", label="")

    # "first" has no context of its own and sees the page's; "second" sees its own over it; "hidden" declined,
    # "elsewhere" belongs to another slot; afterwards the page's context is as it was.
    assert html.count("badge badge-") == 2
    assert html.index("badge-page") < html.index("badge-m1-second")
    assert html.endswith("|page")


def test_registering_a_name_again_replaces_the_panel(only_these_panels):
    panels.register(name="tabs", slot="model_tabs", template="a.html")
    panels.register(name="tabs", slot="model_tabs", template="b.html", order=5)
    assert [(p.name, p.template, p.order) for p in panels.for_slot("model_tabs")] == [("tabs", "b.html", 5)]


def test_a_slot_no_page_renders_is_refused(only_these_panels):
    with pytest.raises(ValueError, match="No page renders the slot 'model_sidebar'"):
        panels.register(name="x", slot="model_sidebar", template="x.html")


def test_the_apps_above_lifecycle_register_their_panels():
    names = {p.name: p.slot for slot in panels.SLOTS for p in panels.for_slot(slot)}
    assert names["scoring.tabs"] == "model_tabs"
    assert names["registry.path_to_live"] == "model_main"
    assert names["registry.dashboard"] == "dashboard"
    assert names["registry.audit_log_link"] == "dashboard_events"

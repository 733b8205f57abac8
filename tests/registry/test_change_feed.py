"""The change feed every page polls: 204 while nothing changed, then the events the panels listen for."""

from __future__ import annotations

import json

import pytest

from lifecycle.models import ModelEvent
from registry import selectors
from registry import services as registry
from tests.factories import make_user
from tests.scoring.conftest import live_model

pytestmark = pytest.mark.django_db


def latest() -> int:
    return ModelEvent.objects.order_by("-id").values_list("id", flat=True).first() or 0


def poll(client, since) -> tuple[int, dict | None, str]:
    response = client.get(f"/changes/?since={since}", HTTP_HX_REQUEST="true")
    trigger = response.headers.get("HX-Trigger")
    return response.status_code, json.loads(trigger) if trigger else None, response.content.decode()


def test_nothing_changed_is_an_empty_204(client, reviewer):
    client.force_login(reviewer)
    since = latest()
    status, trigger, body = poll(client, since)
    assert (status, trigger, body) == (204, None, "")


def test_a_request_by_someone_else_tells_the_review_panels(client, reviewer, admin_user):
    analyst = make_user("analyst", username="ana")
    champion = live_model(admin_user, key="champ", model_type="bayesian")
    challenger = live_model(admin_user, key="chal", model_type="thompson_bandit", rung="challenger")
    client.force_login(reviewer)
    since = latest()
    result = registry.model_promote(model=challenger, actor=analyst, to_status="champion", family="offers")
    assert result.request is not None

    status, trigger, body = poll(client, since)
    assert status == 200
    assert set(trigger) == {"reviewsChanged", "modelChanged"}
    assert trigger["modelChanged"] == {"keys": ["chal"]}
    assert f'?since={latest()}"' in body  # the poller comes back with its new starting point
    assert poll(client, latest())[0] == 204

    # The approval moves two models: the family's panels hear it as well.
    since = latest()
    registry.promotion_request_approve(request=result.request, actor=admin_user, comment="ok")
    status, trigger, _ = poll(client, since)
    assert {"reviewsChanged", "familyChanged"} <= set(trigger)
    assert set(trigger["modelChanged"]["keys"]) == {champion.key, challenger.key}


def test_the_viewers_own_changes_only_move_the_starting_point(client, admin_user):
    model = live_model(admin_user, key="chal", model_type="bayesian", rung="challenger")
    client.force_login(admin_user)
    since = latest()
    registry.model_set_status(model=model, actor=admin_user, status="paused")
    status, trigger, body = poll(client, since)
    assert (status, trigger) == (200, None)  # the page they did it on shows it already
    assert f'?since={latest()}"' in body


def test_a_finished_run_tells_the_run_panels(client, analyst, capture):
    from tests.factories import add_samples, make_model, train_now

    client.force_login(make_user("viewer"))
    since = latest()
    model = make_model(analyst)
    add_samples(model, analyst)
    train_now(model, analyst, capture)
    status, trigger, _ = poll(client, since)
    assert status == 200 and "runsChanged" in trigger and trigger["modelChanged"] == {"keys": [model.key]}


def test_a_bad_starting_point_gets_the_current_one(client, viewer):
    client.force_login(viewer)
    status, trigger, body = poll(client, "yesterday")
    assert status == 200 and trigger is None and f'?since={latest()}"' in body


def test_every_page_carries_the_poller_at_the_configured_interval(client, viewer, settings):
    settings.LIVE_POLL_SECONDS = 3
    client.force_login(viewer)
    html = client.get("/").content.decode()
    assert f'hx-get="/changes/?since={latest()}"' in html and 'hx-trigger="every 3s' in html
    client.logout()
    assert "/changes/" not in client.get("/login/").content.decode()  # nothing to watch before logging in


def test_the_review_queue_panel_refreshes_alone(client, reviewer, admin_user):
    analyst = make_user("analyst", username="ana")
    live_model(admin_user, key="champ", model_type="bayesian")
    challenger = live_model(admin_user, key="chal", model_type="thompson_bandit", rung="challenger")
    client.force_login(reviewer)
    empty = client.get("/reviews/?panel=queue", HTTP_HX_REQUEST="true").content.decode()
    assert "Nothing waits for review" in empty and "<h1" not in empty
    registry.model_promote(model=challenger, actor=analyst, to_status="champion", family="offers", comment="go")
    panel = client.get("/reviews/?panel=queue", HTTP_HX_REQUEST="true").content.decode()
    assert 'id="queue"' in panel and "chal" in panel and "<h1" not in panel
    assert '<span id="queue-count" class="count" hx-swap-oob="true">1 pending</span>' in panel
    assert 'hx-preserve' in panel  # a comment being typed survives the refresh
    assert selectors.pending_count() == 1


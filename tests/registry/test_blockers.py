"""Why a button is disabled and why the server refuses are one sentence: for each blocker, the reason beside the
disabled button on the page equals the message of the API's refusal in the same situation."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.urls import reverse

from lifecycle import services as lifecycle_services
from registry import services as rs
from tests.conftest import token_client
from tests.factories import make_model, ready_model

pytestmark = pytest.mark.django_db

API = "/api/v1/algorithm-models"
FAMILY = "credit_propensity"


def words(html: str) -> str:
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def disabled_reason(response, label: str) -> str:
    """The reason the page gives for the disabled button `label`: the element its aria-describedby names."""
    html = response.content.decode()
    button = re.search(rf"<button\b([^>]*)>\s*{re.escape(label)}\s*</button>", html)
    assert button, f"no button {label!r}"
    attrs = button.group(1)
    assert re.search(r"\sdisabled(?=[\s>]|$)", attrs), f"{label!r} is not disabled"
    why_id = re.search(r'aria-describedby="([^"]+)"', attrs).group(1)
    why = re.search(rf'<p class="why" id="{re.escape(why_id)}">(.*?)</p>', html, flags=re.S).group(1)
    return words(why).split(" unavailable: ", 1)[1]


def rollback_reason(response) -> str:
    html = response.content.decode()
    why = re.search(r'<p class="why"><strong>Roll back</strong> is unavailable: (.*?)</p>', html, flags=re.S)
    assert why, "the rollback button is offered"
    return words(why.group(1))


def refusal(response, status: int, code: str) -> str:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code, error
    return error["message"]


def promote(client, model, **body):
    return client.post(f"{API}/{model.key}/promote", body, format="json")


def page(client, user, model):
    client.force_login(user)
    return client.get(reverse("lifecycle:model-detail", args=[model.key]))


def active(model, actor):
    rs.model_set_status(model=model, actor=actor, status="active")
    model.refresh_from_db()
    return model


def test_a_draft_status_model(client, analyst, api, capture):
    model = ready_model(analyst, capture, key="gbm-v7")
    reason = disabled_reason(page(client, analyst, model), "Move to shadow")
    assert reason == "Activate it first: promote refuses a model whose operational status is draft."
    assert refusal(promote(api, model, toStatus="shadow"), 400, "invalid_transition") == reason


def test_a_model_that_was_never_ready(client, analyst, api):
    model = active(make_model(analyst, key="untrained"), analyst)
    reason = disabled_reason(page(client, analyst, model), "Move to challenger")
    assert reason == "Train it first: a model that has never been ready cannot score."
    assert refusal(promote(api, model, toStatus="challenger"), 409, "not_scorable") == reason


def test_an_archived_model(client, analyst, api, capture):
    model = active(ready_model(analyst, capture, key="gbm-v7"), analyst)
    lifecycle_services.model_archive(model=model, actor=analyst)
    reason = disabled_reason(page(client, analyst, model), "Move to shadow")
    assert reason == "The model is archived and cannot score; restore it first."
    assert refusal(promote(api, model, toStatus="shadow"), 409, "not_scorable") == reason


def test_a_request_already_waiting_for_a_reviewer(client, analyst, api, capture):
    model = active(ready_model(analyst, capture, key="bayes-v3"), analyst)
    rs.model_promote(model=model, actor=analyst, to_status="challenger", family=FAMILY)
    request = rs.model_promote(model=model, actor=analyst, to_status="champion", family=FAMILY).request
    reason = disabled_reason(page(client, analyst, model), "Request champion")
    assert reason == f"Request #{request.pk} is already waiting for a reviewer."
    assert refusal(promote(api, model, toStatus="champion", family=FAMILY), 409, "request_pending") == reason


@pytest.fixture
def family(analyst, admin_user, capture):
    """gbm-v7 was champion of the family; bayes-v3 replaced it (gbm-v7 is archived on the ladder)."""
    old = active(ready_model(analyst, capture, key="gbm-v7"), analyst)
    new = active(ready_model(analyst, capture, key="bayes-v3"), analyst)
    for model in (old, new):
        rs.model_promote(model=model, actor=analyst, to_status="challenger", family=FAMILY)
        rs.model_promote(model=model, actor=admin_user, to_status="champion", family=FAMILY)
    old.refresh_from_db()
    return old, new


def rollback_refused(client, reviewer, status: int, code: str) -> tuple[str, str]:
    client.force_login(reviewer)
    shown = rollback_reason(client.get(reverse("registry:family-detail", args=[FAMILY])))
    said = refusal(token_client(reviewer).post(f"/api/v1/families/{FAMILY}/rollback", {}, format="json"), status,
                   code)
    return shown, said


def test_a_family_with_no_previous_champion(client, reviewer, analyst, admin_user, capture):
    model = active(ready_model(analyst, capture, key="gbm-v7"), analyst)
    rs.model_promote(model=model, actor=analyst, to_status="challenger", family=FAMILY)
    rs.model_promote(model=model, actor=admin_user, to_status="champion", family=FAMILY)
    shown, said = rollback_refused(client, reviewer, 400, "invalid_transition")
    assert shown == said == "There is no previous champion to roll back to."


def test_a_previous_champion_that_cannot_score(client, reviewer, analyst, family):
    old, _ = family
    lifecycle_services.model_archive(model=old, actor=analyst)
    shown, said = rollback_refused(client, reviewer, 409, "not_scorable")
    assert shown == said == "gbm-v7 cannot score any more (archived or never ready); restore it first."


def test_a_previous_champion_that_is_not_active(client, reviewer, analyst, family):
    old, _ = family
    rs.model_set_status(model=old, actor=analyst, status="paused")
    shown, said = rollback_refused(client, reviewer, 400, "invalid_transition")
    assert shown == said == "gbm-v7 is paused; activate it before rolling back to it."

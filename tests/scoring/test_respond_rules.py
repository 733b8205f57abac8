"""Every response counts once and where it belongs: an offerId-only response teaches the family's champion, the
recommendation decides the direction, and a serving champion cannot be archived by any path."""

import pytest

from scoring.models import Interaction, ModelAdaptation
from tests.conftest import token_client
from tests.scoring.conftest import live_model

pytestmark = pytest.mark.django_db


def respond(api, key, **body):
    return api.post("/api/v1/respond", {"customerId": "c1", "outcome": "click", **body}, format="json",
                    HTTP_IDEMPOTENCY_KEY=key)


def evidence(model):
    return {(c.scope, c.scope_id): c.evidence for c in ModelAdaptation.objects.filter(model=model)}


def test_an_offer_only_response_teaches_the_champion_of_the_only_family(api, admin_user, catalog):
    model = live_model(admin_user, key="nbo", model_type="bayesian")
    r = respond(api, "k-1", offerId="offer-1", channelId="email")
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["learned"] is True and body["modelKey"] == "nbo"
    assert evidence(model)[("offer", "offer-1")] == 1 and evidence(model)[("global", "")] == 1
    assert evidence(model)[("direction", "outbound")] == 1  # from the channel


def test_with_two_families_the_response_names_one_or_is_refused(api, admin_user, catalog):
    first = live_model(admin_user, key="nbo-a", model_type="bayesian", family="cards")
    live_model(admin_user, key="nbo-b", model_type="thompson_bandit", family="loans")
    r = respond(api, "k-2", offerId="offer-1")
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "decisionFlowKey"
    assert not Interaction.objects.exists(), "a refused response records nothing"
    r = respond(api, "k-3", offerId="offer-1", family="cards")
    assert r.status_code == 201 and r.json()["modelKey"] == "nbo-a" and r.json()["learned"] is True
    assert evidence(first)[("offer", "offer-1")] == 1


def test_a_family_without_a_champion_is_refused_not_dropped(api, admin_user, catalog):
    live_model(admin_user, key="nbo", model_type="bayesian", rung="challenger")
    r = respond(api, "k-4", offerId="offer-1", family="offers")
    assert r.status_code == 409 and "no champion" in r.json()["error"]["message"]
    assert not Interaction.objects.exists()


def test_the_recommendation_decides_channel_and_direction(api, admin_user, catalog):
    model = live_model(admin_user, key="nbo", model_type="bayesian")
    rec = api.post("/api/v1/recommend", {"customerId": "c1", "channel": "email", "family": "offers"},
                   format="json").json()
    r = respond(api, "k-5", recommendationId=rec["recommendationId"], rank=1, direction="inbound")
    assert r.status_code == 400, r.content
    error = r.json()["error"]
    assert error["details"]["field"] == "direction" and "'outbound'" in error["message"]
    r = respond(api, "k-6", recommendationId=rec["recommendationId"], rank=1, channelId="web")
    assert r.status_code == 400 and r.json()["error"]["details"]["field"] == "channelId"
    r = respond(api, "k-7", recommendationId=rec["recommendationId"], rank=1, direction="outbound")
    assert r.status_code == 201
    assert Interaction.objects.get().direction == "outbound"
    assert ("direction", "inbound") not in evidence(model)


def test_no_path_archives_a_serving_champion(api, admin_user, catalog):
    champion = live_model(admin_user, key="nbo", model_type="bayesian")
    admin = token_client(admin_user)
    put = admin.put("/api/v1/algorithm-models/nbo", {"status": "archived"}, format="json")
    delete = admin.delete("/api/v1/algorithm-models/nbo")
    archive = admin.post("/api/v1/algorithm-models/nbo/archive", {}, format="json")
    messages = {r.json()["error"]["message"] for r in (put, delete, archive)}
    assert {r.status_code for r in (put, delete, archive)} == {400}
    assert messages == {"The champion cannot be archived while it serves its family; promote another model to "
                        "champion, or roll the family back, first"}
    champion.refresh_from_db()
    assert (champion.state, champion.status, champion.registry_status) == ("ready", "active", "champion")
    assert api.post("/api/v1/recommend", {"customerId": "c1", "family": "offers"}, format="json").status_code == 200

"""Nothing typed is lost (issue 17, point 6): a refused ladder move keeps its fields; adding a trait whose key
exists asks before it replaces the trait."""

from __future__ import annotations

import pytest
from django.urls import reverse

from lifecycle.models import Trait
from tests.factories import make_model, ready_model
from tests.lifecycle.test_pages import text

pytestmark = pytest.mark.django_db


def test_adding_a_trait_whose_key_exists_asks_then_replaces(client, analyst):
    model = make_model(analyst, traits=("churn",))
    Trait.objects.filter(model=model, key="churn").update(name="Churn", description="Leaves within 90 days")
    client.force_login(analyst)
    url = reverse("lifecycle:trait-add", args=[model.key])
    typed = {"name": "churn", "description": "Cancels the contract", "positive_label": "yes", "negative_label": "no"}
    page = client.post(url, typed, follow=True)
    words = text(page)
    assert "A trait with the key churn exists (Churn). Replace its name, description and labels" in words
    assert Trait.objects.get(model=model, key="churn").description == "Leaves within 90 days"  # not overwritten
    html = page.content.decode()
    assert 'value="Cancels the contract"' in html and "Replace it" in words  # what was typed is still there
    done = text(client.post(url, {**typed, "replace": "on"}, follow=True))
    assert "Trait churn replaced." in done
    assert Trait.objects.get(model=model, key="churn").description == "Cancels the contract"
    assert "Trait tenure saved." in text(client.post(url, {**typed, "name": "tenure"}, follow=True))


def test_a_refused_ladder_move_keeps_what_was_typed(client, analyst, capture):
    from registry import services as registry_services

    model = ready_model(analyst, capture)
    registry_services.model_set_status(model=model, actor=analyst, status="active")
    client.force_login(analyst)
    body = {"to_status": "champion", "family": "retention", "auc": "0.5", "error_rate": "0.3",
            "comment": "Beats the incumbent on the holdout", "bypass_guard": "on"}
    page = client.post(reverse("registry:model-promote", args=[model.key]), body, follow=True)
    html = page.content.decode()
    assert "Refused" in text(page)
    for value in ("retention", "0.3", "Beats the incumbent on the holdout"):
        assert f'value="{value}"' in html, value
    # Shown once: the next visit starts clean.
    again = client.get(reverse("lifecycle:model-detail", args=[model.key])).content.decode()
    assert 'value="Beats the incumbent on the holdout"' not in again


def test_a_trait_says_whether_a_high_score_is_good_or_bad(client, api, analyst):
    model = make_model(analyst, traits=("churn",))
    client.force_login(analyst)
    page = text(client.get(reverse("lifecycle:model-detail", args=[model.key])))
    assert "Is a high score good or bad?" in page and "A higher score is bad (a risk, e.g. will churn)" in page
    client.post(reverse("lifecycle:trait-add", args=[model.key]),
                {"name": "default", "positive_label": "yes", "negative_label": "no", "direction": "higher_is_bad"})
    assert Trait.objects.get(model=model, key="default").direction == "higher_is_bad"
    r = api.post(f"/api/v1/algorithm-models/{model.key}/traits", {"traits": [{"name": "upsell"}]}, format="json")
    assert r.status_code in (200, 201), r.content
    traits = {t["key"]: t for t in api.get(f"/api/v1/algorithm-models/{model.key}/traits").json()}
    assert traits["upsell"]["direction"] == "higher_is_good" and traits["default"]["direction"] == "higher_is_bad"
    bad = api.post(f"/api/v1/algorithm-models/{model.key}/traits",
                   {"traits": [{"name": "x", "direction": "sideways"}]}, format="json")
    assert bad.status_code == 400

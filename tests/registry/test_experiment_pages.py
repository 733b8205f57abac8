"""Experiments from the pages: create one on the family page, edit its split, start, pause and complete it on its own
page. The split rule is the service's: its refusal shows in place with what was typed kept."""

from __future__ import annotations

import re

import pytest
from django.urls import reverse

from lifecycle.models import ModelEvent
from registry import experiments
from registry.choices import CHAMPION_ARM, HOLDOUT_ARM
from registry.models import Experiment
from tests.registry.test_pages import HTMX, buttons, disabled_buttons, post_forms, text
from tests.scoring.conftest import live_model

pytestmark = pytest.mark.django_db

FAMILY = "offers"
SPLIT_110 = "trafficSplit.championPct (80) plus the challengers' trafficPct (30) is 110; it must be exactly 100"


@pytest.fixture
def line_up(admin_user):
    """A family with a champion, a challenger and a shadow (continuous learners: ready without samples)."""
    return {rung: live_model(admin_user, key=key, model_type="bayesian", family=FAMILY, rung=rung)
            for rung, key in (("champion", "nbo-gbm"), ("challenger", "nbo-bayes"), ("shadow", "nbo-new"))}


def family_url() -> str:
    return reverse("registry:family-detail", args=[FAMILY])


def create_url() -> str:
    return reverse("registry:experiment-create", args=[FAMILY])


def page_url(key: str) -> str:
    return reverse("registry:experiment-detail", args=[key])


def input_value(response, name: str) -> str | None:
    tag = re.search(rf'<(?:input|textarea)\b[^>]*\bname="{re.escape(name)}"[^>]*>', response.content.decode())
    if tag is None:
        return None
    value = re.search(r'\bvalue="([^"]*)"', tag.group(0))
    return value.group(1) if value else ""


def arms(experiment: Experiment) -> dict[str, int]:
    return {a.arm: a.traffic_pct for a in experiment.arms.filter(active=True)}


def new_experiment(line_up, **shares) -> dict:
    body = {"key": "nbo-ab", "name": "Bayes against GBM", "description": "does the bandit beat the GBM?",
            "champion_pct": "80", "holdout_pct": "5", "promote_points": "2", "promote_after_days": "14"}
    for rung, share in shares.items():
        body[f"share_{line_up[rung].pk}"] = str(share)
    return body


def test_an_analyst_creates_an_experiment_and_a_wrong_split_is_refused_in_place(client, analyst, line_up):
    client.force_login(analyst)
    page = client.get(family_url())
    assert create_url() in post_forms(page)
    words = text(page)
    assert "New experiment" in words and "Champion nbo-gbm" in words
    assert "Challenger nbo-bayes challenger" in words and "Challenger nbo-new shadow" in words
    assert input_value(page, "champion_pct") == "80" and input_value(page, f"share_{line_up['challenger'].pk}") == ""

    refused = client.post(create_url(), new_experiment(line_up, challenger=30), **HTMX)
    assert refused.status_code == 200
    assert f"Refused: {SPLIT_110}" in text(refused)
    # What was typed is still there, in the form that stays open.
    assert re.search(r'<details id="experiment-new"[^>]*\bopen\b', refused.content.decode())
    assert input_value(refused, "key") == "nbo-ab" and input_value(refused, "holdout_pct") == "5"
    assert input_value(refused, f"share_{line_up['challenger'].pk}") == "30"
    assert input_value(refused, f"share_{line_up['shadow'].pk}") == ""
    assert "does the bandit beat the GBM?" in text(refused)
    assert not Experiment.objects.exists()

    created = client.post(create_url(), new_experiment(line_up, challenger=20), **HTMX)
    assert created["HX-Redirect"] == page_url("nbo-ab")
    experiment = Experiment.objects.get(key="nbo-ab")
    assert (experiment.status, experiment.family, experiment.champion_model.key) == ("draft", FAMILY, "nbo-gbm")
    assert arms(experiment) == {CHAMPION_ARM: 80, HOLDOUT_ARM: 5, "nbo-bayes": 20}
    assert experiment.description == "does the bandit beat the GBM?" and experiment.promote_threshold == 0.02
    assert ModelEvent.objects.filter(action="experiment.created", to_value="nbo-ab", actor=analyst).count() == 1

    page = client.get(page_url("nbo-ab"))
    words = text(page)
    assert "Created Bayes against GBM as a draft: no customer is assigned to it until you start it." in words
    assert "Draft: no customer is assigned yet; the champion decides alone." in words
    assert "Champion 80% · nbo-bayes 20%" in words and "holdout 5% first" in words
    assert buttons(page)[-3:] == ["Start", "Delete draft", "Save split and settings"]
    assert "Bayes against GBM nbo-ab draft" in text(client.get(family_url()))


def test_the_services_refusals_land_on_the_field_they_name_and_the_form_shapes_input(client, analyst, line_up):
    experiments.experiment_create(actor=analyst, key="nbo-ab", name="Taken", family=FAMILY, champion_pct=100)
    client.force_login(analyst)
    taken = client.post(create_url(), new_experiment(line_up, challenger=20))  # without htmx: the page, in place
    words = text(taken)
    assert taken.status_code == 200 and "Refused: Not created: fix the fields marked below." in words
    assert "An experiment with key 'nbo-ab' exists already; choose another key" in words
    assert input_value(taken, "name") == "Bayes against GBM"

    odd = client.post(create_url(), {**new_experiment(line_up, challenger="ten"), "key": "", "champion_pct": "101"})
    words = text(odd)
    assert "Refused: Not created: fix the fields marked below." in words
    assert "This field is required." in words and "Ensure this value is less than or equal to 100." in words
    assert "Enter a whole number." in words and input_value(odd, f"share_{line_up['challenger'].pk}") == "ten"
    assert Experiment.objects.count() == 1

    plain = client.post(create_url(), new_experiment(line_up, challenger=20) | {"key": "nbo-ab-2"})
    assert plain.status_code == 302 and plain["Location"] == page_url("nbo-ab-2")


def test_editing_the_split_keeps_the_typed_values_when_refused(client, analyst, line_up):
    experiment = experiments.experiment_create(
        actor=analyst, key="nbo-ab", name="Bayes against GBM", family=FAMILY, champion_model_id="nbo-gbm",
        champion_pct=80, challengers=[{"modelId": "nbo-bayes", "trafficPct": 20}])
    client.force_login(analyst)
    page = client.get(page_url("nbo-ab"))
    assert input_value(page, "champion_pct") == "80" and input_value(page, f"share_{line_up['challenger'].pk}") == "20"
    assert input_value(page, "key") is None  # a key is for good

    edit = reverse("registry:experiment-edit", args=["nbo-ab"])
    body = {"name": "Three arms", "champion_pct": "60", "holdout_pct": "10", "auto_promote": "on",
            "promote_points": "1.5", "promote_after_days": "7",
            f"share_{line_up['challenger'].pk}": "20", f"share_{line_up['shadow'].pk}": "25"}
    refused = client.post(edit, body, **HTMX)
    words = text(refused)
    assert ("Refused: trafficSplit.championPct (60) plus the challengers' trafficPct (20, 25) is 105; it must be "
            "exactly 100") in words
    assert input_value(refused, "name") == "Three arms"
    assert input_value(refused, f"share_{line_up['shadow'].pk}") == "25"
    assert input_value(refused, "promote_points") == "1.5"
    experiment.refresh_from_db()
    assert experiment.name == "Bayes against GBM" and arms(experiment) == {CHAMPION_ARM: 80, HOLDOUT_ARM: 0,
                                                                           "nbo-bayes": 20}

    saved = client.post(edit, {**body, f"share_{line_up['shadow'].pk}": "20"}, **HTMX)
    assert "Saved the split and settings. Customers keep the arm they were assigned for 30 days" in text(saved)
    experiment.refresh_from_db()
    assert arms(experiment) == {CHAMPION_ARM: 60, HOLDOUT_ARM: 10, "nbo-bayes": 20, "nbo-new": 20}
    assert (experiment.name, experiment.auto_promote, experiment.promote_threshold, experiment.promote_after_days) == (
        "Three arms", True, 0.015, 7)
    assert "Champion 60% · nbo-bayes 20% · nbo-new 20%" in text(saved)

    # Blank takes a challenger out of the split; its counts stay in the results as a removed arm.
    client.post(edit, {**body, "champion_pct": "80", f"share_{line_up['shadow'].pk}": ""}, **HTMX)
    experiment.refresh_from_db()
    assert arms(experiment) == {CHAMPION_ARM: 80, HOLDOUT_ARM: 10, "nbo-bayes": 20}
    assert "nbo-new (removed)" in text(client.get(page_url("nbo-ab")))


def test_start_pause_resume_and_complete(client, analyst, line_up):
    experiments.experiment_create(actor=analyst, key="nbo-ab", name="Bayes against GBM", family=FAMILY,
                                  champion_model_id="nbo-gbm", champion_pct=80,
                                  challengers=[{"modelId": "nbo-bayes", "trafficPct": 20}])
    client.force_login(analyst)
    status = reverse("registry:experiment-status", args=["nbo-ab"])

    def move(to: str):
        response = client.post(status, {"status": to}, **HTMX)
        assert response.status_code == 200
        return text(response)

    running = move("active")
    assert "Started: Bayes against GBM is running." in running
    assert "Running: each customer's decisions come from the arm they are assigned to" in running
    assert "Bayes against GBM active" in running
    experiment = Experiment.objects.get(key="nbo-ab")
    assert experiment.status == "active" and experiment.started_at is not None
    assert experiments.experiment_assign(experiment=experiment, customer_id="c-1") in (CHAMPION_ARM, "nbo-bayes")
    assert buttons(client.get(page_url("nbo-ab")))[-4:] == ["Pause", "Complete", "Delete", "Save split and settings"]
    assert "Delete" in disabled_buttons(client.get(page_url("nbo-ab")))

    paused = move("paused")
    assert "Paused: Bayes against GBM waits until you resume it." in paused
    assert "Paused: the champion decides for everyone; the arms keep their counts" in paused
    assert "Resumed: Bayes against GBM is running again." in move("active")
    done = move("completed")
    assert "Completed: the results of Bayes against GBM are final." in done
    assert "Completed: the champion decides for everyone; the results below are final." in done
    assert Experiment.objects.get(key="nbo-ab").status == "completed"
    assert buttons(client.get(page_url("nbo-ab")))[-1:] == ["Save split and settings"]
    # Nothing the page offers goes back from completed, and a run experiment is not deleted from the page.
    assert "Bayes against GBM is completed: its results are final and it cannot become running again" in move("active")
    assert Experiment.objects.get(key="nbo-ab").status == "completed"
    gone = client.post(reverse("registry:experiment-delete", args=["nbo-ab"]), follow=True)
    assert "has run, so its results stay" in text(gone) and Experiment.objects.filter(key="nbo-ab").exists()


def test_a_move_made_after_someone_else_s_move_says_what_it_did(client, analyst, line_up, monkeypatch):
    from registry import views

    experiments.experiment_create(actor=analyst, key="nbo-ab", name="Bayes against GBM", family=FAMILY,
                                  champion_model_id="nbo-gbm", champion_pct=100)
    read_by_the_page = Experiment.objects.get(key="nbo-ab")  # draft, as this user's page showed it
    experiments.experiment_update(experiment=Experiment.objects.get(key="nbo-ab"), actor=analyst, status="active")
    monkeypatch.setattr(views.experiments, "experiment_get", lambda ref: read_by_the_page)
    client.force_login(analyst)
    response = client.post(reverse("registry:experiment-status", args=["nbo-ab"]), {"status": "paused"}, **HTMX)
    assert response.status_code == 200
    assert "Paused: Bayes against GBM waits until you resume it." in text(response)
    assert Experiment.objects.get(key="nbo-ab").status == "paused"


def test_a_draft_is_deleted_back_to_the_family_page(client, analyst, line_up):
    experiments.experiment_create(actor=analyst, key="nbo-ab", name="Bayes against GBM", family=FAMILY,
                                  champion_model_id="nbo-gbm", champion_pct=100)
    client.force_login(analyst)
    response = client.post(reverse("registry:experiment-delete", args=["nbo-ab"]), follow=True)
    assert response.redirect_chain[-1][0] == family_url() + "#experiments"
    assert "Deleted the draft experiment Bayes against GBM (nbo-ab)." in text(response)
    assert not Experiment.objects.filter(key="nbo-ab").exists()


@pytest.mark.parametrize("role", ["viewer", "reviewer"])
def test_viewers_and_reviewers_read_experiments_and_see_why_they_cannot_change_them(client, analyst, line_up, role,
                                                                                    request):
    user = request.getfixturevalue(role)
    experiments.experiment_create(actor=analyst, key="nbo-ab", name="Bayes against GBM", family=FAMILY,
                                  champion_model_id="nbo-gbm", champion_pct=80,
                                  challengers=[{"modelId": "nbo-bayes", "trafficPct": 20}])
    client.force_login(user)
    reason = f"Your role ({role}) cannot create experiments; analysts and admins can."
    family_page = client.get(family_url())
    assert create_url() not in post_forms(family_page)
    assert f"New experiment is unavailable: {reason}" in text(family_page)
    assert "Bayes against GBM nbo-ab draft" in text(family_page)

    page = client.get(page_url("nbo-ab"))
    change = f"Your role ({role}) cannot change, start or stop experiments; analysts and admins can."
    assert disabled_buttons(page) == ["Start", "Delete draft", "Save split and settings"]
    assert f"Start, Delete draft are unavailable: {change}" in text(page) and f"Read only. {change}" in text(page)
    assert re.search(r"<fieldset[^>]*\sdisabled", page.content.decode())

    posts = {create_url(): reason, reverse("registry:experiment-edit", args=["nbo-ab"]): change,
             reverse("registry:experiment-status", args=["nbo-ab"]): change,
             reverse("registry:experiment-delete", args=["nbo-ab"]): f"Your role ({role}) cannot delete experiments"}
    for url, said in posts.items():
        response = client.post(url, {**new_experiment(line_up, challenger=20), "status": "active"})
        assert response.status_code == 403 and said in text(response), url
    experiment = Experiment.objects.get(key="nbo-ab")
    assert experiment.status == "draft" and Experiment.objects.count() == 1


def test_an_unknown_experiment_or_family_is_404(client, analyst):
    client.force_login(analyst)
    assert client.get(page_url("nope")).status_code == 404
    assert client.post(reverse("registry:experiment-create", args=["nope"]), {}).status_code == 404


def test_a_running_experiment_shows_why_it_cannot_be_deleted(client, analyst, line_up):
    exp = experiments.experiment_create(actor=analyst, key="nbo-ab", name="Bayes against GBM", family=FAMILY,
                                        champion_model_id="nbo-gbm", champion_pct=100)
    experiments.experiment_update(experiment=exp, actor=analyst, status="active")
    client.force_login(analyst)
    page = text(client.get(reverse("registry:experiment-detail", args=["nbo-ab"])))
    said = experiments.delete_refusal(experiments.experiment_get("nbo-ab"))
    assert f"{said}." in page
    response = client.post(reverse("registry:experiment-delete", args=["nbo-ab"]), follow=True)
    assert f"{said}." in text(response) and Experiment.objects.filter(key="nbo-ab").exists()
    response = client.post(reverse("registry:experiment-status", args=["nbo-ab"]), {"status": "draft"}, follow=True)
    assert "Bayes against GBM is running and has assigned customers, so it cannot go back to draft" in text(response)
    assert experiments.experiment_get("nbo-ab").status == "active"

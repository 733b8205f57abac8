"""The page of one version, its notes, model card and artifact, and the page of one run (issue 17, points 1 and 3)."""

from __future__ import annotations

import json

import pytest
from django.urls import reverse

from lifecycle import selectors, services, trainers
from lifecycle.models import ModelEvent, ModelVersion
from tests.factories import PASSWORD, ready_model
from tests.lifecycle.test_pages import text

pytestmark = pytest.mark.django_db


def log_in(client, user):
    client.login(username=user.username, password=PASSWORD)
    return client


def version_url(model, n=1, name="version-detail", *extra):
    return reverse(f"lifecycle:{name}", args=[model.key, n, *extra])


def test_evaluation_curves_agree_with_the_counts_they_come_from():
    y = [1, 1, 1, 0, 0, 0, 0, 1]
    p = [0.9, 0.8, 0.35, 0.4, 0.1, 0.2, 0.55, 0.6]
    import numpy as np

    curves = trainers.evaluation_curves(np.array(y), np.array(p), {"developing": 40, "solid": 60, "strong": 80})
    assert curves["roc"][0] == {"x": 0.0, "y": 0.0, "threshold": 101}
    assert (curves["roc"][-1]["x"], curves["roc"][-1]["y"]) == (1.0, 1.0)
    strong = next(c for c in curves["confusion"] if c["tier"] == "strong")
    assert (strong["tp"], strong["fp"], strong["fn"], strong["tn"]) == (2, 0, 2, 4)  # scores 90 and 80
    developing = next(c for c in curves["confusion"] if c["tier"] == "developing")
    assert (developing["tp"], developing["fp"]) == (3, 2)  # 90, 80, 60 and the negatives 40, 55
    assert sum(curves["distribution"]["positives"]) == 4 and sum(curves["distribution"]["negatives"]) == 4
    assert sum(b["count"] for b in curves["calibration"]) == 8


def test_the_version_page_shows_how_it_was_trained_and_how_it_measured(client, analyst, capture):
    model = ready_model(analyst, capture)
    version = model.active_version
    response = log_in(client, analyst).get(version_url(model))
    assert response.status_code == 200
    page = text(response)
    for words in ("How it was trained", "Trigger Train by", "Effort High", "Parameters", "Evaluation of churn",
                  "ROC curve", "Precision and recall", "Calibration", "Scores of each class", "At each tier break",
                  "Developing", "Solid", "Strong", "Importance of each input", "Inputs of v1", "version.created"):
        assert words in page, words
    # The curves on the page are the stored ones, point for point.
    stored = ModelVersion.objects.get(pk=version.pk).evaluation["churn"]
    roc = json.loads(response.content.decode().split('id="roc-0" type="application/json">')[1].split("</script>")[0])
    assert roc["series"][0]["points"] == stored["roc"]
    for c in stored["confusion"]:
        assert f'data-tier="{c["tier"]}"' in response.content.decode()
    # The versions list and the runs table link here.
    versions = log_in(client, analyst).get(reverse("lifecycle:version-list", args=[model.key])).content.decode()
    assert f'href="{version_url(model)}"' in versions


def test_a_version_trained_before_curves_were_kept_says_so(client, analyst, capture):
    model = ready_model(analyst, capture)
    ModelVersion.objects.filter(model=model).update(evaluation={})
    page = text(log_in(client, analyst).get(version_url(model)))
    assert "not recorded" in page and "Retrain to record them" in page
    assert "AUC" in page  # the metrics are still there


def test_notes_are_saved_audited_and_kept_after_a_refusal(client, analyst, viewer, capture):
    model = ready_model(analyst, capture)
    log_in(client, analyst)
    response = client.post(version_url(model, 1, "version-notes"), {"notes": "Adds tenure; dropped the Q3 sample."},
                           follow=True)
    assert "Saved the notes of v1" in text(response)
    assert ModelVersion.objects.get(model=model).notes == "Adds tenure; dropped the Q3 sample."
    assert ModelEvent.objects.filter(model=model, action="version.described").exists()
    too_long = "x" * (services.VERSION_NOTES_MAX + 1)
    response = client.post(version_url(model, 1, "version-notes"), {"notes": too_long}, follow=True)
    assert "Notes are at most" in text(response)
    assert too_long in response.content.decode()  # what was typed is still in the box
    assert ModelVersion.objects.get(model=model).notes == "Adds tenure; dropped the Q3 sample."
    # A viewer reads the notes and cannot change them.
    client.logout()
    log_in(client, viewer)
    assert "Adds tenure" in text(client.get(version_url(model)))
    assert client.post(version_url(model, 1, "version-notes"), {"notes": "mine"}).status_code == 403


def test_model_card_downloads_as_html_and_json(client, analyst, capture):
    model = ready_model(analyst, capture)
    log_in(client, analyst)
    response = client.get(version_url(model, 1, "version-card", "json"))
    assert response.status_code == 200 and "attachment" in response["Content-Disposition"]
    card = json.loads(response.content)
    assert card["version"]["versionNo"] == 1 and card["trainingData"]["sampleCount"] == model.active_version.sample_count
    assert card["metrics"]["churn"]["auc"] == model.active_version.metrics["churn"]["auc"]
    assert card["evaluation"]["churn"]["roc"] and card["history"][0]["action"] == "version.created"
    response = client.get(version_url(model, 1, "version-card", "html"))
    page = text(response)
    assert response.status_code == 200 and "Model card" in page and "Intended use" in page and "Limits" in page
    assert client.get(version_url(model, 1, "version-card", "pdf")).status_code == 404


def test_the_artifact_downloads_for_analysts_only(client, analyst, viewer, capture):
    model = ready_model(analyst, capture)
    response = log_in(client, analyst).get(version_url(model, 1, "version-artifact"))
    assert response.status_code == 200
    assert bytes(response.content) == selectors.version_artifact(model.active_version)
    client.logout()
    log_in(client, viewer)
    assert "Download artifact" not in text(client.get(version_url(model)))
    assert client.get(version_url(model, 1, "version-artifact")).status_code == 403


def test_an_unknown_version_is_a_404(client, analyst, capture):
    model = ready_model(analyst, capture)
    assert log_in(client, analyst).get(version_url(model, 9)).status_code == 404


def test_the_run_page_shows_its_steps_timings_and_error(client, analyst, capture):
    model = ready_model(analyst, capture)
    run = model.runs.get()
    log_in(client, analyst)
    runs = client.get(reverse("lifecycle:run-list", args=[model.key])).content.decode()
    url = reverse("lifecycle:run-detail", args=[model.key, run.pk])
    assert f'href="{url}"' in runs
    assert f'href="{url}"' in client.get(reverse("lifecycle:model-detail", args=[model.key])).content.decode()
    page = text(client.get(url))
    assert f"Run {run.pk}" in page and "Steps and log" in page and "Created v1" in page
    assert "Loading samples" in page and "packaging" in page and " s " in page
    run.status, run.error = "failed", "Trait 'churn' has only one class"
    run.save(update_fields=["status", "error"])
    assert "Why it failed Trait 'churn' has only one class" in text(client.get(url))
    assert client.get(reverse("lifecycle:run-detail", args=[model.key, run.pk + 100])).status_code == 404


def test_the_api_gives_the_evaluation_the_notes_and_the_card(api, viewer_api, analyst, capture):
    model = ready_model(analyst, capture)
    base = f"/api/v1/algorithm-models/{model.key}/versions/v1"
    body = api.get(base).json()
    assert body["evaluation"]["churn"]["roc"] == ModelVersion.objects.get(model=model).evaluation["churn"]["roc"]
    assert body["notes"] == ""
    body = api.patch(base, {"notes": "Baseline."}, format="json").json()
    assert body["notes"] == "Baseline." and ModelVersion.objects.get(model=model).notes == "Baseline."
    refused = api.patch(base, {"notes": "x" * 5001}, format="json")
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "validation_error"
    assert api.patch(base, {"note": "typo"}, format="json").status_code == 400
    assert viewer_api.patch(base, {"notes": "mine"}, format="json").status_code == 403
    card = viewer_api.get(base + "/card").json()
    assert card["version"]["notes"] == "Baseline." and card["metrics"]["churn"]["auc"]
    assert api.get(f"/api/v1/algorithm-models/{model.key}/versions/v9/card").status_code == 404


def test_any_number_of_versions_compare_from_the_versions_list(client, analyst, capture):
    from tests.factories import train_now

    model = ready_model(analyst, capture)
    train_now(model, analyst, capture)
    train_now(model, analyst, capture)
    ModelVersion.objects.filter(model=model, version_no=1).update(evaluation={})  # trained before curves were kept
    for v in ModelVersion.objects.filter(model=model):  # v2 measured best
        v.metrics = {**v.metrics, "churn": {**v.metrics["churn"], "auc": 0.91 if v.version_no == 2 else 0.82}}
        v.save(update_fields=["metrics"])
    log_in(client, analyst)
    listing = client.get(reverse("lifecycle:version-list", args=[model.key])).content.decode()
    assert 'form="compare-form"' in listing and "Compare the ticked versions" in listing
    url = reverse("lifecycle:version-compare", args=[model.key])
    response = client.get(url + "?v=1&v=2&v=3")
    page = text(response).replace(" ,", ",")
    assert response.status_code == 200 and "Comparing v1, v2, v3" in page
    html = response.content.decode()
    assert 'data-version="2" class="is-active"' in html and html.count("best AUC") == 1
    for n in (1, 2, 3):
        assert f'data-version="{n}"' in html
    roc = json.loads(html.split('id="roc-0" type="application/json">')[1].split("</script>")[0])
    assert [s["name"].split()[0] for s in roc["series"]] == ["v2", "v3"]
    assert "No curve for v1: not recorded" in page
    assert "Pick at least two versions" in text(client.get(url + "?v=2"))
    assert client.get(url + "?v=2&v=9").status_code == 404
    assert client.get(url).status_code == 200  # the two-version comparison stays


def test_versions_of_a_family_compare_across_models(client, analyst, admin_user, capture):
    from registry import services as registry_services

    a = ready_model(analyst, capture, key="churn-a")
    b = ready_model(analyst, capture, key="churn-b")
    for m in (a, b):
        registry_services.model_set_status(model=m, actor=analyst, status="active")
        registry_services.model_promote(model=m, actor=admin_user, to_status="shadow", family="retention")
    log_in(client, analyst)
    family = client.get(reverse("registry:family-detail", args=["retention"])).content.decode()
    assert 'value="churn-a:1"' in family and "Compare the ticked versions" in family
    url = reverse("registry:family-compare", args=["retention"])
    page = text(client.get(url + "?v=churn-a:1&v=churn-b:1")).replace(" ,", ",")
    assert "Comparing churn-a v1, churn-b v1" in page
    assert client.get(url + "?v=churn-a:1&v=elsewhere:1").status_code == 404

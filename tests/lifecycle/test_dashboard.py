"""The dashboard, API tokens, charts, version comparison and error pages, through Django's test client."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from html import unescape

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from lifecycle import selectors, services, views
from lifecycle.core import views as core_views
from lifecycle.core.errors import ApplicationError
from lifecycle.models import AlgorithmModel, ApiToken, ModelEvent
from registry import services as registry_services
from tests.factories import add_samples, make_model, make_user, ready_model, train_now

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def text(response) -> str:
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def island(response, element_id: str):
    """The JSON a chart is drawn from (Django's json_script island)."""
    match = re.search(rf'<script id="{element_id}" type="application/json">(.*?)</script>', response.content.decode(),
                      re.S)
    assert match, f"no JSON island {element_id}"
    return json.loads(match.group(1))


@pytest.fixture
def served(analyst, capture):
    """churn-risk, trained twice (v1, v2), active and champion of the family "retention"."""
    model = ready_model(analyst, capture)
    train_now(model, analyst, capture)
    admin = make_user("admin", username="boss")
    registry_services.model_set_status(model=model, actor=analyst, status="active")
    for rung in ("shadow", "champion"):
        registry_services.model_promote(model=AlgorithmModel.objects.get(pk=model.pk), actor=admin, to_status=rung,
                                        family="retention")
    return AlgorithmModel.objects.get(pk=model.pk)


# ------------------------------------------------------------------------------------------- dashboard


def test_home_is_the_dashboard_and_every_count_links_to_its_filtered_list(client, analyst, served):
    make_model(analyst, key="draft-one")
    client.force_login(analyst)
    response = client.get(reverse("lifecycle:home"))
    assert response.status_code == 200
    html = response.content.decode()
    for field, value, count in (("state", "ready", 1), ("state", "draft", 1), ("status", "active", 1),
                                ("status", "draft", 1), ("registry_status", "champion", 1),
                                ("registry_status", "draft", 1), ("state", "failed", 0)):
        link = re.search(rf'<a href="/models/\?{field}={value}"[^>]*>.*?<strong class="count-value">(\d+)</strong>', html,
                         re.S)
        assert link and int(link.group(1)) == count, (field, value)
        listed = client.get(f"/models/?{field}={value}")
        assert listed.status_code == 200
        assert listed.context["page"].paginator.count == count, (field, value)
    # The bar charts carry the same numbers.
    assert {r["label"]: r["value"] for r in island(response, "chart-registry_status")["rows"]}["Champion"] == 1
    assert {r["label"]: r["value"] for r in island(response, "chart-state")["rows"]} == {
        "Draft": 1, "Busy": 0, "Ready": 1, "Failed": 0, "Archived": 0}


def test_models_list_filters_by_status_and_registry_status_in_the_form(client, analyst, served):
    make_model(analyst, key="draft-one")
    client.force_login(analyst)
    page = client.get(reverse("lifecycle:model-list"), {"status": "active", "registry_status": "champion"})
    assert [m.key for m in page.context["page"].object_list] == ["churn-risk"]
    assert 'name="status"' in page.content.decode() and 'name="registry_status"' in page.content.decode()
    assert [m.key for m in client.get("/models/?registry_status=draft").context["page"].object_list] == ["draft-one"]


def test_dashboard_shows_runs_in_flight_with_progress_and_polls_only_while_they_run(client, analyst, capture):
    model = make_model(analyst)
    add_samples(model, analyst)
    with capture(execute=False):
        run = services.model_train_enqueue(model=model, actor=analyst)
    client.force_login(analyst)
    page = client.get(reverse("lifecycle:home"))
    html = page.content.decode()
    assert 'id="dash-runs"' in html and 'hx-trigger="every 2s"' in html
    assert f"Train run {run.pk}" in text(page) and 'role="progressbar"' in html

    run.status, run.progress, run.started_at = "running", 40, timezone.now()
    run.save()
    polled = client.get(reverse("lifecycle:home-runs"), **HTMX)
    assert 'aria-valuenow="40"' in polled.content.decode() and "every 2s" in polled.content.decode()
    assert "HX-Trigger" not in polled

    run.status, run.progress, run.finished_at = "succeeded", 100, timezone.now()
    run.save()
    AlgorithmModel.objects.filter(pk=model.pk).update(state="draft")
    settled = client.get(reverse("lifecycle:home-runs"), **HTMX)
    assert "every 2s" not in settled.content.decode()  # the polling stops itself
    assert settled["HX-Trigger"] == "runsSettled"
    assert "Nothing is training right now" in text(settled)


def test_dashboard_lists_failed_runs_with_their_error(client, analyst, capture):
    # Labels of both classes, so the run is queued; no feature values, so the trainer refuses it.
    model = make_model(analyst, key="no-features")
    services.sample_add_batch(model=model, actor=analyst,
                              samples=[{"features": {"x": None}, "labels": {"churn": i % 2}} for i in range(12)])
    run = train_now(model, analyst, capture)
    assert run.status == "failed"
    client.force_login(analyst)
    page = text(client.get(reverse("lifecycle:home")))
    assert "Failed runs 1" in page and "no features or content to learn from" in page


def test_dashboard_shows_pending_reviews_families_champions_and_recent_changes(client, analyst, served, capture):
    other = ready_model(analyst, capture, key="churn-two")
    registry_services.model_set_status(model=other, actor=analyst, status="active")
    registry_services.model_promote(model=other, actor=analyst, to_status="challenger", family="retention")
    result = registry_services.model_promote(model=AlgorithmModel.objects.get(pk=other.pk), actor=analyst,
                                             to_status="champion", family="retention")
    assert not result.applied
    client.force_login(make_user("viewer"))
    page = client.get(reverse("lifecycle:home"))
    words = text(page)
    assert "Pending reviews 1" in words and f"Request #{result.request.pk}" in words
    assert re.search(r"retention 2 models churn-risk v2 (now|(\d+|a|an) (second|minute)s? ago)", words), words
    assert "Promotion requested" in words  # newest audit event first
    assert page.context["events"][0].action == ModelEvent.objects.first().action


def test_dashboard_flags_a_champion_that_has_not_trained_for_a_month(client, analyst, served):
    AlgorithmModel.objects.filter(pk=served.pk).update(last_trained_at=timezone.now() - timedelta(days=45))
    client.force_login(analyst)
    assert re.search(r"churn-risk v2 1 month(, \d+ weeks?)? ago stale", text(client.get("/")))


# ------------------------------------------------------------------------------------------- tokens


def test_a_user_creates_a_token_sees_the_key_once_and_then_only_its_prefix(client, viewer):
    client.force_login(viewer)
    response = client.post(reverse("lifecycle:token-create"), {"name": "nightly job", "expires_on": ""})
    assert response.status_code == 200
    key = re.search(r'value="(mlc_[^"]+)"', response.content.decode()).group(1)
    token = ApiToken.objects.get(user=viewer)
    assert token.key_hash == ApiToken.hash_key(key) and token.expires_at is None
    assert "shown only this once" in text(response) and response["Cache-Control"] == "no-store"
    again = client.get(reverse("lifecycle:tokens"))
    assert key not in again.content.decode() and token.prefix in again.content.decode()
    assert "nightly job" in text(again) and "never" in text(again)
    # The key works on the API.
    api = client_for_key(key)
    assert api.get("/api/v1/algorithm-models/").status_code == 200


def client_for_key(key):
    from rest_framework.test import APIClient

    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return api


def test_token_expiry_and_name_are_validated_inline(client, analyst):
    client.force_login(analyst)
    yesterday = (timezone.localdate() - timedelta(days=1)).isoformat()
    response = client.post(reverse("lifecycle:token-create"), {"name": "", "expires_on": yesterday})
    assert response.status_code == 400
    assert "This field is required" in text(response) and "Choose a day after today" in text(response)
    assert not ApiToken.objects.exists()
    later = (timezone.localdate() + timedelta(days=30)).isoformat()
    client.post(reverse("lifecycle:token-create"), {"name": "ci", "expires_on": later})
    token = ApiToken.objects.get()
    assert token.expires_at.date().isoformat() == later
    assert "until" in text(client.get(reverse("lifecycle:tokens")))


def test_the_tokens_page_shows_last_use_and_revokes_only_your_own_tokens(client, analyst, viewer):
    mine, _ = services.api_token_create(user=analyst, actor=analyst, name="mine")
    theirs, _ = services.api_token_create(user=viewer, actor=viewer, name="theirs")
    ApiToken.objects.filter(pk=mine.pk).update(last_used_at=timezone.now() - timedelta(hours=3))
    client.force_login(analyst)
    page = text(client.get(reverse("lifecycle:tokens")))
    assert "mine" in page and "3 hours ago" in page and "theirs" not in page
    assert client.post(reverse("lifecycle:token-revoke", args=[theirs.pk])).status_code == 404
    theirs.refresh_from_db()
    assert theirs.revoked_at is None
    response = client.post(reverse("lifecycle:token-revoke", args=[mine.pk]), follow=True)
    mine.refresh_from_db()
    assert mine.revoked_at is not None
    assert "Revoked mine" in text(response) and "revoked" in text(response)
    assert ModelEvent.objects.filter(action="token.revoked", actor=analyst).exists()


# ------------------------------------------------------------------------------------------- charts


def test_the_model_page_charts_metrics_per_trait_across_versions(client, analyst, served):
    client.force_login(analyst)
    response = client.get(reverse("lifecycle:model-detail", args=[served.key]))
    auc = island(response, "chart-auc")
    versions = list(served.versions.order_by("version_no"))
    assert [p["x"] for p in auc["series"][0]["points"]] == [1, 2]
    assert auc["series"][0]["name"] == "churn"
    assert auc["series"][0]["points"][1]["y"] == round(versions[1].metrics["churn"]["auc"], 4)
    loss = island(response, "chart-logloss")
    assert loss["series"][0]["points"][0]["y"] == round(versions[0].metrics["churn"]["logLoss"], 4)
    histogram = island(response, "chart-histogram")
    assert histogram["series"][0]["counts"] == served.active_version.metrics["churn"]["histogram"]["counts"]
    assert sum(histogram["series"][0]["counts"]) > 0
    assert 'data-chart="line"' in response.content.decode()
    assert reverse("lifecycle:version-compare", args=[served.key]) in response.content.decode()


def test_compare_shows_two_versions_side_by_side(client, analyst, served):
    client.force_login(analyst)
    response = client.get(reverse("lifecycle:version-compare", args=[served.key]), {"a": "1", "b": "v2"})
    assert response.status_code == 200
    words = text(response)
    assert "v1 (before) against v2 (after)" in words
    assert "Samples 80 80 0" in words and "Traits churn churn same" in words
    row = response.context["comparison"]["traits"][0]
    assert row["trait"] == "churn" and row["metrics"][0]["name"] == "auc" and row["metrics"][0]["delta"] is not None
    chart = island(response, "hist-0")
    assert [s["label"] for s in chart["series"]] == ["v1", "v2"] and all(s["counts"] for s in chart["series"])
    assert "Top predictors" in words and response.context["comparison"]["predictors"][0]["a"]
    assert client.get(reverse("lifecycle:version-compare", args=[served.key]), {"a": "9"}).status_code == 404


def test_compare_with_one_version_says_there_is_nothing_to_compare(client, analyst, capture):
    model = ready_model(analyst, capture)
    client.force_login(analyst)
    assert "nothing to compare yet" in text(client.get(reverse("lifecycle:version-compare", args=[model.key])))


def test_version_comparison_selector_names_added_and_dropped_traits(analyst, served):
    a, b = served.versions.order_by("version_no")
    a.trait_keys = ["churn", "legacy"]
    result = selectors.version_comparison(model=served, a=a, b=b)
    assert result["trait_keys"]["only_a"] == ["legacy"] and result["trait_keys"]["only_b"] == []


# ------------------------------------------------------------------------------------------- errors


def test_error_pages_are_in_the_products_look_with_debug_off(client, settings, viewer, analyst):
    settings.DEBUG = False
    model = make_model(analyst)
    client.force_login(viewer)
    missing = client.get("/models/no-such-model/")
    assert missing.status_code == 404
    assert "Not found" in text(missing) and "No model with id or key 'no-such-model'" in text(missing)
    assert 'class="topbar"' in missing.content.decode()
    refused = client.post(reverse("lifecycle:model-train", args=[model.key]))
    assert refused.status_code == 403 and "Your role (viewer) cannot do this" in text(refused)
    fragment = client.get("/models/no-such-model/", **HTMX)
    assert fragment.status_code == 404 and fragment.content.decode().startswith('<div class="flash flash-error"')


def test_the_500_and_409_pages_explain_what_to_do(viewer):
    request = RequestFactory().get("/")
    request.user = viewer
    request.htmx = False
    broken = core_views.server_error(request)
    assert broken.status_code == 500 and b"Something went wrong on our side" in broken.content
    clash = core_views.conflict(request, ApplicationError("Run 3 (train) is already running", code="run_in_flight",
                                                    status=409))
    assert clash.status_code == 409
    assert b"Run 3 (train) is already running" in clash.content and b"Reload it and try again" in clash.content


def test_every_page_loads_the_htmx_error_listener(client, analyst):
    client.force_login(analyst)
    html = client.get(reverse("lifecycle:tokens")).content.decode()
    assert "js/htmx-errors.js" in html and 'id="flash-area"' in html and "css/dashboard.css" in html


def test_the_navigation_marks_the_page_you_are_on(client, analyst):
    client.force_login(analyst)
    current = re.compile(r'<a href="([^"]+)" aria-current="page">')
    assert current.findall(client.get(reverse("lifecycle:home")).content.decode()) == ["/"]
    assert current.findall(client.get(reverse("lifecycle:tokens")).content.decode()) == ["/tokens/"]
    created = client.post(reverse("lifecycle:token-create"), {"name": "x"})
    assert current.findall(created.content.decode()) == ["/tokens/"]
    assert current.findall(client.get(reverse("lifecycle:model-list")).content.decode()) == ["/models/"]


def test_a_continuously_learning_champion_ages_by_its_last_response(client, admin_user, analyst, catalog_for_dashboard):
    from scoring import services as scoring
    from tests.scoring.conftest import live_model

    live_model(admin_user, key="nbo", model_type="bayesian")
    client.force_login(analyst)
    assert re.search(r"offers 1 model nbo v1 never", text(client.get("/")))  # snapshotted, nothing learned yet
    rec = scoring.recommend(actor=analyst, customer_id="c1", family="offers")
    scoring.respond(actor=analyst, idempotency_key="k1", customer_id="c1", outcome="convert",
                    recommendation_id=rec.recommendation_id, rank=1)
    assert re.search(r"offers 1 model nbo v1 (now|(\d+|a) seconds? ago) learned from a response", text(client.get("/")))


@pytest.fixture
def catalog_for_dashboard(db):
    from tests.scoring.conftest import make_catalog

    return make_catalog()

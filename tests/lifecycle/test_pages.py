"""The pages, through Django's test client: what a person sees and can do on each one."""

from __future__ import annotations

import csv
import io
import re
from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from lifecycle import services
from lifecycle.models import AlgorithmModel, Sample, TrainingRun
from tests.factories import PASSWORD, add_samples, make_model, ready_model, sample_rows

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def text(response) -> str:
    """The words on the page, as a reader sees them: no tags, entities decoded, whitespace collapsed."""
    html = response.content.decode()
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", html, flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def detail_url(model) -> str:
    return reverse("lifecycle:model-detail", args=[model.key])


# --------------------------------------------------------------------------------------------- access


def test_anonymous_users_are_sent_to_log_in(client, analyst):
    model = make_model(analyst)
    for url in (reverse("lifecycle:model-list"), detail_url(model), reverse("lifecycle:model-create")):
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login")) and "next=" in response["Location"]
    response = client.post(reverse("lifecycle:model-train", args=[model.key]))
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    model.refresh_from_db()
    assert model.state == "draft"


def test_logging_in_through_the_form(client, analyst):
    page = client.get(reverse("login"))
    assert page.status_code == 200
    assert "Username" in text(page) and "Password" in text(page)

    wrong = client.post(reverse("login"), {"username": "analyst", "password": "not-it"})
    assert wrong.status_code == 200
    assert "didn't match" in text(wrong)

    response = client.post(reverse("login"), {"username": "analyst", "password": PASSWORD}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("lifecycle:home")  # the dashboard
    assert "Models" in text(response) and "analyst" in text(response)

    to_next = client.post(reverse("login") + "?next=/models/new/",
                          {"username": "analyst", "password": PASSWORD, "next": "/models/new/"})
    assert to_next["Location"] == "/models/new/"


# --------------------------------------------------------------------------------------------- list


def test_models_list_shows_each_model_with_its_state_and_counts(as_analyst, analyst, capture):
    ready_model(analyst, capture, key="churn-risk")
    make_model(analyst, key="support-tone", traits=("polite",))
    page = text(as_analyst.get(reverse("lifecycle:model-list")))
    assert "Churn Risk" in page and "Support Tone" in page
    assert "All 2" in page and "Ready 1" in page and "Draft 1" in page and "Failed 0" in page
    assert "v1" in page and "nothing yet" in page
    assert "2 models" in page
    assert "New model" in page


def test_models_list_filters_by_state_and_search(as_analyst, analyst, capture):
    ready_model(analyst, capture, key="churn-risk")
    make_model(analyst, key="support-tone", traits=("polite",))
    make_model(analyst, key="upsell-offers", traits=("upsell",))

    ready = text(as_analyst.get(reverse("lifecycle:model-list"), {"state": "ready"}))
    assert "Churn Risk" in ready and "Support Tone" not in ready and "Upsell Offers" not in ready
    assert "1 model matches" in ready

    found = text(as_analyst.get(reverse("lifecycle:model-list"), {"search": "UPSELL"}))
    assert "Upsell Offers" in found and "Churn Risk" not in found and "Support Tone" not in found

    both = text(as_analyst.get(reverse("lifecycle:model-list"), {"search": "upsell", "state": "ready"}))
    assert "No models match this filter" in both and "Show all models" in both


def test_models_list_answers_htmx_with_the_results_only(as_analyst, analyst):
    make_model(analyst, key="churn-risk")
    make_model(analyst, key="support-tone", traits=("polite",))

    response = as_analyst.get(reverse("lifecycle:model-list"), {"search": "tone"}, **HTMX)
    html = response.content.decode()
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="results"')
    assert "<html" not in html and "Log out" not in html and "Search" not in text(response)
    assert "Support Tone" in text(response) and "Churn Risk" not in text(response)

    # A boosted request or a history restore after a cache miss needs the whole page.
    restore = as_analyst.get(reverse("lifecycle:model-list"), {"search": "tone"}, HTTP_HX_HISTORY_RESTORE_REQUEST="true",
                             **HTMX)
    assert "<html" in restore.content.decode() and "Support Tone" in text(restore)


# --------------------------------------------------------------------------------------------- create


def test_creating_a_model_through_the_form(as_analyst):
    response = as_analyst.post(reverse("lifecycle:model-create"), {
        "key": "support-tone", "name": "Support tone", "model_type": "logistic_regression",
        "description": "Is a message polite?"}, follow=True)
    assert response.redirect_chain[-1][0] == "/models/support-tone/"
    page = text(response)
    assert "Created support-tone" in page
    assert "Support tone" in page and "Draft" in page and "Logistic regression" in page and "Is a message polite?" in page
    # One checklist, the path to live: its Trained step says what the draft still needs (no second list).
    assert page.count("Define at least one trait") == 1 and "Before the first train" not in page
    live = page[page.index("Path to live"):]
    assert "Define at least one trait" in live and "Train it: the first successful run makes the model scorable" in live
    assert AlgorithmModel.objects.get(key="support-tone").created_by.username == "analyst"


def test_a_duplicate_key_is_refused_on_the_form(as_analyst, analyst):
    make_model(analyst, key="churn-risk")
    response = as_analyst.post(reverse("lifecycle:model-create"), {
        "key": "churn-risk", "name": "Another", "model_type": "scorecard"})
    assert response.status_code == 200
    page = text(response)
    assert "The model was not created" in page
    assert "A model with key 'churn-risk' already exists; choose another key" in page
    assert 'value="Another"' in response.content.decode()  # what was typed stays
    assert AlgorithmModel.objects.filter(key="churn-risk").count() == 1


def test_the_create_form_names_missing_fields(as_analyst):
    page = text(as_analyst.post(reverse("lifecycle:model-create"), {"key": "", "name": "", "model_type": "scorecard"}))
    assert page.count("This field is required.") == 2
    assert not AlgorithmModel.objects.exists()


# --------------------------------------------------------------------------------------------- detail


def test_detail_shows_state_traits_samples_runs_versions_and_timeline(as_analyst, analyst, capture):
    model = ready_model(analyst, capture)
    auc = model.active_version.metrics["churn"]["auc"]
    positives = sum(1 for r in sample_rows(80) if r["labels"]["churn"] == "positive")

    response = as_analyst.get(detail_url(model))
    assert response.status_code == 200
    page = text(response)
    assert "Churn Risk Ready" in page
    assert "Serving v1" in page
    assert "Traits 1" in page and f"churn extrinsic {positives} {80 - positives}" in page
    assert "Samples 80" in page and "Showing the 10 newest of 80" in page
    assert "churn: positive" in page or "churn: negative" in page
    assert "tenure=" in page
    assert "Train run" in page and "succeeded" in page and "Created v1" in page
    assert "v1 serving" in page and f"{auc:.3f}" in page
    assert "Model created" in page and "Samples added" in page and "Version created busy → ready" in page
    assert "by analyst" in page and "by worker" in page
    assert "Retrain" in page
    assert "trait set is fixed since the first successful train" in page


def test_an_unknown_model_is_a_404_page(as_analyst):
    response = as_analyst.get("/models/no-such-model/")
    assert response.status_code == 404
    assert "No model with id or key 'no-such-model'" in text(response)


def test_a_failed_run_shows_its_reason_and_what_to_do(as_analyst, analyst, capture):
    # Enough labels of each class to be queued, but text alone, which a scorecard cannot bin: the worker refuses.
    model = make_model(analyst, model_type="scorecard")
    services.sample_add_batch(model=model, actor=analyst, samples=[
        {"content": f"note {i}", "labels": {"churn": "positive" if i % 2 else "negative"}} for i in range(12)])
    with capture(execute=True):
        services.model_train_enqueue(model=model, actor=analyst)
    page = text(as_analyst.get(detail_url(model)))
    assert "Failed" in page
    assert "The run failed:" in page and "free text alone cannot be binned" in page
    assert "The definition is kept" in page


def test_train_is_disabled_with_the_services_reason_until_each_class_has_enough_samples(as_analyst, analyst):
    model = make_model(analyst)
    services.sample_add_batch(model=model, actor=analyst, samples=[
        {"features": {"spend": i}, "labels": {"churn": "positive"}} for i in range(12)])
    reason = ("Not enough labelled samples to train: trait 'churn' has 12 positive and 0 negative samples; add at "
              "least 2 of each.")
    html = as_analyst.get(detail_url(model)).content.decode()
    assert re.search(r'<button class="btn btn-primary" type="submit" +disabled aria-describedby="why-train-main">'
                     r'Train</button>', html)
    assert reason in text(as_analyst.get(detail_url(model)))
    assert "missing for churn" in text(as_analyst.get(detail_url(model)))
    # The path-to-live card's own Train button says the same.
    assert re.search(r'disabled aria-describedby="why-train">Train now</button>\s*<span class="why" id="why-train">'
                     + re.escape(reason.replace("'", "&#x27;")), html)
    # The same sentence is the refusal of a post that goes around the disabled button, and nothing is queued.
    page = text(as_analyst.post(reverse("lifecycle:model-train", args=[model.key]), follow=True))
    assert f"Refused: {reason}" in page
    assert not model.runs.exists()

    services.sample_add_batch(model=model, actor=analyst, samples=[
        {"features": {"spend": i}, "labels": {"churn": "negative"}} for i in range(2)])
    html = as_analyst.get(detail_url(model)).content.decode()
    assert 'aria-describedby="why-train-main"' not in html and "Not enough labelled samples" not in html


# --------------------------------------------------------------------------------------------- writes


def test_adding_a_trait_through_the_form(as_analyst, analyst):
    model = make_model(analyst, traits=())
    response = as_analyst.post(reverse("lifecycle:trait-add", args=[model.key]), {
        "name": "Will churn", "description": "Cancels within 60 days", "positive_label": "churns",
        "negative_label": "stays"}, follow=True)
    page = text(response)
    assert "Trait Will churn saved." in page
    assert "Will churn will_churn" in page and "Cancels within 60 days" in page
    assert model.traits.get().negative_label == "stays"


def test_a_trait_without_a_name_is_refused_in_place(as_analyst, analyst):
    model = make_model(analyst, traits=())
    page = text(as_analyst.post(reverse("lifecycle:trait-add", args=[model.key]), {"name": ""}, follow=True))
    assert "Refused: A trait needs a name." in page
    assert not model.traits.exists()


def test_adding_a_sample_through_the_form(as_analyst, analyst):
    model = make_model(analyst)
    response = as_analyst.post(reverse("lifecycle:sample-add", args=[model.key]), {
        "content": "please cancel my plan", "features": '{"tenure": 3, "plan": "basic"}', "trait": "churn",
        "label": "positive"}, follow=True)
    page = text(response)
    assert "Sample added." in page
    assert "Samples 1" in page and "please cancel my plan" in page and "tenure=3" in page and "plan=basic" in page
    sample = Sample.objects.get(model=model)
    assert sample.features == {"tenure": 3, "plan": "basic"} and sample.labels == {"churn": 1.0}


def test_a_sample_with_bad_features_is_refused_with_the_reason(as_analyst, analyst):
    model = make_model(analyst)
    page = text(as_analyst.post(reverse("lifecycle:sample-add", args=[model.key]), {
        "content": "x", "features": "{not json", "trait": "churn", "label": "positive"}, follow=True))
    assert "Refused: Features (JSON object): Not valid JSON" in page
    assert not Sample.objects.filter(model=model).exists()


def csv_file(rows, name="samples.csv"):
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["content", "tenure", "plan", "label.churn"])
    for r in rows:
        writer.writerow([r["content"], r["features"]["tenure"], r["features"]["plan"], r["labels"]["churn"]])
    return SimpleUploadedFile(name, out.getvalue().encode(), content_type="text/csv")


def test_uploading_a_csv_through_the_page(as_analyst, analyst):
    model = make_model(analyst)
    url = reverse("lifecycle:sample-upload", args=[model.key])
    preview = as_analyst.post(url, {"file": csv_file(sample_rows(30)), "step": "preview"})
    assert "Preview: 30 samples from samples.csv" in text(preview)
    assert not Sample.objects.filter(model=model).exists()
    digest = re.search(r'name="previewed" value="([0-9a-f]{64})"', preview.content.decode()).group(1)
    response = as_analyst.post(url, {"file": csv_file(sample_rows(30)), "previewed": digest, "step": "store"},
                               follow=True)
    assert response.redirect_chain[-1][0].endswith("#samples")
    page = text(response)
    assert "Stored 30 samples from samples.csv." in page
    assert "Samples 30" in page
    assert Sample.objects.filter(model=model).count() == 30


def test_a_bad_csv_stores_nothing_and_names_the_lines(as_analyst, analyst):
    model = make_model(analyst)
    body = b"content,label.churn\nok,positive\nbad,maybe\nworse,42\n"
    url = reverse("lifecycle:sample-upload", args=[model.key])
    preview = as_analyst.post(url, {"file": SimpleUploadedFile("bad.csv", body, content_type="text/csv")})
    page = text(preview)
    assert "2 lines refused; nothing is stored until the file is fixed." in page
    assert "line 3: label for 'churn': 'maybe' is not a label" in page
    assert "line 4: label for 'churn': 42 is outside [0, 1]" in page
    assert re.search(r'<button class="btn btn-primary" type="submit" name="step" value="store" disabled',
                     preview.content.decode())
    digest = re.search(r'name="previewed" value="([0-9a-f]{64})"', preview.content.decode()).group(1)
    # Storing anyway (around the disabled button) is refused by the service with the same lines.
    page = text(as_analyst.post(url, {"file": SimpleUploadedFile("bad.csv", body, content_type="text/csv"),
                                      "previewed": digest, "step": "store"}, follow=True))
    assert "Refused: 2 line(s) of the file are refused; nothing was stored." in page
    assert "line 3" in page and "line 4" in page
    assert not Sample.objects.filter(model=model).exists()


def test_a_refused_action_shows_the_services_message_on_the_page(as_analyst, analyst, capture):
    model = ready_model(analyst, capture)
    detail = text(as_analyst.get(detail_url(model)))
    assert "Add a trait" not in detail and "Upload samples" not in detail  # the page offers no refused action

    response = as_analyst.post(reverse("lifecycle:trait-add", args=[model.key]), {
        "name": "upsell", "positive_label": "positive", "negative_label": "negative"}, follow=True)
    assert response.status_code == 200
    page = text(response)
    assert "Refused: Traits can change only before the first successful train; this model is ready" in page
    assert list(model.traits.values_list("key", flat=True)) == ["churn"]


def test_training_twice_shows_the_run_in_flight(as_analyst, analyst):
    model = make_model(analyst)
    add_samples(model, analyst)
    first = as_analyst.post(reverse("lifecycle:model-train", args=[model.key]), {"effort": "low"}, follow=True)
    assert "Training started." in text(first)
    run = model.runs.get()
    second = text(as_analyst.post(reverse("lifecycle:model-train", args=[model.key]), {"effort": "low"}, follow=True))
    assert f"Refused: Run {run.pk} (train) is already queued on this model" in second
    assert model.runs.count() == 1


def test_editing_name_and_description(as_analyst, analyst):
    model = make_model(analyst)
    page = text(as_analyst.post(reverse("lifecycle:model-edit", args=[model.key]),
                                {"name": "Churn (v2 data)", "description": "Now with notes"}, follow=True))
    assert "Saved." in page and "Churn (v2 data)" in page and "Now with notes" in page


# --------------------------------------------------------------------------------------------- progress


def test_progress_polls_while_busy_and_tells_the_page_when_the_run_ends(as_analyst, analyst, capture):
    model = make_model(analyst)
    add_samples(model, analyst)
    url = reverse("lifecycle:model-progress", args=[model.key])
    with capture(execute=False) as callbacks:  # queued, but the worker has not run it yet
        run = services.model_train_enqueue(model=model, actor=analyst)

    busy = as_analyst.get(url, **HTMX)
    assert busy.status_code == 200 and "HX-Trigger" not in busy
    assert 'hx-trigger="every 1s"' in busy.content.decode()
    assert f"Train run {run.pk} queued" in text(busy)
    page = as_analyst.get(detail_url(model))
    assert 'role="progressbar"' in page.content.decode() and "Run in flight" in text(page)

    services.run_execute(run_id=run.pk)
    done = as_analyst.get(url, **HTMX)
    assert done["HX-Trigger"] == "runFinished"
    assert 'hx-trigger="every' not in done.content.decode()
    assert "succeeded" in text(done) and "Created v1" in text(done)
    assert len(callbacks) == 1


def test_progress_shows_the_percentage_while_running(as_analyst, analyst):
    model = make_model(analyst)
    add_samples(model, analyst)
    run = services.model_train_enqueue(model=model, actor=analyst)
    TrainingRun.objects.filter(pk=run.pk).update(status="running", progress=42, message="training trait 'churn' (1/1)")
    response = as_analyst.get(reverse("lifecycle:model-progress", args=[model.key]), **HTMX)
    page = text(response)
    assert "running" in page and "42%" in page and "training trait 'churn' (1/1)" in page
    assert 'aria-valuenow="42"' in response.content.decode()
    # The runs table comes along (hx-select-oob="#runs"), so its row says running too, not queued.
    runs = re.search(r'<section id="runs".*?</section>', response.content.decode(), re.S).group(0)
    assert f'aria-label="Run {run.pk}">{run.pk}</a></td>' in runs and "badge-run-running" in runs and "badge-run-queued" not in runs
    assert 'hx-select-oob="#runs"' in response.content.decode()
    assert "The model becomes scorable when this run succeeds" in page


# --------------------------------------------------------------------------------------------- viewer


def test_a_viewer_sees_no_write_controls(as_viewer, analyst, capture):
    ready = ready_model(analyst, capture)
    draft = make_model(analyst, key="support-tone", traits=("polite",))
    listing = text(as_viewer.get(reverse("lifecycle:model-list")))
    assert "New model" not in listing and "Churn Risk" in listing
    for model in (ready, draft):
        response = as_viewer.get(detail_url(model))
        page = text(response)
        assert "Read only. Your role (viewer) can look at this model but not change it." in page
        for offer in ("Add a trait", "Upload samples", "Add one sample", "Edit name and description"):
            assert offer not in page
        html = response.content.decode()
        assert [unescape(b).strip() for b in re.findall(r"<button[^>]*>(.*?)</button>", html, flags=re.S)] == ["Menu", "Log out"]
        assert not re.search(r"<(select|textarea)\b", html)
        assert re.findall(r'<form[^>]*method="post"[^>]*action="([^"]+)"', html) == [reverse("logout")]


def test_a_viewer_post_is_403_with_the_reason(as_viewer, analyst):
    model = make_model(analyst)
    add_samples(model, analyst)
    for name, data in (("model-train", {}), ("trait-add", {"name": "x"}), ("model-archive", {})):
        response = as_viewer.post(reverse(f"lifecycle:{name}", args=[model.key]), data)
        assert response.status_code == 403, name
        assert "Your role (viewer) cannot do this; analysts and admins can." in text(response)
    assert as_viewer.get(reverse("lifecycle:model-create")).status_code == 403
    model.refresh_from_db()
    assert model.state == "draft" and model.traits.count() == 1


def test_a_viewer_htmx_post_gets_the_reason_as_a_fragment(as_viewer, analyst):
    model = make_model(analyst)
    response = as_viewer.post(reverse("lifecycle:model-train", args=[model.key]), **HTMX)
    assert response.status_code == 403
    assert "<html" not in response.content.decode()
    assert "Not allowed. Your role (viewer) cannot do this" in text(response)

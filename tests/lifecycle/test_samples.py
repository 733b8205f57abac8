"""Samples in and out of a draft, and what training needs before it queues: the upload's summary (API and page
preview), the removal of samples by id, upload or filter, and the train checks with their reasons."""

from __future__ import annotations

import re
from html import unescape

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from lifecycle import selectors, services, uploads
from lifecycle.models import ModelEvent, Sample, Trait, TrainingRun
from tests.factories import add_samples, make_model, ready_model

pytestmark = pytest.mark.django_db

MODELS = "/api/v1/algorithm-models"
# A semicolon file as a spreadsheet exports it: an unknown label key (upsell), rows without labels, a text column.
SEMICOLON = ("tenure;plan;content;label.churn;label.upsell\n"
             "3;basic;cancel please;positive;yes\n"
             "40;pro;love it;negative;\n"
             "12;plus;;;no\n"
             "7;basic;;;\n"
             "25;pro;fine;no;\n")


def error_of(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()["error"]
    assert body["code"] == code and body["status"] == status and body["message"]
    return body


def upload(api, key, name, body, query=""):
    return api.post(f"{MODELS}/{key}/samples/upload{query}",
                    {"file": SimpleUploadedFile(name, body.encode() if isinstance(body, str) else body)},
                    format="multipart")


def text(response) -> str:
    html = re.sub(r"<(script|style)\b.*?</\1>", " ", response.content.decode(), flags=re.S)
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


def events(model, action):
    return list(ModelEvent.objects.filter(model_id=model.pk, action=action))


# --------------------------------------------------------------------------------------------- upload: API


def test_a_semicolon_file_is_read_column_by_column(api, analyst):
    model = make_model(analyst, key="up")
    r = upload(api, "up", "s.csv", SEMICOLON)
    assert r.status_code == 201, r.content
    body = r.json()
    assert body["stored"] is True and body["count"] == 5 and body["unknownLabelKeys"] == ["upsell"]
    summary = body["summary"]
    assert summary["delimiter"] == "semicolon" and summary["format"] == "csv"
    assert summary["features"] == [{"name": "tenure", "kind": "number", "filled": 5},
                                   {"name": "plan", "kind": "text", "filled": 5}]
    first = Sample.objects.filter(model=model).order_by("id").first()
    assert first.features == {"tenure": 3, "plan": "basic"} and first.content == "cancel please"
    assert first.labels == {"churn": 1.0, "upsell": 1.0}


def test_a_tab_separated_file_and_a_comma_in_a_quoted_header_cell():
    assert uploads.detect_delimiter("tenure\tplan\tlabel.churn\n") == "\t"
    assert uploads.detect_delimiter('"spend, in EUR",plan\n') == ","
    assert uploads.detect_delimiter("content\n") == ","
    read = uploads.read(b"a\tb\tlabel.churn\n1\tx\tpositive\n", "csv")
    assert read.columns == ["a", "b"] and read.rows == [{"labels": {"churn": "positive"},
                                                         "features": {"a": 1, "b": "x"}}]


def test_dry_run_returns_the_summary_and_stores_nothing(api, analyst):
    model = make_model(analyst, key="up")
    add_samples(model, analyst, n=10)
    before = ModelEvent.objects.count()
    r = upload(api, "up", "s.csv", SEMICOLON, "?dryRun=true")
    assert r.status_code == 200, r.content
    body = r.json()
    assert body["stored"] is False and body["ids"] == [] and body["count"] == 0 and body["requestId"] is None
    summary = body["summary"]
    assert summary["rows"] == 5 and summary["textRows"] == 3
    churn = summary["traits"][0]
    existing = {t.key: t for t in selectors.trait_list(model=model)}["churn"]
    assert (churn["key"], churn["positive"], churn["negative"]) == ("churn", 1, 2)
    assert (churn["positiveAfter"], churn["negativeAfter"]) == (existing.positive_samples + 1,
                                                                existing.negative_samples + 2)
    assert summary["unknownLabelKeys"] == [{"key": "upsell", "rows": 2}]
    assert summary["rowsWithoutLabels"] == 1
    assert summary["refused"] == [] and summary["refusedCount"] == 0
    assert any("discovery uses them, training does not" in w for w in summary["warnings"])
    assert any("upsell (2 rows)" in w for w in summary["warnings"])
    assert Sample.objects.filter(model=model).count() == 10
    assert ModelEvent.objects.count() == before


def test_dry_run_lists_refused_lines_and_the_real_upload_refuses_with_the_same_summary(api, analyst):
    model = make_model(analyst, key="up")
    body = "content;label.churn\nok;positive\nbad;maybe\nalso;ok;extra\nfine;negative\n"
    r = upload(api, "up", "s.csv", body, "?dryRun=1")
    assert r.status_code == 200
    summary = r.json()["summary"]
    assert summary["rows"] == 2 and summary["refusedCount"] == 2
    assert summary["refused"] == [
        {"line": 3, "reason": "label for 'churn': 'maybe' is not a label; use \"positive\", \"negative\" or a "
                              "number in [0, 1]"},
        {"line": 4, "reason": "3 cells for 2 columns"}]
    r = upload(api, "up", "s.csv", body)
    error = error_of(r, 400, "validation_error")
    assert error["message"].startswith("2 line(s) of the file are refused; nothing was stored. First: line 3")
    assert error["details"]["errors"][1] == "line 4: 3 cells for 2 columns"
    assert error["details"]["summary"] == summary
    assert not Sample.objects.filter(model=model).exists()


def test_labels_that_name_no_trait_and_a_file_without_labels_are_said(api, analyst):
    make_model(analyst, key="up")
    summary = upload(api, "up", "s.csv", "tenure,label.upsell\n1,yes\n2,no\n", "?dryRun=true").json()["summary"]
    assert summary["traits"][0]["positive"] == summary["traits"][0]["negative"] == 0
    assert "No row carries a label for any of this model's traits." in summary["warnings"]
    assert any(w.startswith("2 row(s) are labelled only for keys that match no trait") for w in summary["warnings"])
    summary = upload(api, "up", "s.csv", "tenure,plan\n1,a\n2,b\n", "?dryRun=true").json()["summary"]
    assert summary["rowsWithoutLabels"] == 2
    assert "2 of 2 row(s) carry no label: discovery uses them, training does not." in summary["warnings"]


def test_dry_run_takes_true_or_false_and_refuses_a_model_that_is_no_draft(api, analyst, capture):
    make_model(analyst, key="up")
    assert error_of(upload(api, "up", "s.csv", SEMICOLON, "?dryRun=maybe"), 400,
                    "validation_error")["details"] == {"field": "dryRun"}
    assert upload(api, "up", "s.csv", SEMICOLON, "?dryRun=false").status_code == 201
    model = ready_model(analyst, capture, key="live")
    error = error_of(upload(api, "live", "s.csv", SEMICOLON, "?dryRun=true"), 409, "draft_only")
    assert error["message"].startswith("Explicit samples can change only before the first successful train")
    assert Sample.objects.filter(model=model).count() == 80


def test_the_upload_answers_its_request_id_and_removing_by_it_removes_that_upload_only(api, analyst):
    model = make_model(analyst, key="up")
    add_samples(model, analyst, n=6)
    first = upload(api, "up", "a.csv", SEMICOLON).json()
    second = upload(api, "up", "b.csv", "content,label.churn\nx,positive\n").json()
    assert first["requestId"] and first["requestId"] != second["requestId"]
    assert set(Sample.objects.filter(request_id=first["requestId"]).values_list("id", flat=True)) == set(first["ids"])
    r = api.post(f"{MODELS}/up/samples/delete", {"requestId": first["requestId"]}, format="json")
    assert r.status_code == 200 and r.json() == {"removed": 5, "remaining": 7}
    assert not Sample.objects.filter(pk__in=first["ids"]).exists()
    assert Sample.objects.filter(pk__in=second["ids"]).count() == 1
    error = error_of(api.post(f"{MODELS}/up/samples/delete", {"requestId": first["requestId"]}, format="json"),
                     404, "not_found")
    assert first["requestId"] in error["message"]


# --------------------------------------------------------------------------------------------- removal: API


def test_removing_one_sample_of_a_draft_counts_it_out_with_one_audit_row(api, analyst):
    model = make_model(analyst, key="m")
    add_samples(model, analyst, n=10)
    churn = {t.key: t for t in selectors.trait_list(model=model)}["churn"]
    sample = Sample.objects.filter(model=model, labels__churn__gte=0.5).first()
    r = api.delete(f"{MODELS}/m/samples/{sample.pk}")
    assert r.status_code == 204
    assert not Sample.objects.filter(pk=sample.pk).exists()
    after = {t.key: t for t in selectors.trait_list(model=model)}["churn"]
    assert after.positive_samples == churn.positive_samples - 1
    (event,) = events(model, "samples.removed")
    assert event.data["count"] == 1 and event.data["by"] == "ids" and event.data["ids"] == [sample.pk]
    assert event.actor_name == analyst.username
    error = error_of(api.delete(f"{MODELS}/m/samples/{sample.pk}"), 404, "not_found")
    assert error["details"] == {"missing": [sample.pk]}


def test_a_sample_id_past_the_database_s_range_is_missing_not_an_error(api, analyst):
    make_model(analyst, key="m")
    add_samples(make_model(analyst, key="n"), analyst, n=2)  # samples of another model stay
    huge = 10**20
    error = error_of(api.delete(f"{MODELS}/m/samples/{huge}"), 404, "not_found")
    assert error["details"] == {"missing": [huge]}
    assert api.delete(f"{MODELS}/m/samples/{'9' * 5000}").status_code == 404
    r = api.post(f"{MODELS}/m/samples/delete", {"ids": [1, huge]}, format="json")
    assert r.status_code == 404 and r.json()["error"]["details"]["missing"] == [1, huge]
    assert Sample.objects.count() == 2


def test_removing_by_ids_is_all_or_nothing(api, analyst):
    model = make_model(analyst, key="m")
    ids = add_samples(model, analyst, n=5).ids
    other = add_samples(make_model(analyst, key="other"), analyst, n=1).ids
    error = error_of(api.post(f"{MODELS}/m/samples/delete", {"ids": [ids[0], other[0]]}, format="json"),
                     404, "not_found")
    assert error["details"]["missing"] == [other[0]] and "nothing was removed" in error["message"]
    assert Sample.objects.filter(model=model).count() == 5 and not events(model, "samples.removed")
    r = api.post(f"{MODELS}/m/samples/delete", {"ids": ids[:3]}, format="json")
    assert r.json() == {"removed": 3, "remaining": 2}
    (event,) = events(model, "samples.removed")
    assert event.data["count"] == 3 and event.from_value == "3"


def test_removing_by_filter_removes_what_the_list_shows(api, analyst):
    model = make_model(analyst, key="m")
    add_samples(model, analyst, n=40)
    listed = api.get(f"{MODELS}/m/samples?trait=churn&label=negative&limit=100").json()["count"]
    assert 0 < listed < 40
    r = api.post(f"{MODELS}/m/samples/delete", {"filter": {"trait": "churn", "label": "negative"}}, format="json")
    assert r.status_code == 200 and r.json() == {"removed": listed, "remaining": 40 - listed}
    assert not Sample.objects.filter(model=model, labels__churn__lt=0.5).exists()
    (event,) = events(model, "samples.removed")
    assert event.data["count"] == listed and event.data["filter"] == {"trait": "churn", "label": "negative"}
    # Nothing matches now: nothing removed, and no audit row for it.
    r = api.post(f"{MODELS}/m/samples/delete", {"filter": {"trait": "churn", "label": "negative"}}, format="json")
    assert r.json() == {"removed": 0, "remaining": 40 - listed} and len(events(model, "samples.removed")) == 1


@pytest.mark.parametrize("body, field", [
    ({}, None),
    ({"ids": [1], "requestId": "x"}, None),
    ({"ids": []}, "ids"),
    ({"ids": ["one"]}, "ids"),
    ({"filter": {}}, "filter"),
    ({"filter": {"label": "positive"}}, "filter.label"),
    ({"filter": {"colour": "red"}}, "filter"),
    ({"filter": {"source": "nowhere"}}, "filter"),
    ({"everything": True}, "everything"),
])
def test_a_removal_says_which_input_it_cannot_take(api, analyst, body, field):
    model = make_model(analyst, key="m")
    add_samples(model, analyst, n=4)
    error = error_of(api.post(f"{MODELS}/m/samples/delete", body, format="json"), 400, "validation_error")
    assert error["details"].get("field") == field, error
    assert Sample.objects.filter(model=model).count() == 4


def test_samples_cannot_be_removed_once_the_model_has_been_ready(api, analyst, capture):
    model = ready_model(analyst, capture, key="live")
    sample = Sample.objects.filter(model=model).first()
    error = error_of(api.delete(f"{MODELS}/live/samples/{sample.pk}"), 409, "draft_only")
    assert error["message"].startswith("Explicit samples can change only before the first successful train; this "
                                       "model is ready")
    error_of(api.post(f"{MODELS}/live/samples/delete", {"filter": {"trait": "churn"}}, format="json"), 409,
             "draft_only")
    assert Sample.objects.filter(model=model).count() == 80 and not events(model, "samples.removed")


def test_a_viewer_cannot_remove_samples(viewer_api, analyst):
    model = make_model(analyst, key="m")
    sample_id = add_samples(model, analyst, n=2).ids[0]
    error_of(viewer_api.delete(f"{MODELS}/m/samples/{sample_id}"), 403, "forbidden")
    assert Sample.objects.filter(pk=sample_id).exists()


def test_removing_a_member_of_a_discovered_trait_drops_it_from_the_trait(analyst):
    model = make_model(analyst, key="m")
    ids = add_samples(model, analyst, n=6).ids
    Trait.objects.create(model=model, key="cluster_a", name="Cluster A", kind="intrinsic",
                         definition={"source": "cluster", "members": ids[:3], "maxSampleId": max(ids)},
                         anchor_sample_ids=ids[:2])
    services.samples_remove(model=model, actor=analyst, ids=[ids[0], ids[4]])
    trait = Trait.objects.get(model=model, key="cluster_a")
    assert trait.definition["members"] == ids[1:3] and trait.anchor_sample_ids == [ids[1]]
    counted = {t.key: t for t in selectors.trait_list(model=model)}["cluster_a"]
    assert (counted.positive_samples, counted.negative_samples) == (2, 2)


# --------------------------------------------------------------------------------------------- train checks


def test_train_with_no_samples_is_refused_before_anything_is_queued(api, analyst):
    model = make_model(analyst, key="m")
    error = error_of(api.post(f"{MODELS}/m/train", {}, format="json"), 400, "validation_error")
    assert error["message"] == ("Not enough labelled samples to train: trait 'churn' has 0 positive and 0 negative "
                                "samples; add at least 2 of each.")
    assert error["details"] == {"traits": {"churn": {"positive": 0, "negative": 0}}}
    model.refresh_from_db()
    assert model.state == "draft" and not TrainingRun.objects.filter(model=model).exists()
    assert not events(model, "run.queued")


def test_train_names_each_trait_that_lacks_a_class(api, analyst):
    model = make_model(analyst, key="m", traits=("churn", "upsell"))
    services.sample_add_batch(model=model, actor=analyst, samples=[
        {"features": {"x": i}, "labels": {"churn": i % 2, "upsell": 1}} for i in range(6)])
    error = error_of(api.post(f"{MODELS}/m/train", {}, format="json"), 400, "validation_error")
    assert "trait 'upsell' has 6 positive and 0 negative samples" in error["message"]
    assert "trait 'churn'" not in error["message"]
    assert error["details"]["traits"]["churn"] == {"positive": 3, "negative": 3}


def test_the_page_and_the_service_say_the_same_sentence(analyst):
    model = make_model(analyst, key="m")
    add_samples(model, analyst, n=1)
    (blocker,) = selectors.train_blockers(model)
    with pytest.raises(services.ApplicationError) as refused:
        services.model_train_enqueue(model=model, actor=analyst)
    assert refused.value.message == blocker.message and refused.value.code == blocker.code


@pytest.mark.parametrize("params, field", [
    ({"max_iter": 0}, "params.max_iter"),
    ({"max_iter": 10_001}, "params.max_iter"),
    ({"C": -1}, "params.C"),
    ({"n_estimators": 5}, "params.n_estimators"),
    ([1, 2], "params"),
])
def test_train_params_out_of_bounds_are_a_400_naming_the_param_and_queue_nothing(api, analyst, params, field):
    model = make_model(analyst, key="m")
    add_samples(model, analyst, n=40)
    error = error_of(api.post(f"{MODELS}/m/train", {"params": params}, format="json"), 400, "validation_error")
    assert error["details"]["field"] == field
    assert not TrainingRun.objects.filter(model=model).exists()


def test_params_are_checked_before_the_samples_and_stored_as_checked(api, analyst, capture):
    model = make_model(analyst, key="m")
    # Bad params on a model that could not train anyway: the input is named first.
    error = error_of(api.post(f"{MODELS}/m/train", {"params": {"max_iter": 0}}, format="json"), 400,
                     "validation_error")
    assert error["details"]["field"] == "params.max_iter"
    add_samples(model, analyst, n=40)
    r = api.post(f"{MODELS}/m/train", {"params": {"max_iter": 50.0, "C": 2}}, format="json")
    assert r.status_code == 202, r.content
    assert r.json()["run"]["params"] == {"max_iter": 50, "C": 2.0}


def test_a_model_that_takes_no_training_params_refuses_them(api, analyst):
    make_model(analyst, key="bandit", model_type="bayesian", traits=())
    error = error_of(api.post(f"{MODELS}/bandit/train", {"params": {"alpha": 1}}, format="json"), 400,
                     "validation_error")
    assert error["details"]["field"] == "params"
    assert api.post(f"{MODELS}/bandit/train", {}, format="json").status_code == 202


# --------------------------------------------------------------------------------------------- pages


def digest_of(response) -> str:
    return re.search(r'name="previewed" value="([0-9a-f]{64})"', response.content.decode()).group(1)


def test_the_preview_panel_shows_what_the_file_stores(as_analyst, analyst):
    model = make_model(analyst, key="m")
    response = as_analyst.post(reverse("lifecycle:sample-upload", args=[model.key]),
                               {"file": SimpleUploadedFile("s.csv", SEMICOLON.encode()), "step": "preview"},
                               HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert "<html" not in html  # the panel only, for the upload form's #upload-preview
    page = text(response)
    assert "Preview: 5 samples from s.csv" in page and "CSV, semicolon separated" in page
    assert "tenure number" in page and "plan text" in page and "tenure;plan" not in page
    assert "churn 1 2 1 / 2" in page  # positive, negative, and the model's counts once stored
    assert "Label keys that match no trait: upsell (2 rows). Discovery can turn these into traits" in page
    assert "1 row carries no label: used by discovery, not by training." in page
    assert "Store 5 samples" in page
    assert not Sample.objects.filter(model=model).exists()


def test_storing_a_file_with_rows_that_train_nothing_is_a_warning_not_a_plain_success(as_analyst, analyst):
    model = make_model(analyst, key="m")
    url = reverse("lifecycle:sample-upload", args=[model.key])
    preview = as_analyst.post(url, {"file": SimpleUploadedFile("s.csv", SEMICOLON.encode())})
    response = as_analyst.post(url, {"file": SimpleUploadedFile("s.csv", SEMICOLON.encode()),
                                     "previewed": digest_of(preview), "step": "store"}, follow=True)
    html = response.content.decode()
    assert re.search(r'class="flash flash-warning" role="status">Stored 5 samples from s.csv\. 1 of 5 row\(s\) '
                     r'carry no label', html)
    assert "flash-success" not in html
    assert Sample.objects.filter(model=model).count() == 5


def test_a_file_other_than_the_previewed_one_is_previewed_instead_of_stored(as_analyst, analyst):
    model = make_model(analyst, key="m")
    url = reverse("lifecycle:sample-upload", args=[model.key])
    preview = as_analyst.post(url, {"file": SimpleUploadedFile("s.csv", SEMICOLON.encode())})
    other = "content,label.churn\nhello,positive\n"
    response = as_analyst.post(url, {"file": SimpleUploadedFile("s.csv", other.encode()),
                                     "previewed": digest_of(preview), "step": "store"})
    page = text(response)
    assert "This is not the file you previewed, so nothing was stored" in page
    assert "Preview: 1 sample from s.csv" in page
    assert not Sample.objects.filter(model=model).exists()


def test_a_file_that_cannot_be_read_is_said_in_the_panel(as_analyst, analyst):
    model = make_model(analyst, key="m")
    response = as_analyst.post(reverse("lifecycle:sample-upload", args=[model.key]),
                               {"file": SimpleUploadedFile("s.txt", b"hello")}, HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert "Nothing can be stored from s.txt: Upload a .jsonl (one JSON sample per line) or a .csv file" in text(
        response)


def test_the_samples_page_of_a_draft_removes_the_ticked_samples(as_analyst, analyst):
    model = make_model(analyst, key="m")
    ids = add_samples(model, analyst, n=6).ids
    url = reverse("lifecycle:sample-list", args=[model.key])
    html = as_analyst.get(url).content.decode()
    assert html.count('form="sample-remove"') == 6 and "Remove selected" in html
    response = as_analyst.post(reverse("lifecycle:sample-remove", args=[model.key]),
                               {"ids": ids[:2], "next": url + "?sort=id"}, follow=True)
    assert response.redirect_chain[-1][0] == url + "?sort=id"
    assert "Removed 2 samples." in text(response)
    assert Sample.objects.filter(model=model).count() == 4
    assert len(events(model, "samples.removed")) == 1
    response = as_analyst.post(reverse("lifecycle:sample-remove", args=[model.key]), {}, follow=True)
    assert "Refused: Tick the samples to remove first." in text(response)


def test_the_samples_page_says_why_samples_cannot_be_removed(as_analyst, analyst, viewer, capture):
    from django.test import Client

    model = ready_model(analyst, capture, key="live")
    url = reverse("lifecycle:sample-list", args=[model.key])
    response = as_analyst.get(url)
    assert 'form="sample-remove"' not in response.content.decode()
    assert "Explicit samples can change only before the first successful train; this model is ready" in text(
        response)
    response = as_analyst.post(reverse("lifecycle:sample-remove", args=[model.key]),
                               {"ids": [Sample.objects.filter(model=model).first().pk]}, follow=True)
    assert "Refused: Explicit samples can change only before the first successful train" in text(response)
    assert Sample.objects.filter(model=model).count() == 80

    draft = make_model(analyst, key="draft")
    add_samples(draft, analyst, n=3)
    as_viewer = Client()
    as_viewer.force_login(viewer)
    response = as_viewer.get(reverse("lifecycle:sample-list", args=[draft.key]))
    assert 'form="sample-remove"' not in response.content.decode()
    assert "Your role (viewer) cannot remove samples; analysts and admins can." in text(response)


def test_a_run_reads_its_samples_as_they_were_written(analyst):
    """A run decodes its samples' JSON columns itself (a faster decoder, on the columns' text): every value comes
    back as the model fields read it, odd ones included, on either database."""
    model = make_model(analyst, key="odd-json")
    odd = [
        {"features": {"big": 2**70, "tiny": 1e-7, "sum": 0.1 + 0.2, "neg": -0.0, "n": None,
                      "u": "caf\u00e9 \u2028 \U0001f600", "nested": {"a": [1, 2.5, "x", None, True]}},
         "labels": {"churn": 1.0}, "weight": 0.5},
        {"features": None, "content": "text only", "labels": {"churn": 0.0}},
        {"features": {}, "content": "", "labels": {}},
        {"features": {"digits": 12345678901234567890123, "e": 1.5e300}, "labels": {"churn": 1}},
    ]
    rows = Sample.objects.bulk_create([Sample(model=model, **row) for row in odd])
    run = TrainingRun.objects.create(model=model, kind="train", sample_watermark=max(r.pk for r in rows))
    examples, ids = services._examples(model, run)
    assert ids == [r.pk for r in rows]
    stored = list(Sample.objects.filter(pk__in=ids).order_by("id").values_list("features", "content", "labels",
                                                                                "weight"))
    assert repr([(e["features"], e["content"], e["labels"], e["weight"]) for e in examples]) == repr(
        [(f, c or None, labels, w) for f, c, labels, w in stored])
    assert examples[0]["features"]["big"] == 2**70 and type(examples[3]["features"]["digits"]) is int

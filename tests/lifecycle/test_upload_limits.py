"""Sample uploads stay inside the web worker's timeout: an oversized body is refused before it is read, and
the row limit is counted while the file streams."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from lifecycle.models import ModelEvent, Sample
from tests.factories import make_model

pytestmark = pytest.mark.django_db

HUNDRED_MB = str(100 * 1000 * 1000)


def _nothing_written(model):
    assert not Sample.objects.filter(model=model).exists()
    assert not ModelEvent.objects.filter(model=model, action="samples.added").exists()


def test_an_upload_declaring_more_than_the_limit_is_a_413_before_its_body_is_read(api, analyst, settings):
    model = make_model(analyst, key="up")
    # The body is small but declares 100 MB: reading it would fail, so only a refusal up front answers 413.
    r = api.post("/api/v1/algorithm-models/up/samples/upload", b"content,label.churn\nhi,positive\n",
                 content_type="text/csv", HTTP_CONTENT_DISPOSITION="attachment; filename=s.csv",
                 CONTENT_LENGTH=HUNDRED_MB)
    assert r.status_code == 413
    error = r.json()["error"]
    assert error["code"] == "payload_too_large" and error["status"] == 413
    assert error["details"] == {"maxBytes": settings.SAMPLE_UPLOAD_MAX_BYTES, "contentLength": int(HUNDRED_MB)}
    assert "at most 32.0 MB" in error["message"] and "Split it" in error["message"]
    _nothing_written(model)


def test_the_page_says_the_file_is_too_large_in_place(as_analyst, analyst, settings):
    settings.SAMPLE_UPLOAD_MAX_BYTES = 1_000_000
    model = make_model(analyst)
    upload = SimpleUploadedFile("s.csv", b"content,label.churn\nhi,positive\n", content_type="text/csv")
    r = as_analyst.post(reverse("lifecycle:sample-upload", args=[model.key]), {"file": upload},
                        CONTENT_LENGTH=HUNDRED_MB, follow=True)
    assert r.redirect_chain[-1][0].endswith("#samples")
    assert "The file is too large: 100.0 MB sent, at most 1.0 MB per upload." in r.content.decode()
    _nothing_written(model)


def test_a_file_under_the_limit_still_uploads(api, analyst, settings):
    settings.SAMPLE_UPLOAD_MAX_BYTES = 10_000
    make_model(analyst, key="up")
    r = api.post("/api/v1/algorithm-models/up/samples/upload",
                 {"file": SimpleUploadedFile("s.csv", b"content,label.churn\nhi,positive\nbye,negative\n")},
                 format="multipart")
    assert r.status_code == 201 and r.json()["count"] == 2


def test_the_row_limit_stops_the_read_at_the_row_that_crosses_it(api, analyst, settings):
    settings.SAMPLE_UPLOAD_MAX_ROWS = 3
    model = make_model(analyst, key="up")
    # Row 5 is not JSON: a parser that read everything first would report it; this one stops at row 4.
    body = b"\n".join([b'{"content": "a", "labels": {"churn": 1}}'] * 4 + [b"not json"])
    r = api.post("/api/v1/algorithm-models/up/samples/upload", {"file": SimpleUploadedFile("s.jsonl", body)},
                 format="multipart")
    assert r.status_code == 400
    error = r.json()["error"]
    assert error["details"]["errors"] == ["The file holds more than 3 samples; split it into files of at most 3 rows"]
    _nothing_written(model)


def test_the_preview_panel_says_the_file_is_too_large(as_analyst, analyst, settings):
    settings.SAMPLE_UPLOAD_MAX_BYTES = 1_000_000
    model = make_model(analyst)
    upload = SimpleUploadedFile("s.csv", b"content,label.churn\nhi,positive\n", content_type="text/csv")
    r = as_analyst.post(reverse("lifecycle:sample-upload", args=[model.key]), {"file": upload, "step": "preview"},
                        CONTENT_LENGTH=HUNDRED_MB, HTTP_HX_REQUEST="true")
    # The refusal itself, for the panel the Preview button swaps: not a redirect to the whole page.
    assert r.status_code == 200 and "<html" not in r.content.decode()
    assert "The file is too large: 100.0 MB sent, at most 1.0 MB per upload." in r.content.decode()
    _nothing_written(model)


def test_a_quote_that_never_closes_is_a_400_naming_the_line(api, analyst):
    model = make_model(analyst, key="up")
    body = b'content,label.churn\nhi,positive\n"' + b"x" * 140_000 + b"\nbye,negative\n"
    for url in ("/api/v1/algorithm-models/up/samples/upload?dryRun=true", "/api/v1/algorithm-models/up/samples/upload"):
        r = api.post(url, {"file": SimpleUploadedFile("s.csv", body)}, format="multipart")
        assert r.status_code == 400, r.content
        message = str(r.json()["error"])
        assert "line 3" in message and "a quote that is opened and never closed" in message
    _nothing_written(model)

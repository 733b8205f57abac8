"""The REST contract: the seed's shapes, defaults, status codes and error envelope."""

import pytest
from rest_framework.test import APIClient

from lifecycle.models import Sample
from tests.factories import make_model, ready_model, sample_rows

pytestmark = pytest.mark.django_db

SEED_DEFAULTS = {
    "status": "draft", "registryStatus": "draft", "autoLearn": False, "learnMode": "none", "learnSchedule": None,
    "outcomeWeights": None, "metrics": {}, "metricsHistory": [], "modelState": {}, "predictors": [],
    "trainingSamples": 0, "lastTrainedAt": None, "lastLearnedAt": None,
}


def error_of(response, status, code):
    assert response.status_code == status, response.content
    body = response.json()["error"]
    assert body["code"] == code and body["status"] == status and body["message"]
    return body


def test_create_with_key_name_type_returns_the_seed_row(api):
    r = api.post("/api/v1/algorithm-models", {"key": "my-new-model", "name": "My New Model",
                                              "modelType": "gradient_boosted"}, format="json")
    assert r.status_code == 201, r.content
    body = r.json()
    assert {k: body[k] for k in SEED_DEFAULTS} == SEED_DEFAULTS
    assert body["key"] == "my-new-model" and body["modelType"] == "gradient_boosted" and body["id"]
    assert body["state"] == "draft" and body["lastOperation"] is None and body["activeVersion"] is None
    assert body["pinned"] is False and body["traits"] == [] and body["family"] == ""
    # persisted: the same row comes back by id and by key
    assert api.get(f"/api/v1/algorithm-models/{body['id']}").json() == api.get("/api/v1/algorithm-models/my-new-model").json()


def test_unknown_fields_and_bad_types_are_400_validation_error(api):
    r = api.post("/api/v1/algorithm-models", {"key": "a", "name": "A", "modelType": "scorecard", "state": "ready"},
                 format="json")
    assert "state" in error_of(r, 400, "validation_error")["message"]
    r = api.post("/api/v1/algorithm-models", {"key": "a", "name": "A", "modelType": "svm"}, format="json")
    error_of(r, 400, "validation_error")
    api.post("/api/v1/algorithm-models", {"key": "a", "name": "A", "modelType": "scorecard"}, format="json")
    r = api.put("/api/v1/algorithm-models/a", {"state": "ready"}, format="json")
    error_of(r, 400, "validation_error")


def test_put_is_partial_and_audited(api):
    api.post("/api/v1/algorithm-models", {"key": "m1", "name": "M1", "modelType": "scorecard"}, format="json")
    r = api.put("/api/v1/algorithm-models/m1", {"description": "better"}, format="json")
    assert r.status_code == 200 and r.json()["description"] == "better" and r.json()["name"] == "M1"
    r = api.patch("/api/v1/algorithm-models/m1", {"name": "Renamed"}, format="json")
    assert r.json()["name"] == "Renamed"
    events = api.get("/api/v1/algorithm-models/m1/events").json()["results"]
    assert [e["action"] for e in events][:2] == ["model.updated", "model.updated"]


def test_the_path_to_ready_over_the_api(api, django_capture_on_commit_callbacks):
    api.post("/api/v1/algorithm-models", {"key": "churn", "name": "Churn", "modelType": "logistic_regression"},
             format="json")
    r = api.post("/api/v1/algorithm-models/churn/traits", {"traits": [{"name": "Churn"}]}, format="json")
    assert r.status_code == 200 and r.json()[0]["key"] == "churn" and r.json()[0]["kind"] == "extrinsic"
    r = api.post("/api/v1/algorithm-models/churn/samples", {"samples": sample_rows(60)}, format="json")
    assert r.status_code == 201 and r.json()["count"] == 60
    with django_capture_on_commit_callbacks(execute=True):
        r = api.post("/api/v1/algorithm-models/churn/train", {}, format="json")
    assert r.status_code == 202 and r.json()["state"] == "busy" and r["X-Run-Id"] == str(r.json()["runId"])
    body = api.get("/api/v1/algorithm-models/churn").json()
    assert body["state"] == "ready" and body["activeVersion"]["versionId"] == "v1"
    assert body["lastOperation"]["kind"] == "train" and body["lastOperation"]["status"] == "succeeded"
    assert body["lastTrainedAt"] == body["lastLearnedAt"] and body["trainingSamples"] == 60
    assert body["metrics"]["churn"]["auc"] > 0.8
    versions = api.get("/api/v1/algorithm-models/churn/versions").json()["results"]
    assert versions[0]["versionId"] == "v1" and versions[0]["active"] and versions[0]["triggeredBy"] == "train"
    v1 = api.get("/api/v1/algorithm-models/churn/versions/v1").json()
    assert v1["sampleCount"] == 60 and v1["predictors"]
    runs = api.get("/api/v1/algorithm-models/churn/runs").json()["results"]
    assert runs[0]["status"] == "succeeded" and runs[0]["progress"] == 100
    # After ready, definition edits are 409 draft_only.
    r = api.post("/api/v1/algorithm-models/churn/traits", {"traits": [{"name": "Upsell"}]}, format="json")
    error_of(r, 409, "draft_only")
    r = api.post("/api/v1/algorithm-models/churn/samples", {"samples": sample_rows(1)}, format="json")
    error_of(r, 409, "draft_only")
    r = api.post("/api/v1/algorithm-models/churn/traits/discover", {}, format="json")
    error_of(r, 400, "invalid_transition")


def test_run_in_flight_is_409_with_x_run_id(api):
    api.post("/api/v1/algorithm-models", {"key": "m", "name": "M", "modelType": "logistic_regression",
                                          "traits": [{"name": "churn"}]}, format="json")
    api.post("/api/v1/algorithm-models/m/samples", {"samples": sample_rows(20)}, format="json")
    first = api.post("/api/v1/algorithm-models/m/train", {}, format="json")  # no commit hook: stays queued
    assert first.status_code == 202
    r = api.post("/api/v1/algorithm-models/m/train", {}, format="json")
    body = error_of(r, 409, "run_in_flight")
    assert r["X-Run-Id"] == str(first.json()["runId"]) and body["details"]["runId"] == first.json()["runId"]


def test_versions_activate_rollback_and_tags(api, analyst, capture):
    model = ready_model(analyst, capture)
    from tests.factories import train_now

    train_now(model, analyst, capture)
    r = api.put(f"/api/v1/algorithm-models/{model.key}/versions/active", {"version": "v1"}, format="json")
    assert r.status_code == 200 and r.json() == {"key": model.key, "versionNo": 1, "versionId": "v1", "pinned": True,
                                                 "applied": True, "requestId": None,
                                                 "message": "Now serving v1, pinned"}
    r = api.put(f"/api/v1/algorithm-models/{model.key}/versions/active", {"version": "v1", "tag": "x"}, format="json")
    error_of(r, 400, "validation_error")
    r = api.post(f"/api/v1/algorithm-models/{model.key}/versions/v2/tags", {"name": "candidate"}, format="json")
    assert r.status_code == 200 and r.json()["tags"] == ["candidate"]
    assert api.get(f"/api/v1/algorithm-models/{model.key}/versions/candidate").json()["versionNo"] == 2
    r = api.post(f"/api/v1/algorithm-models/{model.key}/rollback", {"tag": "candidate"}, format="json")
    assert r.json()["versionNo"] == 2
    r = api.put(f"/api/v1/algorithm-models/{model.key}/versions/active", {"version": "v9"}, format="json")
    error_of(r, 404, "not_found")
    assert api.delete(f"/api/v1/algorithm-models/{model.key}/tags/candidate").status_code == 204


def test_delete_archives(api, analyst, capture):
    model = ready_model(analyst, capture)
    r = api.delete(f"/api/v1/algorithm-models/{model.key}")
    assert r.status_code == 200 and r.json()["state"] == "archived"
    assert Sample.objects.filter(model=model).count() == 80
    assert api.post(f"/api/v1/algorithm-models/{model.key}/restore").json()["state"] == "ready"


def test_upload_jsonl_and_csv_with_line_numbers(api, analyst):
    make_model(analyst, key="up")
    good = "\n".join(['{"content": "bye", "labels": {"churn": "positive"}}',
                      '{"features": {"tenure": 3}, "labels": {"churn": 0}}'])
    r = api.post("/api/v1/algorithm-models/up/samples/upload",
                 {"file": _file("s.jsonl", good)}, format="multipart")
    assert r.status_code == 201 and r.json()["count"] == 2
    bad_csv = "content,tenure,label.churn\nhello,3,positive\nbye,4,sometimes\n"
    r = api.post("/api/v1/algorithm-models/up/samples/upload", {"file": _file("s.csv", bad_csv)}, format="multipart")
    body = error_of(r, 400, "validation_error")
    assert "line 3" in body["message"] and "nothing was stored" in body["message"]
    assert Sample.objects.filter(model__key="up").count() == 2
    ok_csv = "content,tenure,label.churn\nhello,3,positive\nbye,4.5,negative\n"
    r = api.post("/api/v1/algorithm-models/up/samples/upload", {"file": _file("s.csv", ok_csv)}, format="multipart")
    assert r.status_code == 201
    assert Sample.objects.filter(model__key="up").order_by("-id").first().features == {"tenure": 4.5}


def _file(name, text):
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile(name, text.encode())


def test_lists_paginate_and_filter(api, analyst):
    for i in range(3):
        make_model(analyst, key=f"lr-{i}")
    make_model(analyst, key="gb", model_type="gradient_boosted")
    body = api.get("/api/v1/algorithm-models?limit=2").json()
    assert body["count"] == 4 and len(body["results"]) == 2 and body["next"]
    assert [m["key"] for m in api.get("/api/v1/algorithm-models?modelType=gradient_boosted").json()["results"]] == ["gb"]
    assert api.get("/api/v1/algorithm-models?search=lr-1").json()["count"] == 1
    assert api.get("/api/v1/algorithm-models?state=ready").json()["count"] == 0


def test_anonymous_gets_401_and_viewer_cannot_write(viewer_api, db):
    r = APIClient().get("/api/v1/algorithm-models")
    error_of(r, 401, "not_authenticated")
    r = APIClient(HTTP_AUTHORIZATION="Token nope").get("/api/v1/algorithm-models")
    error_of(r, 401, "not_authenticated")
    assert viewer_api.get("/api/v1/algorithm-models").status_code == 200
    r = viewer_api.post("/api/v1/algorithm-models", {"key": "x", "name": "X", "modelType": "scorecard"}, format="json")
    assert "viewer" in error_of(r, 403, "forbidden")["message"]


def test_bearer_tokens_work_like_token(analyst, db):
    from lifecycle import services

    _, key = services.api_token_create(user=analyst, actor=analyst, name="script")
    assert APIClient(HTTP_AUTHORIZATION=f"Bearer {key}").get("/api/v1/algorithm-models").status_code == 200


def test_not_found_envelope(api):
    error_of(api.get("/api/v1/algorithm-models/nope"), 404, "not_found")


def test_healthz_is_anonymous(client, db):
    r = client.get("/healthz")
    assert r.status_code == 200 and r.json()["status"] == "ok"


def test_schema_builds_and_validates(db):
    from django.core.management import call_command

    call_command("spectacular", "--validate", "--fail-on-warn", "--file", "/dev/null")


def test_upload_of_100000_rows_in_one_file(api, analyst):
    make_model(analyst, key="big")
    lines = ["content,tenure,plan,label.churn"] + [
        f"note {i},{i % 60},{'basic' if i % 3 else 'pro'},{'positive' if i % 2 else 'negative'}" for i in range(100_000)]
    r = api.post("/api/v1/algorithm-models/big/samples/upload", {"file": _file("big.csv", "\n".join(lines))},
                 format="multipart")
    assert r.status_code == 201 and r.json()["count"] == 100_000
    assert Sample.objects.filter(model__key="big").count() == 100_000
    traits = api.get("/api/v1/algorithm-models/big/traits").json()
    assert traits[0]["positiveSamples"] == 50_000 and traits[0]["negativeSamples"] == 50_000


@pytest.mark.parametrize("query, field", [("limit=null", "limit"), ("limit=0", "limit"), ("limit=-1", "limit"),
                                          ("offset=x", "offset"), ("offset=-1", "offset"), ("state=bogus", "state")])
def test_a_list_refuses_a_paging_or_filter_value_it_cannot_use(api, query, field):
    body = error_of(api.get(f"/api/v1/algorithm-models/?{query}"), 400, "validation_error")
    assert body["details"]["field"] == field


def test_a_form_encoded_body_is_refused_json_is_the_only_body(api):
    r = api.post("/api/v1/algorithm-models/", {"key": "m", "name": "M", "modelType": "scorecard"}, format="multipart")
    error_of(r, 415, "unsupported_media_type")


def test_every_time_in_an_answer_is_utc_ending_in_z(api, analyst, capture):
    ready_model(analyst, capture, key="m")
    body = api.get("/api/v1/algorithm-models/m").json()
    times = [body["createdAt"], body["lastTrainedAt"], body["lastOperation"]["startedAt"],
             body["lastOperation"]["finishedAt"], body["versions"][0]["createdAt"]]
    assert all(t.endswith("Z") for t in times), times

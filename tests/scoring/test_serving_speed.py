"""What the fast score path keeps: one version per answer, a bounded number of queries, and a kept score log
that feedback by request id finds at once."""

import importlib
import json
import time

import pytest
from django.db import DEFAULT_DB_ALIAS, connection, connections
from django.test.utils import CaptureQueriesContext

from lifecycle import services as lifecycle_services
from lifecycle.core import collector
from lifecycle.models import AlgorithmModel, Sample
from scoring.models import ScoreRequest
from tests.factories import ready_model

CHURNY = {"features": {"tenure": 3, "plan": "basic", "spend": 20.0}, "content": "cancel my account please"}


def _sql(ctx) -> list[str]:
    return [q["sql"] for q in ctx.captured_queries]


@pytest.mark.django_db
def test_a_warm_single_row_score_reads_the_model_row_and_writes_its_log(api, analyst, capture):
    model = ready_model(analyst, capture)
    url = f"/api/v1/algorithm-models/{model.key}/score"
    assert api.post(url, CHURNY, format="json").status_code == 200  # warm: token, permissions, loaded version
    with CaptureQueriesContext(connection) as ctx:
        assert api.post(url, CHURNY, format="json").status_code == 200
    statements = [s for s in _sql(ctx) if s.split()[0] not in ("SAVEPOINT", "RELEASE")]
    assert len(statements) == 2, statements  # the model with its active version; the score request
    assert "lifecycle_algorithmmodel" in statements[0] and statements[1].startswith("INSERT")


@pytest.mark.django_db
def test_a_swap_is_served_on_the_next_call_with_every_cache_warm(api, analyst, capture):
    model = ready_model(analyst, capture)
    url = f"/api/v1/algorithm-models/{model.key}/score"
    for _ in range(3):
        assert api.post(url, CHURNY, format="json").json()["metadata"]["versionId"] == "v1"
    lifecycle_services.model_train_enqueue(model=model, actor=analyst)
    lifecycle_services.run_execute(run_id=model.runs.first().pk)
    answer = api.post(url, CHURNY, format="json").json()
    assert answer["metadata"]["versionId"] == "v2"
    stored = ScoreRequest.objects.get(request_id=answer["metadata"]["requestId"])
    assert stored.version.label == "v2"  # the log names the version that answered


@pytest.mark.django_db(transaction=True)
def test_feedback_finds_a_score_logged_outside_any_transaction(api, analyst, capture):
    """As in production (autocommit): on PostgreSQL the log commits without waiting for the WAL flush, and is
    still committed, and found by feedback, before the answer leaves."""
    model = ready_model(analyst, capture)
    url = f"/api/v1/algorithm-models/{model.key}/score"
    with CaptureQueriesContext(connection) as ctx:
        request_id = api.post(url, CHURNY, format="json").json()["metadata"]["requestId"]
    if connection.vendor == "postgresql":  # one round trip, the log's own implicit transaction
        assert any(s.startswith("SET LOCAL synchronous_commit TO OFF; INSERT") for s in _sql(ctx))
    r = api.post(f"/api/v1/score-requests/{request_id}/feedback", {"feedback": {"churn": "positive"}},
                 format="json")
    assert r.status_code == 201
    assert Sample.objects.get(pk=r.json()["sampleIds"][0]).request_id == request_id


# A model row kept by the process between calls (PostgreSQL, autocommit): the score log's INSERT checks it.


def _warm(api, url, times: int = 2) -> dict:
    for _ in range(times):
        answer = api.post(url, CHURNY, format="json")
        assert answer.status_code == 200, answer.json()
    return answer.json()


def _statements(ctx) -> list[str]:
    return [s for s in _sql(ctx) if s.split()[0] not in ("SAVEPOINT", "RELEASE")]


@pytest.mark.django_db(transaction=True)
def test_a_warm_score_in_autocommit_is_one_statement_that_checks_the_model_row(api, analyst, capture):
    model = ready_model(analyst, capture)
    url = f"/api/v1/algorithm-models/{model.key}/score"
    _warm(api, url)
    with CaptureQueriesContext(connection) as ctx:
        answer = api.post(url, CHURNY, format="json").json()
    statements = _statements(ctx)
    if connection.vendor == "postgresql":  # the log, written only while the model row is the one the answer used
        assert len(statements) == 1, statements
        assert statements[0].startswith("SET LOCAL synchronous_commit TO OFF; INSERT") and "xmin" in statements[0]
    else:  # SQLite reads the row on every call: a local read, no round trip
        assert len(statements) == 2, statements
    assert ScoreRequest.objects.get(request_id=answer["metadata"]["requestId"]).version.label == "v1"


def _retrain(model, analyst):
    lifecycle_services.model_train_enqueue(model=model, actor=analyst)
    lifecycle_services.run_execute(run_id=model.runs.order_by("-pk").first().pk)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("by", ["key", "id"])
def test_a_kept_model_row_that_changed_answers_from_the_row_as_it_is_now(api, analyst, capture, by):
    model = ready_model(analyst, capture)
    url = f"/api/v1/algorithm-models/{model.key if by == 'key' else model.pk}/score"
    assert _warm(api, url)["metadata"]["versionId"] == "v1"
    _retrain(model, analyst)  # a swap: v2 is active
    answer = api.post(url, CHURNY, format="json").json()
    assert answer["metadata"]["versionId"] == "v2"
    assert ScoreRequest.objects.get(request_id=answer["metadata"]["requestId"]).version.label == "v2"
    with CaptureQueriesContext(connection) as ctx:  # and the row kept now is the new one
        assert api.post(url, CHURNY, format="json").json()["metadata"]["versionId"] == "v2"
    if connection.vendor == "postgresql":
        assert len(_statements(ctx)) == 1

    # A change made without save() (so without updated_at) is seen as well.
    AlgorithmModel.objects.filter(pk=model.pk).update(zero_data_retention=True)
    answer = api.post(url, CHURNY, format="json").json()
    assert ScoreRequest.objects.get(request_id=answer["metadata"]["requestId"]).inputs == []


@pytest.mark.django_db(transaction=True)
def test_a_refusal_from_a_kept_row_is_made_again_from_the_row_as_it_is_now(api, analyst, capture):
    model = ready_model(analyst, capture)
    url = f"/api/v1/algorithm-models/{model.key}/score"
    _warm(api, url)
    lifecycle_services.model_archive(model=AlgorithmModel.objects.get(pk=model.pk), actor=analyst)
    refused = api.post(url, CHURNY, format="json")
    assert refused.status_code == 409 and refused.json()["error"]["code"] == "not_scorable"
    assert api.post(url, CHURNY, format="json").status_code == 409  # the archived row is the one kept now
    lifecycle_services.model_restore(model=AlgorithmModel.objects.get(pk=model.pk), actor=analyst)
    assert api.post(url, CHURNY, format="json").status_code == 200

    # Feedback is stored from the row as it is now: zero data retention turned on elsewhere refuses it.
    lifecycle_services.model_set_zero_data_retention(model=AlgorithmModel.objects.get(pk=model.pk), actor=analyst,
                                                     on=True)
    refused = api.post(url, {**CHURNY, "feedback": {"churn": "positive"}}, format="json")
    assert refused.status_code == 409 and "zero data" in refused.json()["error"]["message"]
    assert not Sample.objects.filter(model=model, source="feedback").exists()


@pytest.mark.django_db(transaction=True)
def test_a_change_while_a_call_scores_is_caught_by_its_log_and_the_call_answers_again(api, analyst, capture,
                                                                                    monkeypatch):
    """The model row changes after the call took it and before its log is written: the log writes nothing, and the
    call is answered again from the row as it is now (here: zero data retention, so no input is kept)."""
    score_module = importlib.import_module("scoring.services.score")  # the module, not the function

    model = ready_model(analyst, capture)
    url = f"/api/v1/algorithm-models/{model.key}/score"
    _warm(api, url)
    real_predict, calls = score_module._predict, []

    def predict_while_the_row_changes(model_, version, inputs):
        calls.append(model_.zero_data_retention)
        if len(calls) == 1:
            AlgorithmModel.objects.filter(pk=model.pk).update(zero_data_retention=True)
        return real_predict(model_, version, inputs)

    monkeypatch.setattr(score_module, "_predict", predict_while_the_row_changes)
    answer = api.post(url, CHURNY, format="json")
    assert answer.status_code == 200
    logged = ScoreRequest.objects.filter(request_id=answer.json()["metadata"]["requestId"])
    assert ScoreRequest.objects.filter(model=model).count() == 3  # two warm-up calls and this one, once
    if connection.vendor == "postgresql":
        assert calls == [False, True]  # the kept row, then the current one
        assert [r.inputs for r in logged] == [[]]
    else:  # SQLite reads the row at the start of every call and answers from it
        assert calls == [False]
        assert len(logged.get().inputs) == 1


@pytest.mark.django_db(transaction=True)
def test_the_score_log_stands_in_for_the_connection_check_and_replaces_a_connection_that_died(api, analyst, capture,
                                                                                             monkeypatch):
    """A request that reuses a kept connection would check it first (Django's SELECT 1, a round trip). A score from
    a kept model row skips that check: its log INSERT is the check, and a connection that died since the last
    request is replaced and the INSERT sent again, so the call still answers and is logged once."""
    if connection.vendor != "postgresql":
        pytest.skip("SQLite keeps no connection to check")
    model = ready_model(analyst, capture)
    url = f"/api/v1/algorithm-models/{model.key}/score"
    _warm(api, url)
    checked, real_is_usable = [], connection.is_usable
    monkeypatch.setattr(connection, "is_usable", lambda: checked.append(True) or real_is_usable())

    connection.health_check_done = False  # as at the start of each request that reuses its connection
    assert api.post(url, CHURNY, format="json").status_code == 200
    assert checked == []  # no SELECT 1 before the INSERT

    backend = connection.connection.info.backend_pid
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        with other.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [backend])
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:  # until the backend is gone (termination is asynchronous)
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [backend])
                if cursor.fetchone()[0] == 0:
                    break
    finally:
        other.close()
    connection.health_check_done = False
    answer = api.post(url, CHURNY, format="json")
    assert answer.status_code == 200
    assert connection.connection.info.backend_pid != backend
    assert ScoreRequest.objects.filter(request_id=answer.json()["metadata"]["requestId"]).count() == 1
    assert checked == []


@pytest.mark.django_db
def test_a_large_batch_is_answered_with_the_collector_paused_and_it_runs_again_after(api, analyst, capture,
                                                                                    monkeypatch):
    """Parsing, scoring and writing a large batch run without the cyclic collector's passes; a single input runs
    with them, and every call, refused or not, leaves the collector running."""
    import gc

    from lifecycle.core import inputs

    score_module = importlib.import_module("scoring.services.score")
    model = ready_model(analyst, capture)
    url = f"/api/v1/algorithm-models/{model.key}/score"
    assert gc.isenabled()
    parsed, predicted = [], []
    real_loads, real_predict = inputs.loads, score_module._predict
    monkeypatch.setattr(inputs, "loads", lambda text: parsed.append(gc.isenabled()) or real_loads(text))
    monkeypatch.setattr(score_module, "_predict",
                        lambda *args: predicted.append(gc.isenabled()) or real_predict(*args))
    big = {"inputs": [CHURNY] * score_module.LARGE_BATCH}
    assert len(json.dumps(big)) >= collector.LARGE_BODY
    assert api.post(url, big, format="json").status_code == 200
    assert gc.isenabled()
    assert api.post(url, CHURNY, format="json").status_code == 200
    assert (parsed, predicted) == ([False, True], [False, True])

    refused = api.post(url, {"inputs": [*big["inputs"][1:], {"features": {"tenure": "long"}}], "strict": True},
                       format="json")
    assert refused.status_code == 400 and gc.isenabled()
    # The service alone pauses it for a large batch too (callers that are not the API).
    predicted.clear()
    score_module.score(model=AlgorithmModel.objects.get(pk=model.pk), actor=analyst, inputs=big["inputs"], batch=True)
    score_module.score(model=AlgorithmModel.objects.get(pk=model.pk), actor=analyst, inputs=big["inputs"][:10],
                       batch=True)
    assert predicted == [False, True] and gc.isenabled()


def test_a_pause_first_frees_what_earlier_calls_left_in_cycles():
    """An earlier batch's body held in a reference cycle is freed when the next large batch starts, not kept
    through it."""
    import gc
    import weakref

    class Body(dict):  # a dict subclass, so a weak reference can watch it
        pass

    gc.disable()  # so that no pass of its own frees the cycle before the pause starts
    try:
        body = Body(inputs=list(range(1000)))
        holder = {"body": body}
        holder["self"] = holder  # a cycle, as a request and its view make
        gone = weakref.ref(body)
        del body, holder
        assert gone() is not None  # held by the cycle, though nothing reaches it
    finally:
        gc.enable()
    with collector.paused():
        assert gone() is None and not gc.isenabled()
    assert gc.isenabled()

"""What the fast score path keeps: one version per answer, a bounded number of queries, and a kept score log
that feedback by request id finds at once."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from lifecycle import services as lifecycle_services
from lifecycle.models import Sample
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

"""The database going away under a running server: answers are 200 or a 503 that says to retry, never a
500, and the serving version keeps serving once the database is back."""

import json
import threading
import time
import urllib.error
import urllib.request

import pytest
from django.db import connection, connections

from lifecycle import services
from tests.factories import add_samples, make_model, make_user
from tests.workers import start_web, stop_worker

pytestmark = [pytest.mark.worker, pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _score(url, key, results):
    _call(url, key, results, json.dumps({"content": "cancel my account please"}).encode())


def _call(url, key, results, body=None):
    request = urllib.request.Request(url, data=body, method="POST" if body else "GET", headers={
        "Authorization": f"Token {key}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as r:
            results.append((r.status, json.loads(r.read())))
    except urllib.error.HTTPError as exc:
        results.append((exc.code, json.loads(exc.read() or b"{}")))


def test_database_connections_killed_mid_traffic(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("kills PostgreSQL backends; .ci/run runs this with DATABASE_URL set")
    analyst = make_user("analyst")
    model = make_model(analyst)
    add_samples(model, analyst)
    run = services.model_train_enqueue(model=model, actor=analyst)
    services.run_execute(run_id=run.pk)
    _, key = services.api_token_create(user=analyst, actor=analyst, name="faults")
    web, base = start_web({"DB_CONN_MAX_AGE": "60"}, workers=2, log_path=tmp_path / "web.log")
    url = f"{base}/api/v1/algorithm-models/{model.key}/score"
    name = connection.settings_dict["NAME"]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        main_pid = cursor.fetchone()[0]  # the test's own connection survives too
    stop = threading.Event()
    results: list = []  # the scores
    reads: list = []
    killed: list[int] = []

    def traffic():
        while not stop.is_set():
            _score(url, key, results)

    def reading():
        # A score makes one statement, which a connection found dead at once is sent again on a new one: killed
        # backends between scores never show. Reading the model makes several, so a kill between two of them does.
        while not stop.is_set():
            _call(f"{base}/api/v1/algorithm-models/{model.key}", key, reads)

    def killer():
        try:
            with connection.cursor() as cursor:  # this thread's own connection is spared
                while not stop.is_set():
                    cursor.execute("SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                                   "WHERE datname = %s AND pid <> pg_backend_pid() AND pid <> %s", [name, main_pid])
                    killed.append(cursor.fetchone()[0])
                    time.sleep(0.05)
        finally:
            connections.close_all()

    try:
        threads = [threading.Thread(target=traffic), threading.Thread(target=reading), threading.Thread(target=killer)]
        for t in threads:
            t.start()
        time.sleep(8)
        stop.set()
        for t in threads:
            t.join(30)
        statuses = {status for status, _ in results + reads}
        assert statuses <= {200, 503}, [r for r in results + reads if r[0] not in (200, 503)][:3]
        unavailable = [body for status, body in results + reads if status == 503]
        assert sum(killed) > 10 and len(results) > 50 and len(reads) > 20, (sum(killed), len(results), len(reads))
        assert unavailable, f"{sum(killed)} backends killed, and none of {len(results) + len(reads)} requests saw it"
        assert all(b["error"]["code"] == "service_unavailable" and "retry" in b["error"]["message"]
                   for b in unavailable)
        after: list = []
        for _ in range(5):
            _score(url, key, after)
        assert [status for status, _ in after] == [200] * 5
        assert {body["metadata"]["versionId"] for _, body in after} == {"v1"}  # still serving v1
    finally:
        stop.set()
        stop_worker(web)

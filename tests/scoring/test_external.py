"""external_endpoint models score through the operator's endpoint: a local stub server stands in for it."""

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lifecycle import services
from lifecycle.models import AlgorithmModel

pytestmark = pytest.mark.django_db


class Stub(BaseHTTPRequestHandler):
    mode = "ok"

    def do_POST(self):  # noqa: N802
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        if Stub.mode == "slow":
            time.sleep(0.5)
        if Stub.mode == "error":
            self.send_response(500)
            self.end_headers()
            return
        scores = [{"risk": 0.9 if "cancel" in (i.get("content") or "") else 0.1} for i in body["inputs"]]
        payload = json.dumps({"scores": scores}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture
def stub():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Stub.mode = "ok"
    yield f"http://127.0.0.1:{server.server_address[1]}/score"
    server.shutdown()


def test_external_endpoint_scores_times_out_and_reports_failures(api, analyst, settings, stub):
    settings.EXTERNAL_ENDPOINT_ALLOWED_HOSTS = ["127.0.0.1"]
    api.post("/api/v1/algorithm-models", {"key": "ext", "name": "Ext", "modelType": "external_endpoint",
                                          "config": {"url": stub, "timeoutMs": 200, "traits": ["risk"]}},
             format="json")
    model = AlgorithmModel.objects.get(key="ext")
    run = services.model_train_enqueue(model=model, actor=analyst)
    services.run_execute(run_id=run.pk)
    model.refresh_from_db()
    assert model.state == "ready", model.last_run.error
    r = api.post("/api/v1/algorithm-models/ext/score", {"content": "please cancel"}, format="json")
    assert r.status_code == 200 and r.json()["scores"] == {"risk": 90}
    Stub.mode = "slow"
    r = api.post("/api/v1/algorithm-models/ext/score", {"content": "x"}, format="json")
    assert r.status_code == 502 and "did not answer in 200 ms" in r.json()["error"]["message"]
    Stub.mode = "error"
    r = api.post("/api/v1/algorithm-models/ext/score", {"content": "x"}, format="json")
    assert r.status_code == 502 and "answered 500" in r.json()["error"]["message"]
    settings.EXTERNAL_ENDPOINT_ALLOWED_HOSTS = []
    r = api.post("/api/v1/algorithm-models/ext/score", {"content": "x"}, format="json")
    assert r.status_code == 502 and "no longer allowed" in r.json()["error"]["message"]


def test_a_host_outside_the_allow_list_never_goes_ready(api, analyst, settings):
    settings.EXTERNAL_ENDPOINT_ALLOWED_HOSTS = ["127.0.0.1"]
    model = services.model_create(actor=analyst, key="evil", name="Evil", model_type="external_endpoint")
    AlgorithmModel.objects.filter(pk=model.pk).update(config={"url": "http://10.1.2.3/score"})
    run = services.model_train_enqueue(model=model, actor=analyst)
    services.run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and "not allowed" in run.error

"""external_endpoint models score through the operator's endpoint: local stub servers stand in for it."""

import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

from lifecycle import endpoints, services
from lifecycle.models import AlgorithmModel
from scoring import external

pytestmark = pytest.mark.django_db

SECRET = "Bearer s3cret-endpoint-token"


class Endpoint:
    """A local HTTP server standing in for the operator's endpoint; it records every request it receives."""

    def __init__(self, host="127.0.0.1", port=0, tls=None):
        self.hits: list[dict] = []
        self.mode = "ok"
        self.status = 200
        self.location = ""
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                outer.handle(self)

            def do_GET(self):  # noqa: N802
                outer.handle(self)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer((host, port), Handler)
        self.server.daemon_threads = True
        if tls:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.host, self.port = self.server.server_address[:2]
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    @property
    def entry(self) -> str:
        return f"{self.host}:{self.port}"

    def url(self, host=None, scheme="http") -> str:
        return f"{scheme}://{host or self.host}:{self.port}/score"

    def handle(self, request):
        length = int(request.headers.get("Content-Length") or 0)
        body = json.loads(request.rfile.read(length)) if length else {}
        self.hits.append({"method": request.command, "headers": dict(request.headers), "body": body})
        if self.mode == "slow":
            time.sleep(0.5)
        if self.mode == "hold":
            self.release.wait(10)
        if self.mode == "error":
            request.send_response(500)
            request.send_header("Content-Length", "0")
            request.end_headers()
            return
        if self.mode == "redirect":
            request.send_response(self.status)
            request.send_header("Location", self.location)
            request.send_header("Content-Length", "0")
            request.end_headers()
            return
        scores = [{"risk": 0.9 if "cancel" in (i.get("content") or "") else 0.1} for i in body.get("inputs", [])]
        payload = json.dumps({"scores": scores}).encode()
        head = (f"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {len(payload)}\r\n"
                "Connection: close\r\n\r\n").encode()
        try:
            if self.mode in ("trickle-head", "trickle-body"):
                # One byte every 0.3 s: no single read waits long, only the whole call does.
                stream = head + payload if self.mode == "trickle-head" else payload
                if self.mode == "trickle-body":
                    request.wfile.write(head)
                for byte in stream[:60]:
                    request.wfile.write(bytes([byte]))
                    request.wfile.flush()
                    time.sleep(0.3)
                return
            request.wfile.write(head + payload)
        except OSError:
            pass  # the caller hung up

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def endpoint_factory():
    made = []

    def make(**kwargs):
        made.append(Endpoint(**kwargs))
        return made[-1]

    external.gates_reset()
    yield make
    for e in made:
        e.close()
    external.gates_reset()


@pytest.fixture
def stub(endpoint_factory):
    return endpoint_factory()


def create(api, url, key="ext", timeout_ms=1000, **config):
    return api.post("/api/v1/algorithm-models", {
        "key": key, "name": key, "modelType": "external_endpoint",
        "config": {"url": url, "timeoutMs": timeout_ms, "traits": ["risk"], **config}}, format="json")


def ready(api, analyst, url, key="ext", **kwargs) -> AlgorithmModel:
    r = create(api, url, key=key, **kwargs)
    assert r.status_code == 201, r.json()
    model = AlgorithmModel.objects.get(key=key)
    run = services.model_train_enqueue(model=model, actor=analyst)
    services.run_execute(run_id=run.pk)
    model.refresh_from_db()
    assert model.state == "ready", model.last_run.error
    return model


def score(api, key="ext", content="x"):
    return api.post(f"/api/v1/algorithm-models/{key}/score", {"content": content}, format="json")


def test_external_endpoint_scores_times_out_and_reports_failures(api, analyst, settings, stub):
    settings.EXTERNAL_ENDPOINT_ALLOWED_HOSTS = [stub.entry]
    ready(api, analyst, stub.url(), timeout_ms=200)
    r = score(api, content="please cancel")
    assert r.status_code == 200 and r.json()["scores"] == {"risk": 90}
    assert stub.hits[-1]["headers"]["Host"] == stub.entry
    stub.mode = "slow"
    r = score(api)
    assert r.status_code == 502 and "did not answer in 200 ms" in r.json()["error"]["message"]
    stub.mode = "error"
    r = score(api)
    assert r.status_code == 502 and "answered 500" in r.json()["error"]["message"]
    settings.EXTERNAL_ENDPOINT_ALLOWED_HOSTS = []
    r = score(api)
    assert r.status_code == 502 and r.json()["error"]["code"] == "endpoint_error"
    assert "no longer allowed" in r.json()["error"]["message"]


def test_a_host_outside_the_allow_list_never_goes_ready(api, analyst, settings):
    settings.EXTERNAL_ENDPOINT_ALLOWED_HOSTS = ["127.0.0.1"]
    model = services.model_create(actor=analyst, key="evil", name="Evil", model_type="external_endpoint")
    AlgorithmModel.objects.filter(pk=model.pk).update(config={"url": "http://10.1.2.3/score"})
    run = services.model_train_enqueue(model=model, actor=analyst)
    services.run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == "failed" and "not allowed" in run.error


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_redirect_is_refused_and_never_followed(api, analyst, settings, endpoint_factory, status):
    allowed, inside = endpoint_factory(), endpoint_factory()
    allowed.mode, allowed.status, allowed.location = "redirect", status, inside.url()
    # Both are allowed: it is the redirect itself that is refused, not where it points.
    settings.EXTERNAL_ENDPOINT_ALLOWED_HOSTS = [allowed.entry, inside.entry]
    ready(api, analyst, allowed.url())
    r = score(api)
    assert r.status_code == 502
    assert r.json()["error"]["message"] == (f"The external endpoint failed: the endpoint answered a redirect "
                                            f"({status}); redirects are not followed")
    assert len(allowed.hits) == 1 and inside.hits == []


def test_the_allow_list_names_host_and_port(api, analyst, settings, endpoint_factory):
    listed, other = endpoint_factory(), endpoint_factory()
    settings.EXTERNAL_ENDPOINT_ALLOWED_HOSTS = [listed.entry]
    r = create(api, other.url(), key="other-port")
    assert r.status_code == 400 and r.json()["error"]["details"] == {"field": "config.url"}
    assert f"127.0.0.1:{other.port} is not allowed" in r.json()["error"]["message"]
    settings.EXTERNAL_ENDPOINT_ALLOWED_HOSTS = ["127.0.0.1"]  # a bare host: port 80 for http only
    assert create(api, listed.url(), key="bare-host").status_code == 400
    settings.EXTERNAL_ENDPOINT_ALLOWED_HOSTS = [listed.entry]
    ready(api, analyst, listed.url())
    assert score(api).status_code == 200
    settings.EXTERNAL_ENDPOINT_ALLOWED_HOSTS = [other.entry]
    r = score(api)
    assert r.status_code == 502 and "no longer allowed" in r.json()["error"]["message"]
    assert len(listed.hits) == 1 and other.hits == []

    http = endpoints.parse_url("http://scoring.example.com/score")
    https = endpoints.parse_url("https://scoring.example.com/score")
    assert endpoints.is_allowed(http, ["scoring.example.com"]) and endpoints.is_allowed(https, ["scoring.example.com"])
    assert not endpoints.is_allowed(https, ["scoring.example.com:80"])
    assert not endpoints.is_allowed(endpoints.parse_url("http://scoring.example.com:8080/"), ["scoring.example.com"])


@pytest.mark.parametrize("url", [
    "http://127.0.0.1:8973\\@localhost/",
    "http://user:pass@localhost/score",
    "http://localhost/sc ore",
    "http://localhost/score\r\nX-Injected: 1",
    "http://lócalhost/score",
    "http://2130706433/score",
    "http://localhost:/score",
    "ftp://localhost/score",
])
def test_an_ambiguous_url_is_refused_when_the_config_is_saved(api, settings, url):
    settings.EXTERNAL_ENDPOINT_ALLOWED_HOSTS = ["127.0.0.1:8973", "localhost", "lócalhost", "2130706433"]
    r = create(api, url)
    assert r.status_code == 400, r.json()
    error = r.json()["error"]
    assert error["code"] == "validation_error" and error["details"] == {"field": "config.url"}
    assert error["message"].startswith("config.url")
    assert not AlgorithmModel.objects.filter(key="ext").exists()
    api.post("/api/v1/algorithm-models", {"key": "ext", "name": "Ext", "modelType": "external_endpoint"},
             format="json")
    r = api.put("/api/v1/algorithm-models/ext", {"config": {"url": url}}, format="json")
    assert r.status_code == 400 and r.json()["error"]["details"] == {"field": "config.url"}
    assert AlgorithmModel.objects.get(key="ext").config == {}


def test_the_deadline_is_capped_well_under_the_web_worker_timeout(api, settings):
    settings.EXTERNAL_ENDPOINT_ALLOWED_HOSTS = ["localhost"]
    r = create(api, "http://localhost/score", timeout_ms=10_001)
    assert r.status_code == 400 and r.json()["error"]["details"] == {"field": "config.timeoutMs"}
    assert create(api, "http://localhost/score", timeout_ms=10_000).status_code == 201


def test_the_name_is_resolved_once_and_the_checked_address_is_called(api, analyst, settings, endpoint_factory,
                                                                     monkeypatch):
    served = endpoint_factory()
    try:
        trap = endpoint_factory(host="127.0.0.2", port=served.port)
    except OSError:
        pytest.skip("127.0.0.2 cannot be bound here")
    real = socket.getaddrinfo
    answers = iter(["127.0.0.1", "127.0.0.2", "127.0.0.2"])
    lookups = []

    def rebinding(host, port, *args, **kwargs):
        if host != "scoring.example.test":
            return real(host, port, *args, **kwargs)
        lookups.append(host)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (next(answers), port))]

    monkeypatch.setattr(socket, "getaddrinfo", rebinding)
    settings.EXTERNAL_ENDPOINT_ALLOWED_HOSTS = [f"scoring.example.test:{served.port}"]
    ready(api, analyst, served.url(host="scoring.example.test"))
    assert score(api).status_code == 200
    assert lookups == ["scoring.example.test"]
    assert len(served.hits) == 1 and trap.hits == []
    assert served.hits[0]["headers"]["Host"] == f"scoring.example.test:{served.port}"


def test_a_name_resolving_to_a_link_local_or_other_address_is_refused(api, analyst, settings, stub, monkeypatch):
    real = socket.getaddrinfo
    answer = {"scoring.example.test": "169.254.169.254", "127.0.0.1": "127.0.0.2"}

    def resolver(host, port, *args, **kwargs):
        if host not in answer:
            return real(host, port, *args, **kwargs)
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (answer[host], port))]

    settings.EXTERNAL_ENDPOINT_ALLOWED_HOSTS = [f"scoring.example.test:{stub.port}", stub.entry]
    ready(api, analyst, stub.url(host="scoring.example.test"), key="metadata")
    ready(api, analyst, stub.url(), key="literal")
    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    r = score(api, key="metadata")
    assert r.status_code == 502 and "169.254.169.254, a link-local or reserved address" in r.json()["error"]["message"]
    r = score(api, key="literal")
    assert r.status_code == 502 and "resolved to 127.0.0.2, not the listed address" in r.json()["error"]["message"]
    assert stub.hits == []


@pytest.mark.parametrize("mode", ["trickle-head", "trickle-body"])
def test_a_trickling_endpoint_is_cut_at_the_deadline(api, analyst, settings, stub, mode):
    settings.EXTERNAL_ENDPOINT_ALLOWED_HOSTS = [stub.entry]
    ready(api, analyst, stub.url(), timeout_ms=500)
    stub.mode = mode
    started = time.monotonic()
    r = score(api)
    elapsed = time.monotonic() - started
    assert r.status_code == 502 and "did not answer in 500 ms" in r.json()["error"]["message"]
    # The trickle would last 18 s; a deadline per read (0.5 s, a byte every 0.3 s) would never fire.
    assert elapsed < 0.5 + 3


def test_the_breaker_opens_after_repeated_failures_and_fails_fast(api, analyst, settings, stub):
    settings.EXTERNAL_ENDPOINT_ALLOWED_HOSTS = [stub.entry]
    settings.EXTERNAL_ENDPOINT_BREAKER_SECONDS = 60
    ready(api, analyst, stub.url())
    stub.mode = "error"
    for _ in range(external.BREAKER_FAILURES):
        r = score(api)
        assert r.status_code == 502 and "answered 500" in r.json()["error"]["message"]
    r = score(api)
    assert r.status_code == 503 and r.json()["error"]["code"] == "endpoint_error"
    assert f"failed {external.BREAKER_FAILURES} times in a row; calls to it are paused" in r.json()["error"]["message"]
    assert 0 < int(r["Retry-After"]) <= 60
    assert len(stub.hits) == external.BREAKER_FAILURES  # the paused call never reached the endpoint


def test_calls_in_flight_to_one_endpoint_are_bounded(settings, stub):
    settings.EXTERNAL_ENDPOINT_ALLOWED_HOSTS = [stub.entry]
    settings.EXTERNAL_ENDPOINT_MAX_CONCURRENCY = 1
    stub.mode = "hold"
    params = {"url": stub.url(), "timeoutMs": 5000, "traits": ["risk"]}
    first = threading.Thread(target=lambda: external.predict(params, [{"content": "x"}]))
    first.start()
    try:
        deadline = time.monotonic() + 5
        while not stub.hits and time.monotonic() < deadline:
            time.sleep(0.01)
        assert stub.hits, "the first call never reached the endpoint"
        with pytest.raises(external.EndpointError, match="too many calls in flight") as refused:
            external.predict(params, [{"content": "x"}])
        assert refused.value.retry_after == 1 and len(stub.hits) == 1
    finally:
        stub.release.set()
        first.join(10)


def test_credentials_are_sent_but_never_echoed(api, analyst, settings, stub, as_analyst):
    settings.EXTERNAL_ENDPOINT_ALLOWED_HOSTS = [stub.entry]
    r = create(api, stub.url(), authorization=SECRET)
    assert r.status_code == 201 and r.json()["config"]["authorization"] == endpoints.SECRET_SHOWN
    assert "s3cret" not in r.content.decode()
    model = ready(api, analyst, stub.url(), key="ext2", authorization=SECRET)
    assert score(api, key="ext2").status_code == 200
    assert stub.hits[-1]["headers"]["Authorization"] == SECRET

    shown = api.get("/api/v1/algorithm-models/ext2")
    assert shown.json()["config"] == {"url": stub.url(), "timeoutMs": 1000, "traits": ["risk"],
                                      "authorization": endpoints.SECRET_SHOWN}
    # The config sent back as shown keeps the secret; a changed config records only a masked "before".
    r = api.put("/api/v1/algorithm-models/ext2", {"config": {**shown.json()["config"], "traits": ["risk", "x"]}},
                format="json")
    assert r.status_code == 200
    assert AlgorithmModel.objects.get(pk=model.pk).config["authorization"] == SECRET
    assert score(api, key="ext2").status_code == 200 and stub.hits[-1]["headers"]["Authorization"] == SECRET

    for url in ("/api/v1/algorithm-models/ext2", "/api/v1/algorithm-models", "/api/v1/algorithm-models/ext2/versions",
                "/api/v1/algorithm-models/ext2/events"):
        response = api.get(url)
        assert response.status_code == 200 and "s3cret" not in response.content.decode(), url
    page = as_analyst.get(reverse("lifecycle:model-detail", args=["ext2"]))
    html = page.content.decode()
    assert page.status_code == 200 and "Authorization header set (never shown)" in html and "s3cret" not in html
    export = as_analyst.get(reverse("registry:audit-export"))
    assert "s3cret" not in b"".join(export.streaming_content).decode()


def test_credentials_in_the_url_are_refused(api, settings, stub):
    settings.EXTERNAL_ENDPOINT_ALLOWED_HOSTS = [stub.entry]
    r = create(api, f"http://scorer:{SECRET[7:]}@{stub.entry}/score")
    assert r.status_code == 400 and "must not carry credentials" in r.json()["error"]["message"]
    assert "s3cret" not in r.content.decode()


@pytest.fixture
def tls_files(tmp_path):
    if not shutil.which("openssl"):
        pytest.skip("openssl is needed to make a test certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", str(key), "-out", str(cert), "-days", "1",
                    "-subj", "/CN=scoring.example.test", "-addext", "subjectAltName=DNS:scoring.example.test"],
                   check=True, capture_output=True)
    return cert, key


def test_https_connects_to_the_resolved_address_and_checks_the_certificate_against_the_name(
        api, analyst, settings, endpoint_factory, monkeypatch, tls_files):
    cert, key = tls_files
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_tls.load_cert_chain(cert, key)
    stub = endpoint_factory(tls=server_tls)
    real = socket.getaddrinfo

    def resolver(host, port, *args, **kwargs):
        if host.endswith(".example.test"):
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]
        return real(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", resolver)
    monkeypatch.setattr(external, "_tls_context", lambda: ssl.create_default_context(cafile=str(cert)))
    settings.EXTERNAL_ENDPOINT_ALLOWED_HOSTS = [f"scoring.example.test:{stub.port}", f"other.example.test:{stub.port}"]
    ready(api, analyst, stub.url(host="scoring.example.test", scheme="https"))
    assert score(api).status_code == 200
    ready(api, analyst, stub.url(host="other.example.test", scheme="https"), key="mismatch")
    r = score(api, key="mismatch")
    assert r.status_code == 502 and "TLS with the endpoint failed" in r.json()["error"]["message"]
    assert len(stub.hits) == 1

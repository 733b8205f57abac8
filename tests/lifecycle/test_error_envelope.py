"""Every error under /api/ is the JSON envelope, whichever layer refuses; pages show our own error page, never
Django's technical one, and render it without the database; API tokens have a rate limit."""

import json
import socket

import pytest
from django.db import OperationalError, connection, connections
from django.db.backends.utils import CursorWrapper

from lifecycle import selectors
from lifecycle.core.api import throttling
from lifecycle.core.api.errors import PAYLOAD_TOO_LARGE
from tests.conftest import token_client

pytestmark = pytest.mark.django_db


def _set(name, value):
    return lambda settings, monkeypatch: setattr(settings, name, value)


def _break(target, exc):
    def prepare(settings, monkeypatch):
        def fail(*args, **kwargs):
            raise exc

        monkeypatch.setattr(selectors, target, fail)

    return prepare


BIG_BODY = {"data": json.dumps({"key": "k", "name": "x" * 2000, "modelType": "scorecard"}),
            "content_type": "application/json"}

ERRORS = [
    # (caller, method, path, request kwargs, status, code, prepare)
    pytest.param("token", "get", "/api/nope", {}, 404, "not_found", None, id="404-unknown-path"),
    pytest.param("token", "get", "/api/", {}, 404, "not_found", None, id="404-api-root"),
    pytest.param("token", "get", "/api/v1/no-such-collection/", {}, 404, "not_found", None, id="404-unknown-v1"),
    pytest.param("token", "get", "/api/v1/algorithm-models/0.5", {}, 404, "not_found", None, id="404-id-not-a-route"),
    pytest.param("token", "post", "/api/v1/algorithm-models/a%2Fb/train", {}, 404, "not_found", None,
                 id="404-encoded-slash"),
    pytest.param("token", "get", "/api/schema/extra", {}, 404, "not_found", None, id="404-below-schema"),
    pytest.param("token", "get", "/api/docs/extra", {}, 404, "not_found", None, id="404-below-docs"),
    pytest.param("token", "get", "/api/v1/algorithm-models/no-such-model", {}, 404, "not_found", None,
                 id="404-unknown-model"),
    pytest.param("anon", "get", "/api/docs/", {}, 401, "not_authenticated", None, id="401-docs"),
    pytest.param("anon", "get", "/api/schema/", {}, 401, "not_authenticated", None, id="401-schema"),
    pytest.param("token", "delete", "/api/schema/", {}, 405, "method_not_allowed", None, id="405-schema"),
    pytest.param("token", "post", "/api/docs/", {}, 405, "method_not_allowed", None, id="405-docs"),
    pytest.param("token", "post", "/api/v1/audit-log", {}, 405, "method_not_allowed", None, id="405-api"),
    pytest.param("token", "post", "/api/v1/algorithm-models", BIG_BODY, 413, "payload_too_large",
                 _set("DATA_UPLOAD_MAX_MEMORY_SIZE", 1000), id="413"),
    pytest.param("token", "post", "/api/v1/algorithm-models", {"data": "<model/>", "content_type": "application/xml"},
                 415, "unsupported_media_type", None, id="415"),
    pytest.param("token", "get", "/api/v1/algorithm-models", {}, 500, "server_error",
                 _break("model_list", RuntimeError("a bug")), id="500"),
    pytest.param("token", "get", "/api/v1/algorithm-models", {}, 503, "service_unavailable",
                 _break("model_list", OperationalError("server closed the connection unexpectedly")), id="503"),
]


@pytest.mark.parametrize("caller, method, path, kwargs, status, code, prepare", ERRORS)
def test_every_api_error_is_the_json_envelope(api, client, settings, monkeypatch, caller, method, path, kwargs,
                                              status, code, prepare):
    if prepare:
        prepare(settings, monkeypatch)
    caller = api if caller == "token" else client
    caller.raise_request_exception = False  # the 500 is answered, not raised into the test
    r = getattr(caller, method)(path, **kwargs)
    assert r.status_code == status
    assert r["Content-Type"] == "application/json"
    body = json.loads(r.content)
    assert set(body) == {"error"} and {"code", "message", "status"} <= set(body["error"])
    assert body["error"]["code"] == code and body["error"]["status"] == status
    assert body["error"]["message"] and "Traceback" not in body["error"]["message"]
    if status == 503:
        assert r["Retry-After"] == "1" and "retry" in body["error"]["message"]
    if status == 500:
        assert "a bug" not in body["error"]["message"]


LEAKS = ("urlpatterns", "URLconf", "URLResolver", "URLPattern", "Traceback", "tried", ".py", "/work/", "site-packages")


@pytest.mark.parametrize("logged_in", [True, False], ids=["analyst", "anonymous"])
def test_an_unknown_page_is_our_404_page_and_shows_nothing_of_the_url_configuration(client, analyst, settings,
                                                                                     logged_in):
    settings.DEBUG = False
    if logged_in:
        client.force_login(analyst)
    for path in ("/no-such-page/", "/models/churn-risk/no-such-tab/", "/nothing/here.txt"):
        r = client.get(path)
        page = r.content.decode()
        assert r.status_code == 404 and r["Content-Type"].startswith("text/html"), path
        assert "Error 404" in page and "Not found · Model lifecycle" in page
        assert not [leak for leak in LEAKS if leak in page], path
        assert str(settings.BASE_DIR) not in page


def test_a_missing_model_page_still_says_which_model(as_analyst):
    r = as_analyst.get("/models/no-such-model/")
    assert r.status_code == 404 and "no-such-model" in r.content.decode()


def test_an_oversized_form_is_a_413_page_not_a_bare_400(as_analyst, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    r = as_analyst.post("/models/new/", {"key": "big", "name": "x" * 5000, "modelType": "scorecard"})
    page = r.content.decode()
    assert r.status_code == 413 and "Error 413" in page and PAYLOAD_TOO_LARGE in page


@pytest.fixture
def fixed_clock(monkeypatch):
    """Minute windows start at multiples of 60: at t=1000 the window ends in 20 s, whatever the test's pace."""
    monkeypatch.setattr(throttling.WindowRateThrottle, "timer", staticmethod(lambda: 1000.0))


def test_a_token_over_its_rate_gets_429_with_retry_after(api, analyst, settings, fixed_clock):
    settings.API_THROTTLE_RATE = "3/min"
    assert [api.get("/api/v1/algorithm-models").status_code for _ in range(3)] == [200, 200, 200]
    r = api.get("/api/v1/algorithm-models")
    assert r.status_code == 429 and r["Content-Type"] == "application/json"
    assert r["Retry-After"] == "20"
    assert r.json() == {"error": {"code": "throttled", "status": 429, "message":
                                  "Too many requests from this caller; retry after 20 s (as Retry-After says)."}}
    # The budget is the token's: the same user's other token is still served.
    assert token_client(analyst).get("/api/v1/algorithm-models").status_code == 200


def test_a_rate_cache_that_is_down_lets_calls_through(api, settings, fixed_clock, caplog):
    settings.API_THROTTLE_RATE = "1/min"
    with socket.socket() as s:  # a port that nothing listens on: every cache call is refused
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    settings.CACHES = {**settings.CACHES, "throttle": {
        "BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": f"redis://127.0.0.1:{dead}/0",
        "OPTIONS": {"socket_connect_timeout": 0.5, "socket_timeout": 0.5}}}
    assert [api.get("/api/v1/algorithm-models").status_code for _ in range(3)] == [200, 200, 200]
    assert "API rate limit not counted" in caplog.text
    settings.CACHES = {"default": settings.CACHES["default"]}  # the cache is back: the limit holds again
    assert [api.get("/api/v1/algorithm-models").status_code for _ in range(2)] == [200, 429]


@pytest.fixture
def database_down():
    """Call it to make every query from then on fail as if the database had gone away."""
    original = CursorWrapper._execute_with_wrappers

    def refuse(*args, **kwargs):
        raise OperationalError("server closed the connection unexpectedly")

    yield lambda: setattr(CursorWrapper, "_execute_with_wrappers", refuse)
    CursorWrapper._execute_with_wrappers = original


def _assert_503_page(r):
    page = r.content.decode()
    assert r.status_code == 503 and r["Retry-After"] == "1" and r["Content-Type"].startswith("text/html")
    assert "The database is not answering" in page and "reload the page" in page
    assert "OperationalError" not in page and "server closed" not in page


def test_pages_answer_503_without_the_database(client, analyst, database_down):
    """The session and the user are read in middleware, before any view: handler500 answers, without a query."""
    client.force_login(analyst)
    client.raise_request_exception = False
    database_down()
    for path in ("/", "/models/", "/models/churn-risk/"):
        _assert_503_page(client.get(path))
    r = client.get("/no-such-page/")
    assert r.status_code == 404 and "Error 404" in r.content.decode()
    r = client.get("/api/v1/algorithm-models")  # the session read inside the API view
    assert r.status_code == 503 and r.json()["error"]["code"] == "service_unavailable" and r["Retry-After"] == "1"


def test_healthz_says_unavailable_without_the_database_error_text(client, database_down):
    database_down()
    r = client.get("/healthz")
    assert r.status_code == 503 and r.json() == {"status": "unavailable", "database": "unavailable"}
    assert "server closed" not in r.content.decode()


def test_a_page_whose_database_goes_away_mid_view_is_a_503(as_analyst, database_down, monkeypatch):
    """The user is loaded, then the database goes: the error page must not ask it for the role or the reviews."""

    def counts(*args, **kwargs):
        database_down()
        raise OperationalError("server closed the connection unexpectedly")

    monkeypatch.setattr(selectors, "model_counts_by", counts)
    _assert_503_page(as_analyst.get("/"))


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_postgres_going_away_gives_503_pages_and_envelopes(client, analyst):
    """A real PostgreSQL outage: this process's backend is terminated and the server refuses new connections."""
    if connection.vendor != "postgresql":
        pytest.skip("terminates PostgreSQL backends; .ci/run runs this with DATABASE_URL set")
    api = token_client(analyst)
    client.force_login(analyst)
    for caller in (client, api):
        caller.raise_request_exception = False
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        pid = cursor.fetchone()[0]
    port = connection.settings_dict["PORT"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    killer = connections.create_connection("default")
    try:
        with killer.cursor() as cursor:
            cursor.execute("SELECT pg_terminate_backend(%s)", [pid])
        connection.settings_dict["PORT"] = dead  # reconnecting fails too, as during a restart
        _assert_503_page(client.get("/"))
        _assert_503_page(client.get("/models/"))
        r = client.get("/no-such-page/")
        assert r.status_code == 404 and "Error 404" in r.content.decode()
        r = api.get("/api/v1/algorithm-models")
        assert r.status_code == 503 and r["Retry-After"] == "1"
        assert r.json()["error"]["code"] == "service_unavailable"
        r = api.get("/api/nope")
        assert r.status_code == 404 and r.json()["error"]["code"] == "not_found"
    finally:
        connection.settings_dict["PORT"] = port
        connection.close()
        killer.close()
    assert api.get("/api/v1/algorithm-models").status_code == 200  # and back once the database is

import os
import shutil

import pytest

# Django-dependent imports stay inside fixtures so the plain ML tests can run without Django.


@pytest.fixture(autouse=True)
def _sync_tasks(request):
    """Unit tests run worker tasks in-process; the worker tests start real qcluster processes instead."""
    if not request.config.pluginmanager.hasplugin("django"):
        return
    settings = request.getfixturevalue("settings")
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": True}
    settings.LIFECYCLE_TRAINING_STEP_PAUSE = 0
    # Every progress step written by the run itself: a run executed inside a test's transaction must not leave a
    # step to the heartbeat thread, whose own connection cannot see that transaction's rows (on PostgreSQL it
    # would wait on their locks). tests/lifecycle/test_heartbeat.py sets a gap, with committed rows.
    settings.LIFECYCLE_RUN_PROGRESS_GAP = 0
    # A cache of each test's own: counters (the login brake) must not leak between tests through Redis.
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache",
                                   "LOCATION": request.node.nodeid}}
    # No collectstatic in tests: serve static files straight from static/.
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
    # The per-process token cache starts empty: a rolled-back test leaves no entry behind.
    from lifecycle.core.api import authcache

    authcache.clear()
    # So do the served versions and loaded models: a rolled-back test's ids come back with other rows.
    from lifecycle import selectors
    from scoring import serving

    selectors.serving_caches_clear()
    serving.clear()


@pytest.fixture(autouse=True)
def _schema_checked_answers(request, monkeypatch):
    """Every JSON answer under /api/v1/ is validated against the published schema (tests/schema_check.py)."""
    if not request.config.pluginmanager.hasplugin("django"):
        return
    from django.test import Client

    from tests.schema_check import check_response

    plain = Client.request

    def checked(self, **kwargs):
        response = plain(self, **kwargs)
        check_response(kwargs.get("REQUEST_METHOD", "GET"), kwargs.get("PATH_INFO", ""), response)
        return response

    monkeypatch.setattr(Client, "request", checked)


@pytest.fixture
def analyst(db):
    from tests.factories import make_user

    return make_user("analyst")


@pytest.fixture
def viewer(db):
    from tests.factories import make_user

    return make_user("viewer")


@pytest.fixture
def reviewer(db):
    from tests.factories import make_user

    return make_user("reviewer")


@pytest.fixture
def admin_user(db):
    from tests.factories import make_user

    return make_user("admin", username="admin")


def token_client(user):
    from rest_framework.test import APIClient

    from lifecycle import services

    _, key = services.api_token_create(user=user, actor=user, name="tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    return client


@pytest.fixture
def api(analyst):
    return token_client(analyst)


@pytest.fixture
def viewer_api(viewer):
    return token_client(viewer)


@pytest.fixture
def as_analyst(client, analyst):
    """The test client logged in as an analyst (pages use sessions)."""
    client.force_login(analyst)
    return client


@pytest.fixture
def as_viewer(client, viewer):
    client.force_login(viewer)
    return client


@pytest.fixture
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None


@pytest.fixture
def worker_env() -> dict:
    """Extra environment for the `worker` fixture's process; override this fixture to change it."""
    return {"LIFECYCLE_TRAINING_STEP_PAUSE": "0.4"}


@pytest.fixture
def worker(transactional_db, settings, monkeypatch, tmp_path, worker_env, _sync_tasks):
    """One real worker for this test, on a cluster name of its own so that no other worker takes its tasks.

    Runs are queued through the broker instead of executed in-process, and this process enqueues to the
    cluster name the worker listens on.
    """
    import uuid

    from django_q.conf import Conf

    from tests.workers import start_worker, stop_worker, worker_log_tail

    name = f"test-{uuid.uuid4().hex[:10]}"
    # django_q reads its settings once, at import: point this process's broker and signing salt at the name.
    monkeypatch.setattr(Conf, "PREFIX", name)
    monkeypatch.setattr(Conf, "CLUSTER_NAME", name)
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "name": name, "sync": False}
    proc = start_worker({**worker_env, "Q_CLUSTER_NAME": name}, log_path=tmp_path / "worker.log")
    yield proc
    exited = proc.poll() is not None
    stop_worker(proc)
    if exited:
        pytest.fail(f"the worker exited early with {proc.returncode}:\n{worker_log_tail(proc)}")

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
    # No collectstatic in tests: serve static files straight from static/.
    settings.STORAGES = {**settings.STORAGES,
                         "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}


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
def capture(django_capture_on_commit_callbacks):
    return django_capture_on_commit_callbacks


def chromium_path() -> str | None:
    for candidate in (os.environ.get("CHROMIUM_PATH"), "/usr/bin/chromium", shutil.which("chromium")):
        if candidate and os.path.exists(candidate):
            return candidate
    return None

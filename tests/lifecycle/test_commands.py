import io

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from lifecycle.models import AlgorithmModel, ApiToken

pytestmark = pytest.mark.django_db


def test_roles_exist_after_migrate():
    assert set(Group.objects.values_list("name", flat=True)) >= {"viewer", "analyst", "reviewer", "admin"}
    analyst = Group.objects.get(name="analyst").permissions.values_list("codename", flat=True)
    viewer = Group.objects.get(name="viewer").permissions.values_list("codename", flat=True)
    assert "train_algorithmmodel" in analyst and "view_algorithmmodel" in viewer
    assert "change_algorithmmodel" not in viewer


def test_adduser_prints_a_working_token_on_the_last_line():
    out = io.StringIO()
    call_command("adduser", "alice", role="analyst", password="long-enough", token=True, stdout=out)
    key = out.getvalue().strip().splitlines()[-1]
    token = ApiToken.objects.get(user__username="alice")
    assert token.key_hash == ApiToken.hash_key(key) and key not in token.key_hash  # only the hash is kept
    client = APIClient(HTTP_AUTHORIZATION=f"Token {key}")
    r = client.post("/api/v1/algorithm-models", {"key": "a", "name": "A", "modelType": "scorecard"}, format="json")
    assert r.status_code == 201


def test_adduser_updates_the_role():
    call_command("adduser", "bob", role="analyst", stdout=io.StringIO())
    call_command("adduser", "bob", role="viewer", stdout=io.StringIO())
    from django.contrib.auth import get_user_model

    bob = get_user_model().objects.get(username="bob")
    assert [g.name for g in bob.groups.all()] == ["viewer"]
    assert not bob.has_usable_password()
    with pytest.raises(CommandError):
        call_command("adduser", "bob", role="viewer", password="short", stdout=io.StringIO())


def test_revoked_tokens_stop_working(analyst):
    from lifecycle import services

    token, key = services.api_token_create(user=analyst, actor=analyst, name="ci")
    client = APIClient(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/algorithm-models").status_code == 200
    services.api_token_revoke(token=token, actor=analyst)
    assert client.get("/api/v1/algorithm-models").status_code == 401


def test_seed_demo_loads_models_in_different_states_once():
    call_command("seed_demo", stdout=io.StringIO())
    states = dict(AlgorithmModel.objects.values_list("key", "state"))
    assert states["churn-risk"] == "ready" and states["support-tone"] == "draft"
    assert states["upsell-neural"] == "failed" and states["credit-scorecard"] == "ready"
    assert AlgorithmModel.objects.get(key="churn-risk").versions.count() == 2
    # The credit scorecard scores a credit risk, not churn: a higher score is worse.
    card = AlgorithmModel.objects.get(key="credit-scorecard").traits.get()
    assert (card.key, card.name, card.direction) == ("default_risk", "Default risk", "higher_is_bad")
    call_command("seed_demo", stdout=io.StringIO())  # not twice
    assert AlgorithmModel.objects.count() == len(states)


def test_migrations_match_the_models():
    call_command("makemigrations", "--check", "--dry-run", stdout=io.StringIO())


def test_the_production_profile_passes_check_deploy():
    import os
    import secrets
    import subprocess
    import sys

    env = {**os.environ, "HTTPS": "1", "DEBUG": "0", "SECRET_KEY": secrets.token_urlsafe(60),
           "ALLOWED_HOSTS": "models.example.com"}
    out = subprocess.run([sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"], env=env,
                         capture_output=True, text=True, cwd=os.path.dirname(os.path.dirname(os.path.dirname(
                             os.path.abspath(__file__)))))
    assert out.returncode == 0, out.stdout + out.stderr


def test_an_oversized_body_is_a_413_with_a_message(api, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    r = api.post("/api/v1/algorithm-models", {"key": "k", "name": "x" * 2000, "modelType": "scorecard"},
                 format="json")
    assert r.status_code == 413 and r.json()["error"]["code"] == "payload_too_large"


def test_login_is_braked_after_repeated_failures(client, analyst):
    from tests.factories import PASSWORD

    for _ in range(5):
        r = client.post("/login/", {"username": "analyst", "password": "wrong-password"})
        assert r.status_code == 200 and "didn&#x27;t match" in r.content.decode()
    r = client.post("/login/", {"username": "analyst", "password": PASSWORD})
    assert r.status_code == 429 and "Too many failed attempts" in r.content.decode()
    assert "_auth_user_id" not in client.session  # not even the right password gets through now


def test_expired_tokens_stop_working(settings):
    from datetime import timedelta

    from django.utils import timezone

    out = io.StringIO()
    call_command("adduser", "carol", role="viewer", token=True, token_days=1, stdout=out)
    key = out.getvalue().strip().splitlines()[-1]
    client = APIClient(HTTP_AUTHORIZATION=f"Token {key}")
    assert client.get("/api/v1/algorithm-models").status_code == 200
    ApiToken.objects.filter(user__username="carol").update(expires_at=timezone.now() - timedelta(seconds=1))
    settings.API_AUTH_CACHE_SECONDS = 0  # an update sends no signal: the cached entry ends with its time
    r = client.get("/api/v1/algorithm-models")
    assert r.status_code == 401 and "expired" in r.json()["error"]["message"]

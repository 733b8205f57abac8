"""The per-process token cache: a token is read once per API_AUTH_CACHE_SECONDS, and every change that can take
access away is seen on the next call of the process that made it (other processes: within the bound)."""

import pytest
from django.contrib.auth.models import Group, Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from lifecycle import services
from lifecycle.core.api import authcache
from tests.factories import make_user

pytestmark = pytest.mark.django_db
LIST = "/api/v1/algorithm-models"


def _client(user):
    token, key = services.api_token_create(user=user, actor=user, name="cache")
    return token, APIClient(HTTP_AUTHORIZATION=f"Token {key}")


def _queries(client) -> tuple[int, list[str]]:
    with CaptureQueriesContext(connection) as ctx:
        assert client.get(LIST).status_code == 200
    return len(ctx.captured_queries), [q["sql"] for q in ctx.captured_queries]


def test_a_warm_token_reads_neither_the_token_nor_the_permissions(analyst):
    _, client = _client(analyst)
    cold, _ = _queries(client)
    warm, sql = _queries(client)
    assert warm <= cold - 3  # the token row and the user's and groups' permissions
    assert not any("lifecycle_apitoken" in s or "auth_permission" in s for s in sql)


def test_revoking_a_token_refuses_its_next_call(analyst):
    token, client = _client(analyst)
    assert client.get(LIST).status_code == 200
    services.api_token_revoke(token=token, actor=analyst)
    assert client.get(LIST).status_code == 401


def test_a_token_revoked_elsewhere_is_refused_once_its_entry_expires(analyst, settings):
    """Another process's revocation reaches this one within the TTL: here an update that sends no signal."""
    from lifecycle.models import ApiToken

    token, client = _client(analyst)
    assert client.get(LIST).status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(revoked_at="2026-01-01T00:00Z")  # no signal, like another process
    assert client.get(LIST).status_code == 200  # still cached: the stated bound
    settings.API_AUTH_CACHE_SECONDS = 0  # the entry's time is up
    assert client.get(LIST).status_code == 401


def test_removing_the_role_takes_effect_on_the_next_call(analyst):
    _, client = _client(analyst)
    assert client.get(LIST).status_code == 200
    analyst.groups.clear()
    response = client.get(LIST)
    assert response.status_code == 403 and "no role" in response.json()["error"]["message"]


def test_removing_a_permission_from_the_group_takes_effect_on_the_next_call(db):
    viewer = make_user("viewer", username="v-cache")
    _, client = _client(viewer)
    assert client.get(LIST).status_code == 200
    Group.objects.get(name="viewer").permissions.remove(Permission.objects.get(codename="view_algorithmmodel"))
    assert client.get(LIST).status_code == 403


def test_deactivating_the_user_refuses_the_next_call(analyst):
    _, client = _client(analyst)
    assert client.get(LIST).status_code == 200
    analyst.is_active = False
    analyst.save()
    assert client.get(LIST).status_code == 401


def test_an_expired_token_is_refused_even_from_the_cache(analyst, settings):
    from datetime import timedelta

    from django.utils import timezone

    token, client = _client(analyst)
    assert client.get(LIST).status_code == 200
    key_hash = token.key_hash
    _, cached = authcache._entries[key_hash][1:]
    cached.expires_at = timezone.now() - timedelta(seconds=1)
    assert client.get(LIST).status_code == 401

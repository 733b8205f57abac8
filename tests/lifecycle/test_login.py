"""The login brake: it keys on the username and the client address together, honours a trusted proxy, and
never stops a login when the cache is down."""

import pytest
from django.core.cache.backends.base import BaseCache

from tests.factories import PASSWORD, make_user

pytestmark = pytest.mark.django_db


class UnreachableCache(BaseCache):
    """A cache whose server is gone: every call raises, as a Redis client does when nothing listens."""

    def __init__(self, location, params):
        super().__init__(params)

    def _down(self, *args, **kwargs):
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")

    add = get = set = touch = delete = incr = get_many = set_many = delete_many = has_key = clear = _down


@pytest.fixture(params=["unreachable", "redis-closed-port"])
def cache_down(request, settings):
    if request.param == "unreachable":
        settings.CACHES = {"default": {"BACKEND": f"{__name__}.UnreachableCache"}}
    else:
        settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache",
                                       "LOCATION": "redis://127.0.0.1:1/0"}}


def _fail(client, username, **extra):
    r = client.post("/login/", {"username": username, "password": "wrong-password"}, **extra)
    assert r.status_code == 200 and "didn&#x27;t match" in r.content.decode()


def test_login_works_while_the_cache_is_down(client, analyst, cache_down, caplog):
    _fail(client, "analyst")  # a wrong password is still just a wrong password, not an error page
    r = client.post("/login/", {"username": "analyst", "password": PASSWORD})
    assert r.status_code == 302 and client.session["_auth_user_id"] == str(analyst.pk)
    assert "login brake off" in caplog.text


def test_failures_for_one_user_do_not_brake_another_user_at_the_same_address(client, db):
    make_user("analyst", username="x")
    make_user("analyst", username="y")
    for _ in range(5):
        _fail(client, "x")
    assert client.post("/login/", {"username": "x", "password": PASSWORD}).status_code == 429
    r = client.post("/login/", {"username": "y", "password": PASSWORD})
    assert r.status_code == 302 and "_auth_user_id" in client.session


def test_the_same_user_from_another_address_is_not_braked_by_one_address(client, analyst):
    for _ in range(5):
        _fail(client, "analyst", REMOTE_ADDR="203.0.113.7")
    assert client.post("/login/", {"username": "analyst", "password": PASSWORD},
                       REMOTE_ADDR="203.0.113.7").status_code == 429
    assert client.post("/login/", {"username": "analyst", "password": PASSWORD},
                       REMOTE_ADDR="198.51.100.2").status_code == 302


def test_behind_a_trusted_proxy_x_forwarded_for_names_the_address(client, analyst, settings):
    settings.TRUSTED_PROXY_COUNT = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}  # every request arrives from the proxy
    for _ in range(5):
        # The caller may prepend anything; only the proxy's own entry (the rightmost) counts.
        _fail(client, "analyst", HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7", **proxy)
    braked = client.post("/login/", {"username": "analyst", "password": PASSWORD},
                         HTTP_X_FORWARDED_FOR="9.9.9.9, 203.0.113.7", **proxy)
    assert braked.status_code == 429
    other = client.post("/login/", {"username": "analyst", "password": PASSWORD},
                        HTTP_X_FORWARDED_FOR="203.0.113.7, 198.51.100.2", **proxy)
    assert other.status_code == 302


def test_without_a_trusted_proxy_x_forwarded_for_is_ignored(client, analyst):
    for _ in range(5):
        _fail(client, "analyst", HTTP_X_FORWARDED_FOR="203.0.113.7")
    r = client.post("/login/", {"username": "analyst", "password": PASSWORD},
                    HTTP_X_FORWARDED_FOR="198.51.100.2")  # a forged header does not escape the brake
    assert r.status_code == 429

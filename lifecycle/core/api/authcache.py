"""Per-process cache of API token -> user with the user's permissions, so a scoring call does not read the
token row and the two permission tables on every request.

Bound on staleness: an entry lives `API_AUTH_CACHE_SECONDS` (default 5 s). Any change to a token, a user, a
user's groups or direct permissions, or a group's permissions empties the cache of the process that made the
change at once and again when its transaction commits; the other web processes see it within that bound.
A token's own expiry is checked on every call, cached or not.
"""

from __future__ import annotations

import copy
import threading
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, post_save
from django.utils import timezone

from ...models import ApiToken

MAX_ENTRIES = 1024
_entries: dict[str, tuple[float, object, ApiToken]] = {}
_lock = threading.Lock()


def ttl() -> float:
    return float(getattr(settings, "API_AUTH_CACHE_SECONDS", 5))


def _warm(user) -> None:
    """Load the permission caches ModelBackend keeps on the user object (two queries, once per entry)."""
    if user.is_active and not user.is_superuser:
        user.get_all_permissions()


def lookup(key_hash: str):
    """(user, token) for a live token, or None; from the cache when fresh. The user is a copy per call."""
    now = time.monotonic()
    seconds = ttl()
    entry = _entries.get(key_hash) if seconds > 0 else None
    if entry is None or entry[0] <= now:
        token = ApiToken.objects.live().select_related("user").filter(key_hash=key_hash).first()
        if token is None:
            return None
        _warm(token.user)
        entry = (now + seconds, token.user, token)
        if seconds > 0:
            with _lock:
                if len(_entries) >= MAX_ENTRIES:
                    _entries.clear()
                _entries[key_hash] = entry
    _, user, token = entry
    if token.revoked_at is not None or (token.expires_at is not None and token.expires_at <= timezone.now()):
        forget(key_hash)
        return None
    # A shallow copy: the request may set attributes on its user; the permission sets are shared, read only.
    return copy.copy(user), token


def forget(key_hash: str) -> None:
    with _lock:
        _entries.pop(key_hash, None)


def clear() -> None:
    with _lock:
        _entries.clear()


def _changed(*args, **kwargs) -> None:
    clear()
    transaction.on_commit(clear)


def connect() -> None:
    """Empty the cache on every change that can revoke access (called once, from the app's ready())."""
    user_model = get_user_model()
    for sender, uid in ((ApiToken, "token"), (user_model, "user"), (Group, "group")):
        post_save.connect(_changed, sender=sender, dispatch_uid=f"authcache.save.{uid}")
        post_delete.connect(_changed, sender=sender, dispatch_uid=f"authcache.delete.{uid}")
    for through, uid in ((user_model.groups.through, "user-groups"),
                         (user_model.user_permissions.through, "user-perms"),
                         (Group.permissions.through, "group-perms")):
        m2m_changed.connect(_changed, sender=through, dispatch_uid=f"authcache.m2m.{uid}")

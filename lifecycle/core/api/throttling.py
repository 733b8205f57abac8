"""API rate limits: a budget per token (or per logged-in user) and one per address for anonymous callers.

Each request adds one to a counter for the current window (one increment, not DRF's list of timestamps,
which grows with the rate). Counters live in the `throttle` cache when one is configured, else in the
default cache. A cache that fails lets the request through: a limit that cannot be counted must not take
the API down with it.
"""

from __future__ import annotations

import logging
import math
import time

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ImproperlyConfigured
from rest_framework.throttling import BaseThrottle

from ..auth import bump, client_address

logger = logging.getLogger(__name__)

PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int] | None:
    """'6000/min' -> (6000, 60); empty or 'off' -> None, no limit."""
    if not rate or rate.strip().lower() == "off":
        return None
    count, _, period = rate.partition("/")
    try:
        return int(count), PERIODS[period.strip()[:1].lower()]
    except (ValueError, KeyError):
        raise ImproperlyConfigured(f"A rate is 'N/s', 'N/min', 'N/hour', 'N/day' or 'off', not {rate!r}") from None


def _cache():
    return caches["throttle" if "throttle" in settings.CACHES else "default"]


class WindowRateThrottle(BaseThrottle):
    scope = ""
    rate_setting = ""
    timer = time.time

    def __init__(self):
        self.wait_seconds: int | None = None

    def ident(self, request) -> str | None:
        raise NotImplementedError

    def allow_request(self, request, view) -> bool:
        rate = parse_rate(getattr(settings, self.rate_setting, ""))
        ident = self.ident(request) if rate else None
        if ident is None:
            return True
        limit, period = rate
        now = self.timer()
        window = int(now // period)
        try:
            count = bump(_cache(), f"throttle:{self.scope}:{ident}:{period}:{window}", period + 1)
        except Exception as exc:  # noqa: BLE001 - whatever the cache raises, the request goes through
            logger.warning("API rate limit not counted, request let through (%s: %s)", type(exc).__name__, exc)
            return True
        if count <= limit:
            return True
        self.wait_seconds = max(1, math.ceil((window + 1) * period - now))
        return False

    def wait(self) -> int | None:
        return self.wait_seconds


class TokenRateThrottle(WindowRateThrottle):
    """API_THROTTLE_RATE per API token; a logged-in page session counts as its user."""

    scope = "user"
    rate_setting = "API_THROTTLE_RATE"

    def ident(self, request) -> str | None:
        token_id = getattr(request.auth, "pk", None)
        if token_id is not None:
            return f"token-{token_id}"
        user = request.user
        return f"user-{user.pk}" if user and user.is_authenticated else None


class AnonRateThrottle(WindowRateThrottle):
    """API_THROTTLE_ANON_RATE per address for callers without a login or token."""

    scope = "anon"
    rate_setting = "API_THROTTLE_ANON_RATE"

    def ident(self, request) -> str | None:
        user = request.user
        return None if user and user.is_authenticated else client_address(request)

from django.conf import settings

from . import selectors


def reviews(request):
    """The pending-review count for the navigation, for those who review, and where the change feed starts;
    each read only when a page shows it."""
    user = getattr(request, "user", None)
    if not (user and user.is_authenticated):
        return {"pending_review_count": None}
    # Where the page's change feed (registry/partials/pulse.html) starts: the newest audit row when it rendered.
    since = []

    def pulse_since() -> int:
        if not since:
            since.append(selectors.latest_event_id())
        return since[0]

    if not user.has_perm("registry.review_promotionrequest"):
        return {"pending_review_count": None, "pulse_since": pulse_since, "live_poll_seconds": settings.LIVE_POLL_SECONDS}
    cache = []

    def count() -> int:
        if not cache:
            cache.append(selectors.pending_count())
        return cache[0]

    return {"pending_review_count": count, "pulse_since": pulse_since, "live_poll_seconds": settings.LIVE_POLL_SECONDS}

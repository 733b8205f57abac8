from functools import cache

from django.conf import settings

from . import selectors


def reviews(request):
    """The pending-review count for the navigation, for those who review, and where the change feed starts;
    each read once, and only when a page shows it."""
    user = getattr(request, "user", None)
    if not (user and user.is_authenticated):
        return {"pending_review_count": None}
    return {
        "pending_review_count": (cache(selectors.pending_count)
                                 if user.has_perm("registry.review_promotionrequest") else None),
        # Where the page's change feed (registry/partials/pulse.html) starts: the newest audit row when it rendered.
        "pulse_since": cache(selectors.latest_event_id),
        "live_poll_seconds": settings.LIVE_POLL_SECONDS,
    }

from . import selectors


def reviews(request):
    """The pending-review count for the navigation, for those who review; counted only when a page shows it."""
    user = getattr(request, "user", None)
    if not (user and user.is_authenticated and user.has_perm("registry.review_promotionrequest")):
        return {"pending_review_count": None}
    cache = []

    def count() -> int:
        if not cache:
            cache.append(selectors.pending_count())
        return cache[0]

    return {"pending_review_count": count}

"""The registry's tables: operational status moves, the promotion ladder (the seed product's), request states."""

from django.db import models

from lifecycle.choices import OperationalStatus as Status
from lifecycle.choices import RegistryStatus as Rung

# Operational status (seed 001: set by PUT). Back to draft only from archived, so that a model on the
# ladder can never be draft-status.
STATUS_TRANSITIONS: dict[str, frozenset[str]] = {
    Status.DRAFT: frozenset({Status.ACTIVE, Status.ARCHIVED}),
    Status.ACTIVE: frozenset({Status.PAUSED, Status.ARCHIVED}),
    Status.PAUSED: frozenset({Status.ACTIVE, Status.ARCHIVED}),
    Status.ARCHIVED: frozenset({Status.DRAFT}),
}

# The promotion ladder, exactly as the seed product has it; anything else is invalid_transition.
LADDER: dict[str, tuple[str, ...]] = {
    Rung.DRAFT: (Rung.SHADOW, Rung.CHALLENGER, Rung.ARCHIVED),
    Rung.SHADOW: (Rung.CHALLENGER, Rung.CHAMPION, Rung.ARCHIVED, Rung.DRAFT),
    Rung.CHALLENGER: (Rung.CHAMPION, Rung.SHADOW, Rung.ARCHIVED, Rung.DRAFT),
    Rung.CHAMPION: (Rung.CHALLENGER, Rung.SHADOW, Rung.ARCHIVED),
    Rung.ARCHIVED: (Rung.DRAFT,),
}


class RequestState(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    CANCELLED = "cancelled", "Cancelled"
    STALE = "stale", "Stale"


class RequestKind(models.TextChoices):
    """A move on the ladder, or a change of the version a governed model serves."""

    MOVE = "move", "Ladder move"
    VERSION = "version", "Version change"


class VersionPolicy(models.TextChoices):
    """How a family's champion (and its challengers in a running experiment) may change the version it serves."""

    GUARD = "guard", "Guard"  # the guard compares candidate and serving version; a breach waits for a reviewer
    REVIEW = "review", "Review"  # every new version waits for a reviewer
    AUTO = "auto", "Automatic"  # the seed's atomic swap


class WatchStatus(models.TextChoices):
    """The live watch's verdict on a family's champion against the one it replaced."""

    NO_CHAMPION = "no_champion", "No champion"
    NO_PREDECESSOR = "no_predecessor", "First champion"
    COLLECTING = "collecting", "Collecting"
    OK = "ok", "OK"
    DEGRADED = "degraded", "Degraded"


DEFAULT_GUARD_THRESHOLDS = {"maxAucDrop": 0.05, "maxPsi": 0.25, "maxErrorRate": 0.02}


class ExperimentStatus(models.TextChoices):
    DRAFT = "draft", "Draft"
    ACTIVE = "active", "Active"
    PAUSED = "paused", "Paused"
    COMPLETED = "completed", "Completed"


CHAMPION_ARM = "__champion__"
HOLDOUT_ARM = "__holdout__"


def arm_label(arm: str) -> str:
    """An arm in words: the two reserved arms by their role, a challenger's arm by its model key."""
    return {CHAMPION_ARM: "Champion", HOLDOUT_ARM: "Holdout"}.get(arm, arm)


ASSIGNMENT_TTL_DAYS = 30

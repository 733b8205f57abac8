"""Whether a version may start serving: the question lifecycle asks before it changes what a model serves.

Lifecycle owns versions but not champions, families or reviews, which live in the registry above it. The
registry answers the question by registering a gate at start-up (`registry/versions.py`); without one, every
version serves at once, as the seed's atomic swap does. The gate runs inside the caller's transaction, with
the model's row locked, so a review request it opens commits (or rolls back) with the version itself."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


class Change:
    """What would change the served version."""

    RETRAIN = "retrain"  # a run's new version (manual, scheduled or buffered-feedback retrain)
    ACTIVATE = "activate"  # someone chose a version: a pin or a rollback


@dataclass
class Decision:
    serve: bool
    held: bool = False  # the new version is kept but does not serve
    reason: str = ""
    breaches: list[dict] = field(default_factory=list)
    request_id: int | None = None  # the review request that now decides
    audit: dict = field(default_factory=dict)  # what the gate weighed, for the audit row


Gate = Callable[..., Decision]
_gate: Gate | None = None


def register(gate: Gate) -> None:
    global _gate
    _gate = gate


def decide(*, model, target, actor, change: str, pin: bool, requester=None, reason: str = "") -> Decision:
    """May `target` serve `model` now? `requester` is the person behind a worker's change, if any."""
    if _gate is None or model.active_version_id is None or model.active_version_id == target.pk:
        return Decision(serve=True)
    return _gate(model=model, target=target, actor=actor, change=change, pin=pin, requester=requester,
                 reason=reason)

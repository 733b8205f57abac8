"""The audit trail's one writer: every service that makes a change records it here, inside its transaction."""

from __future__ import annotations

from .core.logs import current_request_id
from .models import AlgorithmModel, ModelEvent


def event_record(*, model: AlgorithmModel | None, actor, action: str, from_value: str = "", to_value: str = "",
                 message: str = "", data: dict | None = None, family: str | None = None) -> ModelEvent:
    """Write one audit row. Called by the service that makes the change, inside its transaction.
    `family` files the row under a family the model does not (yet) carry."""
    user = actor if getattr(actor, "is_authenticated", False) else None
    return ModelEvent.objects.create(
        model=model,
        model_key=model.key if model else "",
        family=family if family is not None else (model.family if model else ""),
        actor=user,
        actor_name=user.get_username() if user else (actor if isinstance(actor, str) else "system"),
        action=action,
        from_value=str(from_value or ""),
        to_value=str(to_value or ""),
        message=message,
        data=data or {},
        request_id=current_request_id(),
    )

"""The catalog's writes: the audit row of each change, and the default outcome types."""

from __future__ import annotations

from django.db import DEFAULT_DB_ALIAS

from lifecycle.services import event_record

from .. import selectors
from ..choices import DEFAULT_OUTCOME_TYPES
from ..models import OutcomeType


def outcome_types_ensure_defaults(*, using: str = DEFAULT_DB_ALIAS) -> int:
    """The ten default outcome types, made where missing: after every migrate (post_migrate, so that a flushed
    database gets them back as it gets its roles) and when /respond names one that is gone. Safe to race."""
    before = OutcomeType.objects.using(using).count()
    OutcomeType.objects.using(using).bulk_create([
        OutcomeType(key=key, name=name, classification=classification, category=category, is_system=True,
                    ordinal=ordinal)
        for ordinal, (key, name, classification, category) in enumerate(DEFAULT_OUTCOME_TYPES)
    ], ignore_conflicts=True)
    return OutcomeType.objects.using(using).count() - before


def outcome_type_for_response(key: str) -> OutcomeType | None:
    """The outcome type a response names. A default type missing from the table is made again on the spot; the
    insert skips rows that exist (also soft-deleted ones, which stay deleted), so concurrent first calls all
    find it."""
    found = selectors.outcome_type_get(key)
    if found is None and key in {k for k, *_ in DEFAULT_OUTCOME_TYPES}:
        outcome_types_ensure_defaults()
        found = selectors.outcome_type_get(key)
    return found


def catalog_record(*, actor, action: str, row) -> None:
    """The audit row of a catalog write (created, updated, deleted), for the pages and the API alike."""
    event_record(model=None, actor=actor, action=f"catalog.{action}", to_value=row.key,
                 data={"kind": row._meta.model_name})

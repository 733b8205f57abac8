"""One spelling of a moment in every answer, payload and export: ISO 8601 in UTC ending in Z
("2026-01-31T09:30:00.123456Z"), as the API's serializers write their DateTimeFields."""

from __future__ import annotations

from datetime import UTC, datetime


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    text = moment.astimezone(UTC).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text

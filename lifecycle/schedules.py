"""Recurring worker jobs, kept in django-q2's schedule table."""

from __future__ import annotations

REAPER = "lifecycle.tasks.reap_stale_runs"


def ensure_schedules() -> None:
    from django_q.models import Schedule

    Schedule.objects.update_or_create(
        name="reap stale training runs",
        defaults={"func": REAPER, "schedule_type": Schedule.MINUTES, "minutes": 1, "repeats": -1},
    )

"""Recurring worker jobs, kept in django-q2's schedule table."""

from __future__ import annotations

REAPER = "lifecycle.tasks.reap_stale_runs"


def ensure_schedules() -> None:
    from django_q.models import Schedule

    recurring = [
        ("reap stale training runs", REAPER, 1),
        ("retry due webhook deliveries", "lifecycle.tasks.deliver_due_webhooks", 1),
        ("watch champions' live success", "registry.tasks.watch_families", 5),
        ("auto-promote experiment winners", "registry.tasks.auto_promote_experiments", 60),
        ("prune old score requests", "scoring.tasks.prune_score_requests", 24 * 60),
        ("purge impressions past retention", "scoring.tasks.purge_impressions", 24 * 60),
    ]
    for name, func, minutes in recurring:
        Schedule.objects.update_or_create(
            name=name, defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1})


CADENCE_FUNC = "lifecycle.tasks.scheduled_retrain"


def cadence_schedule_name(model_id: int) -> str:
    return f"cadence for model {model_id}"


def sync_cadence(model, *, interval_minutes: int | None) -> None:
    """One django-q2 schedule per model with a cadence; none without. The first run waits one interval."""
    from datetime import timedelta

    from django.utils import timezone
    from django_q.models import Schedule

    name = cadence_schedule_name(model.pk)
    if not interval_minutes:
        Schedule.objects.filter(name=name).delete()
        return
    Schedule.objects.update_or_create(
        name=name,
        defaults={"func": CADENCE_FUNC, "args": repr((model.pk,)), "schedule_type": Schedule.MINUTES,
                  "minutes": interval_minutes, "repeats": -1,
                  "next_run": timezone.now() + timedelta(minutes=interval_minutes)},
    )

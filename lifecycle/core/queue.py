"""Every enqueue goes through here, so the broker is one seam to watch and test."""

from __future__ import annotations

import logging

from django.conf import settings

log = logging.getLogger(__name__)


def enqueue(func_path: str, *args, name: str | None = None) -> str | None:
    from django_q.tasks import async_task

    options = {"task_name": name} if name else {}
    if settings.Q_CLUSTER.get("sync"):
        options["sync"] = True
    return async_task(func_path, *args, **options)

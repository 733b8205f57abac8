"""A fit that runs longer than the heartbeat timeout is alive, not dead: the worker beats while it fits."""

import threading

import pytest
from django.db import connections
from django.utils import timezone

from lifecycle import services, trainers
from lifecycle.core import queue
from lifecycle.choices import RunStatus, State
from lifecycle.models import AlgorithmModel, TrainingRun
from tests.factories import add_samples, make_model

pytestmark = pytest.mark.django_db(transaction=True)  # the worker thread and its heartbeat see committed rows


def test_a_fit_longer_than_the_heartbeat_timeout_is_not_reaped(analyst, settings, monkeypatch):
    settings.LIFECYCLE_RUN_HEARTBEAT_TIMEOUT = 2
    monkeypatch.setattr(queue, "enqueue", lambda *args, **kwargs: None)  # this test plays the worker
    fitting, release = threading.Event(), threading.Event()
    real_train = trainers.train

    def slow_train(*args, **kwargs):  # a fit that reports nothing for as long as it takes
        fitting.set()
        release.wait(60)
        return real_train(*args, **kwargs)

    monkeypatch.setattr(trainers, "train", slow_train)
    model = make_model(analyst)
    add_samples(model, analyst, n=80)
    run = services.model_train_enqueue(model=model, actor=analyst)

    def work():
        try:
            services.run_execute(run_id=run.pk)
        finally:
            connections.close_all()

    worker = threading.Thread(target=work)
    worker.start()
    try:
        assert fitting.wait(60), "the fit never started"
        started = TrainingRun.objects.get(pk=run.pk).started_at
        # The reaper runs meanwhile, until the fit has gone three heartbeat timeouts without any progress.
        while timezone.now() < started + timezone.timedelta(seconds=3 * settings.LIFECYCLE_RUN_HEARTBEAT_TIMEOUT):
            assert services.runs_reap_stale() == []
            assert TrainingRun.objects.get(pk=run.pk).status == RunStatus.RUNNING
            release.wait(0.2)
    finally:
        release.set()
        worker.join(120)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert AlgorithmModel.objects.get(pk=model.pk).state == State.READY

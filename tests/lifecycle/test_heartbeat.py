"""A fit that runs longer than the heartbeat timeout is alive, not dead: the worker beats while it fits."""

import threading
import time

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


def _run_in_thread(run_id: int) -> threading.Thread:
    def work():
        try:
            services.run_execute(run_id=run_id)
        finally:
            connections.close_all()

    worker = threading.Thread(target=work)
    worker.start()
    return worker


def test_a_quick_run_writes_few_steps_and_its_result_keeps_every_one(analyst, settings, monkeypatch):
    """Steps closer together than the gap are not each committed; the run's log still holds every step, in order."""
    settings.LIFECYCLE_RUN_PROGRESS_GAP = 30
    monkeypatch.setattr(queue, "enqueue", lambda *args, **kwargs: None)
    writes = []
    real_progress = services.run_progress
    monkeypatch.setattr(services, "run_progress",
                        lambda **step: writes.append(step["message"]) or real_progress(**step))
    model = make_model(analyst)
    add_samples(model, analyst, n=80)
    run = services.model_train_enqueue(model=model, actor=analyst)
    _run_in_thread(run.pk).join(120)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error
    assert writes == ["Loaded 80 samples"]  # the first step; the others came within the gap
    messages = [line["message"] for line in run.result["log"]]
    assert messages[:3] == ["Loading samples", "Loaded 80 samples", "preparing features"]
    assert messages[-2:] == ["packaging", "Profiling training data"]
    percents = [line["progress"] for line in run.result["log"]]
    assert percents == sorted(percents)


def test_a_step_waiting_for_the_gap_is_written_while_a_long_fit_runs(analyst, settings, monkeypatch):
    """A step that came within the gap is written when the gap is over, without waiting for the next step: the
    page shows what the run is doing during a long fit, not a step long past."""
    settings.LIFECYCLE_RUN_PROGRESS_GAP = 0.5
    monkeypatch.setattr(queue, "enqueue", lambda *args, **kwargs: None)
    fitting, release = threading.Event(), threading.Event()
    real_train = trainers.train

    def slow_train(*args, progress, **kwargs):  # reports a step right away, then fits for as long as it takes
        progress(5, "preparing features")
        fitting.set()
        release.wait(60)
        return real_train(*args, progress=progress, **kwargs)

    monkeypatch.setattr(trainers, "train", slow_train)
    model = make_model(analyst)
    add_samples(model, analyst, n=80)
    run = services.model_train_enqueue(model=model, actor=analyst)
    worker = _run_in_thread(run.pk)
    try:
        assert fitting.wait(60), "the fit never started"
        deadline = time.monotonic() + 30
        while TrainingRun.objects.get(pk=run.pk).message != "preparing features":
            assert time.monotonic() < deadline, "the waiting step was never written"
            release.wait(0.05)
        current = TrainingRun.objects.get(pk=run.pk)
        assert current.progress == 5 and current.status == RunStatus.RUNNING
        assert [line["message"] for line in current.result["log"]][-1] == "preparing features"
    finally:
        release.set()
        worker.join(120)
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED, run.error


def test_an_unexpected_error_fails_the_run_with_its_reason_and_log(analyst, monkeypatch):
    """A bug in the work (not a refusal of the samples) ends the run as failed at once, saying what went wrong,
    with the steps it got through; the model goes back to where it was instead of staying busy until reaped."""
    monkeypatch.setattr(queue, "enqueue", lambda *args, **kwargs: None)

    def broken_train(*args, progress, **kwargs):
        progress(5, "preparing features")
        raise RuntimeError("the disk is full")

    monkeypatch.setattr(trainers, "train", broken_train)
    model = make_model(analyst)
    add_samples(model, analyst, n=80)
    run = services.model_train_enqueue(model=model, actor=analyst)
    _run_in_thread(run.pk).join(120)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED and run.error == "RuntimeError: the disk is full"
    assert [line["message"] for line in run.result["log"]][-1] == "preparing features"
    assert AlgorithmModel.objects.get(pk=model.pk).state == State.FAILED

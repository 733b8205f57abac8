"""Training through a real django-q2 worker process, and what happens when that worker dies."""

import os
import signal

import pytest
from django.db import connection

from lifecycle import services
from lifecycle.choices import RunStatus, State
from lifecycle.models import AlgorithmModel, TrainingRun
from tests.factories import add_samples, make_model
from tests.workers import start_worker, stop_worker, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _model(pk) -> AlgorithmModel:
    connection.close()  # see the worker's commits, not a cached snapshot
    return AlgorithmModel.objects.select_related("last_run", "active_version").get(pk=pk)


@pytest.fixture
def worker_env():
    return {}


def test_a_real_worker_trains_a_model_to_ready(analyst, worker):
    model = make_model(analyst)
    add_samples(model, analyst, n=120)
    run = services.model_train_enqueue(model=model, actor=analyst)  # autocommit: queued on commit
    assert _model(model.pk).state == State.BUSY
    ready = wait_for(lambda: (m := _model(model.pk)).state != State.BUSY and m, timeout=90, what="the run to end")
    assert ready.state == State.READY, ready.last_run.error
    assert ready.active_version.version_no == 1 and ready.active_version.metrics["churn"]["auc"] > 0.8
    run.refresh_from_db()
    assert run.status == RunStatus.SUCCEEDED and run.progress == 100 and run.task_id


@pytest.mark.parametrize("retrain", [False, True], ids=["first-train", "retrain"])
def test_a_killed_worker_leaves_no_model_busy(analyst, settings, retrain):
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    model = make_model(analyst)
    add_samples(model, analyst, n=120)
    if retrain:  # a first version, trained in this process
        run = services.model_train_enqueue(model=model, actor=analyst)
        services.run_execute(run_id=run.pk)
        assert _model(model.pk).state == State.READY
    # A slow worker, so it can be killed in the middle of the run.
    proc = start_worker({"LIFECYCLE_TRAINING_STEP_PAUSE": "2"})
    try:
        run = services.model_train_enqueue(model=model, actor=analyst)
        wait_for(lambda: TrainingRun.objects.get(pk=run.pk).progress > 0, timeout=60, what="the run to start")
        os.killpg(proc.pid, signal.SIGKILL)  # the whole worker, mid-run, with no chance to clean up
        proc.wait(10)
    finally:
        stop_worker(proc)
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING  # nobody told the database: the worker just vanished
    settings.LIFECYCLE_RUN_HEARTBEAT_TIMEOUT = 1
    wait_for(lambda: services.runs_reap_stale(), timeout=10, what="the reaper to find the dead run")
    run.refresh_from_db()
    model = _model(model.pk)
    assert run.status == RunStatus.FAILED and "no heartbeat" in run.error
    if retrain:
        assert model.state == State.READY and model.active_version.version_no == 1  # still serving v1
    else:
        assert model.state == State.FAILED and model.active_version is None
    assert model.events.filter(action="run.failed", actor_name="reaper").exists()


@pytest.mark.django_db
def test_an_unreachable_broker_fails_the_run_with_the_reason(analyst, settings, monkeypatch, capture):
    """A real Redis client pointed at a closed port: the request is accepted, the run says what happened,
    and the model is back where it was (draft here), not busy for hours."""
    from django_q.conf import Conf

    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", "redis://127.0.0.1:1/0")
    monkeypatch.setattr(Conf, "SYNC", False)
    model = make_model(analyst)
    add_samples(model, analyst)
    with capture(execute=True):
        run = services.model_train_enqueue(model=model, actor=analyst)
    run.refresh_from_db()
    model.refresh_from_db()
    assert run.status == RunStatus.FAILED and "task queue is unavailable" in run.error
    assert model.state == State.FAILED and model.active_version is None

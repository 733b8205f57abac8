"""A rollback racing a retrain's swap, on PostgreSQL, many times: the rollback always wins the pin."""

import threading

import pytest
from django.db import connection, connections
from django.utils import timezone

from lifecycle import services, trainers
from lifecycle.choices import RunStatus, State
from lifecycle.models import AlgorithmModel, TrainingRun
from tests.factories import add_samples, make_model, make_user, sample_rows

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _race(*fns):
    barrier = threading.Barrier(len(fns))
    errors = []

    def run(fn):
        try:
            barrier.wait()
            fn()
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(fn,)) for fn in fns]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return errors


def test_rollback_racing_a_swap_leaves_the_pinned_version_serving(settings):
    if connection.vendor != "postgresql":
        pytest.skip("row-lock races need PostgreSQL; .ci/run runs this file with DATABASE_URL set")
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}  # runs stay queued: this test plays the worker
    analyst = make_user("analyst")
    model = make_model(analyst)
    add_samples(model, analyst)
    run = services.model_train_enqueue(model=model, actor=analyst)
    services.run_execute(run_id=run.pk)
    result = trainers.train("logistic_regression", [{**r, "labels": {"churn": 1.0 if r["labels"]["churn"] == "positive"
                                                                     else 0.0}} for r in sample_rows(80)],
                            ["churn"], effort="low")
    for round_ in range(8):
        services.model_unpin(model=model, actor=analyst)
        run = services.model_train_enqueue(model=model, actor=analyst)
        TrainingRun.objects.filter(pk=run.pk).update(status=RunStatus.RUNNING, started_at=timezone.now(),
                                                     heartbeat_at=timezone.now())
        run.refresh_from_db()
        errors = _race(
            lambda: services.version_activate(model=AlgorithmModel.objects.get(pk=model.pk), actor=analyst,
                                              version="v1"),
            lambda: services.run_succeed(run=run, result=result, data_profile={}),
        )
        assert not errors, errors
        model.refresh_from_db()
        run.refresh_from_db()
        assert run.status == RunStatus.SUCCEEDED and model.state == State.READY, round_
        assert model.active_version.version_no == 1 and model.pinned, round_  # whoever committed first
        assert model.versions.count() == round_ + 2  # the new version exists either way

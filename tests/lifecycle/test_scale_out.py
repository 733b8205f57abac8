"""Scale-out: two web processes and two worker processes share one database and one queue."""

import json
import time
import urllib.request
import uuid
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone
from django_q.models import Schedule, Task

from lifecycle import services
from lifecycle.models import AlgorithmModel, ModelEvent, ModelVersion, TrainingRun
from tests.factories import add_samples, make_model, make_user
from tests.workers import start_web, start_worker, stop_worker, wait_for, worker_log_tail

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def test_twenty_runs_on_two_workers_run_once_each_and_the_schedule_fires_once(tmp_path):
    analyst = make_user("analyst")
    _, key = services.api_token_create(user=analyst, actor=analyst, name="scale-out")
    models = []
    for i in range(20):
        model = make_model(analyst, key=f"m-{i:02d}")
        add_samples(model, analyst, n=60, seed=i)
        models.append(model)
    Schedule.objects.create(name="tick", func="tests.workers.tick", schedule_type=Schedule.MINUTES, minutes=10,
                            repeats=-1, next_run=timezone.now() - timedelta(seconds=1))
    name = f"scale-{uuid.uuid4().hex[:8]}"  # web and workers agree on the queue; no other worker takes it
    env = {"Q_CLUSTER_NAME": name}
    web, url = start_web(env, workers=2, log_path=tmp_path / "web.log")
    workers = []
    try:
        # 20 trains queued at once through the two web processes, before any worker runs.
        for model in models:
            request = urllib.request.Request(f"{url}/api/v1/algorithm-models/{model.key}/train", data=b"{}",
                                             method="POST", headers={"Authorization": f"Token {key}",
                                                                     "Content-Type": "application/json"})
            with urllib.request.urlopen(request, timeout=30) as response:
                assert response.status == 202, response.read()
        workers = [start_worker(env, log_path=tmp_path / f"worker-{i}.log") for i in range(2)]

        def all_ended():
            connection.close()
            return not AlgorithmModel.objects.filter(key__startswith="m-", state="busy").exists()

        wait_for(all_ended, timeout=240, interval=1, what="all 20 runs to end")

        def ticked():
            connection.close()
            return ModelEvent.objects.filter(action="test.tick").exists()

        # The due schedule fires (however loaded the machine is), then both schedulers get at least one more
        # turn (each runs about every 30 s) in which a second firing would show.
        wait_for(ticked, timeout=180, interval=1, what="the due schedule to fire")
        time.sleep(35)
    finally:
        for proc in workers:
            stop_worker(proc)
        stop_worker(web)
    connection.close()
    states = dict(AlgorithmModel.objects.filter(key__startswith="m-").values_list("key", "state"))
    assert set(states.values()) == {"ready"}, (states, [worker_log_tail(w) for w in workers])
    runs = TrainingRun.objects.filter(model__key__startswith="m-")
    assert runs.count() == 20 and set(runs.values_list("status", flat=True)) == {"succeeded"}
    # Each run executed exactly once: one task result per run, one version per model, one swap each.
    for run in runs:
        assert Task.objects.filter(name=f"run-{run.pk}").count() == 1, run.pk
    assert sorted(ModelVersion.objects.filter(model__key__startswith="m-").values_list("version_no", flat=True)) == [1] * 20
    assert ModelEvent.objects.filter(model_key__startswith="m-", action="version.created").count() == 20
    # Two schedulers, one schedule due once: it fired once.
    assert ModelEvent.objects.filter(action="test.tick").count() == 1

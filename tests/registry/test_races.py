"""Concurrent promotions on PostgreSQL: whatever interleaving, one champion per family."""

import threading

import pytest
from django.db import connection, connections

from lifecycle.choices import RegistryStatus
from lifecycle.core.errors import ApplicationError
from lifecycle.models import AlgorithmModel
from registry import services as registry
from tests.factories import make_user, ready_model

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


@pytest.fixture(autouse=True)
def _postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("row-lock races need PostgreSQL; .ci/run runs this file with DATABASE_URL set")


def _race(fns):
    barrier = threading.Barrier(len(fns))
    outcomes = [None] * len(fns)

    def run(i, fn):
        try:
            barrier.wait()
            outcomes[i] = fn()
        except ApplicationError as exc:
            outcomes[i] = exc
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i, fn)) for i, fn in enumerate(fns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def test_concurrent_champion_promotions_leave_one_champion(analyst, django_capture_on_commit_callbacks):
    admin = make_user("admin", username="admin")
    keys = [f"cand-{i}" for i in range(6)]
    for key in keys:
        model = ready_model(analyst, django_capture_on_commit_callbacks, key=key)
        registry.model_set_status(model=model, actor=admin, status="active")
        registry.model_promote(model=model, actor=admin, to_status="challenger")
    for round_ in range(5):  # many times, so an unlucky interleaving has its chance
        outcomes = _race([
            (lambda k=k: registry.model_promote(model=AlgorithmModel.objects.get(key=k), actor=admin,
                                                to_status="champion", family="race"))
            for k in keys if AlgorithmModel.objects.get(key=k).registry_status == RegistryStatus.CHALLENGER
        ])
        champions = AlgorithmModel.objects.filter(family="race", registry_status="champion")
        assert champions.count() == 1, (round_, outcomes)
        applied = [o for o in outcomes if not isinstance(o, ApplicationError)]
        assert applied, outcomes
        # every winner but the last was demoted to archived; put them back in the race
        for m in AlgorithmModel.objects.filter(family="race", registry_status="archived"):
            registry.model_promote(model=m, actor=admin, to_status="draft")
            registry.model_promote(model=m, actor=admin, to_status="challenger")


def test_concurrent_approvals_in_one_family_leave_one_champion(analyst, django_capture_on_commit_callbacks):
    admin = make_user("admin", username="admin")
    reviewers = [make_user("reviewer", username=f"rev-{i}") for i in range(4)]
    for round_ in range(4):
        requests = []
        for i in range(4):
            model = ready_model(analyst, django_capture_on_commit_callbacks, key=f"r{round_}-{i}")
            registry.model_set_status(model=model, actor=admin, status="active")
            registry.model_promote(model=model, actor=analyst, to_status="shadow")
            requests.append(registry.model_promote(model=model, actor=analyst, to_status="champion",
                                                   family="approvals").request)
        outcomes = _race([
            (lambda r=r, who=who: registry.promotion_request_approve(request=r, actor=who))
            for r, who in zip(requests, reviewers)
        ])
        assert AlgorithmModel.objects.filter(family="approvals", registry_status="champion").count() == 1, outcomes
        approved = [o for o in outcomes if not isinstance(o, ApplicationError)]
        refused = [o for o in outcomes if isinstance(o, ApplicationError)]
        # The first approval wins; the others find the champion changed under them (stale), never two champions.
        assert len(approved) >= 1 and all(e.code == "stale_request" for e in refused), outcomes

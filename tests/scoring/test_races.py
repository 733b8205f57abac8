"""Concurrent /respond calls on the same cells, on PostgreSQL: exact evidence counts, no lost update."""

import threading

import pytest
from django.db import connection, connections
from rest_framework.test import APIClient

from lifecycle import services as lifecycle_services
from scoring.models import Interaction, ModelAdaptation
from tests.factories import make_user
from tests.scoring.conftest import live_model, make_catalog

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def test_concurrent_responds_count_exactly():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL; .ci/run runs this file with DATABASE_URL set")
    admin = make_user("admin", username="admin")
    make_catalog()
    model = live_model(admin, key="nbo", model_type="thompson_bandit")
    _, key = lifecycle_services.api_token_create(user=admin, actor=admin, name="race")
    client = APIClient(HTTP_AUTHORIZATION=f"Token {key}")
    rec = client.post("/api/v1/recommend", {"customerId": "c", "family": "offers", "channel": "email"},
                      format="json").json()
    threads, per_thread, errors = 8, 15, []
    barrier = threading.Barrier(threads)

    def worker(t):
        c = APIClient(HTTP_AUTHORIZATION=f"Token {key}")
        try:
            barrier.wait()
            for i in range(per_thread):
                for attempt in range(2):  # each call once, then a retry with the same key
                    r = c.post("/api/v1/respond", {"customerId": "c", "recommendationId": rec["recommendationId"],
                                                   "rank": 1, "outcome": "click" if i % 3 else "dismiss",
                                                   "idempotencyKey": f"{t}-{i}"}, format="json")
                    if r.status_code not in (200, 201):
                        errors.append(r.content)
        finally:
            connections.close_all()

    pool = [threading.Thread(target=worker, args=(t,)) for t in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join(120)
    assert not errors, errors[:3]
    total = threads * per_thread
    assert Interaction.objects.count() == total
    positives = threads * sum(1 for i in range(per_thread) if i % 3)
    for cell in ModelAdaptation.objects.filter(model=model):
        assert cell.evidence == total, (cell.scope, cell.evidence)
        assert cell.positives == positives and cell.negatives == total - positives


def test_concurrent_calls_with_one_key_record_once_per_caller():
    """Same key from one caller, racing, some with another body: one outcome recorded, its replays answer
    200, the other body 422; a second caller's same key records its own outcome."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL; .ci/run runs this file with DATABASE_URL set")
    admin = make_user("admin", username="admin")
    other = make_user("analyst", username="other-script")
    make_catalog()
    live_model(admin, key="nbo", model_type="thompson_bandit")
    keys = {u.pk: lifecycle_services.api_token_create(user=u, actor=u, name="race")[1] for u in (admin, other)}
    rec = APIClient(HTTP_AUTHORIZATION=f"Token {keys[admin.pk]}").post(
        "/api/v1/recommend", {"customerId": "c", "family": "offers", "channel": "email"}, format="json").json()
    callers = [(admin, 1)] * 3 + [(admin, 2)] * 2 + [(other, 1)]  # (user, rank)
    barrier = threading.Barrier(len(callers))
    answers: list = [None] * len(callers)

    def worker(i, user, rank):
        c = APIClient(HTTP_AUTHORIZATION=f"Token {keys[user.pk]}")
        try:
            barrier.wait()
            r = c.post("/api/v1/respond", {"customerId": "c", "recommendationId": rec["recommendationId"],
                                           "rank": rank, "outcome": "click", "idempotencyKey": "same"}, format="json")
            answers[i] = (r.status_code, r.json())
        finally:
            connections.close_all()

    pool = [threading.Thread(target=worker, args=(i, u, rank)) for i, (u, rank) in enumerate(callers)]
    for th in pool:
        th.start()
    for th in pool:
        th.join(60)
    mine, theirs = answers[:5], answers[5]
    created = [body for code, body in mine if code == 201]
    assert len(created) == 1, [code for code, _ in mine]
    winner = created[0]["rank"]
    for (code, body), (_, rank) in zip(mine, callers):
        if rank == winner:
            assert code in (200, 201) and body == created[0]
        else:
            assert code == 422 and body["error"]["code"] == "idempotency_key_reused"
    assert theirs[0] == 201 and theirs[1]["interactionId"] != created[0]["interactionId"]
    assert Interaction.objects.count() == 2
    assert ModelAdaptation.objects.get(scope="global").evidence == 2


def race_recommends(key: str, *, threads: int, per_thread: int, limit: int) -> list[int]:
    """`threads` API clients released together, each recommending `per_thread` times for customer c: how many
    offers each answer showed (any answer but 200 fails the test)."""
    shown, errors = [], []
    barrier = threading.Barrier(threads)

    def worker():
        c = APIClient(HTTP_AUTHORIZATION=f"Token {key}")
        try:
            barrier.wait()
            for _ in range(per_thread):
                r = c.post("/api/v1/recommend", {"customerId": "c", "family": "offers", "channel": "email",
                                                 "limit": limit}, format="json")
                if r.status_code != 200:
                    errors.append(r.content)
                else:
                    shown.append(len(r.json()["offers"]))
        finally:
            connections.close_all()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for th in pool:
        th.start()
    for th in pool:
        th.join(120)
    assert not errors, errors[:3]
    assert len(shown) == threads * per_thread
    return shown


def test_concurrent_recommends_for_one_customer_never_exceed_a_suppression_rule_s_cap():
    """A suppression rule's impression cap is counted under the same per-customer lock as the contact policy:
    racing recommends show the capped offer exactly as often as the rule allows."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL; .ci/run runs this file with DATABASE_URL set")
    from scoring.models import Impression, Offer, SuppressionRule

    admin = make_user("admin", username="admin")
    make_catalog()
    live_model(admin, key="nbo", model_type="thompson_bandit")
    capped = Offer.objects.order_by("key").first()
    Offer.objects.exclude(pk=capped.pk).update(active=False)  # the one offer every recommend wants to show
    SuppressionRule.objects.create(key="cap", name="Cap", offer=capped, outcomes=[], days=1, max_impressions=3)
    _, key = lifecycle_services.api_token_create(user=admin, actor=admin, name="race")
    shown = race_recommends(key, threads=6, per_thread=2, limit=1)
    assert sum(shown) == 3 and Impression.objects.filter(customer_id="c", offer_key=capped.key).count() == 3


def test_concurrent_recommends_for_one_customer_never_exceed_the_contact_policy():
    """The policy's count and the impressions it allows are one step per customer (an advisory lock in the
    recommend's transaction): racing recommends together show exactly the cap, never more."""
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL; .ci/run runs this file with DATABASE_URL set")
    from scoring.models import ContactPolicy, Impression

    admin = make_user("admin", username="admin")
    make_catalog()
    live_model(admin, key="nbo", model_type="thompson_bandit")
    ContactPolicy.objects.create(key="cap", name="Cap", max_impressions=5, window_hours=24)
    _, key = lifecycle_services.api_token_create(user=admin, actor=admin, name="race")
    shown = race_recommends(key, threads=6, per_thread=3, limit=2)
    assert sum(shown) == 5 and Impression.objects.filter(customer_id="c").count() == 5

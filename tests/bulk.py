"""Rows by the hundred thousand, fast, for the scale tests and tests/bench/bench_lists.py.

A thousand rows come from bulk_create (so they are what the ORM writes); INSERT ... SELECT then copies them
onto themselves until there are enough: 100,000 samples in about a second, where bulk_create alone spends
10 s preparing values in Python (SQLite takes 99 rows a statement).
"""

from __future__ import annotations

import datetime
import uuid

from django.db import connection
from django.utils import timezone

SEED = 1_000


def grow(model_cls, *, where: str, params: list, target: int, columns: dict | None = None) -> None:
    """Copy `model_cls`'s rows matching `where` onto themselves until `target` match. `columns` overrides a
    column's SELECT expression ("{round}" becomes the copy's number, to keep a unique column unique)."""
    qn = connection.ops.quote_name
    table = qn(model_cls._meta.db_table)
    cols = [f.column for f in model_cls._meta.concrete_fields if not f.primary_key]
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE {where}", params)
        have = cursor.fetchone()[0]
        round_no = 0
        while have < target:
            round_no += 1
            take = min(have, target - have)
            select = ", ".join((columns or {}).get(c, qn(c)).replace("{round}", str(round_no)) for c in cols)
            cursor.execute(f"INSERT INTO {table} ({', '.join(qn(c) for c in cols)}) SELECT {select} FROM {table} "
                           f"WHERE {where} ORDER BY {qn('id')} LIMIT %s", [*params, take])
            have += take


def bulk_samples(model, n: int) -> None:
    """n samples of `model`, half of them positive for trait "churn", weights 1 to 7."""
    from lifecycle.models import Sample

    now = timezone.now()
    Sample.objects.bulk_create([
        Sample(model=model, content=f"sample {i}", features={"tenure": i % 60, "plan": "basic"},
               labels={"churn": float(i % 2)}, weight=1.0 + (i % 7), created_at=now)
        for i in range(min(n, SEED))], batch_size=SEED)
    grow(Sample, where=f"{connection.ops.quote_name('model_id')} = %s", params=[model.pk], target=n)


def bulk_traces(n: int, *, model_key: str) -> None:
    """n recommendations, each with its decision trace, a second apart."""
    from scoring.models import DecisionTrace, Recommendation

    qn = connection.ops.quote_name
    now = timezone.now()
    prefix = uuid.uuid4().hex[:8]
    Recommendation.objects.bulk_create([
        Recommendation(recommendation_id=f"{prefix}-{i}", customer_id=f"c{i % 500}", channel="web",
                       offers=[{"rank": 1, "offerId": "offer-1"}], created_at=now - datetime.timedelta(seconds=i))
        for i in range(min(n, SEED))], batch_size=SEED)
    recs = list(Recommendation.objects.filter(recommendation_id__startswith=f"{prefix}-"))  # with their ids
    DecisionTrace.objects.bulk_create([
        DecisionTrace(recommendation=r, customer_id=r.customer_id, selected_offers=["offer-1", "offer-2"],
                      model_keys=[model_key], funnel={"candidateCount": 4, "afterQualification": 3, "finalCount": 2},
                      total_duration_ms=1.5, created_at=r.created_at)
        for r in recs], batch_size=SEED)
    if n <= SEED:
        return
    like = [f"{prefix}-%"]
    rec_id = qn("recommendation_id")
    grow(Recommendation, where=f"{rec_id} LIKE %s", params=like, target=n,
         columns={"recommendation_id": f"{rec_id} || '-{{round}}'"})
    # One trace per new recommendation: the first trace's columns, but the recommendation's own id, customer, time.
    template = DecisionTrace.objects.filter(recommendation__recommendation_id__startswith=f"{prefix}-").first()
    own = {"recommendation_id": "r.id", "customer_id": "r.customer_id", "created_at": "r.created_at"}
    cols = [f.column for f in DecisionTrace._meta.concrete_fields if not f.primary_key]
    traces, recommendations = qn(DecisionTrace._meta.db_table), qn(Recommendation._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {traces} ({', '.join(qn(c) for c in cols)}) "
            f"SELECT {', '.join(own.get(c, 't.' + qn(c)) for c in cols)} FROM {recommendations} r, {traces} t "
            f"WHERE t.id = %s AND r.recommendation_id LIKE %s AND NOT EXISTS "
            f"(SELECT 1 FROM {traces} d WHERE d.recommendation_id = r.id)", [template.pk, *like])

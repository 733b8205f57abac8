#!/usr/bin/env python
"""Recommend with 10 and 200 offers, in-process (not a test): profile, and A/B against an older commit.

    OMP_NUM_THREADS=1 .venv/bin/python tests/bench/profile_recommend.py [--calls 200] [--top 25]
        [--baseline COMMIT]

Makes its own PostgreSQL database on BENCH_PG_URL (127.0.0.1 only) with the bench's catalog and
`thompson_bandit` champion (family bench-offers, channel email, limit 5, as section 3 of bench_scoring.py),
then for 10 and for 200 offers: the queries of one call, the median of `services.recommend` and of the whole
`POST /api/v1/recommend` through the Django stack, the median stage durations their traces recorded, and a
cProfile of the service calls. With --baseline, the decision service and the modules it ranks with
(scoring/services/decisions.py, scoring/services/policies.py, scoring/learning.py) are also loaded as they were
at COMMIT: both must give the same answer and trace results for the same seed, and both are timed alternately
on the same catalog (medians and the ratio new / old). --parts times parts of a call, the old way against the
new, alternately (and the trace's insert with the column's compression pglz against lz4, and with its candidate
results stored one dict per candidate against the compact form). The garbage
collector's heap is frozen after the set-up, as config/wsgi.py does in a web worker. Drops the database at the
end.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import cProfile  # noqa: E402
import importlib.util  # noqa: E402
import json  # noqa: E402
import pstats  # noqa: E402
import statistics  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import types  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_scoring as bench  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def load_old(commit: str, path: str, name: str, package: str) -> types.ModuleType:
    """`path` as it was at `commit`, as module `name` inside `package` (so its relative imports resolve)."""
    source = subprocess.run(["git", "show", f"{commit}:{path}"], cwd=ROOT, check=True, capture_output=True,
                            text=True).stdout
    spec = importlib.util.spec_from_loader(name, loader=None)
    module = importlib.util.module_from_spec(spec)
    module.__package__ = package
    module.__file__ = f"{commit[:8]}:{path}"
    sys.modules[name] = module
    exec(compile(source, module.__file__, "exec"), module.__dict__)
    return module


def baseline(commit: str):
    """The old recommend, reading the old learning and policies modules."""
    old_learning = load_old(commit, "scoring/learning.py", "scoring._old_learning", "scoring")
    old_policies = load_old(commit, "scoring/services/policies.py", "scoring.services._old_policies",
                            "scoring.services")
    old = load_old(commit, "scoring/services/decisions.py", "scoring.services._old_decisions", "scoring.services")
    old.learning, old.policies = old_learning, old_policies
    return old.recommend


def parts(n: int, calls: int) -> None:
    """Medians of parts of a recommend call, each variant timed alternately on the same candidates."""
    from lifecycle.models import AlgorithmModel
    from scoring.models import Channel, Offer
    from scoring.services import decisions

    model = AlgorithmModel.objects.get(key=bench.BANDIT_KEY)
    channel = Channel.objects.get(key="email")
    qs = Offer.objects.filter(active=True)
    rows = decisions._offer_rows(qs)
    variants = {
        "offers as instances": lambda: list(qs.select_related("category")),
        "offers as rows": lambda: decisions._offer_rows(qs),
        "cells, keys listed": lambda: decisions._cells_for(model, rows, channel, "outbound"),
        "cells, keys by subquery": lambda: decisions._cells_for(model, rows, channel, "outbound", qs.values("key")),
    }
    through = Offer.channels.through.objects
    active = qs.values("pk")

    def links_all():
        named, here = set(), set()
        for offer_id, channel_id in through.filter(offer__in=active).values_list("offer_id", "channel_id"):
            named.add(offer_id)
            if channel_id == channel.pk:
                here.add(offer_id)
        return [o for o in rows if o.pk not in named or o.pk in here]

    def links_elsewhere():
        elsewhere = set(through.filter(offer__in=active).exclude(
            offer__in=through.filter(channel=channel).values("offer_id")).values_list("offer_id", flat=True))
        return [o for o in rows if o.pk not in elsewhere]

    import random

    from scoring import learning, serving
    from scoring.choices import Scope

    cells = decisions._cells_for(model, rows, channel, "outbound", qs.values("key"))
    candidates = [learning.Candidate(cells={
        Scope.OFFER: cells.get((Scope.OFFER, o.key)), Scope.CHANNEL: cells.get((Scope.CHANNEL, "email")),
        Scope.DIRECTION: cells.get((Scope.DIRECTION, "outbound")), Scope.CATEGORY: cells.get((Scope.CATEGORY,
                                                                                             o.category.key)),
        Scope.GLOBAL: cells.get((Scope.GLOBAL, ""))}, names={Scope.CHANNEL: "email", Scope.DIRECTION: "outbound",
                                                             Scope.CATEGORY: o.category.key}) for o in rows]
    params = serving.loaded(model.active_version, model.model_type)["params"]
    rng = random.Random(7)
    variants.update({
        "qualification, every link": links_all,
        "qualification, links elsewhere": links_elsewhere,
        "score_cells": lambda: learning.score_cells(model.model_type, params, candidates, rng),
    })
    from django.db import transaction

    from scoring.models import DecisionTrace, Recommendation, expand_results

    trace = DecisionTrace.objects.order_by("-id").first()
    results = trace.candidate_results()  # one dict per candidate, as traces were stored before 1 December, late
    compact = trace.scoring_results
    assert isinstance(compact, dict) and expand_results(compact) == results

    def trace_insert(stored=None, *, committed=False):
        """The trace INSERT's time; rolled back, or committed (autocommit, so its wait for the WAL flush counts)
        and then deleted."""
        with contextlib.nullcontext() if committed else transaction.atomic():
            rec = Recommendation.objects.create(recommendation_id=f"part-{time.perf_counter_ns()}", customer_id="x",
                                                model=model, version=model.active_version, offers=[])
            t0 = time.perf_counter()
            DecisionTrace.objects.create(recommendation=rec, customer_id="x",
                                         scoring_results=results if stored is None else stored)
            took = time.perf_counter() - t0
            if committed:
                rec.delete()
            else:
                transaction.set_rollback(True)
        return took

    def candidates_per_offer():  # the loop of _propensities before 1 December 2026, evening
        out = []
        for o in rows:
            category = o.category.key if o.category_id else ""
            out.append(learning.Candidate(cells={
                Scope.OFFER: cells.get((Scope.OFFER, o.key)),
                Scope.CHANNEL: cells.get((Scope.CHANNEL, "email")),
                Scope.DIRECTION: cells.get((Scope.DIRECTION, "outbound")),
                Scope.CATEGORY: cells.get((Scope.CATEGORY, category)) if category else None,
                Scope.GLOBAL: cells.get((Scope.GLOBAL, "")),
            }, names={Scope.CHANNEL: "email", Scope.DIRECTION: "outbound", Scope.CATEGORY: category}))
        return learning.score_cells(model.model_type, params, out, rng)

    def candidates_shared():
        return learning.score_cells(model.model_type, params, decisions._candidates(cells, rows, "email", "outbound"),
                                    rng)

    scorer = decisions._scorer(AlgorithmModel.objects.select_related("active_version").get(pk=model.pk))
    scored = [(s.propensity, s.source, s.why, s.key) for s in candidates_per_offer()]
    ranks = {i: r + 1 for r, i in enumerate(range(5))}

    def results_inline():  # as recommend built them before
        return [{
            "offerId": o.key, "score": round(scored[i][0], 6), "rank": ranks.get(i),
            "modelKey": scorer.model.key, "modelType": scorer.model.model_type,
            "versionNo": scorer.version.version_no, "propensitySource": scored[i][1], "why": scored[i][2],
            "arm": None, "shadowScores": [],
        } for i, o in enumerate(rows)]

    assert results_inline() == expand_results(decisions._scoring_results(rows, scored, ranks, scorer, "", []))
    variants.update({
        "candidates and score_cells, built per offer": candidates_per_offer,
        "candidates and score_cells, broader cells shared": candidates_shared,
        "trace results, inline": results_inline,
        "trace results, _scoring_results": lambda: decisions._scoring_results(rows, scored, ranks, scorer, "", []),
        "trace results, json.dumps": lambda: json.dumps(results),
        "trace results, compact, json.dumps": lambda: json.dumps(compact),
        "trace results, compact, expanded": lambda: expand_results(compact, "postgresql"),
        "why words of every candidate": lambda: [s.why for s in learning.score_cells(model.model_type, params,
                                                                                     candidates, rng)],
    })
    from django.db import connection

    def compress(method: str) -> None:
        with connection.cursor() as cursor:
            cursor.execute(f"ALTER TABLE scoring_decisiontrace ALTER COLUMN scoring_results SET COMPRESSION {method}")

    inserts = {"pglz": [], "lz4": []}
    committed = {"pglz": [], "lz4": []}
    for _ in range(calls // 4):  # the column's compression alternates between the inserts
        for method in ("pglz", "lz4"):
            compress(method)
            inserts[method].append(trace_insert(compact))
            committed[method].append(trace_insert(compact, committed=True))
    for method in ("pglz", "lz4"):
        print(f"  part, {n} offers, compact trace insert ({method}): "
              f"median {statistics.median(inserts[method]) * 1000:.3f} "
              f"ms, with its commit {statistics.median(committed[method]) * 1000:.3f} ms; "
              f"{len(json.dumps(compact))} bytes of JSON")
    with connection.cursor() as cursor:
        cursor.execute("ALTER TABLE scoring_decisiontrace ALTER COLUMN scoring_results SET COMPRESSION default")
    forms = {"one dict per candidate": results, "compact": compact}
    inserts = {name: [] for name in forms}
    committed = {name: [] for name in forms}
    for _ in range(calls // 2):  # the two stored forms alternate
        for name, stored in forms.items():
            inserts[name].append(trace_insert(stored))
            committed[name].append(trace_insert(stored, committed=True))
    for name, stored in forms.items():
        with transaction.atomic():  # the size as stored, after the column's compression
            rec = Recommendation.objects.create(recommendation_id=f"size-{time.perf_counter_ns()}", customer_id="x",
                                                model=model, version=model.active_version, offers=[])
            row = DecisionTrace.objects.create(recommendation=rec, customer_id="x", scoring_results=stored)
            with connection.cursor() as cursor:
                cursor.execute("SELECT pg_column_size(scoring_results) FROM scoring_decisiontrace WHERE id = %s",
                               [row.pk])
                size = cursor.fetchone()[0]
            transaction.set_rollback(True)
        print(f"  part, {n} offers, trace insert ({name}): median {statistics.median(inserts[name]) * 1000:.3f} "
              f"ms, with its commit {statistics.median(committed[name]) * 1000:.3f} ms; "
              f"{len(json.dumps(stored))} bytes of JSON, {size} bytes stored")
    spent = {name: [] for name in variants}
    for _ in range(calls):
        for name, fn in variants.items():
            t0 = time.perf_counter()
            fn()
            spent[name].append(time.perf_counter() - t0)
    for name, times in spent.items():
        print(f"  part, {n} offers, {name}: median {statistics.median(times) * 1000:.3f} ms")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=200, help="calls per variant and catalog size")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--baseline", default="", help="a commit to time against, alternately")
    parser.add_argument("--no-profile", action="store_true")
    parser.add_argument("--parts", action="store_true", help="also time parts of a call, old against new")
    parser.add_argument("--callees", nargs="*", default=[], help="also print the callees of these functions")
    args = parser.parse_args()
    pg_base, db_name, env = bench.own_database_env("lifecycle_profile_rec")
    bench.create_database(pg_base, db_name)
    try:
        bench.manage(env, "migrate", "--noinput", "-v", "0")
        token = bench.manage(env, "adduser", "bench-admin", "--role", "admin", "--token").strip().splitlines()[-1]
        import django

        django.setup()
        from django.contrib.auth import get_user_model
        from django.db import connection
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        from scoring import services
        from tests.scoring.conftest import live_model, make_catalog

        admin = get_user_model().objects.get(username="bench-admin")
        make_catalog(10)
        live_model(admin, key=bench.BANDIT_KEY, model_type="thompson_bandit", family=bench.FAMILY)
        old_recommend = baseline(args.baseline) if args.baseline else None
        client = Client(HTTP_HOST=bench.HOST)
        counter = iter(range(10**9))

        def kwargs() -> dict:
            return {"actor": admin, "customer_id": f"cust-{next(counter) % 500}", "channel": "email",
                    "family": bench.FAMILY, "limit": 5}

        def http() -> None:
            body = {"customerId": f"cust-{next(counter) % 500}", "channel": "email", "family": bench.FAMILY,
                    "limit": 5}
            resp = client.post("/api/v1/recommend", data=json.dumps(body), content_type="application/json",
                               HTTP_AUTHORIZATION=f"Token {token}")
            assert resp.status_code == 200 and len(resp.json()["offers"]) == 5, resp.content

        medians = {}
        import gc

        gc.collect()
        gc.freeze()  # as config/wsgi.py does in each web worker
        for n in (10, 200):
            bench.add_offers(n)
            for _ in range(5):
                http()
            with CaptureQueriesContext(connection) as ctx:
                http()
            print(f"\n== {n} offers: {len(ctx.captured_queries)} queries per POST /api/v1/recommend")
            if old_recommend:
                # Same seed, same answer and the same trace content from both.
                for seed in range(5):
                    same = kwargs()
                    new_rec = services.recommend(**same, seed=seed)
                    old_rec = old_recommend(**same, seed=seed)
                    new_rec.trace.refresh_from_db()
                    old_rec.trace.refresh_from_db()
                    assert new_rec.offers == old_rec.offers, (new_rec.offers, old_rec.offers)
                    assert new_rec.trace.candidate_results() == old_rec.trace.candidate_results()
                    assert new_rec.trace.funnel == old_rec.trace.funnel
                print("  same answers and trace results as the baseline for seeds 0-4")
            variants = {"new": lambda: services.recommend(**kwargs())}
            if old_recommend:
                variants["old"] = lambda: old_recommend(**kwargs())
            spent = {name: [] for name in variants}
            spent["http (new)"] = []
            for _ in range(args.calls):
                for name, fn in variants.items():
                    t0 = time.perf_counter()
                    fn()
                    spent[name].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                http()
                spent["http (new)"].append(time.perf_counter() - t0)
            from scoring.models import DecisionTrace

            stages: dict[str, list[float]] = {}
            for pipeline, total in DecisionTrace.objects.order_by("-id").values_list(
                    "pipeline", "total_duration_ms")[:args.calls]:
                for step in pipeline:
                    stages.setdefault(step["stage"], []).append(step["durationMs"])
                stages.setdefault("total before the trace", []).append(total)
            print("  stages of the last calls (their traces), medians: " + ", ".join(
                f"{name} {statistics.median(v):.2f} ms" for name, v in stages.items()))
            for name, times in spent.items():
                medians[(n, name)] = statistics.median(times) * 1000
                print(f"  {name:>10}: median {medians[(n, name)]:.2f} ms over {len(times)} calls")
            if old_recommend:
                print(f"  new / old: {medians[(n, 'new')] / medians[(n, 'old')]:.2f}")
            if args.parts:
                parts(n, args.calls)
            if not args.no_profile:
                profile = cProfile.Profile()
                profile.enable()
                for _ in range(args.calls):
                    services.recommend(**kwargs())
                profile.disable()
                stats = pstats.Stats(profile).strip_dirs()
                print(f"-- cProfile of {args.calls} calls of services.recommend, by own time")
                stats.sort_stats("tottime").print_stats(args.top)
                print("-- by cumulative time")
                stats.sort_stats("cumulative").print_stats(args.top)
                for name in args.callees:
                    stats.print_callees(name)
        print("\n== 200 / 10 medians: " + ", ".join(
            f"{name} {medians[(200, name)] / medians[(10, name)]:.2f}" for name in
            ("new", *(["old"] if old_recommend else []), "http (new)")))
    finally:
        from django.db import connections

        connections.close_all()
        bench.drop_database(pg_base, db_name)
    return 0


if __name__ == "__main__":
    sys.exit(main())

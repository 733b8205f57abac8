#!/usr/bin/env python
"""List pages benchmark: `make bench-lists` (not a test; pytest collects only test_*.py).

Does a list of 100,000 rows open as fast as one of 10? On a database of its own (a temporary SQLite file, or
with --db postgres a PostgreSQL database created and dropped here), through the whole Django stack in-process
(the test client: middleware, login, templates; no network), it times GET of:

1. the samples page of a model with 10 samples, of one with 1,000 and of one with 100,000 (first page, a deep
   page, sorted by weight, filtered by a trait's label);
2. the decision traces page (/traces/) with 10 traces, then 1,000, then 100,000 (first page and a deep page,
   reached by keyset as its Older links do);

each --reps times after a warm-up, and prints the median and p90 in ms, the ratio of each to the 10-row page
and to the 1,000-row page (which shows a full page of rows, as the 100,000-row page does: the ratio to it is the
cost of the size of the list alone), and the SQL queries of one request: how many, and the LIMIT of those
that read the list's rows. Options: --db,
--rows, --reps, --json PATH. Environment: BENCH_PG_URL (default postgres://postgres@127.0.0.1:5432; only
127.0.0.1 is accepted).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import re  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "bench"))
import bench_scoring as bench  # noqa: E402


def log(msg: str) -> None:
    print(f"[bench-lists {time.strftime('%H:%M:%S')}] {msg}", flush=True)


def timed(client, path: str, reps: int, warm: int = 10) -> dict:
    for _ in range(warm):
        response = client.get(path)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}")
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        response = client.get(path)
        times.append((time.perf_counter() - t0) * 1000)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}")
    times.sort()
    return {"median_ms": statistics.median(times), "p90_ms": times[int(0.9 * (len(times) - 1))],
            "min_ms": times[0], "reps": reps}


def queries(client, path: str, table: str) -> dict:
    """How many queries one request makes, and the LIMIT of each that reads rows of `table` (None: no LIMIT)."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        client.get(path)
    fetches = [q["sql"] for q in ctx.captured_queries
               if f'FROM "{table}"' in q["sql"] and "COUNT(" not in q["sql"].upper()]
    limits = []
    for sql in fetches:
        found = re.search(r"\bLIMIT (\d+)", sql)
        limits.append(int(found.group(1)) if found else None)
    # The database's own time for the COUNT of the list (the part that grows with the rows), best of three.
    counts = [q["sql"] for q in ctx.captured_queries if f'FROM "{table}"' in q["sql"] and "COUNT(" in q["sql"].upper()]
    count_ms = None
    if counts:
        with connection.cursor() as cursor:
            best = []
            for _ in range(3):
                t0 = time.perf_counter()
                cursor.execute(counts[0])
                cursor.fetchall()
                best.append((time.perf_counter() - t0) * 1000)
        count_ms = min(best)
    return {"count": len(ctx.captured_queries), "row_fetch_limits": limits, "count_ms": count_ms}


def deep_trace_query(page: int, per_page: int) -> str:
    """The query string of the traces page `page` (newest first), as its Older links reach it: by keyset, the
    cursor of the last row of the page before (the page once paged by ?page=N, by OFFSET)."""
    from lifecycle.core.listing import Sort, encode_cursor
    from scoring.models import DecisionTrace

    last = DecisionTrace.objects.order_by("-created_at", "-pk")[(page - 1) * per_page - 1]
    return "after=" + encode_cursor(Sort("created", True), last.created_at, last.pk)


def analyze(connection) -> None:
    """Fresh statistics (and, on PostgreSQL, a visibility map for index-only counts), as autovacuum would
    leave a table that grew by 100,000 rows."""
    with connection.cursor() as cursor:
        cursor.execute("VACUUM ANALYZE" if connection.vendor == "postgresql" else "ANALYZE")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rows", type=int, default=100_000, help="rows of the big lists (default 100,000)")
    parser.add_argument("--reps", type=int, default=300, help="timed requests per page (default 300)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    if not 1_000 <= args.rows <= 1_000_000 or not 10 <= args.reps <= 5_000:
        parser.error("rows 1,000-1,000,000, reps 10-5,000")

    scratch = contextlib.ExitStack()
    scratch.enter_context(bench.scratch_database("bench-lists", args.db, ALLOWED_HOSTS="testserver"))

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    results: dict = {"db": args.db, "rows": args.rows, "reps": args.reps, "machine": {
        "nproc": os.cpu_count(), "python": platform.python_version(), "loadavg_start": os.getloadavg()}}
    try:
        import django

        django.setup()
        from django.conf import settings
        from django.core.management import call_command
        from django.db import connection
        from django.test import Client
        from django.urls import reverse

        # Templates find static files without a collectstatic manifest, as in the tests.
        settings.STORAGES = {**settings.STORAGES, "staticfiles": {
            "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
        t0 = time.perf_counter()
        call_command("migrate", verbosity=0)
        from lifecycle.models import Sample
        from scoring.models import DecisionTrace
        from tests.bulk import bulk_samples, bulk_traces
        from tests.factories import make_model, make_user

        analyst = make_user("analyst", username="bench-lists")
        for key, n in (("bench-10", 10), ("bench-1000", 1_000), ("bench-big", args.rows)):
            bulk_samples(make_model(analyst, key=key), n)
        analyze(connection)
        log(f"{args.db}: migrated, {args.rows:,} samples made in {time.perf_counter() - t0:.1f} s; "
            f"{args.reps} timed requests per page, median and p90")

        client = Client()
        client.force_login(analyst)
        deep = args.rows // 50 // 2
        samples_big = reverse("lifecycle:sample-list", args=["bench-big"])
        pages = [
            ("samples", "10 rows", reverse("lifecycle:sample-list", args=["bench-10"])),
            ("samples", "1,000 rows", reverse("lifecycle:sample-list", args=["bench-1000"])),
            ("samples", f"{args.rows:,} rows", samples_big),
            ("samples", f"{args.rows:,}, page {deep:,}", f"{samples_big}?page={deep}"),
            ("samples", f"{args.rows:,}, by weight", f"{samples_big}?sort=-weight"),
            ("samples", f"{args.rows:,}, churn positive", f"{samples_big}?trait=churn&label=positive"),
        ]
        rows_out = []

        def measure(group, label, path, table, bases):
            figures = {**timed(client, path, args.reps), "queries": queries(client, path, table), "path": path}
            figures["ratio_10"] = figures["median_ms"] / bases[0]["median_ms"] if bases else 1.0
            figures["ratio_1000"] = figures["median_ms"] / bases[1]["median_ms"] if len(bases) > 1 else None
            rows_out.append({"group": group, "label": label, **figures})
            q = figures["queries"]
            log(f"{group:8} {label:28} median {figures['median_ms']:7.1f} ms  p90 {figures['p90_ms']:7.1f} ms  "
                f"x{figures['ratio_10']:.2f}  {q['count']} queries, row fetches LIMIT {q['row_fetch_limits']}, "
                f"COUNT {q['count_ms'] or 0:.1f} ms")
            return figures

        bases: list = []  # the 10-row and 1,000-row pages
        for group, label, path in pages:
            figures = measure(group, label, path, Sample._meta.db_table, bases)
            if len(bases) < 2:
                bases.append(figures)

        traces, table = reverse("scoring:trace-list"), DecisionTrace._meta.db_table
        bases = []
        for n in (10, 1_000, args.rows):
            t0 = time.perf_counter()
            DecisionTrace.objects.all().delete()
            bulk_traces(n, model_key="bench-big")
            analyze(connection)
            if n == args.rows:
                log(f"{n:,} traces made in {time.perf_counter() - t0:.1f} s")
            figures = measure("traces", f"{n:,} rows", traces, table, bases)
            if len(bases) < 2:
                bases.append(figures)
        deep = args.rows // 25 // 2  # the traces page shows 25 a page
        measure("traces", f"{args.rows:,}, page {deep:,}", f"{traces}?{deep_trace_query(deep, 25)}", table, bases)

        results["pages"] = rows_out
        results["machine"]["loadavg_end"] = os.getloadavg()
        print()
        print(f"| {args.db} | rows | median ms | p90 ms | x 10-row page | x 1,000-row page | queries | row fetch "
              "| COUNT ms |")
        print("|---|---|---:|---:|---:|---:|---:|---|---:|")
        for r in rows_out:
            ratio_1000 = f"{r['ratio_1000']:.2f}" if r["ratio_1000"] else "–"
            fetch = ", ".join(f"LIMIT {x}" if x else "no LIMIT" for x in r["queries"]["row_fetch_limits"])
            print(f"| {r['group']} | {r['label']} | {r['median_ms']:.1f} | {r['p90_ms']:.1f} | {r['ratio_10']:.2f} | "
                  f"{ratio_1000} | {r['queries']['count']} | {fetch} | {r['queries']['count_ms'] or 0:.1f} |")
        la = results["machine"]
        print(f"\nload average {la['loadavg_start'][0]:.2f} at the start, {la['loadavg_end'][0]:.2f} at the end; "
              f"{la['nproc']} CPUs")
        if args.json:
            args.json.write_text(json.dumps(results, indent=2))
        return 0
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        scratch.close()


if __name__ == "__main__":
    sys.exit(main())

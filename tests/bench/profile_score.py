#!/usr/bin/env python
"""Profile of one single-row `POST .../score` through the whole Django stack, in-process (not a test).

    OMP_NUM_THREADS=1 .venv/bin/python tests/bench/profile_score.py [--calls 2000] [--top 30] [--wsgi]

Makes its own PostgreSQL database on BENCH_PG_URL (127.0.0.1 only), trains the bench's model, warms the
caches, then runs the calls under cProfile and prints the functions by cumulative and by own time, the
database queries of one call, and the median call. Drops the database at the end.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import cProfile  # noqa: E402
import json  # noqa: E402
import pstats  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_scoring as bench  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--top", type=int, default=30)
    parser.add_argument("--http", action="store_true", help="also time sequential calls on a 1-worker gunicorn")
    parser.add_argument("--rows", type=int, default=0, help="profile services.score of this many rows instead")
    parser.add_argument("--callers", help="also print the callers of the functions matching this")
    parser.add_argument("--role", choices=("admin", "analyst"), default="analyst")
    parser.add_argument("--wsgi", action="store_true",
                        help="also the CPU per call of a score and of /healthz through Django's WSGI handler, "
                             "without the test client")
    args = parser.parse_args()
    pg_base, db_name, env = bench.own_database_env("lifecycle_profile")
    bench.create_database(pg_base, db_name)
    try:
        token = bench.bench_site(env, analyst=args.role == "analyst")
        from django.contrib.auth import get_user_model
        from django.db import connection, connections
        from django.test import Client
        from django.test.utils import CaptureQueriesContext

        body = json.dumps(bench.input_rows(1, seed=11)[0])
        client = Client(HTTP_HOST=bench.HOST)
        path = f"/api/v1/algorithm-models/{bench.LR_KEY}/score"

        def call():
            resp = client.post(path, data=body, content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}")
            assert resp.status_code == 200, resp.content

        if args.rows:
            from lifecycle.models import AlgorithmModel
            from scoring import services

            model = AlgorithmModel.objects.select_related("active_version").get(key=bench.LR_KEY)
            rows = bench.input_rows(args.rows, seed=11)
            user = get_user_model().objects.get(username="bench-admin")
            services.score(model=model, actor=user, inputs=rows, batch=True)
            import gc

            for label in ("", " after gc.freeze()"):
                if label:
                    gc.freeze()
                spent = sorted(bench.timed_repeat(
                    lambda: services.score(model=model, actor=user, inputs=rows, batch=True), max_reps=7, seconds=10))
                print(f"services.score of {args.rows} rows{label}: median {spent[len(spent) // 2] * 1000:.0f} ms, "
                      f"min {spent[0] * 1000:.0f} ms")
            from scoring import serving

            loaded = serving.loaded(model.active_version, model.model_type)
            plain = [{"features": r["features"], "content": r["content"]} for r in rows]
            raw, served = [], []
            for _ in range(7):  # interleaved, so both see the same load
                for out, fn in ((raw, lambda: loaded.predict_proba(plain)),
                                (served, lambda: services.score(model=model, actor=user, inputs=rows, batch=True))):
                    t0 = time.perf_counter()
                    fn()
                    out.append(time.perf_counter() - t0)
            raw_ms, served_ms = sorted(raw)[3] * 1000, sorted(served)[3] * 1000
            print(f"raw predict_proba {raw_ms:.0f} ms, services.score {served_ms:.0f} ms (medians, interleaved): "
                  f"service / raw rows/s = {raw_ms / served_ms:.2f}")
            prof = cProfile.Profile()
            prof.enable()
            services.score(model=model, actor=user, inputs=rows, batch=True)
            prof.disable()
            print("services.score alone, profiled:")
            alone = pstats.Stats(prof)
            alone.sort_stats("cumulative").print_stats(args.top)
            alone.sort_stats("tottime").print_stats(args.top)
            big = json.dumps({"inputs": rows})
            spent = sorted(bench.timed_repeat(lambda: client.post(
                path, data=big, content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}"),
                max_reps=5, seconds=10))
            print(f"the same rows through the Django stack in-process: median {spent[len(spent) // 2] * 1000:.0f} ms")
            prof = cProfile.Profile()
            t0 = time.perf_counter()
            prof.enable()
            client.post(path, data=big, content_type="application/json", HTTP_AUTHORIZATION=f"Token {token}")
            prof.disable()
            print(f"the same through the Django stack: {(time.perf_counter() - t0) * 1000:.0f} ms (profiled)")
            stats = pstats.Stats(prof)
            stats.sort_stats("cumulative").print_stats(args.top)
            stats.sort_stats("tottime").print_stats(args.top)
            return 0
        for _ in range(50):
            call()
        if args.wsgi:
            wsgi_cpu(token, body, path, args.calls)
        if args.http:
            connections.close_all()
            server = bench.Gunicorn(env, 1, Path(f"/tmp/profile-gunicorn-{os.getpid()}.log"))
            try:
                server.wait_ready(1)
                http = bench.Client(server.port, token)
                for label, method, url, data in (("healthz", "GET", "/healthz", None),
                                                 ("score", "POST", path, body.encode()),
                                                 ("healthz", "GET", "/healthz", None),
                                                 ("score", "POST", path, body.encode())):
                    spent = []
                    for _ in range(300):
                        t0 = time.perf_counter()
                        status, _ = http.request(method, url, data)
                        spent.append(time.perf_counter() - t0)
                        assert status == 200
                    spent.sort()
                    print(f"HTTP {label}: p50 {spent[150] * 1000:.2f} ms, p10 {spent[30] * 1000:.2f} ms")
            finally:
                server.stop()
        with CaptureQueriesContext(connection) as ctx:
            call()
        print(f"{len(ctx.captured_queries)} queries per call:")
        for q in ctx.captured_queries:
            print("  ", q["sql"][:160])
        times = bench.timed_repeat(call, max_reps=args.calls, seconds=10)
        times.sort()
        print(f"median call {times[len(times) // 2] * 1000:.2f} ms over {len(times)} calls")
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(args.calls):
            call()
        prof.disable()
        stats = pstats.Stats(prof)
        stats.sort_stats("cumulative").print_stats(args.top)
        stats.sort_stats("tottime").print_stats(args.top)
        if args.callers:
            stats.print_callers(args.callers)
        connections.close_all()
    finally:
        bench.drop_database(pg_base, db_name)
    return 0


def wsgi_cpu(token: str, body: str, path: str, calls: int) -> None:
    """CPU time per call of a single-row score and of /healthz, each `calls` times after a warm-up, through
    Django's WSGI handler as a gunicorn worker calls it (the test client adds its own work)."""
    import gc
    import io

    from django.core.handlers.wsgi import WSGIHandler

    app = WSGIHandler()
    answers: list[str] = []

    def call(url: str, method: str, data: bytes) -> None:
        environ = {"REQUEST_METHOD": method, "PATH_INFO": url, "SCRIPT_NAME": "", "QUERY_STRING": "",
                   "SERVER_NAME": bench.HOST, "SERVER_PORT": "80", "HTTP_HOST": bench.HOST,
                   "SERVER_PROTOCOL": "HTTP/1.1", "REMOTE_ADDR": "127.0.0.1", "wsgi.url_scheme": "http",
                   "wsgi.input": io.BytesIO(data), "wsgi.errors": sys.stderr, "CONTENT_LENGTH": str(len(data)),
                   "CONTENT_TYPE": "application/json", "HTTP_AUTHORIZATION": f"Token {token}"}
        result = app(environ, lambda status, headers, exc_info=None: answers.append(status))
        b"".join(result)
        result.close()
        if not answers.pop().startswith("200"):
            raise RuntimeError(f"{method} {url} did not answer 200")

    gc.collect()
    gc.freeze()  # as config/wsgi.py does once a worker has loaded
    for label, url, method, data in (("score", path, "POST", body.encode()), ("/healthz", "/healthz", "GET", b"")):
        for _ in range(200):
            call(url, method, data)
        t0 = time.process_time()
        for _ in range(calls):
            call(url, method, data)
        print(f"WSGI {label}: {(time.process_time() - t0) / calls * 1000:.3f} ms of CPU per call ({calls} calls)")


if __name__ == "__main__":
    raise SystemExit(main())

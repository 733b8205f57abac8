#!/usr/bin/env python
"""Single-row score, /healthz and a 10,000-row batch over HTTP: this checkout against another commit, alternately
(not a test).

    OMP_NUM_THREADS=1 .venv/bin/python tests/bench/ab_serving.py --baseline COMMIT [--rounds 15]

Makes its own PostgreSQL database on BENCH_PG_URL (127.0.0.1 only) with the bench's model, as profile_score.py
does, checks COMMIT out into a temporary git worktree, and starts one gunicorn sync worker from each checkout on
that database (COMMIT must have the same migrations). Each round sends each worker in turn 50 single-row scores,
50 /healthz and one batch of 10,000 rows, one request at a time, so both see the same load on a shared host:
sequential runs of `make bench` on such a host scatter more than a change of 10-20%. Prints p50 and p25 per
checkout. Removes the worktree and drops the database at the end.
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench_scoring as bench  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", required=True, help="the commit to compare with")
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    pg_base, db_name, env = bench.own_database_env("lifecycle_ab")
    tmp = Path(tempfile.mkdtemp(prefix="lifecycle-ab-"))
    baseline = tmp / "baseline"
    subprocess.run(["git", "worktree", "add", "--detach", str(baseline), args.baseline], cwd=bench.ROOT, check=True,
                   capture_output=True)
    bench.create_database(pg_base, db_name)
    servers: dict[str, bench.Gunicorn] = {}
    try:
        token = bench.bench_site(env)
        from django.db import connections

        connections.close_all()
        path = f"/api/v1/algorithm-models/{bench.LR_KEY}/score"
        one = json.dumps(bench.input_rows(1, seed=11)[0]).encode()
        batch = json.dumps({"inputs": bench.input_rows(10_000, seed=11)}).encode()
        for name, root in ((args.baseline, baseline), ("this checkout", bench.ROOT)):
            servers[name] = bench.Gunicorn(env, 1, tmp / f"gunicorn-{len(servers)}.log", root=root)
        for server in servers.values():
            server.wait_ready(1)
        clients = {name: bench.Client(server.port, token) for name, server in servers.items()}
        for client in clients.values():  # warm: the token, the loaded version, the kept rows
            for _ in range(100):
                client.request("POST", path, one)
            client.request("POST", path, batch)
        spent: dict[tuple[str, str], list[float]] = {}
        for _ in range(args.rounds):
            for name, client in clients.items():
                for label, method, url, body, reps in (("score, 1 row", "POST", path, one, 50),
                                                       ("/healthz", "GET", "/healthz", None, 50),
                                                       ("score, 10,000 rows", "POST", path, batch, 1)):
                    for _ in range(reps):
                        t0 = time.perf_counter()
                        status, data = client.request(method, url, body)
                        spent.setdefault((label, name), []).append(time.perf_counter() - t0)
                        if status != 200:
                            raise RuntimeError(f"{name} {label}: {status} {data[:300]!r}")
        print(f"one gunicorn sync worker each, one request at a time, {args.rounds} rounds; "
              f"load average {os.getloadavg()[0]:.2f}")
        for (label, name), times in sorted(spent.items(), key=lambda kv: (kv[0][0], kv[0][1] != args.baseline)):
            times.sort()
            print(f"  {label:20} {name:16} p50 {times[len(times) // 2] * 1000:8.2f} ms   "
                  f"p25 {times[len(times) // 4] * 1000:8.2f} ms   ({len(times)} requests)")
        return 0
    finally:
        for server in servers.values():
            server.stop()
        bench.drop_database(pg_base, db_name)
        subprocess.run(["git", "worktree", "remove", "--force", str(baseline)], cwd=bench.ROOT, capture_output=True)
        subprocess.run(["rm", "-rf", str(tmp)])


if __name__ == "__main__":
    sys.exit(main())

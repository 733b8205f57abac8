#!/usr/bin/env python
"""Serving benchmark: `make bench` (not a test; pytest collects only test_*.py).

One run, on its own PostgreSQL database (created, migrated and dropped here) and its own gunicorn
(2 sync workers, OMP_NUM_THREADS=1, a free 127.0.0.1 port), prints side by side:

1. single-row score requests/s over HTTP against the /healthz floor (same client, same concurrency);
2. batch scoring rows/s (1,000 and 10,000 rows per request) over HTTP and in-process through
   scoring.services.score, against raw trainers.load(artifact).predict_proba of the same artifact;
3. recommend latency (p50/p99) with 10 and with 200 offers (a thompson_bandit champion);
4. respond throughput with 4 concurrent clients (a unique idempotency key per call);
5. a load run: score, recommend and respond mixed (50/25/25) at a fixed arrival rate (open loop, 60
   requests/s for 30 s by default): throughput achieved against offered, p50/p99 latency and errors per
   kind, the lateness and backlog of the client's schedule, and the RSS of the gunicorn master and of
   each worker before and after, checked against a bound (PASS/FAIL; FAIL exits 1, like any error);

plus the RSS of the gunicorn workers, and the database queries per API call (in-process). Every loop
is bounded in count and in time; every target is 127.0.0.1. Options: --seconds (per timed phase),
--clients, --workers, --json PATH, --load-seconds (0 skips the load run), --load-rate, --load-mix,
--load-threads, --load-timeout, --load-offers, --access-log, --rss-bound-mib. Environment: BENCH_PG_URL (default
postgres://postgres@127.0.0.1:5432); DB_CONN_MAX_AGE and the other settings pass through to gunicorn.
"""

from __future__ import annotations

import os

# Before numpy / scikit-learn are imported anywhere in this process (the in-process measurements).
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import collections  # noqa: E402
import contextlib  # noqa: E402
import gc  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402
import platform  # noqa: E402
import queue  # noqa: E402
import random  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import socket  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from pathlib import Path  # noqa: E402
from urllib.parse import urlsplit  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

HOST = "127.0.0.1"
FAMILY = "bench-offers"
LR_KEY = "bench-lr"
BANDIT_KEY = "bench-bandit"
TRAIN_ROWS = 1000


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", flush=True)


# ------------------------------------------------------------------------------------------ HTTP client


class Client:
    """One connection per thread, reused while the server keeps it open (gunicorn's sync workers close
    it after every response; http.client then reconnects on the next request)."""

    def __init__(self, port: int, token: str | None = None, timeout: float = 120) -> None:
        self.port, self.timeout = port, timeout
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Token {token}"
        self.conn = http.client.HTTPConnection(HOST, port, timeout=timeout)

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        hdrs = {**self.headers, **(headers or {})}
        for attempt in (1, 2):
            try:
                self.conn.request(method, path, body=body, headers=hdrs)
                resp = self.conn.getresponse()
                data = resp.read()
                if resp.will_close:
                    self.conn.close()
                return resp.status, data
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
                    http.client.CannotSendRequest, http.client.ResponseNotReady):
                self.conn.close()
                self.conn = http.client.HTTPConnection(HOST, self.port, timeout=self.timeout)
                if attempt == 2:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        self.conn.close()


def pct(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    i = min(len(sorted_values) - 1, max(0, int(round(q * (len(sorted_values) - 1)))))
    return sorted_values[i]


def run_load(port: int, *, token: str | None, clients: int, seconds: float, max_requests: int, make_request,
             expect: int | tuple = 200) -> dict:
    """`clients` threads, each on its own connection, until `seconds` pass or `max_requests` are sent.
    make_request(i) -> (method, path, body bytes | None, extra headers | None)."""
    expect = (expect,) if isinstance(expect, int) else expect
    lock = threading.Lock()
    state = {"next": 0, "errors": 0, "first_error": None}
    latencies: list[float] = []
    samples: list[bytes] = []
    barrier = threading.Barrier(clients + 1)
    stop_at = [0.0]

    def take() -> int | None:
        with lock:
            if state["next"] >= max_requests or time.perf_counter() >= stop_at[0]:
                return None
            state["next"] += 1
            return state["next"] - 1

    def worker() -> None:
        client = Client(port, token)
        mine: list[float] = []
        barrier.wait()
        try:
            while (i := take()) is not None:
                method, path, body, headers = make_request(i)
                t0 = time.perf_counter()
                try:
                    status, data = client.request(method, path, body, headers)
                except Exception as exc:  # noqa: BLE001 - counted and shown
                    status, data = -1, repr(exc).encode()
                mine.append(time.perf_counter() - t0)
                if status not in expect:
                    with lock:
                        state["errors"] += 1
                        state["first_error"] = state["first_error"] or f"{status}: {data[:300]!r}"
                elif not samples:
                    samples.append(data)
        finally:
            client.close()
            with lock:
                latencies.extend(mine)

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + seconds
    started = time.perf_counter()
    barrier.wait()
    for t in threads:
        t.join(seconds + 180)
    elapsed = time.perf_counter() - started
    latencies.sort()
    n = len(latencies)
    return {"requests": n, "seconds": round(elapsed, 3), "rps": n / elapsed if elapsed else 0.0,
            "p50_ms": pct(latencies, 0.50) * 1000, "p99_ms": pct(latencies, 0.99) * 1000,
            "errors": state["errors"], "first_error": state["first_error"],
            "sample": samples[0] if samples else b""}


# ------------------------------------------------------------------------------------------ load run (open loop)

LOAD_KINDS = ("score", "recommend", "respond")
LOAD_EXPECT = {"score": 200, "recommend": 200, "respond": 201}
LOAD_OUTCOMES = ("click", "dismiss", "accept", "decline")


def parse_mix(text: str) -> dict[str, int]:
    """'50/25/25' (score/recommend/respond) -> {'score': 50, 'recommend': 25, 'respond': 25}."""
    parts = text.replace(",", "/").replace(":", "/").split("/")
    if len(parts) != 3 or not all(p.strip().isdigit() for p in parts) or sum(int(p) for p in parts) <= 0:
        raise ValueError("--load-mix wants three whole numbers score/recommend/respond, e.g. 50/25/25")
    return dict(zip(LOAD_KINDS, (int(p) for p in parts)))


def kind_schedule(n: int, mix: dict[str, int]) -> list[str]:
    """n request kinds in the proportions of mix, spread evenly (smooth weighted round robin:
    50/25/25 gives score, score, recommend, respond, score, score, ...)."""
    total = sum(mix.values())
    current = {k: 0 for k in mix}
    out = []
    for _ in range(n):
        for k, w in mix.items():
            current[k] += w
        pick = max(current, key=lambda k: current[k])
        current[pick] -= total
        out.append(pick)
    return out


def cpu_ticks(pid: int) -> float:
    """utime + stime of a process, in clock ticks (nan if it is gone)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return float(int(fields[11]) + int(fields[12]))
    except (OSError, IndexError, ValueError):
        return float("nan")


def backend_pids(pg_base: str, db_name: str) -> list[int]:
    """The PostgreSQL backends connected to `db_name` (the web workers' among them)."""
    import psycopg

    with psycopg.connect(admin_url(pg_base, "postgres"), autocommit=True) as conn:
        return [pid for (pid,) in conn.execute("SELECT pid FROM pg_stat_activity WHERE datname = %s",
                                               (db_name,)).fetchall()]


def with_cpu(workers: list[int], backends: list[int], run) -> dict:
    """`run()`'s figures with the CPU time the web workers, and the database backends, spent per request meanwhile
    (ms): steadier than requests per second on a host whose other tenants take CPU (steal is not counted)."""
    tick = os.sysconf("SC_CLK_TCK")
    before = {pid: cpu_ticks(pid) for pid in workers + backends}
    res = run()
    spent = {pid: cpu_ticks(pid) - ticks for pid, ticks in before.items()}
    per = max(res["requests"], 1) * tick / 1000
    res["worker_cpu_ms"] = sum(v for pid, v in spent.items() if pid in workers and v == v) / per
    res["db_cpu_ms"] = sum(v for pid, v in spent.items() if pid in backends and v == v) / per
    return res


def host_cpu() -> tuple[float, float, float]:
    """(busy, steal, total) ticks of the whole host from /proc/stat."""
    v = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = v[3] + (v[4] if len(v) > 4 else 0)
    steal = v[7] if len(v) > 7 else 0
    total = sum(v[:8])
    return float(total - idle - steal), float(steal), float(total)


def pressure_us(resource: str) -> float:
    """Linux PSI: microseconds during which some runnable task waited for `resource` (cpu, io), host-wide."""
    try:
        for line in Path(f"/proc/pressure/{resource}").read_text().splitlines():
            if line.startswith("some "):
                return float(line.rsplit("total=", 1)[1])
    except (OSError, ValueError, IndexError):
        pass
    return float("nan")


class ProcSampler:
    """Every `every` seconds, in a thread: the RSS and CPU ticks of the given pids, the host's CPU, and
    (with a database URL) what the active PostgreSQL backends of that database wait on. Keeps the peak
    RSS per pid and the samples, for a timeline. Bounded by the stop() of the with block."""

    def __init__(self, pids: list[int], every: float = 0.5, pg_url: str | None = None, db_name: str = "") -> None:
        self.pids, self.every, self.pg_url, self.db_name = pids, every, pg_url, db_name
        self.peak: dict[int, float] = {pid: rss_mb(pid) for pid in pids}
        self.samples: list[dict] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _sample(self, pg) -> dict:
        sample = {"t": time.perf_counter(), "cpu": {pid: cpu_ticks(pid) for pid in self.pids}, "host": host_cpu(),
                  "psi_cpu": pressure_us("cpu"), "psi_io": pressure_us("io"), "waits": None}
        for pid in self.pids:
            v, peak = rss_mb(pid), self.peak.get(pid, float("nan"))
            if v == v and (peak != peak or v > peak):
                self.peak[pid] = v
        if pg is not None:
            try:
                rows = pg.execute("SELECT coalesce(wait_event_type, 'CPU'), coalesce(wait_event, ''), count(*) "
                                  "FROM pg_stat_activity WHERE datname = %s AND state = 'active' "
                                  "AND pid <> pg_backend_pid() GROUP BY 1, 2", (self.db_name,)).fetchall()
                sample["waits"] = {f"{t}:{e}" if e else t: n for t, e, n in rows}
            except Exception:  # noqa: BLE001 - a diagnostic only
                sample["waits"] = None
        return sample

    def _run(self) -> None:
        pg = None
        if self.pg_url:
            try:
                import psycopg

                pg = psycopg.connect(self.pg_url, autocommit=True, connect_timeout=5)
            except Exception:  # noqa: BLE001 - a diagnostic only
                pg = None
        try:
            self.samples.append(self._sample(pg))
            while not self._stop.wait(self.every):
                self.samples.append(self._sample(pg))
        finally:
            if pg is not None:
                pg.close()

    def __enter__(self) -> "ProcSampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join(10)

    def window(self, t_from: float, t_to: float) -> dict:
        """CPU use of the sampled pids (in CPUs, summed), of the host (busy and steal, in % of all CPUs),
        the host's CPU and IO pressure (% of the time some runnable task waited), and the PostgreSQL wait
        events seen (samples x backends), between two perf_counter instants."""
        inside = [x for x in self.samples if t_from <= x["t"] <= t_to]
        if len(inside) < 2:
            return {}
        a, b = inside[0], inside[-1]
        dt, hz = b["t"] - a["t"], os.sysconf("SC_CLK_TCK")
        procs = sum(b["cpu"][p] - a["cpu"][p] for p in self.pids if b["cpu"][p] == b["cpu"][p]) / hz / dt
        total = b["host"][2] - a["host"][2]
        waits: dict[str, int] = {}
        for x in inside:
            for k, n in (x["waits"] or {}).items():
                waits[k] = waits.get(k, 0) + n
        return {"procs_cpus": procs, "host_busy_pct": 100 * (b["host"][0] - a["host"][0]) / total if total else 0,
                "host_steal_pct": 100 * (b["host"][1] - a["host"][1]) / total if total else 0,
                "cpu_pressure_pct": (b["psi_cpu"] - a["psi_cpu"]) / 1e4 / dt,
                "io_pressure_pct": (b["psi_io"] - a["psi_io"]) / 1e4 / dt,
                "pg_waits": waits, "pg_samples": sum(1 for x in inside if x["waits"] is not None)}


def process_rss(server: "Gunicorn") -> dict:
    """{'master': (pid, MiB), 'workers': {pid: MiB}}"""
    return {"master": (server.proc.pid, rss_mb(server.proc.pid)), "workers": server.rss()}


def load_run(port: int, token: str, *, seconds: float, rate: float, mix: dict[str, int], threads: int,
             timeout: float, score_path: str, score_bodies: list[bytes], seed_recs: list[tuple[str, str, int]],
             sampler: ProcSampler | None = None, access_log: Path | None = None) -> dict:
    """Open loop: request k is due at t0 + k / rate whatever happened to the earlier ones. A dispatcher
    thread hands each request, on time, to a pool of `threads` client threads (one new connection per
    request, no retry). If every client thread is busy, requests wait in the client's queue: that is
    counted as lateness (start - due) and backlog, and the latency from the due time is reported next
    to the latency from the send. Bounded: len(schedule) = seconds * rate requests; a request not sent
    by the drain deadline (end of schedule + timeout + 10 s) is dropped and counted; each request has
    a socket timeout.

    Respond calls answer recommendations made by this run's recommend calls (oldest unanswered first);
    when none is waiting yet, a random earlier one (seed_recs, or one already answered) with a new
    idempotency key."""
    n_total = max(1, int(round(seconds * rate)))
    kinds = kind_schedule(n_total, mix)
    interval = 1.0 / rate
    run_tag = uuid.uuid4().hex[:12]
    lock = threading.Lock()
    fresh: collections.deque = collections.deque()
    answered: list[tuple[str, str, int]] = list(seed_recs)
    rng = random.Random(7)
    records: list[dict] = []
    state = {"in_flight": 0, "max_in_flight": 0, "max_queued": 0, "fresh_used": 0, "reused": 0}
    jobs: queue.Queue = queue.Queue()
    t0 = time.perf_counter() + 0.5
    schedule_end = t0 + (n_total - 1) * interval
    drain_deadline = schedule_end + timeout + 10

    def build(k: int, kind: str):
        if kind == "score":
            return "POST", score_path, score_bodies[k % len(score_bodies)], {}
        if kind == "recommend":
            body = {"customerId": f"load-{run_tag}-{k}", "channel": "email", "family": FAMILY, "limit": 5}
            return "POST", "/api/v1/recommend", json.dumps(body).encode(), {}
        with lock:
            if fresh:
                rec = fresh.popleft()
                state["fresh_used"] += 1
            else:
                rec = rng.choice(answered)
                state["reused"] += 1
            answered.append(rec)
            if len(answered) > 1000:
                del answered[:500]
        customer, rec_id, n_offers = rec
        body = {"customerId": customer, "recommendationId": rec_id, "rank": 1 + k % max(1, n_offers),
                "outcome": LOAD_OUTCOMES[k % len(LOAD_OUTCOMES)]}
        return "POST", "/api/v1/respond", json.dumps(body).encode(), {"Idempotency-Key": f"load-{run_tag}-{k}"}

    headers = {"Content-Type": "application/json", "Accept": "application/json", "Authorization": f"Token {token}"}

    def worker() -> None:
        mine: list[dict] = []
        try:
            while True:
                item = jobs.get(timeout=max(1.0, drain_deadline - time.perf_counter() + 1))
                if item is None:
                    return
                k, kind, due = item
                rec = {"k": k, "kind": kind, "due": due, "start": time.perf_counter(), "end": None,
                       "status": None, "error": None, "learned": None}
                mine.append(rec)
                if rec["start"] > drain_deadline:
                    rec["status"], rec["error"] = "dropped", "not sent by the drain deadline"
                    continue
                method, path, body, extra = build(k, kind)
                extra = {**extra, "X-Bench-K": f"{run_tag}-{k}"}
                with lock:
                    state["in_flight"] += 1
                    state["max_in_flight"] = max(state["max_in_flight"], state["in_flight"])
                conn = http.client.HTTPConnection(HOST, port, timeout=timeout)
                data = b""
                try:
                    rec["start"] = time.perf_counter()
                    conn.request(method, path, body=body, headers={**headers, **extra})
                    resp = conn.getresponse()
                    data = resp.read()
                    rec["status"] = resp.status
                except Exception as exc:  # noqa: BLE001 - a connection error, counted per kind
                    rec["status"], rec["error"] = "conn", repr(exc)
                finally:
                    rec["end"] = time.perf_counter()
                    conn.close()
                    with lock:
                        state["in_flight"] -= 1
                if rec["status"] != LOAD_EXPECT[kind]:
                    if rec["error"] is None:
                        rec["error"] = f"{rec['status']}: {data[:300]!r}"
                    continue
                try:
                    answer = json.loads(data)
                except ValueError:
                    rec["status"], rec["error"] = "bad body", f"not JSON: {data[:300]!r}"
                    continue
                if kind == "recommend":
                    offers = answer.get("offers") or []
                    if not answer.get("recommendationId") or not offers:
                        rec["status"], rec["error"] = "bad body", f"recommend answer: {data[:300]!r}"
                        continue
                    customer = json.loads(body)["customerId"]
                    with lock:
                        fresh.append((customer, answer["recommendationId"], len(offers)))
                elif kind == "respond":
                    rec["learned"] = bool(answer.get("learned"))
        except queue.Empty:
            return
        finally:
            with lock:
                records.extend(mine)

    def dispatcher() -> None:
        for k in range(n_total):
            due = t0 + k * interval
            delay = due - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            jobs.put((k, kinds[k], due))
            queued = jobs.qsize()
            if queued > state["max_queued"]:
                state["max_queued"] = queued
        for _ in range(threads):
            jobs.put(None)

    pool = [threading.Thread(target=worker, daemon=True) for _ in range(threads)]
    for t in pool:
        t.start()
    disp = threading.Thread(target=dispatcher, daemon=True)
    disp.start()
    disp.join(seconds + 30)
    for t in pool:
        t.join(max(0.0, drain_deadline + timeout + 5 - time.perf_counter()))
    finished = time.perf_counter()
    with lock:
        recs = list(records)
        unsent = n_total - len(recs)  # still queued when the threads gave up (should be 0)
    window_end = schedule_end + interval  # the offered window is n_total / rate seconds long
    server_us: dict[int, float] = {}
    if access_log is not None:
        time.sleep(0.5)  # the workers write their line after the answer
        try:
            for line in access_log.read_text(errors="replace").splitlines():
                parts = line.split()
                if len(parts) == 3 and parts[0].startswith(run_tag + "-") and parts[2].isdigit():
                    server_us[int(parts[0].rsplit("-", 1)[1])] = float(parts[2])
        except OSError:
            pass
    for r in recs:
        r["server_s"] = server_us[r["k"]] / 1e6 if r["k"] in server_us else None

    out: dict = {"offered_rps": rate, "seconds": n_total / rate, "scheduled": n_total, "threads": threads,
                 "mix": mix, "timeout_s": timeout, "kinds": {}}
    for kind in LOAD_KINDS:
        mine = [r for r in recs if r["kind"] == kind]
        ok = [r for r in mine if r["status"] == LOAD_EXPECT[kind]]
        service = sorted(r["end"] - r["start"] for r in ok)
        from_due = sorted(r["end"] - r["due"] for r in ok)
        ok_in_window = sum(1 for r in ok if r["end"] <= window_end)
        errors_5xx = sum(1 for r in mine if isinstance(r["status"], int) and r["status"] >= 500)
        errors_conn = sum(1 for r in mine if r["status"] == "conn")
        bench_bugs = [r for r in mine if (isinstance(r["status"], int) and r["status"] < 500
                                          and r["status"] != LOAD_EXPECT[kind]) or r["status"] == "bad body"]
        dropped = sum(1 for r in mine if r["status"] == "dropped")
        first_error = next((r["error"] for r in mine if r["error"]), None)
        out["kinds"][kind] = {
            "scheduled": kinds.count(kind), "offered_rps": kinds.count(kind) / (n_total / rate),
            "ok": len(ok), "ok_in_window": ok_in_window, "achieved_rps": ok_in_window / (n_total / rate),
            "p50_ms": pct(service, 0.50) * 1000, "p99_ms": pct(service, 0.99) * 1000,
            "max_ms": (service[-1] * 1000) if service else float("nan"),
            "due_p50_ms": pct(from_due, 0.50) * 1000, "due_p99_ms": pct(from_due, 0.99) * 1000,
            "errors_5xx": errors_5xx, "errors_conn": errors_conn, "errors_4xx": len(bench_bugs),
            "server_p50_ms": pct(sorted(r["server_s"] for r in ok if r["server_s"] is not None), 0.5) * 1000,
            "server_p99_ms": pct(sorted(r["server_s"] for r in ok if r["server_s"] is not None), 0.99) * 1000,
            "dropped": dropped, "errors": errors_5xx + errors_conn + dropped,
            "first_error": first_error,
        }
    out["kinds"]["respond"]["learned"] = sum(1 for r in recs if r["kind"] == "respond" and r["learned"])
    out["kinds"]["respond"]["fresh_recommendations"] = state["fresh_used"]
    out["kinds"]["respond"]["reused_recommendations"] = state["reused"]
    started = [r for r in recs if r["status"] != "dropped"]
    late = sorted(max(0.0, r["start"] - r["due"]) for r in started)
    ok_all = [r for r in recs if r["status"] == LOAD_EXPECT[r["kind"]]]
    last_end = max((r["end"] for r in recs if r["end"]), default=t0)
    out.update({
        "ok": len(ok_all), "ok_in_window": sum(1 for r in ok_all if r["end"] <= window_end),
        "unsent": unsent,
        "lateness_p50_ms": pct(late, 0.50) * 1000, "lateness_p99_ms": pct(late, 0.99) * 1000,
        "lateness_max_ms": (late[-1] * 1000) if late else float("nan"),
        "late_over_100ms": sum(1 for x in late if x > 0.1),
        "max_queued": state["max_queued"], "max_in_flight": state["max_in_flight"],
        "drain_s": max(0.0, last_end - window_end), "elapsed_s": finished - t0,
    })
    out["achieved_rps"] = out["ok_in_window"] / out["seconds"]
    # A timeline by due time: is a slow figure a steady state, a trend (something growing per request), or
    # a stall (the host or the database)? Buckets of 5 s (shorter for a short run).
    bucket = 5.0 if out["seconds"] >= 20 else max(1.0, out["seconds"] / 4)
    timeline = []
    b0 = 0.0
    while b0 < out["seconds"] - 1e-9:
        b1 = min(out["seconds"], b0 + bucket)
        due = [r for r in recs if b0 <= r["due"] - t0 < b1]
        ok = sorted(r["end"] - r["start"] for r in due if r["status"] == LOAD_EXPECT[r["kind"]])
        late = sorted(max(0.0, r["start"] - r["due"]) for r in due if r["status"] != "dropped")
        row = {"from_s": b0, "to_s": b1, "due": len(due), "ok": len(ok), "p50_ms": pct(ok, 0.5) * 1000,
               "p99_ms": pct(ok, 0.99) * 1000, "late_p99_ms": pct(late, 0.99) * 1000,
               "errors": sum(1 for r in due if r["status"] != LOAD_EXPECT[r["kind"]]),
               "server_p99_ms": pct(sorted(r["server_s"] for r in due if r["server_s"] is not None), 0.99) * 1000}
        if sampler is not None:
            row.update(sampler.window(t0 + b0, t0 + b1))
        timeline.append(row)
        b0 = b1
    out["timeline"] = timeline
    out["server_timed"] = len(server_us)
    out["errors"] = sum(k["errors"] for k in out["kinds"].values()) + unsent
    out["errors_4xx"] = sum(k["errors_4xx"] for k in out["kinds"].values())
    return out



# ------------------------------------------------------------------------------------------ processes


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


def worker_pids(master_pid: int) -> list[int]:
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == master_pid:
            pids.append(int(entry.name))
    return sorted(pids)


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def machine() -> dict:
    mem_kb = 0
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            mem_kb = int(line.split()[1])
    cpu = ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {"nproc": os.cpu_count(), "memory_gib": round(mem_kb / 1024 / 1024, 1), "cpu": cpu,
            "python": platform.python_version(), "kernel": platform.release()}


class Gunicorn:
    def __init__(self, env: dict, workers: int, log_path: Path, access_log: Path | None = None,
                 root: Path = ROOT) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.access_log = access_log
        self.log_file = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        gunicorn = Path(sys.executable).parent / "gunicorn"
        # Off by default (a log line per request is not free); on, it gives each load-run request's time
        # inside the worker, keyed by the X-Bench-K header, next to the time the client saw.
        access = (["--access-logfile", str(access_log), "--access-logformat", "%({x-bench-k}i)s %(s)s %(D)s"]
                  if access_log else [])
        self.proc = subprocess.Popen(
            [str(gunicorn), "config.wsgi", "--bind", f"{HOST}:{self.port}", "--workers", str(workers),
             "--worker-class", "sync", "--timeout", "180", "--graceful-timeout", "5", "--log-level", "warning",
             *access],
            cwd=root, env=env, stdout=self.log_file, stderr=subprocess.STDOUT)
        self.workers: list[int] = []

    def wait_ready(self, expected_workers: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        client = Client(self.port)
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gunicorn exited ({self.proc.returncode}):\n{self.log_tail()}")
            try:
                status, _ = client.request("GET", "/healthz")
                self.workers = worker_pids(self.proc.pid)
                if status == 200 and len(self.workers) >= expected_workers:
                    client.close()
                    return
            except OSError:
                client.close()
                client = Client(self.port)
            time.sleep(0.2)
        raise RuntimeError(f"gunicorn did not answer /healthz within {timeout:.0f} s:\n{self.log_tail()}")

    def rss(self) -> dict[int, float]:
        self.workers = worker_pids(self.proc.pid) or self.workers
        return {pid: rss_mb(pid) for pid in self.workers}

    def log_tail(self, n: int = 30) -> str:
        try:
            self.log_file.flush()
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return ""

    def stop(self) -> None:
        workers = worker_pids(self.proc.pid) or self.workers
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        for pid in workers:  # orphans, if the master died first
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log_file.close()


# ------------------------------------------------------------------------------------------ database


def own_database_env(prefix: str) -> tuple[str, str, dict]:
    """For an in-process profile: its own database name on BENCH_PG_URL, the environment that points Django at it
    (without Redis), applied to this process too. Returns (server URL, database name, environment)."""
    pg_base = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
    if urlsplit(pg_base).hostname not in ("127.0.0.1", "localhost"):
        raise SystemExit("BENCH_PG_URL must point at 127.0.0.1")
    db_name = f"{prefix}_{os.getpid()}"
    env = {**os.environ, "DATABASE_URL": admin_url(pg_base, db_name), "OMP_NUM_THREADS": "1",
           "DJANGO_SETTINGS_MODULE": "config.settings", "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING")}
    env.pop("REDIS_URL", None)
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "LOG_LEVEL")})
    os.environ.pop("REDIS_URL", None)
    return pg_base, db_name, env


def bench_site(env: dict, *, analyst: bool = False) -> str:
    """On the (empty) database `env` points at: migrate, make bench-admin (and bench-analyst) with a token, set
    Django up in this process and make the bench's models (setup_models). Returns the token: bench-analyst's with
    `analyst`, else bench-admin's."""
    manage(env, "migrate", "--noinput", "-v", "0")
    token = manage(env, "adduser", "bench-admin", "--role", "admin", "--token").strip().splitlines()[-1]
    if analyst:
        token = manage(env, "adduser", "bench-analyst", "--role", "analyst", "--token").strip().splitlines()[-1]
    import django

    django.setup()
    from django.contrib.auth import get_user_model

    setup_models(get_user_model().objects.get(username="bench-admin"))
    return token


def admin_url(base: str, db: str) -> str:
    parts = urlsplit(base)
    return f"{parts.scheme}://{parts.netloc}/{db}"


def create_database(base: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url(base, "postgres"), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')


def drop_database(base: str, name: str) -> None:
    import psycopg

    with psycopg.connect(admin_url(base, "postgres"), autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def scratch_database(prefix: str, db: str, **env: str):
    """For a bench that runs Django in its own process on data of its own: a temporary VAR_DIR holding a SQLite
    database, or (db "postgres") a database of its own on BENCH_PG_URL (127.0.0.1 only), created here and dropped
    on the way out. The environment (this database, the settings module, no Redis, `env`) is applied to this
    process. Yields the temporary directory, removed on the way out."""
    tmp = Path(tempfile.mkdtemp(prefix=f"lifecycle-{prefix}-"))
    if db == "postgres":
        pg_base, db_name, _ = own_database_env(f"lifecycle_{prefix.replace('-', '_')}")
    else:
        os.environ.update({"DATABASE_URL": f"sqlite:///{tmp / 'bench.sqlite3'}", "DJANGO_SETTINGS_MODULE":
                           "config.settings", "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING")})
        os.environ.pop("REDIS_URL", None)
    os.environ.update({"VAR_DIR": str(tmp), "DEBUG": "0", **env})
    created = False
    try:
        if db == "postgres":
            create_database(pg_base, db_name)
            created = True
        yield tmp
    finally:
        if created:
            from django.db import connections

            connections.close_all()
            drop_database(pg_base, db_name)
        shutil.rmtree(tmp, ignore_errors=True)


def manage(env: dict, *args: str) -> str:
    out = subprocess.run([sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True,
                         timeout=300)
    if out.returncode != 0:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{out.stdout}\n{out.stderr}")
    return out.stdout


# ------------------------------------------------------------------------------------------ setup (in-process)


def input_rows(n: int, seed: int) -> list[dict]:
    from tests.factories import sample_rows

    return [{"features": r["features"], "content": r["content"]} for r in sample_rows(n, seed=seed)]


def setup_models(admin) -> dict:
    from lifecycle import services as lifecycle_services
    from lifecycle.models import AlgorithmModel
    from scoring.models import Channel
    from tests.factories import sample_rows
    from tests.scoring.conftest import live_model, make_catalog

    t0 = time.perf_counter()
    lr = lifecycle_services.model_create(actor=admin, key=LR_KEY, name="Bench churn (logistic regression)",
                                         model_type="logistic_regression", traits=[{"name": "churn"}])
    lifecycle_services.sample_add_batch(model=lr, actor=admin, samples=sample_rows(TRAIN_ROWS, seed=3))
    run = lifecycle_services.model_train_enqueue(model=lr, actor=admin)
    lifecycle_services.run_execute(run_id=run.pk)
    lr = AlgorithmModel.objects.select_related("active_version").get(pk=lr.pk)
    if not lr.is_scorable:
        raise RuntimeError(f"{LR_KEY} did not train: {lr.state} {lr.last_operation if hasattr(lr, 'last_operation') else ''}")
    train_s = time.perf_counter() - t0

    offers = make_catalog(10)  # channels email (outbound) and web (inbound), categories cards and loans, offers 0-9
    # Offers 0-9 on one more outbound channel, which keeps those 10 when email gets 200 (add_offers): recommend
    # with 10 and with 200 offers can then be timed alternately.
    sms = Channel.objects.create(key="sms", name="SMS", direction="outbound")
    for offer in offers:
        offer.channels.add(sms)
    bandit = live_model(admin, key=BANDIT_KEY, model_type="thompson_bandit", family=FAMILY)
    if bandit.registry_status != "champion" or bandit.status != "active":
        raise RuntimeError(f"{BANDIT_KEY} is {bandit.status}/{bandit.registry_status}, not an active champion")
    return {"lr": lr, "bandit": bandit, "train_seconds": train_s}


def add_offers(total: int) -> None:
    from scoring.models import Category, Channel, Offer

    channels = list(Channel.objects.filter(key__in=["email", "web"]))
    cards, loans = Category.objects.get(key="cards"), Category.objects.get(key="loans")
    have = Offer.objects.count()
    for i in range(have, total):
        offer = Offer.objects.create(key=f"offer-{i}", name=f"Offer {i}", category=cards if i % 2 else loans,
                                     attributes={"apr": 10 + i})
        offer.channels.set(channels)


# ------------------------------------------------------------------------------------------ in-process timing


def timed_repeat(fn, *, max_reps: int, seconds: float, min_reps: int = 1) -> list[float]:
    times: list[float] = []
    deadline = time.perf_counter() + seconds
    while len(times) < max_reps and (len(times) < min_reps or time.perf_counter() < deadline):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return times


def query_counts(admin_token: str, analyst_token: str, rows_1k: list[dict]) -> dict:
    """Database queries per API call, through the whole Django stack (middleware, DRF, services)."""
    from django.db import connection
    from django.test import Client as DjangoClient
    from django.test.utils import CaptureQueriesContext

    def count(token: str | None, method: str, path: str, body: dict | None = None, **headers) -> tuple[int, int]:
        client = DjangoClient(HTTP_HOST=HOST)
        extra = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
        if token:
            extra["HTTP_AUTHORIZATION"] = f"Token {token}"
        with CaptureQueriesContext(connection) as ctx:
            if method == "GET":
                resp = client.get(path, **extra)
            else:
                resp = client.post(path, data=json.dumps(body), content_type="application/json", **extra)
        return resp.status_code, len(ctx.captured_queries)

    one = rows_1k[0]
    out = {}
    # Warm: the version cache and the token's last-used stamp (written at most once a minute).
    count(admin_token, "POST", f"/api/v1/algorithm-models/{LR_KEY}/score", one)
    count(analyst_token, "POST", f"/api/v1/algorithm-models/{LR_KEY}/score", one)
    out["healthz"] = count(None, "GET", "/healthz")
    out["score 1 row (admin)"] = count(admin_token, "POST", f"/api/v1/algorithm-models/{LR_KEY}/score", one)
    out["score 1 row (analyst)"] = count(analyst_token, "POST", f"/api/v1/algorithm-models/{LR_KEY}/score", one)
    out["score 1,000 rows (admin)"] = count(admin_token, "POST", f"/api/v1/algorithm-models/{LR_KEY}/score",
                                            {"inputs": rows_1k})
    return out


def recommend_alternately(port: int, token: str, seconds: float) -> dict:
    """Recommend with 10 offers (channel sms) and 200 (email), one call of each in turn from one client, so that
    both see the same load on a shared host. Per size: requests, p50 and p99, and calls per second of its own time."""
    client = Client(port, token)
    spent: dict[str, list[float]] = {"10": [], "200": []}
    deadline = time.perf_counter() + seconds
    i = 0
    try:
        while time.perf_counter() < deadline and i < 5000:
            for label, channel in (("10", "sms"), ("200", "email")):
                body = {"customerId": f"cust-{i % 500}", "channel": channel, "family": FAMILY, "limit": 5}
                t0 = time.perf_counter()
                status, data = client.request("POST", "/api/v1/recommend", json.dumps(body).encode())
                spent[label].append(time.perf_counter() - t0)
                answer = json.loads(data) if status == 200 else {}
                if not answer.get("recommendationId") or len(answer.get("offers", [])) != 5:
                    raise RuntimeError(f"recommend ({label} offers): unexpected answer {status} {data[:300]!r}")
            i += 1
    finally:
        client.close()
    out = {}
    for label, times in spent.items():
        times.sort()
        out[label] = {"requests": len(times), "errors": 0, "p50_ms": pct(times, 0.50) * 1000,
                      "p99_ms": pct(times, 0.99) * 1000, "rps": len(times) / sum(times)}
    return out


def count_recommend_respond(admin_token: str, label: str) -> dict:
    from django.db import connection
    from django.test import Client as DjangoClient
    from django.test.utils import CaptureQueriesContext

    client = DjangoClient(HTTP_HOST=HOST, HTTP_AUTHORIZATION=f"Token {admin_token}")
    body = {"customerId": "q-count", "channel": "email", "family": FAMILY, "limit": 5}
    client.post("/api/v1/recommend", data=json.dumps(body), content_type="application/json")  # warm the cache
    with CaptureQueriesContext(connection) as ctx:
        resp = client.post("/api/v1/recommend", data=json.dumps(body), content_type="application/json")
    out = {f"recommend ({label})": (resp.status_code, len(ctx.captured_queries))}
    rec = resp.json()
    with CaptureQueriesContext(connection) as ctx:
        resp = client.post("/api/v1/respond", data=json.dumps({
            "customerId": "q-count", "recommendationId": rec["recommendationId"], "rank": 1, "outcome": "click"}),
            content_type="application/json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
    out[f"respond (after recommend, {label})"] = (resp.status_code, len(ctx.captured_queries))
    return out


# ------------------------------------------------------------------------------------------ main


def fmt(x: float, digits: int = 1) -> str:
    if x != x:  # nan
        return "-"
    return f"{x:,.{digits}f}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=float(os.environ.get("BENCH_SECONDS", 8)),
                        help="length of each timed HTTP phase (default 8)")
    parser.add_argument("--clients", type=int, default=4, help="concurrent client threads (default 4)")
    parser.add_argument("--workers", type=int, default=2, help="gunicorn sync workers (default 2)")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--keep-db", action="store_true", help="do not drop the database at the end")
    load = parser.add_argument_group("load run (5/5): open loop, a fixed arrival rate")
    load.add_argument("--load-seconds", type=float, default=float(os.environ.get("BENCH_LOAD_SECONDS", 30)),
                      help="length of the load run; 0 skips it (default 30)")
    load.add_argument("--load-rate", type=float, default=60, help="offered requests/s, all kinds (default 60)")
    load.add_argument("--load-mix", default="50/25/25", help="score/recommend/respond shares (default 50/25/25)")
    load.add_argument("--load-threads", type=int, default=64,
                      help="client threads; beyond them requests wait in the client and count as late (default 64)")
    load.add_argument("--load-timeout", type=float, default=30, help="socket timeout per request, s (default 30)")
    load.add_argument("--load-offers", type=int, choices=(10, 200), default=10,
                      help="active offers in the catalog during the load run (default 10)")
    load.add_argument("--access-log", action="store_true",
                      help="gunicorn access log on (all phases): adds each load-run request's time in the worker")
    load.add_argument("--rss-bound-mib", type=float, default=50,
                      help="largest allowed RSS growth of each gunicorn process over the load run (default 50)")
    args = parser.parse_args()
    if not 1 <= args.clients <= 32 or not 1 <= args.workers <= 16 or not 1 <= args.seconds <= 60:
        parser.error("clients 1-32, workers 1-16, seconds 1-60")
    if not 0 <= args.load_seconds <= 600 or not 1 <= args.load_rate <= 500 or not 1 <= args.load_threads <= 256 \
            or not 1 <= args.load_timeout <= 120 or not args.rss_bound_mib > 0 \
            or args.load_seconds * args.load_rate > 100_000:
        parser.error("load-seconds 0-600, load-rate 1-500 (at most 100,000 requests), load-threads 1-256, "
                     "load-timeout 1-120, rss-bound-mib > 0")
    try:
        load_mix = parse_mix(args.load_mix)
    except ValueError as exc:
        parser.error(str(exc))

    pg_base = os.environ.get("BENCH_PG_URL", "postgres://postgres@127.0.0.1:5432")
    if urlsplit(pg_base).hostname not in ("127.0.0.1", "localhost"):
        parser.error("BENCH_PG_URL must point at 127.0.0.1")
    db_name = f"lifecycle_bench_{os.getpid()}"
    db_url = admin_url(pg_base, db_name)
    env = {**os.environ, "DATABASE_URL": db_url, "OMP_NUM_THREADS": "1", "DJANGO_SETTINGS_MODULE": "config.settings",
           "LOG_LEVEL": os.environ.get("LOG_LEVEL", "WARNING")}
    env.pop("REDIS_URL", None)  # the broker is not measured here; nothing is enqueued while serving
    os.environ.update({k: env[k] for k in ("DATABASE_URL", "DJANGO_SETTINGS_MODULE", "LOG_LEVEL")})
    os.environ.pop("REDIS_URL", None)

    # SIGTERM runs the same clean-up as Ctrl-C.
    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)

    results: dict = {"machine": machine(), "command": "make bench", "db": "postgresql",
                     "settings": {"workers": args.workers, "clients": args.clients, "seconds": args.seconds,
                                  "OMP_NUM_THREADS": "1",
                                  "DB_CONN_MAX_AGE": os.environ.get("DB_CONN_MAX_AGE", "(default)")}}
    m = results["machine"]
    log(f"machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB, Python {m['python']}")
    log(f"database {db_name} on {urlsplit(pg_base).hostname}; gunicorn {args.workers} sync workers; "
        f"{args.clients} client threads; {args.seconds:g} s per timed phase")
    results["loadavg_start"] = os.getloadavg()
    log(f"load average before: {' '.join(f'{x:.2f}' for x in results['loadavg_start'])} (other processes share "
        "these CPUs: compare runs on a quiet machine)")
    bench_started = time.perf_counter()
    server: Gunicorn | None = None
    created = False
    log_dir = Path(tempfile.mkdtemp(prefix="lifecycle-bench-"))
    try:
        create_database(pg_base, db_name)
        created = True
        t0 = time.perf_counter()
        manage(env, "migrate", "--noinput", "-v", "0")
        admin_token = manage(env, "adduser", "bench-admin", "--role", "admin", "--token").strip().splitlines()[-1]
        analyst_token = manage(env, "adduser", "bench-analyst", "--role", "analyst",
                               "--token").strip().splitlines()[-1]
        log(f"migrated and made users in {time.perf_counter() - t0:.1f} s")

        import django

        django.setup()
        from django.conf import settings as django_settings
        from django.contrib.auth import get_user_model
        from django.db import connections

        conn_max_age = django_settings.DATABASES["default"]["CONN_MAX_AGE"]
        results["settings"]["DB_CONN_MAX_AGE"] = (f"{conn_max_age}" if "DB_CONN_MAX_AGE" in os.environ
                                                  else f"{conn_max_age} (default)")
        log(f"DB_CONN_MAX_AGE={results['settings']['DB_CONN_MAX_AGE']} (the same environment goes to gunicorn)")

        from lifecycle import trainers
        from lifecycle.models import ModelVersion
        from scoring import services as scoring_services
        from scoring.models import ModelAdaptation

        admin = get_user_model().objects.get(username="bench-admin")
        models = setup_models(admin)
        lr = models["lr"]
        log(f"trained {LR_KEY} on {TRAIN_ROWS} rows in {models['train_seconds']:.1f} s "
            f"({lr.active_version.label}); {BANDIT_KEY} is the active champion of {FAMILY} with 10 offers")
        artifact = bytes(ModelVersion.objects.values_list("artifact", flat=True).get(pk=lr.active_version_id))
        results["artifact_bytes"] = len(artifact)
        rows_10k = input_rows(10_000, seed=11)
        rows_1k = rows_10k[:1000]

        # -------------------------------------------------------------- in-process: raw vs service
        t0 = time.perf_counter()
        raw = trainers.load(artifact, threads=1)
        load_ms = (time.perf_counter() - t0) * 1000
        loads = timed_repeat(lambda: trainers.load(artifact, threads=1), max_reps=20, seconds=2)
        load_ms = min([load_ms, *[x * 1000 for x in loads]])
        results["artifact_load_ms"] = load_ms
        inproc: dict = {}
        # As a web process does once it has loaded (config/wsgi.py): what is loaded by now is left out of the
        # garbage collector's full passes, which otherwise walk it during every large batch.
        gc.collect()
        gc.freeze()
        for n, rows in ((1, rows_1k[:1]), (1000, rows_1k), (10_000, rows_10k)):
            reps = {1: 2000, 1000: 30, 10_000: 9}[n]
            secs = {1: 2, 1000: 3, 10_000: 5}[n]
            batch = n > 1  # as the API calls it: one input, or a list of inputs
            raw.predict_proba(rows)  # warm
            scoring_services.score(model=lr, actor=admin, inputs=rows, batch=batch)  # warm: the version cache
            raw_t, svc_t = [], []
            deadline = time.perf_counter() + 2 * secs
            while len(svc_t) < reps and time.perf_counter() < deadline:  # interleaved: both see the same load
                for out, fn in ((raw_t, lambda rows=rows: raw.predict_proba(rows)),
                                (svc_t, lambda rows=rows, batch=batch: scoring_services.score(
                                    model=lr, actor=admin, inputs=rows, batch=batch))):
                    t0 = time.perf_counter()
                    fn()
                    out.append(time.perf_counter() - t0)
            inproc[n] = {"raw_rows_s": n / (sorted(raw_t)[len(raw_t) // 2]),
                         "service_rows_s": n / (sorted(svc_t)[len(svc_t) // 2]),
                         "raw_ms": sorted(raw_t)[len(raw_t) // 2] * 1000,
                         "service_ms": sorted(svc_t)[len(svc_t) // 2] * 1000,
                         "reps": (len(raw_t), len(svc_t))}
        results["inprocess"] = inproc
        log(f"in-process: artifact load {load_ms:.1f} ms; raw predict_proba 1 row "
            f"{inproc[1]['raw_ms']:.2f} ms, services.score 1 row {inproc[1]['service_ms']:.2f} ms")

        queries = query_counts(admin_token, analyst_token, rows_1k)
        queries.update(count_recommend_respond(admin_token, "10 offers"))
        connections.close_all()

        # -------------------------------------------------------------- gunicorn
        server = Gunicorn(env, args.workers, log_dir / "gunicorn.log",
                          access_log=log_dir / "access.log" if args.access_log else None)
        server.wait_ready(args.workers)
        rss = {"boot": server.rss()}
        log(f"gunicorn on {HOST}:{server.port}, workers {server.workers}, "
            f"RSS {', '.join(fmt(v) for v in rss['boot'].values())} MiB")

        score_path = f"/api/v1/algorithm-models/{LR_KEY}/score"
        single_bodies = [json.dumps(r).encode() for r in rows_1k[:200]]
        # Warm-up: every worker loads the version once (then it stays cached per process).
        run_load(server.port, token=admin_token, clients=args.clients, seconds=3, max_requests=8 * args.workers,
                 make_request=lambda i: ("POST", score_path, single_bodies[i % 200], None))
        run_load(server.port, token=None, clients=args.clients, seconds=2, max_requests=20,
                 make_request=lambda i: ("GET", "/healthz", None, None))

        backends = backend_pids(pg_base, db_name)  # each worker's, connected by the warm-up above
        log(f"1/5 /healthz floor: {args.clients} clients, {args.seconds:g} s")
        floor = with_cpu(server.workers, backends, lambda: run_load(
            server.port, token=None, clients=args.clients, seconds=args.seconds, max_requests=100_000,
            make_request=lambda i: ("GET", "/healthz", None, None)))
        log(f"1/5 single-row score: {args.clients} clients, {args.seconds:g} s")
        single = with_cpu(server.workers, backends, lambda: run_load(
            server.port, token=admin_token, clients=args.clients, seconds=args.seconds, max_requests=100_000,
            make_request=lambda i: ("POST", score_path, single_bodies[i % 200], None)))
        card = json.loads(single["sample"] or b"{}")
        if "scores" not in card or "churn" not in card.get("scores", {}):
            raise RuntimeError(f"unexpected score answer: {single['sample'][:300]!r} / {single['first_error']}")
        short = max(2.0, args.seconds / 2)
        log(f"1/5 the same with one client (uncontended latency), {short:g} s each")
        floor_1 = run_load(server.port, token=None, clients=1, seconds=short, max_requests=50_000,
                           make_request=lambda i: ("GET", "/healthz", None, None))
        single_1 = run_load(server.port, token=admin_token, clients=1, seconds=short, max_requests=50_000,
                            make_request=lambda i: ("POST", score_path, single_bodies[i % 200], None))
        results["single"] = {"healthz": floor, "score": single, "healthz_1": floor_1, "score_1": single_1}
        rss["after single-row"] = server.rss()

        log("2/5 batch scoring over HTTP: 1,000 and 10,000 rows per request, one client, each request followed by "
            "raw predict_proba of the same rows here")
        batch_http = {}
        http_client = Client(server.port, admin_token)
        for n, rows, reps, secs in ((1000, rows_1k, 20, 6), (10_000, rows_10k, 9, 20)):
            body = json.dumps({"inputs": rows}).encode()
            # Alternately, so that the ratio compares calls that saw the same load on a shared host.
            http_t, raw_t, answer = [], [], {}
            deadline = time.perf_counter() + secs
            while len(http_t) < reps and (len(http_t) < 3 or time.perf_counter() < deadline):
                t0 = time.perf_counter()
                status, data = http_client.request("POST", score_path, body)
                http_t.append(time.perf_counter() - t0)
                answer = json.loads(data) if status == 200 else {"status": status, "body": data[:300]}
                if answer.get("metadata", {}).get("count") != n:
                    raise RuntimeError(f"batch of {n}: unexpected answer {answer!r:.300}")
                t0 = time.perf_counter()
                raw.predict_proba(rows)
                raw_t.append(time.perf_counter() - t0)
            http_t.sort()
            raw_t.sort()
            res = {"requests": len(http_t), "p50_ms": http_t[len(http_t) // 2] * 1000,
                   "raw_ms": raw_t[len(raw_t) // 2] * 1000}
            res["rows_s"] = n / (res["p50_ms"] / 1000)
            res["raw_rows_s"] = n / (res["raw_ms"] / 1000)
            res["request_mb"] = len(body) / 1e6
            batch_http[n] = res
        http_client.close()
        results["batch_http"] = batch_http
        rss["after batch"] = server.rss()

        add_offers(200)  # on email and web; sms keeps offers 0-9
        queries.update(count_recommend_respond(admin_token, "200 offers"))
        connections.close_all()
        log(f"3/5 recommend, 10 offers (channel sms) and 200 offers (channel email), alternately: 1 client, "
            f"{2 * args.seconds:g} s")
        recommend = results["recommend"] = recommend_alternately(server.port, admin_token, 2 * args.seconds)

        # Recommendations to respond to: a pool made here (customers must match), reused with fresh keys.
        pool = []
        setup_client = Client(server.port, admin_token)
        for i in range(40):
            status, data = setup_client.request("POST", "/api/v1/recommend", json.dumps(
                {"customerId": f"resp-{i}", "channel": "email", "family": FAMILY, "limit": 5}).encode())
            if status != 200:
                raise RuntimeError(f"recommend for respond: {status} {data[:300]!r}")
            pool.append((f"resp-{i}", json.loads(data)["recommendationId"]))
        setup_client.close()

        def global_evidence() -> int:
            cell = ModelAdaptation.objects.filter(model=models["bandit"], scope="global", scope_id="").first()
            return cell.evidence if cell else 0

        evidence_before = global_evidence()
        connections.close_all()
        outcomes = ("click", "dismiss", "accept", "decline")

        def respond_request(i: int):
            customer, rec_id = pool[i % len(pool)]
            body = {"customerId": customer, "recommendationId": rec_id, "rank": 1 + i % 5,
                    "outcome": outcomes[i % len(outcomes)]}
            return "POST", "/api/v1/respond", json.dumps(body).encode(), {"Idempotency-Key": uuid.uuid4().hex}

        log(f"4/5 respond: 1 client, {short:g} s, then 4 clients, {args.seconds:g} s; a unique idempotency key "
            "per call")
        respond_1 = run_load(server.port, token=admin_token, clients=1, seconds=short, max_requests=10_000,
                             make_request=respond_request, expect=201)
        respond = run_load(server.port, token=admin_token, clients=4, seconds=args.seconds, max_requests=20_000,
                           make_request=respond_request, expect=201)
        answer = json.loads(respond["sample"] or b"{}")
        if not answer.get("learned"):
            raise RuntimeError(f"respond did not learn: {respond['first_error'] or respond['sample'][:300]!r}")
        respond["evidence_delta"] = global_evidence() - evidence_before
        respond["ok"] = respond["requests"] - respond["errors"] + respond_1["requests"] - respond_1["errors"]
        connections.close_all()
        results["respond"] = respond
        results["respond_1"] = respond_1

        load_failures: list[str] = []
        if args.load_seconds > 0:
            from scoring.models import Offer

            if args.load_offers == 10:  # the catalog of the usual case: offers 0-9 active, the 190 extra not
                Offer.objects.exclude(key__in=[f"offer-{i}" for i in range(10)]).update(active=False)
            active_offers = Offer.objects.filter(active=True).count()
            evidence_before = global_evidence()
            connections.close_all()
            before = process_rss(server)
            rss["before load"] = before["workers"]
            log(f"5/5 load: {args.load_rate:g} requests/s offered for {args.load_seconds:g} s, score/recommend/"
                f"respond {args.load_mix}, open loop, {args.load_threads} client threads, {active_offers} active "
                f"offers; RSS master {fmt(before['master'][1])} MiB, workers "
                f"{', '.join(fmt(v) for v in before['workers'].values())} MiB; load average "
                f"{os.getloadavg()[0]:.2f}")
            pids = [before["master"][0], *before["workers"]]
            with ProcSampler(pids, pg_url=admin_url(pg_base, "postgres"), db_name=db_name) as sampler:
                lr_res = load_run(server.port, admin_token, seconds=args.load_seconds, rate=args.load_rate,
                                  mix=load_mix, threads=args.load_threads, timeout=args.load_timeout,
                                  score_path=score_path, score_bodies=single_bodies,
                                  seed_recs=[(c, rid, 5) for c, rid in pool], sampler=sampler,
                                  access_log=server.access_log)
                time.sleep(1.0)  # let the workers finish their last request before the second reading
            after = process_rss(server)
            rss["after load"] = after["workers"]
            lr_res["loadavg_after"] = os.getloadavg()
            lr_res["active_offers"] = active_offers
            lr_res["evidence_delta"] = global_evidence() - evidence_before
            # A call the client gave up on (timeout, reset) may still have been committed by the server.
            learned, lost = lr_res["kinds"]["respond"]["learned"], lr_res["kinds"]["respond"]["errors_conn"]
            lr_res["evidence_check"] = ("exact" if lr_res["evidence_delta"] == learned
                                        else f"within the {lost} unanswered calls"
                                        if learned <= lr_res["evidence_delta"] <= learned + lost else "MISMATCH")
            connections.close_all()
            procs = []
            for role, pid, mb_before in (("master", *before["master"]),
                                         *(("worker", pid, v) for pid, v in before["workers"].items())):
                mb_after = after["master"][1] if role == "master" else after["workers"].get(pid, float("nan"))
                growth = mb_after - mb_before
                ok = growth == growth and growth < args.rss_bound_mib
                procs.append({"role": role, "pid": pid, "before_mib": mb_before, "after_mib": mb_after,
                              "peak_mib": sampler.peak.get(pid, float("nan")), "growth_mib": growth,
                              "verdict": "PASS" if ok else "FAIL"})
            new_workers = sorted(set(after["workers"]) - set(before["workers"]))
            lr_res["processes"] = procs
            lr_res["rss_bound_mib"] = args.rss_bound_mib
            lr_res["new_workers"] = new_workers
            lr_res["rss_verdict"] = "PASS" if all(p["verdict"] == "PASS" for p in procs) and not new_workers \
                else "FAIL"
            results["load"] = lr_res
            if lr_res["errors"]:
                load_failures.append(f"{lr_res['errors']} errors (5xx, connection errors, dropped)")
            if lr_res["errors_4xx"]:
                load_failures.append(f"{lr_res['errors_4xx']} unexpected 4xx or malformed answers (a bench bug)")
            if lr_res["rss_verdict"] == "FAIL":
                load_failures.append(f"RSS bound of {args.rss_bound_mib:g} MiB per process"
                                     + (f"; workers replaced: {new_workers}" if new_workers else ""))
            if lr_res["evidence_check"] == "MISMATCH":
                load_failures.append(f"respond: {lr_res['kinds']['respond']['learned']} calls learned but the "
                                     f"global cell gained {lr_res['evidence_delta']}")
        rss["end"] = server.rss()
        results["rss_mb"] = {k: list(v.values()) for k, v in rss.items()}
        results["queries"] = queries
        results["total_seconds"] = time.perf_counter() - bench_started
        results["loadavg_end"] = os.getloadavg()
        report(results)
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps(results, indent=2, default=lambda o: o.decode(errors="replace")[:200]
                                            if isinstance(o, bytes) else str(o)))
        failed = [name for name, r in (("healthz", floor), ("score", single), ("respond", respond),
                                       ("healthz 1", floor_1), ("score 1", single_1), ("respond 1", respond_1),
                                       ("recommend 10", recommend["10"]), ("recommend 200", recommend["200"]))
                  if r["errors"]]
        if failed:
            log(f"errors in {failed}; gunicorn log tail:\n{server.log_tail()}")
            return 1
        if load_failures:
            log(f"load run FAILED: {'; '.join(load_failures)}; gunicorn log tail:\n{server.log_tail()}")
            return 1
        if respond["evidence_delta"] != respond["ok"]:
            log(f"respond: {respond['ok']} calls answered 201 but the global cell gained {respond['evidence_delta']}")
            return 1
        return 0
    except KeyboardInterrupt:
        log("interrupted; cleaning up")
        return 130
    finally:
        if server is not None:
            server.stop()
        try:
            from django.db import connections

            connections.close_all()
        except Exception:  # noqa: BLE001 - django may not be set up yet
            pass
        if created and not args.keep_db:
            drop_database(pg_base, db_name)
            log(f"dropped database {db_name}")
        for f in log_dir.iterdir():
            f.unlink()
        log_dir.rmdir()


def report(r: dict) -> None:
    m, s = r["machine"], r["settings"]
    single, floor = r["single"]["score"], r["single"]["healthz"]
    line = "-" * 100
    print()
    print(line)
    print(f"Benchmark: {m['nproc']} CPUs ({m['cpu']}), {m['memory_gib']} GiB RAM, Python {m['python']}; PostgreSQL; "
          f"gunicorn {s['workers']} sync workers, OMP_NUM_THREADS=1, DB_CONN_MAX_AGE={s['DB_CONN_MAX_AGE']}")
    print(line)
    single_1, floor_1 = r["single"]["score_1"], r["single"]["healthz_1"]
    print("1. Single-row requests over HTTP (POST .../score against GET /healthz on the same server)")
    print(f"   {'':34}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'requests':>10}{'errors':>8}")
    for name, x in ((f"/healthz, {s['clients']} clients", floor), (f"score 1 row, {s['clients']} clients", single),
                    ("/healthz, 1 client", floor_1), ("score 1 row, 1 client", single_1)):
        print(f"   {name:34}{fmt(x['rps']):>10}{fmt(x['p50_ms'], 2):>10}{fmt(x['p99_ms'], 2):>10}"
              f"{x['requests']:>10}{x['errors']:>8}")
    print(f"   ratio score / floor: {single['rps'] / floor['rps']:.2f} with {s['clients']} clients, "
          f"{single_1['rps'] / floor_1['rps']:.2f} with 1 client")
    print(f"   CPU per request, {s['clients']} clients (web workers + their database backends, ms): /healthz "
          f"{floor['worker_cpu_ms']:.2f} + {floor['db_cpu_ms']:.2f}, score {single['worker_cpu_ms']:.2f} + "
          f"{single['db_cpu_ms']:.2f}; floor / score "
          f"{(floor['worker_cpu_ms'] + floor['db_cpu_ms']) / (single['worker_cpu_ms'] + single['db_cpu_ms']):.2f}")
    print()
    ip = r["inprocess"]
    print("2. Scoring rows per second, one stream (median call; HTTP batches: one client)")
    print(f"   {'rows per call':>14}{'raw predict_proba':>19}{'services.score':>16}{'HTTP':>12}"
          f"{'service/raw':>13}{'HTTP/raw':>10}{'HTTP/service':>14}")
    for n in (1, 1000, 10_000):
        raw, svc = ip[n]["raw_rows_s"], ip[n]["service_rows_s"]
        over_http = 1000 / single_1["p50_ms"] if n == 1 else r["batch_http"][n]["rows_s"]
        # A batch over HTTP is compared with raw predict_proba timed alternately with it (below).
        raw_http = raw if n == 1 else r["batch_http"][n]["raw_rows_s"]
        print(f"   {n:>14,}{fmt(raw, 0):>19}{fmt(svc, 0):>16}{fmt(over_http, 0):>12}"
              f"{svc / raw:>13.2f}{over_http / raw_http:>10.3f}{over_http / svc:>14.2f}")
    print(f"   per call, 1 row: raw {ip[1]['raw_ms']:.2f} ms, services.score {ip[1]['service_ms']:.2f} ms, "
          f"HTTP {single_1['p50_ms']:.2f} ms (1 client p50); artifact {r['artifact_bytes'] / 1024:.1f} KiB, "
          f"trainers.load {r['artifact_load_ms']:.1f} ms (once per worker: cached)")
    for n in (1000, 10_000):
        b = r["batch_http"][n]
        print(f"   HTTP {n:,} rows: {b['requests']} requests, p50 {fmt(b['p50_ms'], 0)} ms, raw predict_proba "
              f"alongside {b['raw_ms']:.0f} ms (HTTP/raw above), request body {b['request_mb']:.2f} MB; in-process "
              f"services.score {ip[n]['service_ms']:.0f} ms, raw {ip[n]['raw_ms']:.0f} ms")
    print()
    rec = r["recommend"]
    print("3. Recommend (thompson_bandit champion, limit 5, one client; 10 offers on sms, 200 on email, alternately)")
    print(f"   {'offers':>8}{'p50 ms':>10}{'p99 ms':>10}{'req/s':>10}{'requests':>10}{'errors':>8}")
    for k in ("10", "200"):
        x = rec[k]
        print(f"   {k:>8}{fmt(x['p50_ms'], 2):>10}{fmt(x['p99_ms'], 2):>10}{fmt(x['rps']):>10}"
              f"{x['requests']:>10}{x['errors']:>8}")
    print(f"   ratio 200 / 10 offers: p50 {rec['200']['p50_ms'] / rec['10']['p50_ms']:.2f}, "
          f"p99 {rec['200']['p99_ms'] / rec['10']['p99_ms']:.2f}")
    print()
    rp, rp1 = r["respond"], r["respond_1"]
    print("4. Respond on PostgreSQL (a unique idempotency key per call; the bandit learns on every call)")
    print(f"   {'clients':>8}{'resp/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'requests':>10}{'errors':>8}")
    for k, x in (("1", rp1), ("4", rp)):
        print(f"   {k:>8}{fmt(x['rps']):>10}{fmt(x['p50_ms'], 2):>10}{fmt(x['p99_ms'], 2):>10}"
              f"{x['requests']:>10}{x['errors']:>8}")
    print(f"   ratio 4 clients / 1 client {rp['rps'] / rp1['rps']:.2f}; 4 clients / floor {rp['rps'] / floor['rps']:.2f}; "
          f"global cell evidence +{rp['evidence_delta']} for {rp['ok']} answered calls "
          f"({'exact' if rp['evidence_delta'] == rp['ok'] else 'MISMATCH'})")
    if r.get("load"):
        report_load(r["load"])
    print()
    print("RSS of the gunicorn workers (MiB, per worker)")
    for k, v in r["rss_mb"].items():
        print(f"   {k:20}{'  '.join(fmt(x) for x in v)}")
    print()
    print("Database queries per API call (in-process Django test client, same stack)")
    for k, (status, n) in r["queries"].items():
        print(f"   {k:40}{n:>4}   (HTTP {status})")
    print(line)
    print(f"total {r['total_seconds']:.0f} s; load average before {r['loadavg_start'][0]:.2f}, "
          f"after {r['loadavg_end'][0]:.2f}")


def report_load(ld: dict) -> None:
    print()
    mix = "/".join(str(ld["mix"][k]) for k in LOAD_KINDS)
    print(f"5. Load run: score/recommend/respond {mix} at a fixed {ld['offered_rps']:g} requests/s for "
          f"{ld['seconds']:g} s (open loop, {ld['threads']} client threads, one connection per request, "
          f"{ld['active_offers']} active offers)")
    print(f"   {'':11}{'offered/s':>10}{'achieved/s':>11}{'ok':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}"
          f"{'p99 from due':>14}{'5xx':>6}{'conn':>6}{'dropped':>9}{'4xx':>5}")
    rows = [(k, ld["kinds"][k]) for k in LOAD_KINDS] + [("all", None)]
    for name, x in rows:
        if x is None:
            print(f"   {'all':11}{fmt(ld['offered_rps']):>10}{fmt(ld['achieved_rps']):>11}{ld['ok']:>7}")
            continue
        print(f"   {name:11}{fmt(x['offered_rps']):>10}{fmt(x['achieved_rps']):>11}{x['ok']:>7}"
              f"{fmt(x['p50_ms']):>9}{fmt(x['p99_ms']):>9}{fmt(x['max_ms']):>9}{fmt(x['due_p99_ms']):>14}"
              f"{x['errors_5xx']:>6}{x['errors_conn']:>6}{x['dropped']:>9}{x['errors_4xx']:>5}")
    if ld.get("server_timed"):
        print("   in the worker (gunicorn access log): " + "; ".join(
            f"{k} p50 {fmt(ld['kinds'][k]['server_p50_ms'])} ms, p99 {fmt(ld['kinds'][k]['server_p99_ms'])} ms"
            for k in LOAD_KINDS))
    print(f"   achieved = answered as expected within the {ld['seconds']:g} s window; p50/p99/max from send to answer; "
          "\"from due\" adds the client's lateness")
    print(f"   schedule: lateness p50 {fmt(ld['lateness_p50_ms'])} ms, p99 {fmt(ld['lateness_p99_ms'])} ms, "
          f"max {fmt(ld['lateness_max_ms'])} ms; {ld['late_over_100ms']} requests started > 100 ms late; "
          f"backlog: at most {ld['max_in_flight']} in flight, {ld['max_queued']} queued in the client; "
          f"drained {fmt(ld['drain_s'], 2)} s after the window; unsent {ld['unsent']}")
    rp = ld["kinds"]["respond"]
    print(f"   respond: {rp['fresh_recommendations']} answered a recommendation of this run (oldest first), "
          f"{rp['reused_recommendations']} an earlier one again (none waiting yet); global cell evidence "
          f"+{ld['evidence_delta']} for {rp['learned']} learning calls ({ld['evidence_check']})")
    print(f"   timeline by due time: {'due':>5}{'ok':>6}{'p50 ms':>9}{'p99 ms':>9}{'late p99':>10}{'err':>5}"
          f"{'workers CPU':>13}{'host busy':>11}{'CPU wait':>10}{'IO wait':>9}"
          f"{'in worker p99' if ld.get('server_timed') else '':>{14 if ld.get('server_timed') else 0}}"
          "   PostgreSQL waits (backends x samples)")
    for t in ld["timeline"]:
        waits = ", ".join(f"{k} {n}" for k, n in sorted(t.get("pg_waits", {}).items(), key=lambda kv: -kv[1])[:4])
        print(f"     {t['from_s']:>5.0f}-{t['to_s']:<5.0f} s      {t['due']:>5}{t['ok']:>6}{fmt(t['p50_ms']):>9}"
              f"{fmt(t['p99_ms']):>9}{fmt(t['late_p99_ms']):>10}{t['errors']:>5}"
              f"{fmt(t.get('procs_cpus', float('nan')), 2):>13}{fmt(t.get('host_busy_pct', float('nan')), 0):>10}%"
              f"{fmt(t.get('cpu_pressure_pct', float('nan')), 0):>9}%"
              f"{fmt(t.get('io_pressure_pct', float('nan')), 0):>8}%"
              f"{fmt(t['server_p99_ms']) if ld.get('server_timed') else '':>{14 if ld.get('server_timed') else 0}}"
              f"   {waits or '-'}")
    errors = [(k, ld["kinds"][k]["first_error"]) for k in LOAD_KINDS if ld["kinds"][k]["first_error"]]
    for k, e in errors:
        print(f"   first error, {k}: {e}")
    print("   (workers CPU: CPUs used by the gunicorn processes; host busy: all CPUs, steal excluded; CPU/IO wait: "
          "Linux pressure, % of the time some task waited)")
    print(f"   RSS (MiB) before and after the load run; bound: growth < {ld['rss_bound_mib']:g} MiB per process")
    for p in ld["processes"]:
        print(f"     {p['role']:7}{p['pid']:>8}  before {fmt(p['before_mib']):>7}  after {fmt(p['after_mib']):>7}  "
              f"peak {fmt(p['peak_mib']):>7}  growth {p['growth_mib']:+7.1f}  {p['verdict']}")
    if ld["new_workers"]:
        print(f"     workers replaced during the run (crash or timeout): {ld['new_workers']}  FAIL")
    print(f"   memory bound: {ld['rss_verdict']}; errors: {ld['errors']} ({'PASS' if not ld['errors'] else 'FAIL'}); "
          f"load average after {ld['loadavg_after'][0]:.2f}")


if __name__ == "__main__":
    sys.exit(main())

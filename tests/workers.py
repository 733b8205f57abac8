"""Real django-q2 workers (`manage.py qcluster`) on the test database, for worker tests and browser journeys.

The `worker` fixture (tests/conftest.py) gives a test one; `start_worker` / `stop_worker` are the plain functions
underneath, for tests that need several workers or their own environment. Tests using them must be
`django_db(transaction=True)`: the rows they write must be committed for another process to see them.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

REPO_ROOT = Path(__file__).resolve().parents[1]


def database_url() -> str:
    """The URL of the database this test process uses (the test database), for a child process."""
    from django.db import connection

    s = connection.settings_dict
    vendor = connection.vendor
    if vendor == "sqlite":
        name = str(s["NAME"])
        if name == ":memory:" or name.startswith("file:"):
            raise RuntimeError("A worker process cannot share an in-memory SQLite database; use a file")
        return f"sqlite:///{Path(name).resolve()}"  # an absolute path gives sqlite:////abs/path
    if vendor == "postgresql":
        user = quote(s.get("USER") or "", safe="")
        password = quote(s.get("PASSWORD") or "", safe="")
        auth = f"{user}:{password}@" if password else (f"{user}@" if user else "")
        host = s.get("HOST") or "localhost"
        port = f":{s['PORT']}" if s.get("PORT") else ""
        return f"postgres://{auth}{host}{port}/{quote(str(s['NAME']), safe='')}"
    raise RuntimeError(f"No worker support for the {vendor} backend")


def current_cluster_name() -> str:
    from django_q.conf import Conf

    return Conf.CLUSTER_NAME


def start_worker(extra_env: dict | None = None, *, log_path: Path | None = None) -> subprocess.Popen:
    """Start `manage.py qcluster` on the test database, in its own process group (see `stop_worker`).

    The worker listens on Q_CLUSTER_NAME; unless `extra_env` names one, it is the cluster this process enqueues
    to. Its output goes to `log_path` (or is discarded); `proc.log_path` keeps the path for failure reports.
    """
    env = {
        **os.environ,
        "DATABASE_URL": database_url(),
        "Q_CLUSTER_NAME": current_cluster_name(),
        "Q_SYNC": "0",
        "Q_WORKERS": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONUNBUFFERED": "1",
        **{k: str(v) for k, v in (extra_env or {}).items()},
    }
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115 - closed in stop_worker
    proc = subprocess.Popen([sys.executable, "manage.py", "qcluster"], cwd=REPO_ROOT, env=env, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)
    proc.log_path = log_path
    proc.log_file = out if log_path else None
    return proc


def stop_worker(proc: subprocess.Popen, timeout: float = 2.0) -> None:
    """Stop the worker and every process it forked (its whole process group): TERM, then KILL. qcluster's
    graceful stop can hang for seconds after it has run a task; a test has nothing to gain by waiting."""
    if proc.poll() is None:
        for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 5.0)):
            try:
                os.killpg(proc.pid, sig)
            except ProcessLookupError:
                break
            try:
                proc.wait(wait)
                break
            except subprocess.TimeoutExpired:
                continue
    # qcluster's worker processes may outlive the parent for a moment; the group goes with them.
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    if getattr(proc, "log_file", None):
        proc.log_file.close()


def worker_log_tail(proc: subprocess.Popen, lines: int = 40) -> str:
    path = getattr(proc, "log_path", None)
    if not path or not Path(path).exists():
        return "(no worker log)"
    return "\n".join(Path(path).read_text(errors="replace").splitlines()[-lines:])




def wait_for(predicate, *, timeout: float = 60, interval: float = 0.2, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def tick() -> None:
    """A scheduled task for the scale-out test: one audit row per execution, so executions can be counted."""
    from lifecycle.models import ModelEvent

    ModelEvent.objects.create(action="test.tick", actor_name="schedule")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_web(extra_env: dict | None = None, *, workers: int = 2, log_path: Path | None = None):
    """gunicorn on the test database, on a free loopback port; returns (process, base URL)."""
    import urllib.request

    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url(), "OMP_NUM_THREADS": "1", "DEBUG": "0",
           **{k: str(v) for k, v in (extra_env or {}).items()}}
    out = open(log_path, "wb") if log_path else subprocess.DEVNULL  # noqa: SIM115
    proc = subprocess.Popen([str(Path(sys.executable).parent / "gunicorn"), "config.wsgi", "--bind",
                             f"127.0.0.1:{port}", "--workers", str(workers)], cwd=REPO_ROOT, env=env, stdout=out,
                            stderr=subprocess.STDOUT, start_new_session=True)
    proc.log_path, proc.log_file = log_path, out if log_path else None
    url = f"http://127.0.0.1:{port}"
    wait_for(lambda: _answers(f"{url}/healthz"), timeout=30, what="gunicorn to answer")
    return proc, url


def _answers(url: str) -> bool:
    import urllib.error
    import urllib.request

    try:
        with urllib.request.urlopen(url, timeout=2) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError):
        return False

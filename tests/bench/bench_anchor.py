#!/usr/bin/env python
"""MLflow anchor for the serving benchmark: `make bench-anchor` (not a test).

Side by side in one run, on this machine: our single-row `POST .../score` (gunicorn, 2 sync workers, its own
PostgreSQL database, as `make bench`) against `mlflow models serve` (--env-manager local, 2 workers) of a
scikit-learn pipeline trained on the same rows (the bench's 1,000 rows: numbers, a category and text; a
logistic regression behind a ColumnTransformer), each with the same client, concurrency and one row per call.
Prints both and the ratio, and /healthz as our floor.

MLflow lives in its own virtualenv, ANCHOR_VENV (default var/anchor-venv, under VAR_DIR when that is set), made here on the first run with
`python3 -m venv` and `pip install -r tests/bench/anchor-requirements.txt` (mlflow and everything it serves with, pinned:
an unpinned install took whatever releases were newest that day, so no later run could be sure to measure the same MLflow);
nothing is installed into the product's .venv. The versions that serve are printed with the figures, and a venv
that differs from the pins is named as such.
Options: --seconds per phase (default 8), --clients (default 4), --json PATH.
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

TRAIN = r'''
import json, sys
import mlflow.sklearn, pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

rows = json.load(open(sys.argv[1]))
frame = pd.DataFrame([{**r["features"], "content": r["content"]} for r in rows])
y = [1 if r["labels"]["churn"] == "positive" else 0 for r in rows]
numeric = [c for c in frame.columns if c != "content" and frame[c].dtype.kind in "if"]
categorical = [c for c in frame.columns if c != "content" and c not in numeric]
pipe = Pipeline([("features", ColumnTransformer([("num", StandardScaler(), numeric),
                                                 ("cat", OneHotEncoder(handle_unknown="ignore"), categorical),
                                                 ("text", TfidfVectorizer(), "content")])),
                 ("model", LogisticRegression(max_iter=1000))])
pipe.fit(frame, y)
mlflow.sklearn.save_model(pipe, sys.argv[2], serialization_format="cloudpickle",
                          pyfunc_predict_fn="predict_proba")
print(mlflow.__version__)
'''


def anchor_venv() -> Path:
    var = Path(os.environ.get("VAR_DIR") or bench.ROOT / "var")
    venv = Path(os.environ.get("ANCHOR_VENV") or var / "anchor-venv").resolve()
    product = (bench.ROOT / ".venv").resolve()
    if venv == product or product in venv.parents:
        raise SystemExit("ANCHOR_VENV must not be the product's .venv")
    python = venv / "bin" / "python"
    if not (venv / "bin" / "mlflow").exists():
        bench.log(f"making {venv} with mlflow (first run only; a few minutes)")
        subprocess.run(["python3", "-m", "venv", str(venv)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "--quiet", "-r", str(PINS)], check=True)
    return venv


PINS = Path(__file__).resolve().parent / "anchor-requirements.txt"
# What a request to `mlflow models serve` runs through: printed with the figures.
SERVING = ("mlflow", "scikit-learn", "pandas", "numpy", "scipy", "uvicorn", "fastapi", "starlette", "pydantic")


def serving_versions(venv: Path) -> tuple[dict[str, str], list[str]]:
    """The installed versions of SERVING in the anchor's venv, and how the venv differs from PINS (empty when it
    is as pinned)."""
    out = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "freeze", "--disable-pip-version-check"],
                         capture_output=True, text=True, check=True).stdout
    installed = dict(_pin(line) for line in out.splitlines() if "==" in line)
    pinned = dict(_pin(line) for line in PINS.read_text().splitlines() if "==" in line and not line.startswith("#"))
    differ = [f"{name} {installed.get(name, 'missing')} (pinned {version})"
              for name, version in pinned.items() if installed.get(name) != version]
    return {name: installed.get(name, "missing") for name in SERVING}, differ


def _pin(line: str) -> tuple[str, str]:
    name, _, version = line.strip().partition("==")
    return name.lower().replace("_", "-"), version


def wait_http(port: int, path: str, proc: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"{path} server exited ({proc.returncode})")
        client = bench.Client(port, timeout=5)
        try:
            if client.request("GET", path)[0] == 200:
                return
        except OSError:
            pass
        finally:
            client.close()
        time.sleep(0.5)
    raise RuntimeError(f"nothing answered {path} on {port} within {timeout:.0f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=8)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    venv = anchor_venv()
    pg_base, db_name, env = bench.own_database_env("lifecycle_anchor")
    work = Path(tempfile.mkdtemp(prefix="lifecycle-anchor-"))
    server = mlflow = None
    bench.create_database(pg_base, db_name)
    try:
        token = bench.bench_site(env)
        from django.db import connections

        from tests.factories import sample_rows

        connections.close_all()
        rows_path = work / "rows.json"
        rows_path.write_text(json.dumps(sample_rows(bench.TRAIN_ROWS, seed=3)))
        model_dir = work / "mlflow-model"
        out = subprocess.run([str(venv / "bin" / "python"), "-c", TRAIN, str(rows_path), str(model_dir)],
                             capture_output=True, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"}, check=True)
        version = out.stdout.strip().splitlines()[-1]
        bench.log(f"trained the same rows with scikit-learn in {venv.name}; mlflow {version}")
        versions, differ = serving_versions(venv)
        if differ:
            bench.log(f"{venv} differs from {PINS.name}: {', '.join(differ)}; this run is not the pinned anchor")

        server = bench.Gunicorn(env, 2, work / "gunicorn.log")
        server.wait_ready(2)
        mlflow_port = bench.free_port()
        mlflow_log = open(work / "mlflow.log", "wb")  # noqa: SIM115 - closed below
        mlflow = subprocess.Popen([str(venv / "bin" / "mlflow"), "models", "serve", "-m", str(model_dir),
                                   "--env-manager", "local", "-w", "2", "-h", bench.HOST, "-p", str(mlflow_port)],
                                  env={**os.environ, "OMP_NUM_THREADS": "1", "PATH": f"{venv / 'bin'}:"
                                       f"{os.environ.get('PATH', '')}"}, stdout=mlflow_log, stderr=subprocess.STDOUT)
        wait_http(mlflow_port, "/ping", mlflow)

        row = bench.input_rows(1, seed=11)[0]
        ours = json.dumps(row).encode()
        theirs = json.dumps({"dataframe_records": [{**row["features"], "content": row["content"]}]}).encode()
        score_path = f"/api/v1/algorithm-models/{bench.LR_KEY}/score"
        kw = {"clients": args.clients, "seconds": args.seconds, "max_requests": 200_000}
        phases = {}
        for name, port, tok, req in (
                ("our /healthz", server.port, None, lambda i: ("GET", "/healthz", None, None)),
                ("our score, 1 row", server.port, token, lambda i: ("POST", score_path, ours, None)),
                ("mlflow /invocations, 1 row", mlflow_port, None,
                 lambda i: ("POST", "/invocations", theirs, None))):
            r = bench.run_load(port, token=tok, make_request=req, **kw)
            r.pop("sample", None)
            phases[name] = r
            bench.log(f"{name}: {r['rps']:.1f} req/s, p50 {r['p50_ms']:.2f} ms, p99 {r['p99_ms']:.2f} ms, "
                      f"{r['errors']} errors {r['first_error'] or ''}")
        # Ours once more, after mlflow, so a drift of the shared host shows up as a difference.
        r = bench.run_load(server.port, token=token, make_request=lambda i: ("POST", score_path, ours, None), **kw)
        r.pop("sample", None)
        phases["our score, 1 row (again)"] = r
        score_rps = (phases["our score, 1 row"]["rps"] + r["rps"]) / 2
        ratio = score_rps / phases["mlflow /invocations, 1 row"]["rps"]
        floor = score_rps / phases["our /healthz"]["rps"]
        print(f"\nmlflow {version}; {args.clients} clients; {args.seconds:g} s per phase; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}")
        print("anchor: " + ", ".join(f"{name} {v}" for name, v in versions.items())
              + ("" if not differ else f" (not as pinned: {len(differ)} differ)"))
        print(f"{'':32}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}")
        for name, r in phases.items():
            print(f"{name:32}{r['rps']:>10.1f}{r['p50_ms']:>10.2f}{r['p99_ms']:>10.2f}{r['errors']:>8}")
        print(f"ratio our score / mlflow: {ratio:.2f}; our score / our /healthz: {floor:.2f}")
        if args.json:
            args.json.write_text(json.dumps({"mlflow": version, "anchor": versions, "pinned": not differ,
                                             "phases": phases, "ratio_mlflow": ratio,
                                             "ratio_floor": floor}, indent=2))
        errors = sum(r["errors"] for r in phases.values())
        return 1 if errors else 0
    finally:
        if mlflow is not None:
            mlflow.terminate()
            try:
                mlflow.wait(15)
            except subprocess.TimeoutExpired:
                mlflow.kill()
        if server is not None:
            server.stop()
        from django.db import connections

        connections.close_all()
        bench.drop_database(pg_base, db_name)


if __name__ == "__main__":
    raise SystemExit(main())

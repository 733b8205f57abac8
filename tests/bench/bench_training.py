#!/usr/bin/env python
"""Training overhead: a run as a user gets it against the same work done directly with scikit-learn (not a test).

    OMP_NUM_THREADS=1 .venv/bin/python tests/bench/bench_training.py [--rows 2000] [--efforts low,medium]
        [--types gradient_boosted,...] [--repeats 3] [--db sqlite|postgres]

On a fresh database of its own (a SQLite file in a temporary directory, or with --db postgres a database
`lifecycle_bench_training_<pid>` on BENCH_PG_URL, 127.0.0.1 only, dropped at the end), for each tabular model
type and effort:

- **run**: a model made through the services with `--rows` rows of `tests.factories.sample_rows` (numbers, a
  category and text; 10% of the labels flipped), its train queued by `services.model_train_enqueue` (the
  broker call is skipped) and executed inline as the worker executes it (`tasks.execute_run`): loading the
  samples from the database, `trainers.train`, profiling and the database writes of progress and result. Each
  repeat trains a fresh model (a first train, no serving version to compare with).
- **direct**: the same rows as a table (built before the clock starts), featurized with scikit-learn's own
  transformers equivalent to `trainers.Featurizer` (scaler, one-hot or ordinal codes, hashing vectorizer with
  tf-idf, quantile bins for the scorecard) on all rows once, as the run does; then the same work on the same
  matrix: the 80/20 stratified holdout, the same parameter search (the same candidates on the same 3 folds of
  the fit rows; for boosting and the MLP the validation loss after each round or epoch, stopping after the same
  patience; none where the run's would decide nothing, see `trainers._search_decides_nothing`), the holdout
  fit with the chosen parameters, its holdout probabilities with AUC and log loss, and the refit on all rows
  with the iteration count the holdout fit kept.

Run and direct alternate in one process (the order flips every repeat); the medians are shown with their ratio
and where the run's time goes: each part is its own time (a part inside another counts in the outer one only
where named: fits made by the search count as search, featurizing inside permutation importance counts as
importance).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import contextlib  # noqa: E402
import cProfile  # noqa: E402
import math  # noqa: E402
import pstats  # noqa: E402
import signal  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests" / "bench"))
import bench_scoring as bench  # noqa: E402

# Where the run's own time is counted: (module, attribute) -> part.
TRAINER_PARTS = {
    "_prepare": "features",
    "infer_columns": "features",
    "_fit": "fits",
    "_positive_proba": "fits",
    "_tune": "search",
    "_permutation_importance": "importance",
    "_trait_metrics": "metrics",
    "evaluation_curves": "metrics",
    "_compare_serving": "metrics",
    "_points_table": "metrics",
    "_pack": "packaging",
    "_param_hash": "packaging",
    "input_schema": "profiling",
}
SERVICE_PARTS = {
    "_examples": "loading samples",
    "_serving_for_comparison": "loading samples",
    "run_progress": "progress writes",
    "run_succeed": "result writes",
}
PARTS = ("loading samples", "features", "fits", "search", "importance", "metrics", "packaging", "profiling",
         "progress writes", "result writes")
# Inside these, every part counts as the outer one (the search's fits are the search).
ABSORBING = {"search", "importance"}


def log(msg: str) -> None:
    print(f"[bench-training {time.strftime('%H:%M:%S')}] {msg}", flush=True)


class Clock:
    """Own time per part: a wrapped call's time less that of the wrapped calls inside it."""

    def __init__(self) -> None:
        self.spent: dict[str, float] = defaultdict(float)
        self.stack: list[list] = []  # [part, start, time of children]

    def wrap(self, part: str, fn):
        clock = self

        def wrapper(*a, **kw):
            outer = next((f[0] for f in clock.stack if f[0] in ABSORBING), None)
            if outer is not None:
                return fn(*a, **kw)
            frame = [part, time.perf_counter(), 0.0]
            clock.stack.append(frame)
            try:
                return fn(*a, **kw)
            finally:
                clock.stack.pop()
                elapsed = time.perf_counter() - frame[1]
                clock.spent[part] += elapsed - frame[2]
                if clock.stack:
                    clock.stack[-1][2] += elapsed
        wrapper.__wrapped__ = fn
        return wrapper


def instrument(clock: Clock) -> None:
    from lifecycle import profiles, services, trainers

    for name, part in TRAINER_PARTS.items():
        setattr(trainers, name, clock.wrap(part, getattr(trainers, name)))
    for name, part in SERVICE_PARTS.items():
        setattr(services, name, clock.wrap(part, getattr(services, name)))
    profiles.profile = clock.wrap("profiling", profiles.profile)
    featurizer = trainers.Featurizer
    featurizer.fit = classmethod(clock.wrap("features", featurizer.fit.__func__))
    if hasattr(featurizer, "fit_transform"):  # training featurizes its rows in one pass
        featurizer.fit_transform = classmethod(clock.wrap("features", featurizer.fit_transform.__func__))
    featurizer.transform = clock.wrap("features", featurizer.transform)
    featurizer.blocks = clock.wrap("features", featurizer.blocks)


# --- the direct scikit-learn work ---------------------------------------------------------------------------


def table(rows: list[dict]):
    """The rows as a table: tenure, plan, spend, content (object columns), and the 0/1 labels."""
    import numpy as np

    data = np.array([[r["features"]["tenure"], r["features"]["plan"], r["features"]["spend"], r["content"]]
                     for r in rows], dtype=object)
    y = np.array([1 if r["labels"]["churn"] == "positive" else 0 for r in rows], dtype=np.int64)
    return data, y


def transformer(model_type: str):
    """scikit-learn's transformers doing what trainers.Featurizer does in the model type's mode."""
    import numpy as np
    from sklearn.compose import ColumnTransformer
    from sklearn.feature_extraction.text import HashingVectorizer, TfidfTransformer
    from sklearn.impute import SimpleImputer
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import (
        FunctionTransformer,
        KBinsDiscretizer,
        OneHotEncoder,
        OrdinalEncoder,
        StandardScaler,
    )

    as_float = FunctionTransformer(lambda a: np.asarray(a, dtype=np.float64))
    numbers = [0, 2]
    if model_type == "scorecard":
        return ColumnTransformer([
            ("numbers", make_pipeline(as_float, SimpleImputer(strategy="median"),
                                      KBinsDiscretizer(n_bins=5, encode="onehot", strategy="quantile",
                                                       quantile_method="averaged_inverted_cdf")), numbers),
            ("category", OneHotEncoder(handle_unknown="ignore", max_categories=50), [1]),
        ])
    tree = model_type == "gradient_boosted"
    text = make_pipeline(HashingVectorizer(n_features=256 if tree else 4096, alternate_sign=False, norm=None,
                                           strip_accents="unicode"), TfidfTransformer())
    category = (OrdinalEncoder(handle_unknown="use_encoded_value", unknown_value=np.nan) if tree else
                OneHotEncoder(handle_unknown="ignore", max_categories=50))
    return ColumnTransformer([
        ("numbers", make_pipeline(as_float, SimpleImputer(strategy="median"), StandardScaler()), numbers),
        ("category", category, [1]),
        ("text", text, 3),
    ], sparse_threshold=0.0 if tree else 1.0)


def estimator(model_type: str, params: dict, *, early_stopping: bool | None = None):
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neural_network import MLPClassifier

    if model_type in ("logistic_regression", "scorecard"):
        return LogisticRegression(C=params["C"], max_iter=params["max_iter"], random_state=0)
    stop = params.get("early_stopping") if early_stopping is None else early_stopping
    if model_type == "gradient_boosted":
        return HistGradientBoostingClassifier(
            max_iter=params["max_iter"], learning_rate=params["learning_rate"],
            max_leaf_nodes=params["max_leaf_nodes"], max_depth=params["max_depth"],
            min_samples_leaf=params["min_samples_leaf"], l2_regularization=params["l2_regularization"],
            early_stopping=bool(stop), categorical_features=[2], random_state=0)  # after the 2 numbers
    return MLPClassifier(hidden_layer_sizes=tuple(params["hidden_layer_sizes"]), alpha=params["alpha"],
                         learning_rate_init=params["learning_rate_init"], max_iter=params["max_iter"],
                         early_stopping=bool(stop), random_state=0)


def loss(y, p) -> float:
    import numpy as np

    p = np.clip(p, 1e-15, 1 - 1e-15)
    return float(-np.mean(np.where(y == 1, np.log(p), np.log1p(-p))))


def curve(model_type: str, params: dict, iterations: bool, X_fit, y_fit, X_val, y_val):
    """Validation log loss after each round or epoch (or of the whole fit), with the run's patience."""
    import numpy as np

    if not iterations:
        model = estimator(model_type, params).fit(X_fit, y_fit)
        return np.array([loss(y_val, model.predict_proba(X_val)[:, 1])])
    if model_type == "gradient_boosted":
        model = estimator(model_type, params, early_stopping=True)
        model.set_params(n_iter_no_change=20, tol=1e-3, scoring="loss")
        model.fit(X_fit, y_fit, X_val=X_val, y_val=y_val)
        return np.array([loss(y_val, stage[:, 1]) for stage in model.staged_predict_proba(X_val)])
    model = estimator(model_type, params, early_stopping=False)
    losses, best, stale = [], math.inf, 0
    for _ in range(params["max_iter"]):
        model.partial_fit(X_fit, y_fit, classes=[0, 1])
        losses.append(loss(y_val, model.predict_proba(X_val)[:, 1]))
        if losses[-1] < best - 1e-3:
            best, stale = losses[-1], 0
        else:
            stale += 1
            if stale >= 10:
                break
    return np.array(losses)


def direct(model_type: str, effort: str, data, y) -> dict:
    """The run's work with scikit-learn alone; returns the holdout AUC (to check it is the same model)."""
    import numpy as np
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import log_loss, roc_auc_score
    from sklearn.model_selection import StratifiedKFold, train_test_split

    from lifecycle import trainers

    params, search = trainers._resolve_params(model_type, effort, None)  # the configuration, not work
    warnings.simplefilter("ignore", ConvergenceWarning)
    X = transformer(model_type).fit_transform(data)
    fit_rows, eval_rows = train_test_split(np.arange(len(y)), test_size=0.2, stratify=y, random_state=0)
    fit_rows, eval_rows = np.sort(fit_rows), np.sort(eval_rows)
    # As the run: no search where it would decide nothing the fits use (one candidate, every fit stopping early).
    decides_nothing = getattr(trainers, "_search_decides_nothing", lambda *a: False)  # before 1 December: searched
    if search is not None and not decides_nothing(search, model_type, params, [(None, y[fit_rows])]):
        folds = list(StratifiedKFold(3, shuffle=True, random_state=0).split(fit_rows, y[fit_rows]))
        scores = []
        for candidate in search.candidates:
            curves = [curve(model_type, {**params, **candidate}, search.iterations, X[fit_rows[f]],
                            y[fit_rows[f]], X[fit_rows[v]], y[fit_rows[v]]) for f, v in folds]
            length = max(len(c) for c in curves)
            mean = np.mean([np.pad(c, (0, length - len(c)), mode="edge") for c in curves], axis=0)
            scores.append(mean.min())
        params = {**params, **search.candidates[int(np.argmin(scores))]}
    model = estimator(model_type, params).fit(X[fit_rows], y[fit_rows])
    proba = model.predict_proba(X[eval_rows])[:, 1]
    auc = roc_auc_score(y[eval_rows], proba)
    log_loss(y[eval_rows], proba)
    refit = dict(params)
    if model_type == "gradient_boosted":
        refit["max_iter"] = int(model.n_iter_)
    elif model_type == "neural_cf":
        refit["max_iter"] = int(np.argmax(model.validation_scores_)) + 1 if model.early_stopping else model.n_iter_
    estimator(model_type, refit, early_stopping=False).fit(X, y)
    return {"auc": float(auc)}


# --- the run -------------------------------------------------------------------------------------------------


def main() -> int:
    from lifecycle.model_types import TABULAR_TYPES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--efforts", default="low,medium")
    parser.add_argument("--types", default=",".join(sorted(TABULAR_TYPES)))
    parser.add_argument("--repeats", type=int, default=3, help="runs per type and effort (the median is shown)")
    parser.add_argument("--profile", type=int, default=0, metavar="N",
                        help="also print the first N functions of the timed runs' profile, in --sort's order")
    parser.add_argument("--sort", default="cumulative", choices=("cumulative", "tottime"),
                        help="the profile's order: time inside and below a function, or inside it alone")
    args = parser.parse_args()
    efforts = args.efforts.split(",")
    types = args.types.split(",")

    scratch = contextlib.ExitStack()
    scratch.enter_context(bench.scratch_database("bench-training", args.db, LIFECYCLE_TRAINING_STEP_PAUSE="0"))

    def on_term(signum, frame):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    try:
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        from lifecycle import services, tasks
        from lifecycle.core import queue
        from lifecycle.models import TrainingRun
        from tests.factories import make_model, make_user, sample_rows

        queue.enqueue = lambda *a, **kw: None  # the run stays queued; it is executed inline below
        rows = sample_rows(args.rows, seed=3, noise=0.1)
        data, y = table(rows)
        analyst = make_user("analyst", username="bench-training")
        t0 = time.perf_counter()
        models = {(t, e, r): make_model(analyst, key=f"bench-{t.replace('_', '-')}-{e}-{r}", model_type=t)
                  for t in types for e in efforts for r in range(args.repeats + 1)}
        for model in models.values():
            services.sample_add_batch(model=model, actor=analyst, samples=rows)
        log(f"{args.db}: {len(models)} models with {args.rows:,} samples each made in "
            f"{time.perf_counter() - t0:.1f} s; load average {os.getloadavg()[0]:.2f}")
        clock = Clock()
        instrument(clock)

        profiler = cProfile.Profile() if args.profile else None

        def run(model, *, timed: bool = True) -> tuple[float, dict, float]:
            run = services.model_train_enqueue(model=model, actor=analyst, effort=effort)
            clock.spent.clear()
            t0 = time.perf_counter()
            with profiler if profiler and timed else contextlib.nullcontext():
                tasks.execute_run(run.pk)
            total = time.perf_counter() - t0
            run = TrainingRun.objects.get(pk=run.pk)
            if run.status != "succeeded":
                raise RuntimeError(f"run {run.pk} {run.status}: {run.error}")
            model.refresh_from_db()
            return total, dict(clock.spent), model.active_version.metrics["churn"]["auc"]

        results = []
        for model_type in types:
            for effort in efforts:
                run(models[(model_type, effort, args.repeats)], timed=False)  # warm-up: imports, first-call caches
                direct(model_type, effort, data, y)
                runs, directs, aucs = [], [], []
                for r in range(args.repeats):
                    order = ("run", "direct") if r % 2 == 0 else ("direct", "run")
                    for which in order:
                        if which == "run":
                            runs.append(run(models[(model_type, effort, r)]))
                        else:
                            t0 = time.perf_counter()
                            aucs.append(direct(model_type, effort, data, y)["auc"])
                            directs.append(time.perf_counter() - t0)
                runs.sort(key=lambda item: item[0])
                total, split, auc = runs[len(runs) // 2]
                base = statistics.median(directs)
                results.append((model_type, effort, total, base, split, auc, statistics.median(aucs)))
                log(f"{model_type} {effort}: run {total:.3f} s, direct {base:.3f} s, ratio {total / base:.2f}")
        print()
        print(f"{args.rows:,} rows, {args.db}, median of {args.repeats} runs and {args.repeats} direct fits, "
              f"seconds; load average {os.getloadavg()[0]:.2f} at the end")
        print(f"| model type | effort | run | direct | run / direct | {' | '.join(PARTS)} | rest | holdout AUC "
              "run / direct |")
        print("|---|---|---:|---:|---:|" + "---:|" * (len(PARTS) + 2))
        for model_type, effort, total, base, split, auc, direct_auc in results:
            rest = total - sum(split.get(p, 0.0) for p in PARTS)
            cells = " | ".join(f"{split.get(p, 0.0):.3f}" for p in PARTS)
            print(f"| {model_type} | {effort} | {total:.3f} | {base:.3f} | {total / base:.2f} | {cells} | {rest:.3f} | "
                  f"{auc:.3f} / {direct_auc:.3f} |")
        if profiler:
            print()
            pstats.Stats(profiler).sort_stats(args.sort).print_stats(args.profile)
        return 0
    except KeyboardInterrupt:
        log("interrupted")
        return 130
    finally:
        scratch.close()


if __name__ == "__main__":
    sys.exit(main())

#!/usr/bin/env python
"""Training overhead: where a run's time goes against the scikit-learn fits it makes (not a test).

    OMP_NUM_THREADS=1 .venv/bin/python tests/bench/bench_training.py [--rows 2000] [--effort medium]

In-process and without a database: for each tabular model type, `trainers.train` on `tests.factories`
rows (numbers, a category and text), with its parts timed by wrapping them: the estimator fits (tuning,
holdout fit and refit; `_fit` is `estimator.fit` and nothing else, so their sum is the work done directly
with scikit-learn on the same matrices), the parameter search of efforts above low (`_tune`: its validation
curves fit scikit-learn estimators too, counted apart), preparing and featurizing, permutation importance, metrics and
packaging. Prints the run's time over the scikit-learn time per model type. A run through the services also
loads its samples from the database first; `make bench` times one logistic regression run that way
(section "train").
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import argparse  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from collections import defaultdict  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

PARTS = {  # trainers function -> the part of the run it is counted in
    "_fit": "scikit-learn fits",
    "_tune": "tuning",
    "_prepare": "features",
    "infer_columns": "features",
    "_permutation_importance": "importance",
    "_compare_serving": "metrics",
    "_trait_metrics": "metrics",
    "_pack": "packaging",
    "input_schema": "packaging",
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--effort", default="medium", choices=("low", "medium", "high", "max"))
    parser.add_argument("--repeats", type=int, default=3, help="runs per model type (the median is shown)")
    args = parser.parse_args()
    import django

    django.setup()
    from lifecycle import trainers
    from lifecycle.model_types import TABULAR_TYPES
    from tests.factories import sample_rows

    spent: dict[str, float] = defaultdict(float)
    depth = [0]

    def timed(name, fn):
        def wrapper(*a, **kw):
            depth[0] += 1
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                depth[0] -= 1
                if depth[0] == 0:  # a part inside another (a fit inside tuning) counts once, in the outer
                    spent[PARTS[name]] += time.perf_counter() - t0
        return wrapper

    for name in PARTS:
        setattr(trainers, name, timed(name, getattr(trainers, name)))
    fit_featurizer, transform = trainers.Featurizer.fit, trainers.Featurizer.transform

    def featurize(fn):
        def wrapper(*a, **kw):
            if depth[0]:
                return fn(*a, **kw)
            t0 = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                spent["features"] += time.perf_counter() - t0
        return wrapper

    trainers.Featurizer.fit = classmethod(featurize(fit_featurizer.__func__))
    trainers.Featurizer.transform = featurize(transform)

    examples = [{**r, "labels": {"churn": 1.0 if r["labels"]["churn"] == "positive" else 0.0}}
                for r in sample_rows(args.rows, seed=3, noise=0.1)]
    parts = ("scikit-learn fits", "tuning", "features", "importance", "metrics", "packaging")
    print(f"{args.rows} rows, effort {args.effort}, median of {args.repeats} runs per type, seconds")
    print(f"| model type | run | {' | '.join(parts)} | rest | run / fits | run / (fits + tuning) |")
    print("|---|---:|" + "---:|" * (len(parts) + 3))
    for model_type in sorted(TABULAR_TYPES):
        runs = []
        for _ in range(args.repeats):
            spent.clear()
            t0 = time.perf_counter()
            trainers.train(model_type, examples, ["churn"], effort=args.effort)
            total = time.perf_counter() - t0
            runs.append((total, dict(spent)))
        runs.sort(key=lambda r: r[0])
        total, split = runs[len(runs) // 2]
        rest = total - sum(split.get(p, 0.0) for p in parts)
        fits, tuning = split.get("scikit-learn fits", 0.0), split.get("tuning", 0.0)
        cells = " | ".join(f"{split.get(p, 0.0):.3f}" for p in parts)
        print(f"| {model_type} | {total:.3f} | {cells} | {rest:.3f} | {total / fits:.2f} | "
              f"{total / (fits + tuning):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())

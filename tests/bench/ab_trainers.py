#!/usr/bin/env python
"""A/B of `trainers.train` (not a test): another tree's lifecycle/trainers.py against this one's, in one process.

    OMP_NUM_THREADS=1 .venv/bin/python tests/bench/ab_trainers.py /path/to/other/lifecycle/trainers.py \
        [--rows 2000] [--repeats 5] [--types gradient_boosted,...] [--efforts low,medium]

On `tests.factories.sample_rows` (10% of the labels flipped), no database: per model type and effort, both train the
same examples alternately (the order flips every repeat) and the medians are printed with the time saved. It
also checks that both give the same model: equal featurizer and predictions on every example, metrics,
predictors, input schema, evaluation curves and parameter hash (the artifacts' bytes differ run to run: skops
names its files after object ids).
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

import argparse  # noqa: E402
import importlib.util  # noqa: E402
import statistics  # noqa: E402
import sys  # noqa: E402
import time  # noqa: E402
from pathlib import Path  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))


def main() -> int:
    from lifecycle.model_types import TABULAR_TYPES

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the trainers.py to compare with (its package imports are ours)")
    parser.add_argument("--rows", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--types", default=",".join(sorted(TABULAR_TYPES)))
    parser.add_argument("--efforts", default="low,medium")
    args = parser.parse_args()
    import django

    django.setup()
    import numpy as np

    from lifecycle import trainers as new
    from tests.factories import sample_rows

    spec = importlib.util.spec_from_file_location("lifecycle.trainers_other", args.other)
    old = importlib.util.module_from_spec(spec)
    sys.modules["lifecycle.trainers_other"] = old
    spec.loader.exec_module(old)
    examples = [{**r, "labels": {"churn": 1.0 if r["labels"]["churn"] == "positive" else 0.0}}
                for r in sample_rows(args.rows, seed=3, noise=0.1)]
    print(f"{args.rows:,} rows, median of {args.repeats}, load average {os.getloadavg()[0]:.2f} at the start")
    print("| model type | effort | other s | this s | this / other | saved ms | same model |")
    print("|---|---|---:|---:|---:|---:|---|")
    for model_type in args.types.split(","):
        for effort in args.efforts.split(","):
            a = old.train(model_type, examples, ["churn"], effort=effort)
            b = new.train(model_type, examples, ["churn"], effort=effort)
            la, lb = new.load(a.artifact), new.load(b.artifact)
            same = (la.featurizer.state == lb.featurizer.state
                    and np.array_equal(la.predict_proba(examples)["churn"], lb.predict_proba(examples)["churn"])
                    and (a.metrics, a.predictors, a.input_schema, a.evaluation, a.param_hash, a.params)
                    == (b.metrics, b.predictors, b.input_schema, b.evaluation, b.param_hash, b.params))
            times: dict = {old: [], new: []}
            for r in range(args.repeats):
                for module in ((old, new) if r % 2 == 0 else (new, old)):
                    t0 = time.perf_counter()
                    module.train(model_type, examples, ["churn"], effort=effort)
                    times[module].append(time.perf_counter() - t0)
            before, after = statistics.median(times[old]), statistics.median(times[new])
            print(f"| {model_type} | {effort} | {before:.3f} | {after:.3f} | {after / before:.2f} | "
                  f"{1000 * (before - after):.0f} | {'yes' if same else 'NO'} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at the end")
    return 0


if __name__ == "__main__":
    sys.exit(main())

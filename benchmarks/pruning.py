"""Pruning: random search with the median pruner against random search without it.

What it measures, on a small noisy nonlinear classification task (20
features, 4 of them informative, 10% of the labels flipped; 2,000 training,
1,000 validation and 2,000 test samples built with numpy) and a tiny MLP
whose learning rate (log scale), width, depth and dropout are tuned:
`e2etune.RandomSearch` with the same seed, the same `--trials` (default 30,
the size of a typical random search) of up to `--epochs` epochs (default 12)
each, once without a pruner and once with
`MedianPruner(warmup_steps=--warmup, min_trials=--min-trials)` (defaults 1
and 3). The two searches of a seed draw the same configurations in the same
order, so any difference comes from pruning. Over `--seeds` seeds (default
5) it prints, per method, the best validation accuracy (median and [min,
max] across seeds), the test accuracy of the best model, the epochs trained
(counted by a Keras callback given to `search()`, as a user would), the
trials pruned and the wall time, then the ratio of the epochs and the gap in
best validation accuracy, seed by seed. The saving grows with the number of
trials (the median the later trials must beat rises as good ones complete)
and, more slowly, with the epochs per trial (a pruned trial still pays its
first epochs).

Everything runs offline, in one process, in temporary directories; the
default run takes about 14 minutes on a 2-core CPU, `--quick` (2 seeds,
12 trials, 8 epochs) about 2. Nothing is asserted: read the table.

Usage:
    python benchmarks/pruning.py [--seeds 5] [--trials 30] [--epochs 12]
                                 [--warmup 1] [--min-trials 3] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("OMP_NUM_THREADS", "2")

import keras

import e2etune
from e2etune.pruners import MedianPruner

import hyperband  # noqa: E402  (the same task, model, threads, search and measures)
from hyperband import BATCH_SIZE, Run, build_model, configure_threads, make_task  # noqa: E402


def run_search(args: argparse.Namespace, task: dict, seed: int, pruner: Any) -> Run:
    """A `RandomSearch` in a temporary directory, searched and measured (`hyperband.run_search`)."""
    def make_tuner(directory: str) -> e2etune.RandomSearch:
        return e2etune.RandomSearch(
            build_model, objective="val_accuracy", max_trials=args.trials, seed=seed,
            pruner=pruner, directory=directory, project_name="search", overwrite=True)

    return hyperband.run_search(make_tuner, task, seed, epochs=args.epochs)


def spread(values: list[float], fmt: str) -> str:
    """'median [min, max]' of `values`."""
    return (f"{format(statistics.median(values), fmt)} "
            f"[{format(min(values), fmt)}, {format(max(values), fmt)}]")


def print_table(rows: dict[str, list[Run]]) -> None:
    print(f"  {'method':<24} {'best val acc: median [min, max]':<32} "
          f"{'test acc of best model':<25} {'epochs: median [min, max]':<27} "
          f"{'pruned':>6}  wall s")
    for name, runs in rows.items():
        print(f"  {name:<24} {spread([r.best_val for r in runs], '.4f'):<32} "
              f"{spread([r.test for r in runs], '.4f'):<25} "
              f"{spread([r.epochs for r in runs], '.0f'):<27} "
              f"{statistics.median(r.pruned for r in runs):>6.0f}  "
              f"{spread([r.seconds for r in runs], '.1f')}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds (default 5)")
    parser.add_argument("--trials", type=int, default=30, help="trials per search (30)")
    parser.add_argument("--epochs", type=int, default=12, help="epochs per trial (12)")
    parser.add_argument("--warmup", type=int, default=1, help="MedianPruner warmup_steps (1)")
    parser.add_argument("--min-trials", type=int, default=3, help="MedianPruner min_trials (3)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 2 seeds, 12 trials, 8 epochs")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.trials, args.epochs = 2, 12, 8
    configure_threads()
    task = make_task()
    pruner = MedianPruner(warmup_steps=args.warmup, min_trials=args.min_trials)
    print(f"Pruning benchmark: Keras {keras.__version__} ({keras.backend.backend()}), "
          f"{os.cpu_count()} CPUs; {args.trials} trials x up to {args.epochs} epochs, "
          f"{args.seeds} seeds; {pruner!r}")
    warm = e2etune.HyperParameters()  # the framework's start-up, paid by neither search
    build_model(warm).fit(*task["train"], epochs=1, batch_size=BATCH_SIZE, verbose=0)
    keras.backend.clear_session()
    rows: dict[str, list[Run]] = {"RandomSearch": [], "RandomSearch + median": []}
    for seed in range(args.seeds):
        plain = run_search(args, task, seed, None)
        pruned = run_search(args, task, seed, pruner)
        rows["RandomSearch"].append(plain)
        rows["RandomSearch + median"].append(pruned)
        print(f"  seed {seed}: without {plain.best_val:.4f} ({plain.epochs} epochs, "
              f"{plain.seconds:.1f} s); with {pruned.best_val:.4f} ({pruned.epochs} epochs, "
              f"{pruned.pruned} pruned, {pruned.seconds:.1f} s)", flush=True)
    print()
    print_table(rows)
    plain_runs, pruned_runs = rows.values()
    ratio = sum(r.epochs for r in pruned_runs) / sum(r.epochs for r in plain_runs)
    gaps = [p.best_val - r.best_val for p, r in zip(pruned_runs, plain_runs)]
    print(f"  epochs with pruning / without: {ratio:.2f}; best val acc with - without, per "
          f"seed: {', '.join(f'{g:+.4f}' for g in gaps)}")


if __name__ == "__main__":
    main()

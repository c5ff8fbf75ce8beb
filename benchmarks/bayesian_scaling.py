"""Bayesian optimization benchmark: suggestion time at many completed trials.

For each size N, a `BayesianOptimizationOracle` with a project folder (its
SQLite storage in use, as in a search) completes N trials of a problem, the
first N quasi-random (`num_initial_points=N`, so that filling is cheap),
then proposes `--window` more trials by its Gaussian process, each completed
before the next is created. A suggestion is one `oracle.create_trial` call:
the storage transaction, the model fit and the acquisition search.

Printed per N: the mean, median and largest suggestion time of the model
trials (the first of them starts the model cold, with no fitted kernel
parameters to warm-start from), and optionally (`--profile N`) the cProfile
of the model trials at that size, sorted by cumulative time.

With `--proxy branin,hartmann6`, it first compares the regret of the full
model with that of the long-search model shrunk 10-fold (`PROXY_SIZES`), on
150 trials: the price of the subsets, measured where the full model is
affordable.

Usage:
    OMP_NUM_THREADS=1 python benchmarks/bayesian_scaling.py [--sizes 250,500,1000,2000]
        [--window 10] [--problem hartmann6] [--profile 2000]
        [--proxy branin,hartmann6 --proxy-trials 150 --proxy-seeds 5]
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")

import argparse  # noqa: E402
import cProfile  # noqa: E402
import io  # noqa: E402
import pstats  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from bayesian import make_problem  # noqa: E402


def _complete(oracle, trial, problem) -> None:
    score = problem.evaluate(trial.hyperparameters.values)
    oracle.update_trial(trial.trial_id, {"default_objective": score})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)


def time_suggestions(problem_name: str, n: int, window: int, seed: int = 0,
                     profile: bool = False) -> tuple[list[float], str]:
    """Suggestion times of `window` model trials after `n` completed ones (and a profile)."""
    from e2etune.engine.hyperparameters import HyperParameters
    from e2etune.oracles.bayesian import BayesianOptimizationOracle

    problem = make_problem(problem_name)
    hp = HyperParameters()
    problem.declare(hp)
    oracle = BayesianOptimizationOracle(max_trials=n + window, num_initial_points=n,
                                        seed=seed, hyperparameters=hp)
    times: list[float] = []
    profiler = cProfile.Profile() if profile else None
    with tempfile.TemporaryDirectory() as directory:
        oracle._set_project_dir(directory, "scaling")
        for _ in range(n):
            _complete(oracle, oracle.create_trial("worker"), problem)
        for _ in range(window):
            if profiler is not None:
                profiler.enable()
            start = time.perf_counter()
            trial = oracle.create_trial("worker")
            times.append(time.perf_counter() - start)
            if profiler is not None:
                profiler.disable()
            if trial.status != "RUNNING":
                break
            _complete(oracle, trial, problem)
        oracle.close()
    report = ""
    if profiler is not None:
        stream = io.StringIO()
        pstats.Stats(profiler, stream=stream).sort_stats("cumulative").print_stats(30)
        report = stream.getvalue()
    return times, report


#: The long-search model shrunk 10-fold (with `--proxy`): its subsets are as small beside
#: 150 trials as the real ones beside 1500, so that their effect on regret shows cheaply.
PROXY_SIZES = {"FULL_MODEL_POINTS": 50, "FIT_POINTS": 25, "FIT_BEST": 8,
               "CONDITION_POINTS": 60, "CONDITION_BEST": 20, "CONDITION_RECENT": 20,
               "NEIGHBOURS": 20}


def proxy_regret(problem_name: str, trials: int, seeds: int) -> str:
    """Regret of the full model and of the 10-fold shrunk long-search model, side by side."""
    from bayesian import run_ours

    from e2etune.oracles import _long_search

    problem = make_problem(problem_name)
    checkpoints = sorted({k for k in (50, 100) if k < trials} | {trials})
    saved = {name: getattr(_long_search, name) for name in PROXY_SIZES}
    rows = []
    for label, sizes in (("full model", saved), ("shrunk long-search model", PROXY_SIZES)):
        for name, value in sizes.items():
            setattr(_long_search, name, value)
        regrets = []
        for seed in range(seeds):
            scores, _ = run_ours(problem, seed, trials)
            regrets.append([min(scores[:k]) - problem.f_min for k in checkpoints])
        q = np.percentile(np.array(regrets), [25, 50, 75], axis=0)
        cells = [f"{q[1, i]:.2e} [{q[0, i]:.1e}, {q[2, i]:.1e}]" for i in range(len(checkpoints))]
        rows.append(f"  {label:<26}" + "".join(f"{cell:>30}" for cell in cells))
    for name, value in saved.items():
        setattr(_long_search, name, value)
    header = f"  {'model':<26}" + "".join(f"{'@' + str(k):>30}" for k in checkpoints)
    return (f"{problem_name}, {seeds} seeds: regret median [q1, q3]; the shrunk model takes "
            f"over after 50 trials\n" + header + "\n" + "\n".join(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="250,500,1000,2000")
    parser.add_argument("--window", type=int, default=10)
    parser.add_argument("--problem", default="hartmann6")
    parser.add_argument("--profile", type=int, default=0, help="a size to profile (0: none)")
    parser.add_argument("--proxy", default="",
                        help="problems of the shrunk-model regret comparison (none by default)")
    parser.add_argument("--proxy-trials", type=int, default=150)
    parser.add_argument("--proxy-seeds", type=int, default=5)
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    for name in [p for p in args.proxy.split(",") if p]:
        print(proxy_regret(name, args.proxy_trials, args.proxy_seeds), flush=True)
    if not args.sizes:
        return
    sizes = [int(s) for s in args.sizes.split(",") if s]
    print(f"suggestion time (ms) of {args.window} model trials after N completed ones, "
          f"{args.problem}, SQLite storage, OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    print(f"  {'N':>6}{'first':>10}{'mean':>10}{'median':>10}{'max':>10}", flush=True)
    for n in sizes:
        times, report = time_suggestions(args.problem, n, args.window, profile=n == args.profile)
        ms = 1e3 * np.array(times)
        print(f"  {n:>6}{ms[0]:10.1f}{ms.mean():10.1f}{np.median(ms):10.1f}{ms.max():10.1f}",
              flush=True)
        if report:
            print(report, flush=True)


if __name__ == "__main__":
    main()

"""Bayesian optimization benchmark: regret and suggestion time beside other optimizers.

Runs our `BayesianOptimizationOracle` ("ours") on synthetic problems with a
known minimum, side by side with KerasTuner's BayesianOptimization oracle
("keras"), Optuna's GPSampler ("gp") and TPESampler ("tpe"), and our random
search ("random"); the ones that are not installed are skipped. Every method
runs in this process, single-threaded (OMP_NUM_THREADS=1, one torch thread).

Printed:
- per problem, the regret (best score so far minus the known minimum) after
  25, 50, 100 and 200 trials (those run) as "median [first quartile, third quartile]" over the
  seeds, and the mean suggestion time of trials 91-100;
- the mean suggestion time of trials 41-50, 91-100 and 491-500 on one long
  run (`--timing-problem`, `--timing-trials`).

A suggestion is what the method does to propose a trial: `create_trial` for
our oracles (engine overhead included), `populate_space` for KerasTuner's
(its file writes excluded), `ask` plus the `suggest_*` calls for Optuna.

Targets: median regret no worse than GPSampler's on every problem (within
its quartile spread), at most a third of its suggestion time at 100 trials,
under 0.2 s per suggestion at 500 trials.

Usage:
    OMP_NUM_THREADS=1 python benchmarks/bayesian.py [--seeds 10] [--trials 100]
        [--problems branin,...] [--methods ours,gp,tpe,random,keras]
        [--timing-trials 500] [--timing-problem hartmann6] [--jobs 1]
"""

from __future__ import annotations

import os

for _variable in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_variable, "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import multiprocessing  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import warnings  # noqa: E402
from typing import Any, Callable  # noqa: E402

import numpy as np  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _functions import MIXED_MIN, PROBLEMS, mixed  # noqa: E402

CHECKPOINTS = (25, 50, 100, 200)
TIMING_POINTS = (50, 100, 500)
WINDOW = 10
METHODS = ("ours", "gp", "tpe", "random", "keras")
DEFAULT_PROBLEMS = ("branin", "hartmann3", "hartmann6", "rosenbrock4", "ackley5", "levy5", "mixed")


@dataclasses.dataclass
class Problem:
    """A search space declared for e2etune/KerasTuner and Optuna, and its objective."""

    name: str
    declare: Callable[[Any], None]
    suggest: Callable[[Any], dict]
    evaluate: Callable[[dict], float]
    f_min: float


def _box_problem(name: str) -> Problem:
    fn, bounds, f_min = PROBLEMS[name]
    names = [f"x{i}" for i in range(len(bounds))]

    def declare(hp: Any) -> None:
        for key, (low, high) in zip(names, bounds):
            hp.Float(key, float(low), float(high))

    def suggest(trial: Any) -> dict:
        return {k: trial.suggest_float(k, float(lo), float(hi))
                for k, (lo, hi) in zip(names, bounds)}

    def evaluate(values: dict) -> float:
        return float(fn(np.array([values[k] for k in names])))

    return Problem(name, declare, suggest, evaluate, f_min)


def _declare_mixed(hp: Any) -> None:
    hp.Float("learning_rate", 1e-5, 1e-1, sampling="log")
    hp.Int("units", 16, 256, step=16)
    hp.Choice("activation", ["relu", "tanh", "gelu"])
    hp.Choice("optimizer", ["adam", "sgd"])
    with hp.conditional_scope("optimizer", ["sgd"]):
        hp.Float("momentum", 0.0, 0.99)


def _suggest_mixed(trial: Any) -> dict:
    values = {
        "learning_rate": trial.suggest_float("learning_rate", 1e-5, 1e-1, log=True),
        "units": trial.suggest_int("units", 16, 256, step=16),
        "activation": trial.suggest_categorical("activation", ["relu", "tanh", "gelu"]),
        "optimizer": trial.suggest_categorical("optimizer", ["adam", "sgd"]),
    }
    if values["optimizer"] == "sgd":
        values["momentum"] = trial.suggest_float("momentum", 0.0, 0.99)
    return values


def make_problem(name: str) -> Problem:
    """The problem called `name`: one of `PROBLEMS` or "mixed"."""
    if name == "mixed":
        return Problem("mixed", _declare_mixed, _suggest_mixed, mixed, MIXED_MIN)
    return _box_problem(name)


# Drivers: each runs `n` trials and returns the scores and the suggestion times.


def _run_e2etune(oracle_class: type, problem: Problem, seed: int, n: int) -> tuple[list, list]:
    from e2etune.engine.hyperparameters import HyperParameters

    hp = HyperParameters()
    problem.declare(hp)
    oracle = oracle_class(max_trials=n, seed=seed, hyperparameters=hp)
    scores, times = [], []
    for _ in range(n):
        start = time.perf_counter()
        trial = oracle.create_trial("worker")
        times.append(time.perf_counter() - start)
        if trial.status != "RUNNING":
            break
        score = problem.evaluate(trial.hyperparameters.values)
        oracle.update_trial(trial.trial_id, {"default_objective": score})
        trial.status = "COMPLETED"
        oracle.end_trial(trial)
        scores.append(score)
    return scores, times


def run_ours(problem: Problem, seed: int, n: int) -> tuple[list, list]:
    from e2etune.oracles.bayesian import BayesianOptimizationOracle

    return _run_e2etune(BayesianOptimizationOracle, problem, seed, n)


def run_random(problem: Problem, seed: int, n: int) -> tuple[list, list]:
    from e2etune.oracles.random_search import RandomSearchOracle

    return _run_e2etune(RandomSearchOracle, problem, seed, n)


def run_keras(problem: Problem, seed: int, n: int) -> tuple[list, list]:
    import keras_tuner

    hp = keras_tuner.HyperParameters()
    problem.declare(hp)
    oracle = keras_tuner.oracles.BayesianOptimizationOracle(
        objective=keras_tuner.Objective("f", "min"), max_trials=n, seed=seed, hyperparameters=hp
    )
    oracle.verbose = 0
    times: list[float] = []
    populate = oracle.populate_space

    def timed_populate(trial_id: str) -> dict:
        start = time.perf_counter()
        try:
            return populate(trial_id)
        finally:
            times.append(time.perf_counter() - start)

    oracle.populate_space = timed_populate
    scores = []
    with tempfile.TemporaryDirectory() as directory:
        oracle._set_project_dir(directory, "bench")
        for _ in range(n):
            trial = oracle.create_trial("worker")
            if trial.status != "RUNNING":
                break
            score = problem.evaluate(trial.hyperparameters.values)
            oracle.update_trial(trial.trial_id, {"f": score})
            trial.status = "COMPLETED"
            oracle.end_trial(trial)
            scores.append(score)
    return scores, times


def _run_optuna(sampler: Any, problem: Problem, n: int) -> tuple[list, list]:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=sampler)
    scores, times = [], []
    for _ in range(n):
        start = time.perf_counter()
        trial = study.ask()
        values = problem.suggest(trial)
        times.append(time.perf_counter() - start)
        score = problem.evaluate(values)
        study.tell(trial, score)
        scores.append(score)
    return scores, times


def run_gp(problem: Problem, seed: int, n: int) -> tuple[list, list]:
    import optuna
    import torch

    torch.set_num_threads(1)
    sampler = optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False)
    return _run_optuna(sampler, problem, n)


def run_tpe(problem: Problem, seed: int, n: int) -> tuple[list, list]:
    import optuna

    return _run_optuna(optuna.samplers.TPESampler(seed=seed), problem, n)


RUNNERS = {"ours": run_ours, "gp": run_gp, "tpe": run_tpe, "random": run_random, "keras": run_keras}
_REQUIREMENTS = {"gp": ("optuna", "torch"), "tpe": ("optuna",), "keras": ("keras_tuner",)}


def available(method: str) -> bool:
    """Whether the packages `method` needs are installed."""
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in _REQUIREMENTS.get(method, ()))


def _job(args: tuple[str, str, int, int]) -> tuple[str, str, int, list, list]:
    method, problem_name, seed, n = args
    warnings.filterwarnings("ignore")
    scores, times = RUNNERS[method](make_problem(problem_name), seed, n)
    return method, problem_name, seed, scores, times


def _map(jobs: list, n_jobs: int) -> list:
    if n_jobs <= 1:
        return [_job(job) for job in jobs]
    with multiprocessing.get_context("spawn").Pool(n_jobs) as pool:
        return pool.map(_job, jobs, chunksize=1)


# Reporting.


def _regret_at(scores: list, f_min: float, k: int) -> float:
    return float(np.min(scores[:k]) - f_min) if scores else float("nan")


def _window_ms(times: list, end: int) -> float | None:
    window = times[max(end - WINDOW, 0):end]
    return 1e3 * float(np.mean(window)) if len(times) >= end else None


def _quartiles(values: list) -> str:
    q1, median, q3 = np.percentile(values, [25, 50, 75])
    return f"{median:.2e} [{q1:.1e}, {q3:.1e}]"


def regret_tables(results: list, methods: list, problems: list, n_trials: int,
                  n_seeds: int) -> str:
    """The regret table of every problem, one row per method."""
    checkpoints = [k for k in CHECKPOINTS if k <= n_trials]
    lines = []
    for name in problems:
        f_min = make_problem(name).f_min
        lines.append(f"\n{name}: regret median [q1, q3] over seeds; ms = mean suggestion time "
                     f"of the last {WINDOW} trials (trials {n_trials - WINDOW + 1}-{n_trials} "
                     "unless marked)")
        header = f"  {'method':<12}" + "".join(f"{'@' + str(k):>29}" for k in checkpoints)
        lines.append(header + f"{'ms':>13}")
        for method in methods:
            runs = [r for r in results if r[0] == method and r[1] == name]
            if not runs:
                continue
            length = min(len(r[3]) for r in runs)
            cells = [_quartiles([_regret_at(r[3], f_min, k) for r in runs]) if length >= k
                     else "-" for k in checkpoints]
            ms = np.mean([_window_ms(r[4], len(r[4])) for r in runs])
            ms_text = f"{ms:9.1f}" + ("    " if length == n_trials else f" @{length:<2}")
            label = method if len(runs) == n_seeds else f"{method} ({len(runs)})"
            lines.append(f"  {label:<12}" + "".join(f"{c:>29}" for c in cells) + ms_text)
    return "\n".join(lines)


def timing_table(results: list, methods: list, problem: str, n_trials: int) -> str:
    """Mean suggestion time in ms of the windows ending at 50, 100 and 500 trials."""
    points = [k for k in TIMING_POINTS if k <= n_trials]
    lines = [f"\nsuggestion time (ms, mean of the {WINDOW} trials up to N) on {problem}, 1 seed",
             f"  {'method':<12}" + "".join(f"{'N=' + str(k):>10}" for k in points)]
    for method in methods:
        runs = [r for r in results if r[0] == method]
        if not runs:
            continue
        cells = [_window_ms(runs[0][4], k) for k in points]
        lines.append(f"  {method:<12}" + "".join(
            f"{c:10.1f}" if c is not None else f"{'-':>10}" for c in cells))
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--trials", type=int, default=100)
    parser.add_argument("--problems", default=",".join(DEFAULT_PROBLEMS))
    parser.add_argument("--methods", default=",".join(METHODS))
    parser.add_argument("--timing-trials", type=int, default=500,
                        help="trials of the timing run (0 skips it)")
    parser.add_argument("--timing-problem", default="hartmann6")
    parser.add_argument("--timing-methods", default=None,
                        help="methods of the timing run (default: --methods)")
    parser.add_argument("--keras-seeds", type=int, default=3,
                        help="seeds of KerasTuner's oracle, slow (default 3)")
    parser.add_argument("--keras-trials", type=int, default=50,
                        help="trials of KerasTuner's oracle (default 50)")
    parser.add_argument("--jobs", type=int, default=1,
                        help="processes; above 1 the times are not comparable")
    args = parser.parse_args()
    methods = [m for m in args.methods.split(",") if m]
    unknown = sorted(set(methods) - set(RUNNERS))
    if unknown:
        parser.error(f"unknown methods {unknown}; choose from {list(RUNNERS)}")
    skipped = [m for m in methods if not available(m)]
    methods = [m for m in methods if m not in skipped]
    problems = [p for p in args.problems.split(",") if p]
    for name in problems:
        if name != "mixed" and name not in PROBLEMS:
            parser.error(f"unknown problem {name!r}; choose from {[*PROBLEMS, 'mixed']}")
    print(f"methods: {', '.join(methods)}" + (f" (not installed: {skipped})" if skipped else ""))
    print(f"{args.seeds} seeds, {args.trials} trials, OMP_NUM_THREADS="
          f"{os.environ.get('OMP_NUM_THREADS')}, jobs={args.jobs}", flush=True)

    start = time.perf_counter()
    # Methods interleaved seed by seed, so that a change of load touches them all alike.
    jobs = [(m, p, s, args.trials) for p in problems for s in range(args.seeds) for m in methods
            if m != "keras"]
    if "keras" in methods:
        jobs += [("keras", p, s, min(args.keras_trials, args.trials)) for p in problems
                 for s in range(min(args.keras_seeds, args.seeds))]
    results = _map(jobs, args.jobs)
    print(regret_tables(results, methods, problems, args.trials, args.seeds))
    print(f"\n(regret runs took {time.perf_counter() - start:.0f} s)", flush=True)

    if args.timing_trials:
        timing_methods = [m for m in (args.timing_methods or args.methods).split(",")
                          if m in methods]
        jobs = [(m, args.timing_problem, 0, args.timing_trials) for m in timing_methods]
        print(timing_table(_map(jobs, 1), timing_methods, args.timing_problem,
                           args.timing_trials))


if __name__ == "__main__":
    main()

"""Engine overhead: what a trial costs besides its own work, and how long a reload takes.

Runs a random search of `--trials` trials (default 2,000) whose objective is
trivial, with the search state on disk as in real use, and prints the mean
engine cost per trial over all trials, the first 10% and the last 10% (the
cost must not grow as the search does), beside KerasTuner's when it is
installed. Then reloads a search of `--reload-trials` trials (default
10,000) and prints how long that takes.

Targets: at most 0.5 ms per trial on average, the last 10% at most 1.5x the
first 10%, a 10,000-trial reload under 1 s.

Usage:
    python benchmarks/overhead.py [--trials 2000] [--reload-trials 10000]
"""

from __future__ import annotations

import argparse
import gc
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from e2etune.engine.base_tuner import BaseTuner  # noqa: E402
from e2etune.engine.hyperparameters import HyperParameters  # noqa: E402
from e2etune.engine.trial import TrialStatus  # noqa: E402
from e2etune.oracles import RandomSearchOracle  # noqa: E402


def _space(hp) -> None:
    hp.Float("x", -1.0, 1.0)
    hp.Int("units", 8, 512, step=8)
    hp.Choice("activation", ["relu", "tanh", "gelu"])
    hp.Float("learning_rate", 1e-4, 1e-1, sampling="log")


def _objective(hp) -> float:
    return hp.get("x") ** 2 + hp.get("units") / 512 + hp.get("learning_rate")


def _summary(ends: list[float], start: float) -> tuple[float, float, float]:
    """Mean cost per trial in ms: all, first 10%, last 10%."""
    times = [b - a for a, b in zip([start, *ends[:-1]], ends)]
    tenth = max(len(times) // 10, 1)
    mean = lambda xs: 1e3 * sum(xs) / len(xs)  # noqa: E731
    return mean(times), mean(times[:tenth]), mean(times[-tenth:])


class _TimedTuner(BaseTuner):
    """Records when each trial ends."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.ends: list[float] = []

    def run_trial(self, trial, *args, **kwargs):
        return _objective(trial.hyperparameters)

    def on_trial_end(self, trial):
        super().on_trial_end(trial)
        self.ends.append(time.perf_counter())


def bench_e2etune(trials: int, directory: str) -> tuple[float, float, float]:
    hps = HyperParameters()
    _space(hps)
    oracle = RandomSearchOracle(max_trials=trials, seed=1, hyperparameters=hps)
    tuner = _TimedTuner(oracle=oracle, directory=directory, project_name="overhead")
    gc.collect()  # The setup's garbage is not the search's cost.
    start = time.perf_counter()
    tuner.search(verbose=0)
    oracle.close()
    assert len(tuner.ends) == trials
    return _summary(tuner.ends, start)


def bench_keras_tuner(trials: int, directory: str) -> tuple[float, float, float] | None:
    try:
        import keras_tuner
    except ImportError:
        return None

    ends: list[float] = []

    class Timed(keras_tuner.engine.base_tuner.BaseTuner):
        def run_trial(self, trial, *args, **kwargs):
            return _objective(trial.hyperparameters)

        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            ends.append(time.perf_counter())

    hps = keras_tuner.HyperParameters()
    _space(hps)
    oracle = keras_tuner.oracles.RandomSearchOracle(
        objective=keras_tuner.Objective("score", "min"), max_trials=trials, seed=1,
        hyperparameters=hps)
    tuner = Timed(oracle=oracle, directory=directory, project_name="overhead_kt")
    gc.collect()
    start = time.perf_counter()
    tuner.search(verbose=0)
    return _summary(ends, start)


def bench_reload(trials: int, directory: str) -> float:
    """Writes a search of `trials` completed trials, then times loading it into a new oracle."""
    hps = HyperParameters()
    _space(hps)
    oracle = RandomSearchOracle(max_trials=trials, seed=2, hyperparameters=hps)
    oracle._set_project_dir(directory, "reload")
    for _ in range(trials):
        trial = oracle.create_trial("tuner0")
        score = _objective(trial.hyperparameters)
        oracle.update_trial(trial.trial_id, {"default_objective": score})
        trial.status = TrialStatus.COMPLETED
        oracle.end_trial(trial)
    oracle.close()
    del oracle
    gc.collect()
    start = time.perf_counter()
    reloaded = RandomSearchOracle(max_trials=trials, seed=2, hyperparameters=hps)
    reloaded._set_project_dir(directory, "reload")
    elapsed = time.perf_counter() - start
    assert len(reloaded.trials) == trials
    reloaded.close()
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=2000)
    parser.add_argument("--reload-trials", type=int, default=10_000)
    parser.add_argument("--skip-keras-tuner", action="store_true",
                        help="do not run KerasTuner even when it is installed")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as directory:
        ours = bench_e2etune(args.trials, directory)
        theirs = None if args.skip_keras_tuner else bench_keras_tuner(args.trials, directory)
        print(f"Engine cost per trial, random search of {args.trials} trivial trials (ms):")
        print(f"{'':12}{'mean':>10}{'first 10%':>12}{'last 10%':>12}{'last/first':>12}")
        for name, result in (("e2etune", ours), ("KerasTuner", theirs)):
            if result is None:
                status = "skipped" if args.skip_keras_tuner else "not installed"
                print(f"{name:12}{status:>10}")
                continue
            mean, first, last = result
            print(f"{name:12}{mean:10.3f}{first:12.3f}{last:12.3f}{last / first:12.2f}")
        reload_seconds = bench_reload(args.reload_trials, directory)
        print(f"Reloading a search of {args.reload_trials} trials: {reload_seconds:.3f} s")
    mean, first, last = ours
    checks = [("mean <= 0.5 ms", mean <= 0.5), ("last/first <= 1.5", last / first <= 1.5),
              ("reload < 1 s", reload_seconds < 1.0)]
    print("Targets: " + ", ".join(f"{name} {'ok' if ok else 'MISSED'}" for name, ok in checks))


if __name__ == "__main__":
    main()

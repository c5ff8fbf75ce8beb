"""Engine overhead through the path users take, and throughput with several processes.

1. Cost per trial: a `Tuner` subclass as users write it (`oracle=
   RandomSearchOracle(...)`, hyperparameters declared in `run_trial`, a
   trivial objective, the default display, callbacks and SQLite storage)
   runs `--trials` trials (default 10,000); the table gives the mean, first
   10% and last 10% ms per trial (the cost must not grow with the search),
   beside KerasTuner's same tuner when it is installed (`--kt-trials`
   trials: it is slow).
2. Throughput: 1, 2 and 4 processes started as users start them (the same
   script, the same project) share one search of `--shared-trials` trials
   whose `run_trial` takes `--trial-seconds` (as training would), on SQLite
   and on PostgreSQL (`--postgres URL`, else a throwaway server when the
   PostgreSQL binaries are installed). The clock runs from the moment every
   process is ready (TensorFlow imported, tuner made) to the last one's end.

Targets: at most 0.5 ms per trial on SQLite, the last 10% at most 1.2x the
first 10%, and throughput that grows with processes.

Usage:
    python benchmarks/overhead.py [--trials 10000] [--kt-trials 500]
        [--shared-trials 400] [--trial-seconds 0.02] [--postgres URL]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def _tuner_class(kt):
    """The `Tuner` subclass of the README, for e2etune or KerasTuner (`kt`)."""

    class TrivialTuner(kt.Tuner):
        def __init__(self, *args, trial_seconds: float = 0.0, **kwargs):
            super().__init__(*args, **kwargs)
            self.trial_seconds = trial_seconds
            self.ends: list[float] = []

        def run_trial(self, trial, *args, **kwargs):
            hp = trial.hyperparameters
            x = hp.Float("x", -1.0, 1.0)
            units = hp.Int("units", 8, 512, step=8)
            hp.Choice("activation", ["relu", "tanh", "gelu"])
            learning_rate = hp.Float("learning_rate", 1e-4, 1e-1, sampling="log")
            if self.trial_seconds:
                time.sleep(self.trial_seconds)
            return x * x + units / 512 + learning_rate

        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            self.ends.append(time.perf_counter())

    return TrivialTuner


def _summary(ends: list[float], start: float) -> tuple[float, float, float]:
    """Mean cost per trial in ms: all, first 10%, last 10%."""
    times = [b - a for a, b in zip([start, *ends[:-1]], ends)]
    tenth = max(len(times) // 10, 1)
    mean = lambda xs: 1e3 * sum(xs) / len(xs)  # noqa: E731
    return mean(times), mean(times[:tenth]), mean(times[-tenth:])


def cost_per_trial(kt, trials: int, directory: str) -> tuple[float, float, float]:
    tuner = _tuner_class(kt)(
        oracle=kt.oracles.RandomSearchOracle(
            objective=kt.Objective("score", "min") if kt.__name__ == "keras_tuner" else None,
            max_trials=trials, seed=1),
        directory=directory, project_name=f"cost_{kt.__name__}")
    start = time.perf_counter()
    with contextlib.redirect_stdout(open(os.devnull, "w")):
        tuner.search(verbose=0)
    assert len(tuner.ends) == trials, len(tuner.ends)
    return _summary(tuner.ends, start)


def reload_seconds(kt, directory: str) -> float:
    """How long opening the finished search of `cost_per_trial` takes (all its trials loaded)."""
    start = time.perf_counter()
    oracle = kt.oracles.RandomSearchOracle(max_trials=1, seed=1)
    oracle._set_project_dir(directory, f"cost_{kt.__name__}")
    elapsed = time.perf_counter() - start
    oracle.close()
    return elapsed


def worker(config: dict) -> None:
    """One process of a shared search: made, ready, then searching when told to go."""
    import e2etune as kt

    tuner = _tuner_class(kt)(
        oracle=kt.oracles.RandomSearchOracle(max_trials=config["trials"], seed=1),
        directory=config["directory"], project_name="shared", storage=config["storage"],
        trial_seconds=config["trial_seconds"])
    print("ready", flush=True)
    sys.stdin.readline()
    start = time.time()
    tuner.search(verbose=0)
    print(json.dumps({"start": start, "end": time.time(), "trials": len(tuner.ends)}), flush=True)


def throughput(processes: int, storage: str | None, trials: int, trial_seconds: float,
               directory: str) -> float:
    """Trials per second of `processes` workers sharing one search."""
    config = json.dumps({"directory": directory, "storage": storage, "trials": trials,
                         "trial_seconds": trial_seconds})
    env = dict(os.environ, PYTHONPATH=ROOT, TF_CPP_MIN_LOG_LEVEL="3")
    workers = [subprocess.Popen([sys.executable, __file__, "--worker", config], env=env,
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True)
               for _ in range(processes)]
    for process in workers:
        assert process.stdout.readline().strip() == "ready"
    for process in workers:
        process.stdin.write("go\n")
        process.stdin.flush()
    reports = [json.loads(process.communicate()[0].strip().splitlines()[-1]) for process in workers]
    assert sum(r["trials"] for r in reports) == trials, reports
    elapsed = max(r["end"] for r in reports) - min(r["start"] for r in reports)
    return trials / elapsed


@contextlib.contextmanager
def _postgres(url: str | None):
    """The PostgreSQL URL to use: the one given, a throwaway server's, or None."""
    if url:
        yield lambda: url
        return
    sys.path.insert(0, os.path.join(ROOT, "tests"))
    try:
        from postgres_server import PostgresServer, find_bindir
    except ImportError:
        yield None
        return
    if find_bindir() is None:
        yield None
        return
    with PostgresServer.start() as server:
        yield server.new_database


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=10_000)
    parser.add_argument("--kt-trials", type=int, default=500)
    parser.add_argument("--shared-trials", type=int, default=400)
    parser.add_argument("--trial-seconds", type=float, default=0.02)
    parser.add_argument("--postgres", help="URL of a PostgreSQL database for the shared runs")
    parser.add_argument("--skip-keras-tuner", action="store_true")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(json.loads(args.worker))
        return

    import e2etune

    directory = tempfile.mkdtemp()
    rows = [("e2etune", args.trials, cost_per_trial(e2etune, args.trials, directory))]
    reload = reload_seconds(e2etune, directory)
    if not args.skip_keras_tuner:
        try:
            import keras_tuner
        except ImportError:
            keras_tuner = None
        if keras_tuner is not None:
            rows.append(("KerasTuner", args.kt_trials,
                         cost_per_trial(keras_tuner, args.kt_trials, tempfile.mkdtemp())))
    print("Cost per trial through a Tuner subclass with RandomSearchOracle (ms):")
    print(f"{'':12}{'trials':>8}{'mean':>10}{'first 10%':>12}{'last 10%':>12}{'last/first':>12}")
    for name, trials, (mean, first, last) in rows:
        print(f"{name:12}{trials:8d}{mean:10.3f}{first:12.3f}{last:12.3f}{last / first:12.2f}")
    print(f"Opening the finished search of {args.trials} trials again: {reload:.2f} s")

    print(f"\nThroughput of one search shared by processes ({args.shared_trials} trials of "
          f"{args.trial_seconds * 1e3:.0f} ms; trials/s, and speed-up over 1 process):")
    print(f"{'storage':12}{'1':>14}{'2':>14}{'4':>14}")
    with _postgres(args.postgres) as new_database:
        backends = [("SQLite", lambda: None)]
        if new_database is not None:
            backends.append(("PostgreSQL", new_database))
        else:
            print("(PostgreSQL skipped: no --postgres URL and no server binaries)")
        for name, storage in backends:
            rates = [throughput(n, storage(), args.shared_trials, args.trial_seconds,
                                tempfile.mkdtemp()) for n in (1, 2, 4)]
            cells = "".join(f"{rate:8.1f} ({rate / rates[0]:.1f}x)" for rate in rates)
            print(f"{name:12}{cells}")
    mean, first, last = rows[0][2]
    checks = [("mean <= 0.5 ms", mean <= 0.5), ("last/first <= 1.2", last / first <= 1.2)]
    print("\nTargets: " + ", ".join(f"{n} {'ok' if ok else 'MISSED'}" for n, ok in checks))


if __name__ == "__main__":
    main()

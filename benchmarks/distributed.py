"""Wall time of one distributed search run by 1, 2, 4 and 8 workers.

Each run starts, through `e2etune launch --workers N`, the same user script
as a chief and N workers (KerasTuner's environment variables set, as users
start them). The script is a `Tuner` subclass as in the README: `run_trial`
declares a few hyperparameters, sleeps `--trial-seconds` (as training would)
and returns a float, under `RandomSearchOracle(max_trials=--trials)`; the
script calls `tuner.search()`. The clock starts when every worker is ready
(imports done, tuner made; they then wait for a signal file, while the chief
goes straight into `search()`) and stops when the last worker's `search()`
returns; "exited" is when the launcher, hence every process, has exited. The
serial sum (trials x trial seconds) over the search time is the speed-up.
`--declare-space` also gives the oracle the space up front (`hyperparameters=`).

The same script with `import keras_tuner` runs beside it when KerasTuner is
installed (its chief and workers read the same variables). A run that takes
longer than `--timeout` is stopped and shown as "timeout".

Targets: 4 workers at least 3.5x, 8 workers at least 6.5x.

Usage:
    python benchmarks/distributed.py [--trials 120] [--trial-seconds 0.5]
        [--workers 1,2,4,8] [--timeout S] [--declare-space] [--skip-keras-tuner]
        [--skip-e2etune]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import json
import os
import queue
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

REPORT = "benchmark-report "
TARGETS = {4: 3.5, 8: 6.5}
_LINE = re.compile(r"^\[(\w+)\] (.*)$")


def _declare(hp) -> tuple[float, int]:
    """The search space, declared on `hp`; returns the values of `x` and `units`."""
    x = hp.Float("x", -1.0, 1.0)
    units = hp.Int("units", 8, 512, step=8)
    hp.Choice("activation", ["relu", "tanh", "gelu"])
    return x, units


def _tuner_class(kt):
    """The README's `Tuner` subclass, for e2etune or KerasTuner (`kt`), sleeping per trial."""

    class SleepyTuner(kt.Tuner):
        def __init__(self, *args, trial_seconds: float = 0.5, **kwargs):
            super().__init__(*args, **kwargs)
            self.trial_seconds = trial_seconds
            self.trials_run = 0

        def run_trial(self, trial, *args, **kwargs):
            x, units = _declare(trial.hyperparameters)
            time.sleep(self.trial_seconds)
            self.trials_run += 1
            return x * x + units / 512

    return SleepyTuner


def user_script(config: dict) -> None:
    """What each launched process runs: the user's script, plus a start barrier and a report."""
    kt = importlib.import_module(config["library"])
    objective = kt.Objective("score", "min") if config["library"] == "keras_tuner" else None
    hyperparameters = None
    if config["declare_space"]:
        hyperparameters = kt.HyperParameters()
        _declare(hyperparameters)
    tuner = _tuner_class(kt)(
        oracle=kt.oracles.RandomSearchOracle(objective=objective, max_trials=config["trials"],
                                             hyperparameters=hyperparameters, seed=1),
        directory=config["directory"], project_name="distributed",
        trial_seconds=config["trial_seconds"])
    if "chief" not in os.environ.get("KERASTUNER_TUNER_ID", ""):
        print("ready", flush=True)
        while not os.path.exists(config["go"]):
            time.sleep(0.005)
    start = time.time()
    tuner.search(verbose=0)
    print(REPORT + json.dumps({"start": start, "end": time.time(), "trials": tuner.trials_run}),
          flush=True)


@dataclass
class Run:
    """One run's figures, in seconds from the moment every worker was ready."""

    search: float
    exited: float
    worker_trials: int
    chief_trials: int
    idle_workers: int


def _follow(pipe, lines: queue.Queue) -> None:
    for line in pipe:
        lines.put(line.rstrip("\n"))
    lines.put(None)


def _show_stderr(errors, what: str) -> None:
    """Print `what` and the last lines the launched processes wrote to stderr."""
    errors.seek(0)
    tail = [line for line in errors.read().splitlines() if line.strip()][-5:]
    print(f"({what}; stderr ends with:)", file=sys.stderr)
    print("\n".join("    " + line for line in tail), file=sys.stderr)


def run(library: str, workers: int, trials: int, trial_seconds: float, timeout: float,
        declare_space: bool = False) -> Run | str:
    """One launched search: its `Run`, or "timeout" / "failed (exit code)" for the table."""
    with tempfile.TemporaryDirectory() as directory, tempfile.TemporaryFile("w+") as errors:
        go = os.path.join(directory, "go")
        config = {"library": library, "trials": trials, "trial_seconds": trial_seconds,
                  "directory": directory, "go": go, "declare_space": declare_space}
        env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3",
                   PYTHONPATH=os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])))
        launcher = subprocess.Popen(
            [sys.executable, "-m", "e2etune.distributed.launch", "--workers", str(workers),
             "--grace", "5", "--", sys.executable, os.path.abspath(__file__), "--user-script",
             json.dumps(config)],
            env=env, stdout=subprocess.PIPE, stderr=errors, stdin=subprocess.DEVNULL, text=True)
        lines: queue.Queue = queue.Queue()
        threading.Thread(target=_follow, args=(launcher.stdout, lines), daemon=True).start()
        deadline = time.monotonic() + timeout
        ready, reports, go_time = set(), {}, None
        while True:
            try:
                line = lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                launcher.send_signal(signal.SIGTERM)
                try:
                    launcher.wait(30)
                except subprocess.TimeoutExpired:
                    launcher.kill()
                    launcher.wait()
                _show_stderr(errors, f"{library}, {workers} workers: stopped after {timeout:g} s")
                return "timeout"
            if line is None:
                break
            match = _LINE.match(line)
            if not match:
                continue
            name, text = match.groups()
            if text == "ready" and go_time is None:
                ready.add(name)
                if len(ready) == workers:
                    go_time = time.time()
                    open(go, "w").close()
            elif text.startswith(REPORT):
                reports[name] = json.loads(text[len(REPORT):])
        launcher.wait()
        exit_time = time.time()
        worker_reports = [r for name, r in reports.items() if name != "chief"]
        if launcher.returncode != 0 or len(worker_reports) != workers or go_time is None:
            _show_stderr(errors, f"{library}, {workers} workers: exit code "
                                 f"{launcher.returncode}, {len(worker_reports)} worker reports")
            return f"failed ({launcher.returncode})"
        return Run(search=max(r["end"] for r in worker_reports) - go_time,
                   exited=exit_time - go_time,
                   worker_trials=sum(r["trials"] for r in worker_reports),
                   chief_trials=reports.get("chief", {}).get("trials", 0),
                   idle_workers=sum(1 for r in worker_reports if not r["trials"]))


def _cells(result: Run | str, serial: float, trials: int) -> str:
    if isinstance(result, str):
        return f"{result:>32}"
    done = result.worker_trials + result.chief_trials
    note = "" if done == trials else f" ({done} trials!)"
    return f"{result.search:9.1f}{result.exited:9.1f}{serial / result.search:13.2f}x{note}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--trials", type=int, default=120)
    parser.add_argument("--trial-seconds", type=float, default=0.5)
    parser.add_argument("--workers", default="1,2,4,8", help="comma-separated worker counts")
    parser.add_argument("--timeout", type=float,
                        help="seconds a run may take in all, startup included "
                             "(default: 180 + 3 x the ideal search time)")
    parser.add_argument("--declare-space", action="store_true",
                        help="also give the oracle the space up front (hyperparameters=)")
    parser.add_argument("--skip-keras-tuner", action="store_true")
    parser.add_argument("--skip-e2etune", action="store_true")
    parser.add_argument("--user-script", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.user_script:
        user_script(json.loads(args.user_script))
        return

    counts = [int(n) for n in args.workers.split(",")]
    serial = args.trials * args.trial_seconds
    libraries = [] if args.skip_e2etune else ["e2etune"]
    if not args.skip_keras_tuner:
        if importlib.util.find_spec("keras_tuner"):
            libraries.append("keras_tuner")
        else:
            print("(KerasTuner skipped: not installed)")
    results: dict[tuple[str, int], Run | str] = {}
    for library in libraries:
        for n in counts:
            timeout = args.timeout or 180 + 3 * serial / n
            results[library, n] = run(library, n, args.trials, args.trial_seconds, timeout,
                                      args.declare_space)

    print(f"\nOne search of {args.trials} trials of {args.trial_seconds:g} s (serial sum "
          f"{serial:.1f} s), a chief and N workers started by `e2etune launch`.\n"
          "search: seconds from every worker ready to the last worker's search() end; "
          "exited: to every process exited;\nspeed-up: serial sum / search."
          + (" The oracle got the space up front." if args.declare_space else ""))
    header = f"{'search':>9}{'exited':>9}{'speed-up':>14}"
    names = {"e2etune": "e2etune", "keras_tuner": "KerasTuner 1.4"}
    print(f"{'':8}" + "".join(f"{names[lib]:>32}" for lib in libraries) + "  target")
    print(f"{'workers':8}" + header * len(libraries))
    for n in counts:
        cells = "".join(_cells(results[lib, n], serial, args.trials) for lib in libraries)
        target = ""
        if n in TARGETS:
            target = f">= {TARGETS[n]}x"
            ours = results.get(("e2etune", n))
            if isinstance(ours, Run):
                target += " ok" if serial / ours.search >= TARGETS[n] else " MISSED"
        print(f"{n:<8}{cells}  {target}")
    for (library, n), result in results.items():
        if isinstance(result, Run) and result.idle_workers:
            print(f"\nNote: {names[library]}, {n} workers: {result.idle_workers} of them ran no "
                  "trial." + (" KerasTuner stops a worker that asks for a trial while the "
                              "space is still unknown (declared in run_trial, as here); "
                              "--declare-space gives it to the oracle up front."
                              if library == "keras_tuner" and not args.declare_space else ""))
    chief_trained = [n for n in counts if isinstance(results.get(("e2etune", n)), Run)
                     and results["e2etune", n].chief_trials]
    if chief_trained:
        print("\nNote: e2etune's chief ran trials itself (with "
              f"{', '.join(map(str, chief_trained))} workers): its distributed mode was not "
              "active, and the processes shared the search through its storage instead.")


if __name__ == "__main__":
    main()

"""A small random search that `test_crash_resume.py` kills with SIGKILL and resumes.

Usage: python _crash_search.py DIRECTORY MAX_TRIALS

Prints "ready" once the search is loaded, runs it to the end, prints "done".
Each trial's score is `objective(values)`, so a trial whose stored score
differs from it was changed. Some trials fail on their first attempt and
are retried; some declare a hyperparameter the space did not have.
"""

from __future__ import annotations

import sys
import time

from e2etune.engine.base_tuner import BaseTuner
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.oracles import RandomSearchOracle

PROJECT = "crash"
SEED = 11


def space() -> HyperParameters:
    hp = HyperParameters()
    hp.Float("x", -3.0, 3.0)
    hp.Int("units", 1, 1000)
    hp.Choice("kind", ["a", "b", "c"])
    return hp


def objective(values: dict) -> float:
    """A deterministic function of a trial's values."""
    extra = values.get("extra", 0)
    return (values["x"] - 1.0) ** 2 + values["units"] / 1000 + ord(values["kind"]) + extra / 7


class CrashTuner(BaseTuner):
    """Runs trivial trials; those with an id ending in 3 fail on their first attempt.

    Odd trials sleep 2 ms, so that a search of N trials takes at least N ms
    however fast the machine is, while even ones are all engine work.
    """

    def run_trial(self, trial, *args, **kwargs):
        hp = trial.hyperparameters
        with hp.conditional_scope("kind", ["b"]):
            hp.Int("extra", 0, 9)
        if int(trial.trial_id) % 2:
            time.sleep(0.002)
        if trial.trial_id.endswith("3") and trial.attempts == 1:
            raise RuntimeError("flaky on the first attempt")
        return objective(hp.values)


def make_tuner(directory: str, max_trials: int) -> CrashTuner:
    # Kills land in the same trial more than once at times: no trial may fail for it here.
    oracle = RandomSearchOracle(max_trials=max_trials, seed=SEED, hyperparameters=space(),
                                max_retries_per_trial=1, max_crashes_per_trial=1000)
    return CrashTuner(oracle=oracle, directory=directory, project_name=PROJECT)


def main() -> None:
    directory, max_trials = sys.argv[1], int(sys.argv[2])
    tuner = make_tuner(directory, max_trials)
    print("ready", flush=True)
    tuner.search(verbose=0)
    tuner.oracle.close()
    print("done", flush=True)


if __name__ == "__main__":
    main()

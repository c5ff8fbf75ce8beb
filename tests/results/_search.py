"""Small framework-free searches for the results tests; run as a script, a slow one.

Usage: python _search.py DIRECTORY PROJECT MAX_TRIALS SLEEP

Runs the standard search with each trial sleeping SLEEP seconds, printing
"started TRIAL_ID" as each trial begins (so a test knows the search runs).
"""

from __future__ import annotations

import math
import sys
import time

from e2etune import errors
from e2etune.engine.base_tuner import BaseTuner
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.oracles import RandomSearchOracle

#: Trials that fail (FailedTrialError), by id.
FAILING = {"03"}
OBJECTIVE = "val_loss"


def space() -> HyperParameters:
    """Float (log), Int, Choice, Boolean, and a Float active only for one choice."""
    hp = HyperParameters()
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    hp.Int("units", 8, 64, step=8)
    hp.Choice("optimizer", ["adam", "sgd", "rmsprop"])
    hp.Boolean("batchnorm")
    with hp.conditional_scope("optimizer", ["sgd"]):
        hp.Float("momentum", 0.0, 0.9)
    return hp


def history(values: dict) -> dict[str, list[float]]:
    """Three epochs of `val_loss` and `val_accuracy`, best `val_loss` at the second epoch."""
    loss = (math.log10(values["lr"]) + 2.5) ** 2 + values["units"] / 640
    if values["optimizer"] == "sgd":
        loss += 0.3 - 0.2 * values.get("momentum", 0.0)
    return {"val_loss": [loss + 0.1, loss, loss + 0.05],
            "val_accuracy": [1 / (1 + loss) - 0.05, 1 / (1 + loss), 1 / (1 + loss) - 0.01]}


class SearchTuner(BaseTuner):
    """Returns `history(values)`; the trials in `FAILING` fail; each sleeps `sleep` seconds."""

    def __init__(self, sleep: float = 0.0, announce: bool = False, **kwargs) -> None:
        self.sleep, self.announce = sleep, announce
        super().__init__(**kwargs)

    def run_trial(self, trial, *args, **kwargs):
        if self.announce:
            print(f"started {trial.trial_id}", flush=True)
        if self.sleep:
            time.sleep(self.sleep)
        if trial.trial_id in FAILING:
            raise errors.FailedTrialError("this trial fails on purpose")
        return history(trial.hyperparameters.values)


def make_tuner(directory, project: str = "search", max_trials: int = 12, sleep: float = 0.0,
               announce: bool = False, **kwargs) -> SearchTuner:
    """The standard search (random, seeded)."""
    oracle = RandomSearchOracle(objective=OBJECTIVE, max_trials=max_trials, seed=5,
                                hyperparameters=space())
    return SearchTuner(sleep=sleep, announce=announce, oracle=oracle,
                       directory=str(directory), project_name=project, **kwargs)


def run_search(directory, project: str = "search", max_trials: int = 12) -> SearchTuner:
    """Runs the standard search to its end and closes its oracle."""
    tuner = make_tuner(directory, project, max_trials)
    tuner.search(verbose=0)
    tuner.oracle.close()
    return tuner


if __name__ == "__main__":
    directory, project, max_trials, sleep = sys.argv[1:5]
    make_tuner(directory, project, int(max_trials), float(sleep), announce=True).search(verbose=0)
    print("done", flush=True)

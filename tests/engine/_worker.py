"""One worker of a search shared by several processes; `test_workers.py` starts several.

Usage: python _worker.py CONFIG_JSON

CONFIG_JSON holds: directory, project, algorithm (random | grid | bayesian |
hyperband), max_trials, sleep (seconds per trial), log (a file each run
appends a line to: "start|end TRIAL_ID PID"), and optionally storage (a
URL), lease_grace, heartbeat_interval, die_in (a trial id whose run kills
its own process with SIGKILL) and hang_in (a trial id whose run sleeps for
`hang` seconds before it reports).
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time

from e2etune.engine.base_tuner import BaseTuner
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.oracles import (
    BayesianOptimizationOracle,
    GridSearchOracle,
    HyperbandOracle,
    RandomSearchOracle,
)


def space(algorithm: str) -> HyperParameters:
    hp = HyperParameters()
    if algorithm == "grid":
        hp.Choice("a", list(range(8)))
        hp.Choice("b", ["p", "q", "r", "s", "t"])
    else:
        hp.Float("x", -2.0, 2.0)
        hp.Int("n", 0, 50)
    return hp


def score(values: dict) -> float:
    if "a" in values:
        return values["a"] + ord(values["b"]) / 1000
    return (values["x"] - 0.5) ** 2 + values["n"] / 100 - values.get("tuner/epochs", 0) / 10


def make_oracle(config: dict):
    common = dict(hyperparameters=space(config["algorithm"]), seed=3,
                  lease_grace=config.get("lease_grace", 50.0),
                  heartbeat_interval=config.get("heartbeat_interval", 10.0),
                  max_retries_per_trial=0)
    algorithm = config["algorithm"]
    if algorithm == "random":
        return RandomSearchOracle(max_trials=config["max_trials"], **common)
    if algorithm == "grid":
        return GridSearchOracle(max_trials=config.get("max_trials"), **common)
    if algorithm == "bayesian":
        return BayesianOptimizationOracle(max_trials=config["max_trials"], num_initial_points=4,
                                          **common)
    return HyperbandOracle(max_epochs=9, factor=3, **common)


class Worker(BaseTuner):
    """Logs the start and the end of each run, and does what the config asks of it."""

    def __init__(self, config: dict) -> None:
        self.config = config
        super().__init__(oracle=make_oracle(config), directory=config["directory"],
                         project_name=config["project"], storage=config.get("storage"))

    def _log(self, event: str, trial) -> None:
        with open(self.config["log"], "a") as file:
            file.write(f"{event} {trial.trial_id} {os.getpid()}\n")

    def run_trial(self, trial, *args, **kwargs):
        self._log("start", trial)
        if trial.trial_id == self.config.get("die_in"):
            os.kill(os.getpid(), signal.SIGKILL)
        if trial.trial_id == self.config.get("hang_in"):
            time.sleep(self.config["hang"])
        time.sleep(self.config["sleep"])
        self._log("end", trial)
        return score(trial.hyperparameters.values)


def main() -> None:
    config = json.loads(sys.argv[1])
    worker = Worker(config)
    worker.search(verbose=0)
    worker.oracle.close()


if __name__ == "__main__":
    main()

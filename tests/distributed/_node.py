"""One process of a distributed search: the chief or a worker, as its environment says.

Usage: python _node.py CONFIG_JSON

CONFIG_JSON holds: directory, project, algorithm (random | bayesian),
max_trials, sleep (seconds per trial), log (each run appends "start|end
TRIAL_ID PID" to it), and optionally lease_grace, heartbeat_interval,
objective (a metric name the trial reports, minimized), hang_in / hang
(a trial id whose run sleeps `hang` seconds more) and enqueue (a list of
[values, skip_if_exists] a worker queues before its search; what each call
returned or raised is printed with the result). The role comes from
KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP and KERASTUNER_ORACLE_PORT.
"""

from __future__ import annotations

import json
import os
import sys
import time

from e2etune.engine.base_tuner import BaseTuner
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.oracles import BayesianOptimizationOracle, RandomSearchOracle


def make_oracle(config: dict):
    hp = HyperParameters()
    hp.Float("x", -2.0, 2.0)
    hp.Int("n", 0, 50)
    common = dict(hyperparameters=hp, seed=3, max_trials=config["max_trials"],
                  objective=config.get("objective", "loss"),
                  lease_grace=config.get("lease_grace", 50.0),
                  heartbeat_interval=config.get("heartbeat_interval", 10.0))
    if config["algorithm"] == "bayesian":
        return BayesianOptimizationOracle(num_initial_points=3, **common)
    return RandomSearchOracle(**common)


class Node(BaseTuner):
    """Logs the start and the end of each run."""

    def __init__(self, config: dict) -> None:
        self.config = config
        super().__init__(oracle=make_oracle(config), directory=config["directory"],
                         project_name=config["project"])

    def _log(self, event: str, trial) -> None:
        with open(self.config["log"], "a") as file:
            file.write(f"{event} {trial.trial_id} {os.getpid()}\n")

    def run_trial(self, trial, *args, **kwargs):
        self._log("start", trial)
        if trial.trial_id == self.config.get("hang_in"):
            time.sleep(self.config["hang"])
        time.sleep(self.config["sleep"])
        values = trial.hyperparameters.values
        self._log("end", trial)
        return {self.config.get("objective", "loss"): (values["x"] - 0.5) ** 2 + values["n"] / 100}


def enqueue(oracle, calls: list) -> list:
    """Runs `oracle.enqueue_trial(values, skip_if_exists)` for each call: what it returned,
    or the type and message of what it raised."""
    outcomes = []
    for values, skip_if_exists in calls:
        try:
            outcomes.append(oracle.enqueue_trial(values, skip_if_exists=skip_if_exists))
        except (TypeError, ValueError, RuntimeError) as error:
            outcomes.append({"error": type(error).__name__, "message": str(error)})
    return outcomes


def main() -> None:
    config = json.loads(sys.argv[1])
    node = Node(config)
    enqueued = enqueue(node.oracle, config.get("enqueue", []))
    node.search(verbose=0)
    best = node.oracle.get_best_trials(1)
    print(json.dumps({"best": best[0].trial_id if best else None,
                      "trials": len(node.oracle.trials), "enqueued": enqueued}), flush=True)
    node.oracle.close()


if __name__ == "__main__":
    main()

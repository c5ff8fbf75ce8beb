"""One process of the distributed pruning test (`test_pruning.py`): the chief or a worker.

Usage: python _prune_node.py CONFIG_JSON

CONFIG_JSON holds: directory, project, done (a folder), good (the levels
whose trials must not be pruned), steps, and min_trials (the chief's
`MedianPruner`; the workers have no pruner: the chief's decides).

A trial of level L reports `L + 1 / (step + 1)` at each step and raises
`TrialPruned` when `trial.should_prune()` says so. The good trials run at
the same time (each writes `done/started-L` and waits for the others', so
each worker runs one), and each writes `done/L` once it has reported every
step; the other trials wait for every good trial's `done/L` before their
first report, so each decision is known in advance whatever the timing. The chief prints (last line, JSON) how many
calls of each kind it answered, with the page size of each `GetTrials`; a
worker prints how many pruning questions it asked and which calls they made.
"""

from __future__ import annotations

import collections
import functools
import json
import os
import sys
import threading
import time

from e2etune import errors
from e2etune.engine.base_tuner import BaseTuner
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.oracles import GridSearchOracle
from e2etune.pruners import MedianPruner

LEVELS = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]


def make_oracle(config: dict, pruner=None) -> GridSearchOracle:
    hp = HyperParameters()
    hp.Choice("level", LEVELS, ordered=True)
    return GridSearchOracle(hyperparameters=hp, pruner=pruner, heartbeat_interval=0.3,
                            lease_grace=3.0)


class Curves(BaseTuner):
    """Runs the known curves (see the module's docstring)."""

    def __init__(self, config: dict, pruner=None) -> None:
        self.config = config
        super().__init__(oracle=make_oracle(config, pruner), directory=config["directory"],
                         project_name=config["project"])

    def _mark(self, name: str) -> None:
        open(os.path.join(self.config["done"], name), "w").close()

    def _wait_for(self, prefix: str) -> None:
        """Waits for the file `prefix + L` of every good level L."""
        paths = [os.path.join(self.config["done"], f"{prefix}{level}")
                 for level in self.config["good"]]
        deadline = time.monotonic() + 60
        while not all(os.path.exists(path) for path in paths):
            if time.monotonic() > deadline:
                raise RuntimeError(f"the good trials never wrote {paths}")
            time.sleep(0.02)

    def run_trial(self, trial, **kwargs):
        level = trial.hyperparameters.get("level")
        good = level in self.config["good"]
        if good:
            self._mark(f"started-{level}")
            self._wait_for("started-")  # one good trial on each worker
        else:
            self._wait_for("")
        for step in range(self.config["steps"]):
            value = level + 1 / (step + 1)
            trial.report(step, value)
            if trial.should_prune():
                raise errors.TrialPruned(f"level {level} pruned at step {step}")
        if good:
            self._mark(str(level))
        return value


def count_served_calls() -> tuple[collections.Counter, list]:
    """Counts the calls the chief answers, by method, and the page size of each `GetTrials`."""
    from e2etune.distributed import service

    counts: collections.Counter = collections.Counter()
    pages: list[int] = []
    mutex = threading.Lock()

    def counted(name: str, method):
        @functools.wraps(method)
        def handler(self, request, context):
            with mutex:
                counts[name] += 1
                if name == "GetTrials":
                    pages.append(request.limit)
            return method(self, request, context)
        return handler

    for name in ("GetTrials", "GetTrial", "ShouldPrune", "UpdateTrial"):
        setattr(service.OracleServicer, name, counted(name, getattr(service.OracleServicer, name)))
    return counts, pages


def record_pruning_calls() -> dict:
    """Records the calls each `ClientOracle.should_prune` makes to the chief."""
    from e2etune.distributed import client

    record = {"questions": 0, "calls": collections.Counter()}
    inside = threading.local()
    call, should_prune = client.ClientOracle._call, client.ClientOracle.should_prune

    def recorded_call(self, method, *args, **kwargs):
        if getattr(inside, "active", False):
            record["calls"][method] += 1
        return call(self, method, *args, **kwargs)

    def recorded_should_prune(self, trial_id):
        record["questions"] += 1
        inside.active = True
        try:
            return should_prune(self, trial_id)
        finally:
            inside.active = False

    client.ClientOracle._call = recorded_call
    client.ClientOracle.should_prune = recorded_should_prune
    return record


def main() -> None:
    config = json.loads(sys.argv[1])
    if "chief" in os.environ["KERASTUNER_TUNER_ID"]:
        counts, pages = count_served_calls()
        tuner = Curves(config, MedianPruner(min_trials=config["min_trials"]))
        tuner.search(verbose=0)
        print(json.dumps({"counts": counts, "pages": pages}), flush=True)
    else:
        record = record_pruning_calls()
        tuner = Curves(config)
        tuner.search(verbose=0)
        print(json.dumps({"pruner": repr(tuner.oracle.pruner), **record}), flush=True)
    tuner.oracle.close()


if __name__ == "__main__":
    main()

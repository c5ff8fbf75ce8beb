"""One process of a distributed Keras search that `test_resume.py` kills mid-epoch.

Usage: python _resume_node.py CONFIG_JSON

The role comes from KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP and
KERASTUNER_ORACLE_PORT. CONFIG_JSON holds: directory (shared by every
process, as on NFS), project, log, and for a worker optionally pause
(`trial:epoch`: the worker writes `{"paused": ...}` to the log and waits
`pause_seconds`, 600 by default, in the middle of that epoch, for the test
to kill it there) and wait_for (a path: the worker imports Keras, then waits
for that file to exist before it builds its tuner, so that it joins the
search when the test says).

The chief serves the oracle without importing Keras (it trains nothing). A
worker runs `RandomSearch` (the default build-and-fit workflow) on a fixed
regression task with `shuffle=False`, so that any run of a trial trains the
same batches in the same order; its `on_epoch_end` hook appends a JSON line
to the log: the process, the trial, the epoch, its loss and the optimizer's
step count.
"""

from __future__ import annotations

import json
import os
import sys
import time

import numpy as np

from e2etune.engine.base_tuner import BaseTuner
from e2etune.oracles import RandomSearchOracle

MAX_TRIALS = 2
EPOCHS = 6
BATCH_SIZE = 16
SAMPLES = 128
STEPS = SAMPLES // BATCH_SIZE
# Short leases: a killed worker's trial is given away 3 s after its last heartbeat.
LEASES = {"lease_grace": 3.0, "heartbeat_interval": 0.3}
SEARCH = {"objective": "val_loss", "max_trials": MAX_TRIALS, "seed": 5, **LEASES}


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(SAMPLES + 32, 4)).astype("float32")
    y = (x @ np.array([1.5, -2.0, 0.5, 3.0], dtype="float32"))[:, None] + 0.7
    return x, y


def fit_arguments() -> dict:
    x, y = data()
    return {"x": x[:SAMPLES], "y": y[:SAMPLES], "validation_data": (x[SAMPLES:], y[SAMPLES:]),
            "epochs": EPOCHS, "batch_size": BATCH_SIZE, "shuffle": False, "verbose": 0}


def build(hp):
    import keras

    keras.utils.set_random_seed(int(hp.Int("seed", 0, 1000)))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(hp.Int("units", 4, 8)),
                              keras.layers.Dense(1)])
    # Momentum keeps a state that a model restored without its optimizer would lose.
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="mse")
    return model


def make_oracle() -> RandomSearchOracle:
    """The chief's oracle (its space comes from the workers)."""
    return RandomSearchOracle(**SEARCH)


class Chief(BaseTuner):
    def run_trial(self, trial, *args, **kwargs):
        raise AssertionError("the chief trains nothing")


def worker(config: dict) -> None:
    import e2etune

    class LoggingSearch(e2etune.RandomSearch):
        """Logs every epoch's end, and waits in the middle of the epoch named by `pause`."""

        def _write(self, entry: dict) -> None:
            with open(config["log"], "a") as file:
                file.write(json.dumps(entry) + "\n")
                file.flush()
                os.fsync(file.fileno())

        def on_epoch_begin(self, trial, model, epoch, logs=None):
            self._epoch = epoch

        def on_epoch_end(self, trial, model, epoch, logs=None):
            self._write({"pid": os.getpid(), "trial": trial.trial_id, "epoch": epoch,
                         "loss": float(logs["loss"]),
                         "iterations": int(model.optimizer.iterations.numpy())})

        def on_batch_end(self, trial, model, batch, logs=None):
            where = f"{trial.trial_id}:{self._epoch}"
            if config.get("pause") == where and batch == STEPS // 2:
                self._write({"paused": where, "pid": os.getpid()})
                time.sleep(config.get("pause_seconds", 600))

    if config.get("wait_for"):
        deadline = time.monotonic() + 120
        while not os.path.exists(config["wait_for"]):
            if time.monotonic() > deadline:
                raise SystemExit(f"{config['wait_for']} never appeared")
            time.sleep(0.05)
    tuner = LoggingSearch(hypermodel=build, directory=config["directory"],
                          project_name=config["project"], **SEARCH)
    tuner.search(**fit_arguments())
    print(json.dumps({"trials": len(tuner.oracle.trials)}), flush=True)


def main() -> None:
    config = json.loads(sys.argv[1])
    if "chief" in os.environ["KERASTUNER_TUNER_ID"]:
        Chief(oracle=make_oracle(), directory=config["directory"],
              project_name=config["project"]).search()
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import keras  # noqa: F401  (imported before waiting: the slow part)

    worker(config)


if __name__ == "__main__":
    main()

"""A real Keras search that `test_training_resume.py` kills with SIGKILL in the middle of a trial.

Usage: python _resume_search.py DIRECTORY LOG EXECUTIONS [PAUSE]

Runs `RandomSearch` (the default build-and-fit workflow) over 2 trials of
`EPOCHS` epochs, `EXECUTIONS` executions each, on a fixed regression task
with `shuffle=False`, so that two runs train the same batches in the same
order. At each epoch's end the tuner's `on_epoch_end` hook appends a JSON
line to LOG: the process, the trial, the model (one per execution), the
epoch, its loss and the optimizer's step count. PAUSE (`trial:model:epoch`,
the model counted per trial from 0) makes the process write
`{"paused": ...}` and wait in the middle of that epoch, for the test to
kill it there.
"""

from __future__ import annotations

import json
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import e2etune  # noqa: E402

EPOCHS = 6
BATCH_SIZE = 16
SAMPLES = 128
STEPS = SAMPLES // BATCH_SIZE


def data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(3)
    x = rng.normal(size=(SAMPLES + 32, 4)).astype("float32")
    y = (x @ np.array([1.5, -2.0, 0.5, 3.0], dtype="float32"))[:, None] + 0.7
    return x, y


def build(hp: e2etune.HyperParameters) -> keras.Model:
    keras.utils.set_random_seed(int(hp.Int("seed", 0, 1000)))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(hp.Int("units", 4, 8)),
                              keras.layers.Dense(1)])
    # Momentum keeps a state that a model restored without its optimizer would lose.
    model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="mse")
    return model


class LoggingSearch(e2etune.RandomSearch):
    """Logs every epoch's end, and waits in the middle of the epoch named by `pause`."""

    def __init__(self, log: str, pause: str | None, **kwargs) -> None:
        super().__init__(**kwargs)
        self.log, self.pause = log, pause
        self._models: dict[str, list[int]] = {}

    def _model_number(self, trial, model) -> int:
        models = self._models.setdefault(trial.trial_id, [])
        if id(model) not in models:
            models.append(id(model))
        return models.index(id(model))

    def _write(self, entry: dict) -> None:
        with open(self.log, "a") as file:
            file.write(json.dumps(entry) + "\n")
            file.flush()
            os.fsync(file.fileno())

    def on_epoch_end(self, trial, model, epoch, logs=None):
        self._write({"pid": os.getpid(), "trial": trial.trial_id,
                     "model": self._model_number(trial, model), "epoch": epoch,
                     "loss": float(logs["loss"]),
                     "iterations": int(model.optimizer.iterations.numpy())})

    def on_batch_end(self, trial, model, batch, logs=None):
        where = f"{trial.trial_id}:{self._model_number(trial, model)}:{self._epoch}"
        if self.pause == where and batch == STEPS // 2:
            self._write({"paused": where, "pid": os.getpid()})
            time.sleep(600)

    def on_epoch_begin(self, trial, model, epoch, logs=None):
        self._epoch = epoch


def make_tuner(directory: str, log: str, executions: int, pause: str | None = None):
    return LoggingSearch(log, pause, hypermodel=build, objective="val_loss", max_trials=2,
                         seed=5, executions_per_trial=executions, directory=directory,
                         project_name="resume")


def main() -> None:
    directory, log, executions = sys.argv[1], sys.argv[2], int(sys.argv[3])
    pause = sys.argv[4] if len(sys.argv) > 4 else None
    x, y = data()
    tuner = make_tuner(directory, log, executions, pause)
    tuner.search(x[:SAMPLES], y[:SAMPLES], validation_data=(x[SAMPLES:], y[SAMPLES:]),
                 epochs=EPOCHS, batch_size=BATCH_SIZE, shuffle=False, verbose=0)
    results = {t.trial_id: {"status": t.status, "score": t.score, "best_step": t.best_step,
                            "metrics": {n: t.metrics.get_last_value(n)
                                        for n in t.metrics.metrics}}
               for t in tuner.oracle.trials.values()}
    print("RESULTS " + json.dumps(results), flush=True)


if __name__ == "__main__":
    main()

"""A Keras worker of a distributed search, or its chief (the role comes from the environment).

Usage: python _keras_node.py DIRECTORY

The chief serves the same oracle without loading Keras (it trains nothing),
which keeps the test fast; a chief running the very same Keras tuner works too.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np

import e2etune as kt
from e2etune.engine.base_tuner import BaseTuner


def build(hp):
    import keras

    model = keras.Sequential([keras.Input((4,)),
                              keras.layers.Dense(hp.Int("units", 2, 8, step=2), activation="relu"),
                              keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    return model


class Chief(BaseTuner):
    def run_trial(self, trial, *args, **kwargs):
        raise AssertionError("the chief trains nothing")


def main() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 4)), rng.normal(size=(64, 1))
    settings = dict(directory=sys.argv[1], project_name="keras")
    oracle = kt.oracles.RandomSearchOracle(objective="val_loss", max_trials=3, seed=1,
                                           lease_grace=20.0, heartbeat_interval=0.5)
    if "chief" in os.environ["KERASTUNER_TUNER_ID"]:
        Chief(oracle=oracle, **settings).search()
        return
    tuner = kt.Tuner(oracle=oracle, hypermodel=build, **settings)
    tuner.search(x, y, validation_data=(x, y), epochs=2, batch_size=32, verbose=0)
    if "Client" in type(tuner.oracle).__name__:  # a worker: its own trials' models load
        best = tuner.get_best_hyperparameters(1)[0]
        model = tuner.get_best_models(1)[0]
        tuner.results_summary(1)
        print(json.dumps({"units": best["units"], "params": model.count_params(),
                          "trials": len(tuner.oracle.trials)}), flush=True)


if __name__ == "__main__":
    main()

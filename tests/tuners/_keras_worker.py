"""A worker of a small Keras search shared by several processes (see test_shared_keras_search.py).

Usage: python _keras_worker.py DIRECTORY
"""

from __future__ import annotations

import sys

import numpy as np

import e2etune as kt


def build(hp):
    import keras

    model = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(hp.Int("units", 2, 16, step=2), activation="relu"),
        keras.layers.Dense(1),
    ])
    model.compile(optimizer=keras.optimizers.Adam(hp.Float("lr", 1e-3, 1e-1, sampling="log")),
                  loss="mse")
    return model


def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


def make_tuner(directory: str) -> kt.RandomSearch:
    return kt.RandomSearch(build, objective="val_loss", max_trials=6, seed=1,
                           directory=directory, project_name="shared")


if __name__ == "__main__":
    x, y = data()
    make_tuner(sys.argv[1]).search(x, y, epochs=2, validation_split=0.25, verbose=0)

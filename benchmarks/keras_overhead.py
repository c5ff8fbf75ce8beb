"""Keras search overhead and memory: e2etune beside KerasTuner and bare Keras.

Runs the same small search (`--trials` trials, default 20, of a small MLP
trained `--epochs` epochs, default 2, on synthetic data) with e2etune's
`RandomSearch` and with KerasTuner's (when `keras_tuner` is installed;
otherwise it says 'not installed'), in one process, and prints each time and
their ratio. The same models trained in a plain loop, without any tuner, give
the floor.

Then it runs a longer e2etune search (`--memory-trials`, default 50) and
prints the resident memory after 5 and after the last trial.

Targets: e2etune no slower than KerasTuner; memory after 50 trials within
10% of memory after 5.

Usage:
    python benchmarks/keras_overhead.py [--trials 20] [--epochs 2] [--memory-trials 50]
"""

from __future__ import annotations

import argparse
import gc
import importlib.util
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import e2etune  # noqa: E402


def resident_memory_mib() -> float:
    """The process's resident memory now, in MiB."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    try:
        import psutil

        return psutil.Process().memory_info().rss / 2**20
    except ImportError:
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # peak, not current


def make_data(samples: int = 512, features: int = 16):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(samples, features)).astype("float32")
    y = (x[:, :4].sum(axis=1) > 0).astype("float32")
    return x, y


def build_model(hp):
    """A small MLP: 1-2 hidden layers, tuned widths and learning rate."""
    model = keras.Sequential([keras.Input((16,))])
    for i in range(hp.Int("layers", 1, 2)):
        model.add(keras.layers.Dense(hp.Int(f"units_{i}", 16, 128, step=16), activation="relu"))
    model.add(keras.layers.Dense(1, activation="sigmoid"))
    model.compile(optimizer=keras.optimizers.Adam(hp.Float("lr", 1e-4, 1e-2, sampling="log")),
                  loss="binary_crossentropy", metrics=["accuracy"])
    return model


def time_search(tuner_class, trials: int, epochs: int, data) -> float:
    """Seconds taken by a random search of `trials` trials with the given tuner class."""
    x, y = data
    with tempfile.TemporaryDirectory() as directory:
        tuner = tuner_class(build_model, objective="val_accuracy", max_trials=trials, seed=1,
                            directory=directory, project_name="bench", overwrite=True)
        start = time.perf_counter()
        tuner.search(x, y, epochs=epochs, validation_split=0.2, verbose=0)
        elapsed = time.perf_counter() - start
        del tuner
    gc.collect()
    return elapsed


def time_bare_keras(hyperparameters_class, trials: int, epochs: int, data) -> float:
    """Seconds taken to build and train the same number of models without a tuner."""
    x, y = data
    rng = np.random.default_rng(1)
    start = time.perf_counter()
    for _ in range(trials):
        hp = hyperparameters_class()
        hp.values = {"layers": int(rng.integers(1, 3)), "units_0": 64, "units_1": 64,
                     "lr": 1e-3}
        model = build_model(hp)
        model.fit(x, y, epochs=epochs, validation_split=0.2, verbose=0)
        keras.backend.clear_session(free_memory=False)  # no garbage collection: the floor
    return time.perf_counter() - start


def memory_growth(trials: int, epochs: int, data) -> tuple[float, float]:
    """Resident memory (MiB) after trial 5 and after the last trial of a longer search."""
    x, y = data
    readings: dict[int, float] = {}

    class Measured(e2etune.RandomSearch):
        def on_trial_end(self, trial):
            super().on_trial_end(trial)
            readings[len(self.oracle.trials)] = resident_memory_mib()

    with tempfile.TemporaryDirectory() as directory:
        tuner = Measured(build_model, objective="val_accuracy", max_trials=trials, seed=2,
                         directory=directory, project_name="memory", overwrite=True)
        tuner.search(x, y, epochs=epochs, validation_split=0.2, verbose=0)
    return readings[5], readings[trials]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--memory-trials", type=int, default=50)
    args = parser.parse_args()
    data = make_data()

    # Warm up TensorFlow once so that no contender pays its start-up.
    time_bare_keras(e2etune.HyperParameters, 1, 1, data)

    print(f"Search of {args.trials} trials, {args.epochs} epochs each "
          f"(Keras {keras.__version__}, backend {keras.backend.backend()}):")
    bare = time_bare_keras(e2etune.HyperParameters, args.trials, args.epochs, data)
    print(f"  bare Keras loop (no tuner): {bare:7.2f} s")
    ours = time_search(e2etune.RandomSearch, args.trials, args.epochs, data)
    print(f"  e2etune:                    {ours:7.2f} s  ({ours / bare:.2f}x bare Keras)")
    try:
        import keras_tuner
    except ImportError:
        keras_tuner = None
        print("  KerasTuner:                 not installed (pip install keras-tuner)")
    else:
        if importlib.util.find_spec("tensorboard") is None:
            print("  KerasTuner:                 installed, but its search needs `tensorboard` "
                  "(pip install tensorboard)")
            keras_tuner = None
    if keras_tuner is not None:
        theirs = time_search(keras_tuner.RandomSearch, args.trials, args.epochs, data)
        print(f"  KerasTuner {keras_tuner.__version__}:          {theirs:7.2f} s")
        print(f"  e2etune / KerasTuner time ratio: {ours / theirs:.2f} (target <= 1)")

    if args.memory_trials >= 5:
        after_5, after_last = memory_growth(args.memory_trials, args.epochs, data)
        growth = after_last / after_5 - 1
        print(f"Resident memory of an e2etune search of {args.memory_trials} trials:")
        print(f"  after 5 trials: {after_5:.0f} MiB; after {args.memory_trials}: "
              f"{after_last:.0f} MiB ({growth:+.1%}, target within 10%)")


if __name__ == "__main__":
    main()

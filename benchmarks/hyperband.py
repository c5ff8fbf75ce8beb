"""Hyperband: quality at equal budget against random search, and speed against KerasTuner.

What it measures, on one small but non-trivial classification task (20
features, 4 of them informative through a nonlinear rule, 10% of the labels
flipped; 2,000 training, 1,000 validation and 2,000 test samples built with
numpy) and a tiny MLP whose hyperparameters are the learning rate (log scale),
the width, the depth and the dropout:

1. Quality at equal budget. e2etune's `Hyperband` (`--max-epochs`, default 9;
   `--factor`, default 3) and e2etune's `RandomSearch` given the same number of
   training epochs: Hyperband's budget is the sum of its brackets' budgets,
   and random search gets `budget // max_epochs` trials of `max_epochs` epochs
   each. Over `--seeds` seeds (default 5) it prints, per method, the best
   validation accuracy (median and [min, max] across seeds), the test accuracy
   of the best model (free of the optimism of picking the best of many
   validation scores), the epochs actually trained (counted by a Keras
   callback) and the wall time.
2. Speed against KerasTuner. KerasTuner's `Hyperband` with the same model,
   `max_epochs`, `factor` and data, on the first `--kt-seeds` seeds (default
   1), each run alternating with a fresh run of e2etune's (so both see the
   same machine load): wall time, epochs trained (as counted: KerasTuner
   computes its own brackets, so its budget differs slightly), time per epoch
   and the ratios. Rows say "not installed" when `keras_tuner` cannot be
   imported. KerasTuner 1.4 imports `tensorboard` in every trial even when no
   `TensorBoard` callback is used; when `tensorboard` is missing, an empty
   stand-in for that import is put in place while KerasTuner runs (and said).

Everything runs offline, in one process, in temporary directories. The
default run takes about 10 minutes on a 2-core CPU (most of it TensorFlow
tracing each new model's training step, about 1.5 s per trial, which every
tuner pays); `--quick` is a smoke run of about a minute. Nothing is asserted:
read the tables.

Usage:
    python benchmarks/hyperband.py [--seeds 5] [--max-epochs 9] [--factor 3]
                                   [--kt-seeds 1] [--quick]
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import importlib.util
import os
import statistics
import sys
import tempfile
import time
import types
from typing import Any, Callable, Iterator

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("OMP_NUM_THREADS", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402

import e2etune  # noqa: E402
from e2etune.engine.trial import TrialStatus  # noqa: E402

FEATURES = 20
BATCH_SIZE = 64

#: Epochs trained since the last reset, by any model: the tuners deep-copy the
#: user's callbacks for every run, so the count lives here, not on the callback.
EPOCHS_TRAINED = 0


class EpochCounter(keras.callbacks.Callback):
    """Adds every epoch that ends to the module-level `EPOCHS_TRAINED`."""

    def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
        global EPOCHS_TRAINED
        EPOCHS_TRAINED += 1


def make_task(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Train, validation and test sets of a noisy nonlinear 2-class problem.

    Four of the 20 standard-normal features decide the class: a circle in the
    first two, a linear term and a sine; the other 16 are noise, and 10% of
    the labels are flipped, so no model reaches much beyond 85% accuracy.
    A good MLP passes 75% validation accuracy within a few epochs; a too low
    learning rate, too narrow layers or heavy dropout stay well below.
    """
    rng = np.random.default_rng(seed)
    sizes = {"train": 2000, "val": 1000, "test": 2000}
    x = rng.normal(size=(sum(sizes.values()), FEATURES)).astype("float32")
    score = x[:, 0] ** 2 + x[:, 1] ** 2 - 2.0 + x[:, 2] + 0.5 * np.sin(3.0 * x[:, 3])
    y = (score > np.median(score)).astype("float32")
    flip = rng.random(len(y)) < 0.10
    y[flip] = 1.0 - y[flip]
    splits, start = {}, 0
    for name, size in sizes.items():
        splits[name] = (x[start:start + size], y[start:start + size])
        start += size
    return splits


def build_model(hp: Any) -> keras.Model:
    """A tiny MLP: 1-3 hidden layers of one tuned width, dropout, tuned Adam learning rate."""
    units = hp.Int("units", 4, 64, sampling="log")
    dropout = hp.Float("dropout", 0.0, 0.5)
    model = keras.Sequential([keras.Input((FEATURES,))])
    for _ in range(hp.Int("layers", 1, 3)):
        model.add(keras.layers.Dense(units, activation="relu"))
        if dropout > 0:
            model.add(keras.layers.Dropout(dropout))
    model.add(keras.layers.Dense(1, activation="sigmoid"))
    model.compile(
        optimizer=keras.optimizers.Adam(hp.Float("learning_rate", 1e-5, 1e-1, sampling="log")),
        loss="binary_crossentropy", metrics=["accuracy"])
    return model


class Run:
    """One search's outcome: best validation and test accuracy, epochs, trials pruned, seconds."""

    def __init__(self, best_val: float, test: float, epochs: int, pruned: int,
                 seconds: float) -> None:
        self.best_val = best_val
        self.test = test
        self.epochs = epochs
        self.pruned = pruned
        self.seconds = seconds


def run_search(make_tuner: Callable[[str], Any], task: dict, seed: int, **search_kwargs) -> Run:
    """Builds a tuner in a temporary directory, searches, and measures the search."""
    global EPOCHS_TRAINED
    x, y = task["train"]
    keras.utils.set_random_seed(seed)
    with tempfile.TemporaryDirectory() as directory:
        EPOCHS_TRAINED = 0
        start = time.perf_counter()
        tuner = make_tuner(directory)
        tuner.search(x, y, validation_data=task["val"], batch_size=BATCH_SIZE,
                     callbacks=[EpochCounter()], verbose=0, **search_kwargs)
        seconds = time.perf_counter() - start
        epochs = EPOCHS_TRAINED
        pruned = sum(t.status == TrialStatus.PRUNED for t in tuner.oracle.trials.values())
        best_val = tuner.oracle.get_best_trials(1)[0].score
        best_model = tuner.get_best_models(1)[0]
        test = best_model.evaluate(*task["test"], batch_size=512, verbose=0, return_dict=True)
        del tuner, best_model
    keras.backend.clear_session()
    gc.collect()
    return Run(best_val, test["accuracy"], epochs, pruned, seconds)


def hyperband_schedule(args: argparse.Namespace) -> tuple[int, str]:
    """The epochs one iteration of e2etune's Hyperband schedule trains, and its description."""
    with tempfile.TemporaryDirectory() as directory:
        oracle = e2etune_hyperband(args, seed=0)(directory).oracle
        return sum(b.budget for b in oracle.brackets), oracle.describe_schedule()


def e2etune_hyperband(args: argparse.Namespace, seed: int) -> Callable[[str], Any]:
    return lambda directory: e2etune.Hyperband(
        build_model, objective="val_accuracy", max_epochs=args.max_epochs, factor=args.factor,
        seed=seed, directory=directory, project_name="hyperband", overwrite=True)


def e2etune_random(trials: int, seed: int) -> Callable[[str], Any]:
    return lambda directory: e2etune.RandomSearch(
        build_model, objective="val_accuracy", max_trials=trials, seed=seed,
        directory=directory, project_name="random", overwrite=True)


def kerastuner_hyperband(keras_tuner: Any, args: argparse.Namespace,
                         seed: int) -> Callable[[str], Any]:
    return lambda directory: keras_tuner.Hyperband(
        build_model, objective="val_accuracy", max_epochs=args.max_epochs, factor=args.factor,
        seed=seed, directory=directory, project_name="kerastuner", overwrite=True)


@contextlib.contextmanager
def tensorboard_stand_in() -> Iterator[bool]:
    """Puts an empty `tensorboard.plugins.hparams.api` in place if tensorboard is missing.

    KerasTuner imports it in every trial but only uses it for a `TensorBoard`
    callback, which this benchmark does not pass. Yields whether it stood in.
    """
    if importlib.util.find_spec("tensorboard") is not None:
        yield False
        return
    names = ["tensorboard", "tensorboard.plugins", "tensorboard.plugins.hparams",
             "tensorboard.plugins.hparams.api"]
    modules = [types.ModuleType(name) for name in names]
    for parent, child, name in zip(modules, modules[1:], names[1:]):
        setattr(parent, name.rsplit(".", 1)[1], child)
    sys.modules.update(zip(names, modules))
    try:
        yield True
    finally:
        for name in names:
            sys.modules.pop(name, None)


def spread(values: list[float], fmt: str) -> str:
    """'median [min, max]' of `values`."""
    return (f"{format(statistics.median(values), fmt)} "
            f"[{format(min(values), fmt)}, {format(max(values), fmt)}]")


def print_quality(rows: dict[str, list[Run]]) -> None:
    header = (f"  {'method':<21} {'best val acc: median [min, max]':<32} "
              f"{'test acc of best model':<25} {'epochs':>6}  wall s")
    print(header)
    for name, runs in rows.items():
        epochs = sorted({r.epochs for r in runs})
        epochs_text = str(epochs[0]) if len(epochs) == 1 else f"{epochs[0]}-{epochs[-1]}"
        print(f"  {name:<21} {spread([r.best_val for r in runs], '.4f'):<32} "
              f"{spread([r.test for r in runs], '.4f'):<25} {epochs_text:>6}  "
              f"{spread([r.seconds for r in runs], '.1f')}")


def quality_at_equal_budget(args: argparse.Namespace, task: dict, seeds: list[int]) -> None:
    """Part 1: e2etune's Hyperband and random search at the same epoch budget."""
    budget, description = hyperband_schedule(args)
    trials = budget // args.max_epochs
    print(f"1. Quality at equal budget ({len(seeds)} seeds: {seeds})")
    print("  " + description.replace("\n", "\n  "))
    print(f"  Random search: {trials} trials x {args.max_epochs} epochs = "
          f"{trials * args.max_epochs} epochs (Hyperband's {budget} // {args.max_epochs} trials)")
    rows: dict[str, list[Run]] = {"e2etune Hyperband": [], "e2etune RandomSearch": []}
    for seed in seeds:
        hyperband = run_search(e2etune_hyperband(args, seed), task, seed)
        random = run_search(e2etune_random(trials, seed), task, seed, epochs=args.max_epochs)
        rows["e2etune Hyperband"].append(hyperband)
        rows["e2etune RandomSearch"].append(random)
        print(f"  seed {seed}: Hyperband {hyperband.best_val:.4f} ({hyperband.epochs} epochs, "
              f"{hyperband.seconds:.1f} s); RandomSearch {random.best_val:.4f} "
              f"({random.epochs} epochs, {random.seconds:.1f} s)", flush=True)
    print()
    print_quality(rows)
    wins = sum(h.best_val > r.best_val for h, r in zip(*rows.values()))
    ties = sum(h.best_val == r.best_val for h, r in zip(*rows.values()))
    print(f"  Hyperband's best val acc beats random search's on {wins} of {len(seeds)} seeds"
          f" ({ties} ties).")
    counted = {r.epochs for r in rows["e2etune Hyperband"]}
    print(f"  Hyperband epochs counted {sorted(counted)} vs. schedule budget {budget}: "
          f"{'match' if counted == {budget} else 'MISMATCH'}.")


def speed_against_kerastuner(args: argparse.Namespace, task: dict, seeds: list[int]) -> None:
    """Part 2: e2etune's and KerasTuner's Hyperband, alternately, on the same seeds."""
    print(f"2. Speed against KerasTuner's Hyperband (max_epochs={args.max_epochs}, "
          f"factor={args.factor}; seeds {seeds}; runs alternate)")
    try:
        import keras_tuner
    except ImportError:
        keras_tuner = None
    print(f"  {'tuner':<22} {'seed':>4} {'wall s':>8} {'epochs':>7} {'s/epoch':>8} "
          f"{'best val acc':>13}")
    ours, theirs = [], []
    kerastuner_name = f"KerasTuner {getattr(keras_tuner, '__version__', '')}".strip()
    with tensorboard_stand_in() if keras_tuner else contextlib.nullcontext(False) as stood_in:
        for seed in seeds:
            runs = [("e2etune Hyperband", e2etune_hyperband(args, seed), ours)]
            if keras_tuner is not None:
                runs.append((kerastuner_name, kerastuner_hyperband(keras_tuner, args, seed),
                             theirs))
            for name, make_tuner, results in runs:
                run = run_search(make_tuner, task, seed)
                results.append(run)
                print(f"  {name:<22} {seed:>4} {run.seconds:>8.1f} {run.epochs:>7} "
                      f"{run.seconds / run.epochs:>8.3f} {run.best_val:>13.4f}", flush=True)
            if keras_tuner is None:
                print(f"  {'KerasTuner Hyperband':<22} {seed:>4}  not installed")
    if not theirs:
        return
    time_ratio = sum(r.seconds for r in ours) / sum(r.seconds for r in theirs)
    per_epoch_ratio = time_ratio * sum(r.epochs for r in theirs) / sum(r.epochs for r in ours)
    print(f"  e2etune / KerasTuner (summed over seeds): wall time {time_ratio:.2f}x, time per "
          f"epoch {per_epoch_ratio:.2f}x; epochs {sum(r.epochs for r in ours)} vs "
          f"{sum(r.epochs for r in theirs)}")
    if stood_in:
        print("  (tensorboard is not installed: KerasTuner's per-trial import of "
              "`tensorboard.plugins.hparams.api` got an empty stand-in)")


def configure_threads() -> None:
    """Small models on a small CPU: one inter-op thread, intra-op threads from OMP_NUM_THREADS."""
    if keras.backend.backend() != "tensorflow":
        return
    import tensorflow as tf

    with contextlib.suppress(RuntimeError):  # already initialized
        tf.config.threading.set_inter_op_parallelism_threads(1)
        tf.config.threading.set_intra_op_parallelism_threads(int(os.environ["OMP_NUM_THREADS"]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5, help="seeds of part 1 (default 5)")
    parser.add_argument("--max-epochs", type=int, default=9, help="Hyperband's max_epochs (9)")
    parser.add_argument("--factor", type=int, default=3, help="Hyperband's factor (3)")
    parser.add_argument("--kt-seeds", type=int, default=1,
                        help="seeds of part 2, the first of part 1's (default 1)")
    parser.add_argument("--quick", action="store_true",
                        help="smoke run: 1 seed, 1 KerasTuner seed, max_epochs 3")
    args = parser.parse_args()
    if args.quick:
        args.seeds, args.kt_seeds, args.max_epochs = 1, 1, 3
    configure_threads()
    task = make_task()
    seeds = list(range(args.seeds))
    print(f"Hyperband benchmark: Keras {keras.__version__} ({keras.backend.backend()}), "
          f"{os.cpu_count()} CPUs; task: {FEATURES} features, 2000 train / 1000 val / "
          f"2000 test samples, batch size {BATCH_SIZE}")
    # Warm up the framework so that no contender pays its start-up.
    warm = e2etune.HyperParameters()
    build_model(warm).fit(*task["train"], epochs=1, batch_size=BATCH_SIZE, verbose=0)
    keras.backend.clear_session()
    print()
    quality_at_equal_budget(args, task, seeds)
    print()
    speed_against_kerastuner(args, task, seeds[: max(0, args.kt_seeds)])


if __name__ == "__main__":
    main()

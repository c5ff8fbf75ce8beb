"""The Keras callbacks a tuner adds to every training run of a trial.

- The checkpoint (`make_checkpoint`) keeps, for each trial, the best epoch of
  its best execution by the objective, and only that: while a model trains it
  holds the weights of its best epoch in memory, and when training ends it
  writes them to the trial's folder if they beat the trial's earlier
  executions. One file per trial, written atomically: the whole model as
  `checkpoint.keras` (so that it loads without the code that built it), or,
  when the model cannot be serialized, its weights as
  `checkpoint.weights.h5` (then `build_config.json` beside it lets an unbuilt
  model be built before loading them).
- The hooks (`make_tuner_hooks`) call the tuner's `on_epoch_begin/end` and
  `on_batch_begin/end`.
- With a pruner, `make_pruning_callback` reports each epoch's objective and
  stops training when the trial should be pruned.
- The user's callbacks are deep-copied for each execution
  (`copy_callbacks`), never shared between runs; a `TensorBoard` among them
  logs to `<log_dir>/<trial_id>/execution<n>` (`configure_tensorboard`).

Keras is imported only when a callback is first made.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import math
import os
import warnings
from typing import Any, Iterator

from e2etune import errors
from e2etune.engine.objective import DefaultObjective, Objective

#: The whole best model of a trial.
MODEL_FILE = "checkpoint.keras"
#: The best weights of a trial whose model could not be saved whole.
WEIGHTS_FILE = "checkpoint.weights.h5"
#: How to build the model before loading `WEIGHTS_FILE` into it.
BUILD_CONFIG_FILE = "build_config.json"
_CHECKPOINT_FILES = (MODEL_FILE, WEIGHTS_FILE, BUILD_CONFIG_FILE)


def objective_value(objective: Objective, logs: Any) -> float | None:
    """The value the checkpoint ranks epochs by, from an epoch's `logs` (None if absent).

    For the default objective (none given) it is `val_loss` if present, else `loss`.
    """
    if not logs:
        return None
    if objective.has_value(logs):
        value = objective.get_value(logs)
    elif isinstance(objective, DefaultObjective):
        name = "val_loss" if "val_loss" in logs else "loss" if "loss" in logs else None
        if name is None:
            return None
        value = float(logs[name])
    else:
        return None
    return None if math.isnan(value) else value


def remove_checkpoint(trial_dir: str) -> None:
    """Deletes the checkpoint files of a trial (before it runs again)."""
    for name in _CHECKPOINT_FILES:
        path = os.path.join(trial_dir, name)
        if os.path.exists(path):
            os.remove(path)


def is_builtin(callback: Any) -> bool:
    """Whether `callback` is one that the tuner added (not the user's)."""
    return getattr(callback, "_e2etune_builtin", False)


# The user's callbacks.

def check_callbacks(callbacks: Any) -> list:
    """Checks that the callbacks given to `search()` are a list that can be copied.

    Returns:
        The callbacks as a list ([] for None).

    Raises:
        FatalTypeError: when `callbacks` is not a list or tuple.
        FatalValueError: when a callback cannot be deep-copied.
    """
    if callbacks is None:
        return []
    if not isinstance(callbacks, (list, tuple)):
        raise errors.FatalTypeError(
            f"`callbacks` must be a list of Keras callbacks; got {type(callbacks).__name__}. "
            "Pass e.g. `callbacks=[keras.callbacks.EarlyStopping(patience=2)]`."
        )
    copy_callbacks(callbacks)
    return list(callbacks)


def copy_callbacks(callbacks: list) -> list:
    """Deep copies of `callbacks`, one fresh set per training run.

    Raises:
        FatalValueError: naming the callback that cannot be copied.
    """
    copies = []
    for callback in callbacks:
        try:
            copies.append(copy.deepcopy(callback))
        except Exception as error:
            raise errors.FatalValueError(
                f"The callback {type(callback).__name__} cannot be copied ({type(error).__name__}: "
                f"{error}). All callbacks used during a search should be deep-copyable: every "
                "training run of the search gets its own copy of the callbacks given to "
                "`search()`, made with `copy.deepcopy`. Do not keep open "
                "files, locks, sessions or models in them (open them in `on_train_begin`), "
                "define `__deepcopy__`, or create the callback inside `run_trial` / "
                "`HyperModel.fit` instead."
            ) from error
    return copies


def configure_tensorboard(callbacks: list, trial: Any, execution: int,
                          objective: Objective | None = None) -> None:
    """Points each `TensorBoard` in `callbacks` to `<log_dir>/<trial_id>/execution<n>`.

    When the `tensorboard` package is installed, an hparams callback is added
    so that TensorBoard's HParams tab shows the trial's values, and the
    metrics of the run's best epoch by `objective` are written at its end
    (in `<log_dir>/<trial_id>/execution<n>/best`, as `best_<metric>`), so that
    the HParams tab can rank the trials by them.
    """
    added = []
    for callback in callbacks:
        if not any(cls.__name__ == "TensorBoard" for cls in type(callback).__mro__):
            continue
        log_dir = os.path.join(str(callback.log_dir), str(trial.trial_id), f"execution{execution}")
        callback.log_dir = log_dir
        if _hparams_api() is not None:
            added.append(_classes()[2](trial, log_dir, objective))
    callbacks.extend(added)


def _hparams_api() -> Any:
    try:
        from tensorboard.plugins.hparams import api as hparams_api
    except Exception:
        return None
    return hparams_api


# The tuner's callbacks (Keras classes made on first use).

@contextlib.contextmanager
def _quiet_saving() -> Iterator[None]:
    """Hides a numpy 2 deprecation notice that Keras' own saving code triggers."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="__array__ implementation doesn't accept",
                                category=DeprecationWarning)
        yield


def make_checkpoint(objective: Objective, trial_dir: str, whole_model: bool = True) -> Any:
    """A callback keeping the trial's best epoch of its best execution in `trial_dir`.

    Share one per trial across its executions (and any number of `fit` calls).

    Args:
        objective: Ranks the epochs by their logs; when an epoch's logs lack
            it (say, it is computed after `fit`), the last epoch is kept.
        trial_dir: The trial's folder.
        whole_model: Whether to save the whole model (`checkpoint.keras`) or
            only its weights. A model that cannot be saved whole falls back
            to its weights; `whole_model_error` then says why.
    """
    return _classes()[0](objective, trial_dir, whole_model)


def save_trial_model(model: Any, trial_dir: str, whole_model: bool = True) -> str | None:
    """Saves `model` as the trial's checkpoint in `trial_dir`, atomically.

    The whole model (`checkpoint.keras`) when `whole_model` and Keras can
    serialize it, else its weights (`checkpoint.weights.h5` with the build
    config). Returns why the whole model could not be saved, or None.
    """
    os.makedirs(trial_dir, exist_ok=True)
    error = None
    if whole_model:
        error = _save_whole(model, trial_dir)
        if error is None:
            return None
    _save_weights(model, trial_dir)
    return error


def _save_whole(model: Any, trial_dir: str) -> str | None:
    partial = os.path.join(trial_dir, "checkpoint.partial.keras")
    try:
        with _quiet_saving():
            model.save(partial)
    except Exception as error:
        text = " ".join(str(error).split())
        text = text if len(text) <= 160 else text[:157] + "..."
        if os.path.exists(partial):
            os.remove(partial)
        return f"{type(error).__name__}: {text}"
    os.replace(partial, os.path.join(trial_dir, MODEL_FILE))
    for name in (WEIGHTS_FILE, BUILD_CONFIG_FILE):
        if os.path.exists(os.path.join(trial_dir, name)):
            os.remove(os.path.join(trial_dir, name))
    return None


def _save_weights(model: Any, trial_dir: str) -> None:
    partial = os.path.join(trial_dir, "checkpoint.partial.weights.h5")
    with _quiet_saving():
        model.save_weights(partial)
    os.replace(partial, os.path.join(trial_dir, WEIGHTS_FILE))
    build_config = None
    try:
        build_config = model.get_build_config()
    except Exception:
        pass
    with open(os.path.join(trial_dir, BUILD_CONFIG_FILE), "w") as file:
        json.dump(build_config, file)
    if os.path.exists(os.path.join(trial_dir, MODEL_FILE)):
        os.remove(os.path.join(trial_dir, MODEL_FILE))


def make_tuner_hooks(tuner: Any, trial: Any) -> Any:
    """A callback calling `tuner.on_epoch_begin/end` and `on_batch_begin/end` for `trial`."""
    return _classes()[1](tuner, trial)


def make_pruning_callback(trial: Any, objective: Objective) -> Any:
    """A callback reporting the objective of each epoch (`trial.report(epoch, value)`) and
    stopping training (`model.stop_training = True`) when `trial.should_prune()`.

    Epochs whose logs lack the objective are skipped, and so are those of a
    training run that starts over at an epoch already reported (a second
    `fit` without `initial_epoch`): the pruner judges the first run.
    """
    return _classes()[3](trial, objective)


@functools.lru_cache(maxsize=None)
def shared_callback_class() -> type:
    """The base class of the tuner's own Keras callbacks: one object per trial, shared
    rather than copied, marked built-in, and settable with `callback.model = model`."""
    import keras

    class _Shared(keras.callbacks.Callback):
        """A tuner's callback: one object per trial, shared rather than copied."""

        _e2etune_builtin = True

        def __copy__(self) -> "_Shared":
            return self

        def __deepcopy__(self, memo: dict) -> "_Shared":
            return self

        @property
        def model(self) -> Any:
            return self._model

        @model.setter
        def model(self, model: Any) -> None:
            # Custom training loops assign `callback.model = model` (Keras 3 has no setter).
            self.set_model(model)

    return _Shared


@functools.lru_cache(maxsize=None)
def _classes() -> tuple[type, type, type, type]:
    _Shared = shared_callback_class()

    class SaveBestEpoch(_Shared):
        """Keeps the best epoch of the best training run of a trial (see `make_checkpoint`)."""

        def __init__(self, objective: Objective, trial_dir: str, whole_model: bool = True) -> None:
            super().__init__()
            self.objective = objective
            self.trial_dir = trial_dir
            self.whole_model = whole_model
            self.whole_model_error: str | None = None
            #: Set when the trial was given to another worker: nothing more is saved.
            self.abandoned = False
            #: The best value of the trial's finished runs, None before any.
            self.best_value: float | None = None
            self._run_best: float | None = None
            self._run_weights: list | None = None
            self._best_is_last = False
            self._in_fit = False

        def on_train_begin(self, logs: dict | None = None) -> None:
            self._run_best, self._run_weights, self._best_is_last = None, None, False
            self._in_fit = True

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            value = objective_value(self.objective, logs)
            self._best_is_last = False
            if value is None:
                return
            if not self._in_fit:
                # A custom training loop calls only `on_epoch_end`: save each best epoch now.
                if self.best_value is None or self._better(value, self.best_value):
                    self.best_value = value
                    self._save(None)
                return
            if self._run_best is None or self._better(value, self._run_best):
                self._run_best, self._best_is_last = value, True
                self._run_weights = self.model.get_weights()

        def resume_run(self, run_best: float | None, run_weights: list | None) -> None:
            """Takes back, in a resumed training run, its best value and best weights so far."""
            self._run_best, self._run_weights = run_best, run_weights
            self._best_is_last = False

        def on_train_end(self, logs: dict | None = None) -> None:
            self._in_fit = False
            if self._run_best is None:
                if self.best_value is None:
                    self._save(None)
            elif self.best_value is None or self._better(self._run_best, self.best_value):
                self.best_value = self._run_best
                self._save(None if self._best_is_last else self._run_weights)
            self._run_weights = None

        def _better(self, a: float, b: float) -> bool:
            direction = self.objective.direction
            return a < b if direction == "min" else a > b

        def _save(self, weights: list | None) -> None:
            if self.abandoned:
                return
            model = self.model
            final = None
            if weights is not None:
                final = model.get_weights()
                model.set_weights(weights)
            try:
                error = save_trial_model(model, self.trial_dir, self.whole_model)
                self.whole_model_error = error or self.whole_model_error
            finally:
                if final is not None:
                    model.set_weights(final)

    class TrialHParams(_Shared):
        """Logs a run's hyperparameters for TensorBoard's HParams tab, and at its end the
        logs of its best epoch by the objective as `best_<metric>` scalars (in `best/`).

        The values are read when training starts, so those that `run_trial`
        declares before it calls `fit` are included.
        """

        def __init__(self, trial: Any, log_dir: str, objective: Objective | None) -> None:
            super().__init__()
            self.trial, self.log_dir, self.objective = trial, log_dir, objective
            self._session: Any = None
            self._best: tuple[float, dict] | None = None

        def on_train_begin(self, logs: dict | None = None) -> None:
            self._best = None
            values = {name: value for name, value in self.trial.hyperparameters.values.items()
                      if isinstance(value, (bool, int, float, str))}
            try:
                self._session = _hparams_api().KerasCallback(
                    self.log_dir, values, trial_id=str(self.trial.trial_id))
            except Exception:
                self._session = None
                return
            self._session.set_model(self.model)
            self._session.on_train_begin(logs)

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            value = None if self.objective is None else objective_value(self.objective, logs)
            if value is not None and (self._best is None or (
                    value < self._best[0] if self.objective.direction == "min"
                    else value > self._best[0])):
                self._best = (value, {k: float(v) for k, v in logs.items()
                                      if isinstance(v, (int, float)) or hasattr(v, "__float__")})

        def on_train_end(self, logs: dict | None = None) -> None:
            if self._best is not None:
                import tensorflow as tf

                writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "best"))
                with writer.as_default():
                    for name, value in self._best[1].items():
                        tf.summary.scalar(f"best_{name}", value, step=0)
                writer.close()
            if self._session is not None:
                self._session.on_train_end(logs)

    class TunerCallback(_Shared):
        """Calls the tuner's epoch and batch hooks with the trial and the model."""

        def __init__(self, tuner: Any, trial: Any) -> None:
            super().__init__()
            self.tuner = tuner
            self.trial = trial

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            self.tuner.on_epoch_begin(self.trial, self.model, epoch, logs=logs)

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            self.tuner.on_epoch_end(self.trial, self.model, epoch, logs=logs)

        def on_batch_begin(self, batch: int, logs: dict | None = None) -> None:
            self.tuner.on_batch_begin(self.trial, self.model, batch, logs=logs)

        def on_batch_end(self, batch: int, logs: dict | None = None) -> None:
            self.tuner.on_batch_end(self.trial, self.model, batch, logs=logs)

    class ReportAndPrune(_Shared):
        """Reports each epoch's objective and stops training once the trial is pruned."""

        def __init__(self, trial: Any, objective: Objective) -> None:
            super().__init__()
            self.trial, self.objective = trial, objective

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            value = objective_value(self.objective, logs)
            last = self.trial._last_step
            if value is None or (last is not None and epoch <= last):
                return
            self.trial.report(epoch, value)
            if self.trial.should_prune() and getattr(self, "_model", None) is not None:
                self.model.stop_training = True

    return SaveBestEpoch, TunerCallback, TrialHParams, ReportAndPrune

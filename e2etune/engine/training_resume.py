"""Saving a trial's training at every epoch, and taking it back after a crash (Keras side).

`make_state_callback` makes the built-in callback that a tuner adds to every
training run: at each epoch's end it saves the model's variables (weights,
and the state of random layers such as `Dropout`), the optimizer's, the
epoch's logs and the checkpoint's best values (`training_state.TrialProgress`).
When a `fit` starts where a crash interrupted one, it restores them (an
unbuilt model is built first) and makes Keras start at the next epoch
(`initial_epoch`); once that epoch begins it reports the earlier epochs
again to a pruner, and when the run ends it puts them back at the head of
the `History` that `fit` returns, so that the history has neither gaps nor
repeats. A `fit` that had ended before the crash, when a later one of the
same execution was running, returns at once with its history.

`restore` and `capture` are what `Trial.restore_training` and
`Trial.save_training` do for custom training loops.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import math
from typing import Any

import numpy as np

from e2etune.engine import callbacks as callbacks_module
from e2etune.engine.objective import Objective
from e2etune.engine.training_state import EpochArrays, ResumePoint

_LOG = logging.getLogger("e2etune")


class LeaseLost(RuntimeError):
    """This worker's trial was given to another worker while it trained: its run stops."""


def _optimizer_of(model: Any, optimizer: Any) -> Any:
    return optimizer if optimizer is not None else getattr(model, "optimizer", None)


def _numpy(value: Any) -> np.ndarray:
    """A variable's (or an array's) value as a numpy array."""
    return value.numpy() if hasattr(value, "numpy") else np.asarray(value)


def capture(model: Any, optimizer: Any = None) -> EpochArrays:
    """The variables of `model` and of `optimizer` (None: the model's own), and the model's
    build config."""
    optimizer = _optimizer_of(model, optimizer)
    variables = None
    if getattr(optimizer, "built", True) and hasattr(optimizer, "variables"):
        variables = [_numpy(v) for v in optimizer.variables]
    build_config = None
    with contextlib.suppress(Exception):
        build_config = model.get_build_config()
    return EpochArrays([_numpy(v) for v in model.variables], variables, build_config)


def _mismatch(saved: list[np.ndarray], current: list[Any], what: str) -> str | None:
    shapes = [tuple(v.shape) for v in current]
    if len(saved) != len(shapes):
        return f"{len(saved)} saved {what} arrays for {len(shapes)}"
    for index, (array, shape) in enumerate(zip(saved, shapes)):
        if array.shape != shape:
            return f"{what} array {index} has shape {array.shape}, not {shape}"
    return None


def _build(model: Any, arrays: EpochArrays) -> str | None:
    """Builds an unbuilt `model` as it was when saved; returns what went wrong, or None."""
    if getattr(model, "built", True) and model.variables:
        return None
    if not arrays.build_config:
        return ("the model is not built: give it an `Input`, or build it before training, "
                "so that its weights exist when training starts")
    try:
        model.build_from_config(arrays.build_config)
    except Exception as error:
        return f"the unbuilt model could not be built ({type(error).__name__}: {error})"
    return None


def fits(model: Any, point: ResumePoint, optimizer: Any = None, trial_id: Any = "") -> bool:
    """Whether the arrays of `point` fit `model` and `optimizer` (None: the model's own).

    An unbuilt model is built with its saved build config, and an unbuilt
    optimizer for the model's trainable variables. Warns when they do not
    fit (the model or the optimizer changed since they were saved).
    """
    optimizer = _optimizer_of(model, optimizer)
    problem = _build(model, point.arrays)
    if problem is None:
        problem = _mismatch(point.arrays.weights, model.variables, "model variable")
    if problem is None and optimizer is not None and point.arrays.optimizer is not None:
        if not getattr(optimizer, "built", True):
            optimizer.build(model.trainable_variables)
        problem = _mismatch(point.arrays.optimizer, list(optimizer.variables), "optimizer")
    if problem is not None:
        _LOG.warning("The saved training state of trial %s does not fit its model (%s). The "
                     "run trains from scratch.", trial_id, problem)
    return problem is None


def _assign(model: Any, arrays: EpochArrays, optimizer: Any) -> None:
    for variable, array in zip(model.variables, arrays.weights):
        variable.assign(array)
    optimizer = _optimizer_of(model, optimizer)
    if optimizer is not None and arrays.optimizer is not None:
        for variable, array in zip(optimizer.variables, arrays.optimizer):
            variable.assign(array)


def restore(model: Any, point: ResumePoint, optimizer: Any = None,
            trial_id: Any = "") -> EpochArrays | None:
    """Loads the arrays of `point` into `model` and `optimizer` (None: the model's own).

    Returns what they held before (to undo it), or None, changing nothing,
    when the saved arrays do not fit or cannot be loaded: the run then
    trains from scratch, with a warning.
    """
    if not fits(model, point, optimizer, trial_id):
        return None
    before = capture(model, optimizer)
    try:
        _assign(model, point.arrays, optimizer)
    except Exception as error:
        _assign(model, before, optimizer)
        _LOG.warning("The saved training state of trial %s cannot be loaded (%s: %s). The run "
                     "trains from scratch.", trial_id, type(error).__name__, error)
        return None
    return before


def replay_reports(trial: Any, point: ResumePoint, objective: Objective) -> None:
    """Reports the objective of the epochs before the crash again, for the oracle's pruner
    (the oracle dropped them when the trial started again)."""
    oracle = getattr(trial, "_oracle", None)
    if getattr(oracle, "pruner", None) is None:
        return
    for index, epoch in enumerate(point.epochs):
        logs = {name: values[index] for name, values in point.history.items()
                if values[index] is not None and not math.isnan(values[index])}
        value = callbacks_module.objective_value(objective, logs)
        last = trial._last_step
        if value is not None and (last is None or epoch > last):
            trial.report(epoch, value)


def merge_history(history: Any, point: ResumePoint) -> None:
    """Puts the epochs trained before the crash at the head of a `History`."""
    keys = list(point.history) + [k for k in history.history if k not in point.history]
    merged = {}
    for key in keys:
        earlier = point.history.get(key, [float("nan")] * len(point.epochs))
        merged[key] = list(earlier) + list(history.history.get(key, []))
    history.history = merged
    history.epoch = list(point.epochs) + list(getattr(history, "epoch", []))


def make_state_callback(run: Any) -> Any:
    """The callback saving the training state of `run` (a `TrialRun`) at each epoch's end
    and resuming an interrupted run (see the module's docstring)."""
    return _state_class()(run)


@functools.lru_cache(maxsize=None)
def _state_class() -> type:
    class SaveTrainingState(callbacks_module.shared_callback_class()):
        """Saves every epoch's end of a training run, and resumes an interrupted run.

        A `fit` that resumes is restored and told to start at the next epoch
        in `on_train_begin`; a loop that then starts at another epoch (a
        custom loop that ignores `initial_epoch`) gets its model back as it
        was, and trains from scratch.
        """

        def __init__(self, run: Any) -> None:
            super().__init__()
            self.run = run
            self._in_fit = False
            self._pending: ResumePoint | None = None
            self._before: EpochArrays | None = None
            self._resumed: ResumePoint | None = None
            self._history: Any = None
            self._cannot_save = False

        def on_train_begin(self, logs: dict | None = None) -> None:
            self._in_fit, self._resumed, self._pending = True, None, None
            self._history = getattr(self.model, "history", None)
            point = self.run.progress.begin_fit()
            if point is None:
                return
            epochs = (self.params or {}).get("epochs")
            if point.arrays is None:  # this `fit` ended before the crash: it returns at once
                if isinstance(epochs, int) and epochs > 0:
                    self.model._initial_epoch = epochs
                    self._resumed = point
                return
            run = self.run
            self._before = restore(self.model, point, run.optimizer, run.trial.trial_id)
            if self._before is None:
                return
            self.model._initial_epoch = point.initial_epoch  # read by `fit` after this hook
            self._pending = point
            if isinstance(epochs, int) and epochs <= point.initial_epoch:
                self._confirm()  # no epoch left to train: no epoch will begin

        def on_epoch_begin(self, epoch: int, logs: dict | None = None) -> None:
            if self._pending is None:
                return
            if epoch == self._pending.initial_epoch:
                self._confirm()
                return
            _LOG.info("Trial %s: the training run starts at epoch %d, not at %d where it "
                      "stopped, so it trains from scratch.", self.run.trial.trial_id, epoch,
                      self._pending.initial_epoch)
            _assign(self.model, self._before, self.run.optimizer)
            self._pending = self._before = None
            self.model._initial_epoch = None

        def _confirm(self) -> None:
            point, self._pending, self._before = self._pending, None, None
            run = self.run
            self._resumed = point
            run.checkpoint.resume_run(point.run_best, point.run_best_weights)
            replay_reports(run.trial, point, run.objective)
            _LOG.info("Trial %s resumes its training at epoch %d.", run.trial.trial_id,
                      point.initial_epoch)

        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            checkpoint, in_fit = self.run.checkpoint, self._in_fit
            self.run.stop_if_lost(epoch)
            if getattr(self, "_model", None) is None or self._cannot_save:
                return  # a custom loop that set no model, or a model without weights to save
            try:
                arrays = capture(self.model, self.run.optimizer)
            except Exception as error:
                self._cannot_save = True
                _LOG.warning("Trial %s: the training state of %s cannot be saved (%s: %s), so "
                             "this run cannot resume after a crash.", self.run.trial.trial_id,
                             type(self.model).__name__, type(error).__name__, error)
                return
            self.run.progress.save_epoch(
                epoch, logs, arrays, best_value=checkpoint.best_value,
                run_best=checkpoint._run_best if in_fit else None,
                best_is_this=in_fit and checkpoint._best_is_last)

        def on_train_end(self, logs: dict | None = None) -> None:
            self._in_fit, self._pending, self._before = False, None, None
            if getattr(self, "_model", None) is not None:
                self.model._initial_epoch = None
            history, resumed, self._resumed = self._history, self._resumed, None
            if "epochs" not in (self.params or {}) or not isinstance(
                    getattr(history, "history", None), dict):
                return  # a custom loop: no `History` of Keras' `fit` to complete
            if resumed is not None:
                merge_history(history, resumed)
            self.run.progress.end_fit(list(getattr(history, "epoch", [])), history.history)

    return SaveTrainingState

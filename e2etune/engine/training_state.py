"""The saved training progress of a running trial, so that it resumes after a crash.

While a trial trains, the tuner saves in `<trial folder>/training_state/`,
at the end of every epoch:

- `state.json`: the trial's attempt and values, the results of its
  finished executions, the `fit` calls of the execution in progress that
  ended (their histories) and the one in progress: the logs of each epoch
  it trained, and the checkpoint's best values;
- `<execution>-<fit>-<epoch>.npz`: the model's variables (weights, and the
  state of its random layers) and the optimizer's at the end of an epoch,
  with their dtypes. Two are kept: the last epoch, and the best epoch of the
  run in progress (which the checkpoint writes when the run ends).

Each file is written under a temporary name of its writer's, flushed to
disk and renamed over the old one, and an array file is deleted only once
`state.json` no longer names it: a kill at any instant leaves the last
complete epoch.

A trial that runs again after its process died (same attempt) resumes from
it; a trial retried after an error (a new attempt) starts afresh, and the
folder is deleted once the trial has ended. This module needs numpy only
(Keras results are rebuilt with Keras, imported then).
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import shutil
import uuid
from dataclasses import dataclass, field
from typing import Any, Mapping

import numpy as np

from e2etune.engine._state_files import (
    EpochArrays,
    decode_result,
    encode_result,
    load_arrays,
    loggable,
    number,
    plain_or_none,
    plain_values,
    save_arrays,
    write_atomically,
)

__all__ = ["EpochArrays", "ResumePoint", "STATE_DIR", "TrialProgress", "decode_result",
           "discard", "encode_result"]

#: The folder, inside a trial's folder, of its saved training progress.
STATE_DIR = "training_state"
_STATE_FILE = "state.json"
_FORMAT = 1
_ARRAY_FILE = re.compile(r"\d+-\d+-\d+\.npz")
_LOG = logging.getLogger("e2etune")


@dataclass
class ResumePoint:
    """Where a training run resumes: after `epoch`, with the run's earlier epochs' logs.

    For a `fit` that ended before the crash (a later one was running),
    `arrays` is None: it has nothing left to train, and the later `fit`
    restores the model.
    """

    #: The last saved epoch; training continues at `epoch + 1`.
    epoch: int
    #: The epochs trained before the crash, in order, and their logs metric by metric.
    epochs: list[int]
    history: dict[str, list[float]]
    #: The model and optimizer at the end of `epoch`.
    arrays: EpochArrays | None
    #: The checkpoint's best value of the run so far, and the weights of that epoch.
    run_best: float | None = None
    run_best_weights: list[np.ndarray] | None = field(default=None, repr=False)

    @property
    def initial_epoch(self) -> int:
        """The epoch to train next (Keras' `initial_epoch`)."""
        return self.epoch + 1


def discard(trial_dir: str) -> None:
    """Deletes a trial's saved training progress (once the trial has ended)."""
    shutil.rmtree(os.path.join(trial_dir, STATE_DIR), ignore_errors=True)


class TrialProgress:
    """The training progress of one attempt of a trial, kept in its folder.

    The tuner makes one when a trial starts (`open`), says when each
    execution and each `fit` begins, and saves every epoch's end; a trial
    that resumes gets back its finished executions (`result_of`) and,
    for the run the crash interrupted, where to continue (`begin_fit`).
    """

    def __init__(self, trial_dir: str, attempt: int, values: Mapping[str, Any] | None = None,
                 saved: dict[str, Any] | None = None) -> None:
        self.trial_dir = trial_dir
        self.folder = os.path.join(trial_dir, STATE_DIR)
        self.attempt = attempt
        self._saved = saved
        fresh = {"format": _FORMAT, "attempt": attempt, "values": plain_values(values),
                 "finished": [], "execution": 0, "fits": [], "fit": 0, "epochs": [],
                 "history": {}, "file": None, "build_config": None, "best_value": None,
                 "run_best": None, "run_best_file": None}
        self._state: dict[str, Any] = dict(saved) if saved else fresh
        #: Whose state it is: the worker that wrote it last (another that takes it over
        #: continues it; one whose state another took over stops writing).
        self._owner, self._resumed_owner = uuid.uuid4().hex, (saved or {}).get("owner")
        self._execution = 0
        self._fits = 0
        #: Whether the `fit` in progress comes before the one the saved state is of (it
        #: trains again, and must not overwrite that state).
        self._behind = False

    @classmethod
    def unsaved(cls, trial_dir: str, attempt: int) -> "TrialProgress":
        """Progress that is never written (a `run_trial` called outside a search)."""
        progress = cls(trial_dir, attempt)
        progress.folder = None
        return progress

    @classmethod
    def open(cls, trial_dir: str, attempt: int,
             values: Mapping[str, Any] | None = None) -> "TrialProgress":
        """The saved progress of this attempt of the trial, if any.

        Progress saved by another attempt, for other hyperparameter `values`
        (a trial of another search left in the folder), or unreadable, is
        deleted, and the trial starts afresh.
        """
        saved = None
        path = os.path.join(trial_dir, STATE_DIR, _STATE_FILE)
        if os.path.exists(path):
            try:
                with open(path, encoding="utf-8") as file:
                    saved = json.load(file)
                if saved.get("format") != _FORMAT:
                    raise ValueError(f"format {saved.get('format')!r}")
            except (OSError, ValueError) as error:
                _LOG.warning("The saved training state in %s cannot be read (%s); the trial "
                             "starts afresh.", path, error)
                saved = None
            if saved is not None and (saved.get("attempt") != attempt or not _same_values(
                    saved.get("values") or {}, plain_values(values))):
                saved = None  # a retry after an error, or another search's trial
            if saved is None:
                discard(trial_dir)
        progress = cls(trial_dir, attempt, values, saved)
        if saved is not None:
            progress._write_state()  # this worker's now: a worker it took over from stops
        return progress

    @property
    def resuming(self) -> bool:
        """Whether the trial has saved progress to go on from."""
        return self._saved is not None

    @property
    def best_value(self) -> float | None:
        """The checkpoint's best value over the trial's finished executions."""
        return self._state["best_value"]

    @property
    def execution(self) -> int:
        """The execution in progress."""
        return self._execution

    def result_of(self, execution: int) -> tuple[bool, Any]:
        """`(True, result)` for an execution that finished before the crash, else
        `(False, None)`."""
        finished = self._state["finished"]
        if execution < len(finished):
            return True, decode_result(finished[execution])
        return False, None

    def begin_execution(self, execution: int) -> None:
        """Starts the count of `fit` calls of `execution`."""
        self._execution, self._fits = execution, 0

    def begin_fit(self) -> ResumePoint | None:
        """Counts a new `fit` of the execution; returns where it resumes, or None (from scratch)."""
        fit, self._fits = self._fits, self._fits + 1
        state = self._state
        self._behind = (self._saved is not None and state["execution"] == self._execution
                        and fit < state["fit"])
        if self._behind and fit < len(state["fits"]):
            ended = state["fits"][fit]
            if ended["epochs"]:
                return ResumePoint(epoch=ended["epochs"][-1], epochs=list(ended["epochs"]),
                                   history={k: list(v) for k, v in ended["history"].items()},
                                   arrays=None)
        return self._point(fit)

    def end_fit(self, epochs: list[int], history: Mapping[str, list]) -> None:
        """Records the whole history of the `fit` that ended: resumed, it returns at once."""
        if self._behind or not self._writable():
            return
        state, fit = self._state, self._fits - 1
        if state["execution"] != self._execution:
            return  # it trained no epoch
        del state["fits"][fit:]
        state["fits"].extend([{"epochs": [], "history": {}}] * (fit - len(state["fits"])))
        state["fits"].append({"epochs": [int(e) for e in epochs],
                              "history": {k: [number(v) for v in values]
                                          for k, values in history.items()}})
        self._write_state()

    def resume_point(self) -> ResumePoint | None:
        """Where a custom loop of the execution in progress resumes (None: from scratch)."""
        return self._point(self._state["fit"])

    def _point(self, fit: int) -> ResumePoint | None:
        state = self._state
        if (self._saved is None or state["file"] is None or state["execution"] != self._execution
                or state["fit"] != fit):
            return None
        try:
            arrays = load_arrays(os.path.join(self.folder, state["file"]))
            best = None
            if state["run_best_file"]:
                best = load_arrays(os.path.join(self.folder, state["run_best_file"])).weights
        except (OSError, ValueError, KeyError) as error:
            _LOG.warning("The saved training state in %s cannot be read (%s); the run starts "
                         "afresh.", self.folder, error)
            return None
        arrays.build_config = state.get("build_config")
        return ResumePoint(epoch=state["epochs"][-1], epochs=list(state["epochs"]),
                           history={k: list(v) for k, v in state["history"].items()},
                           arrays=arrays, run_best=state["run_best"], run_best_weights=best)

    def save_epoch(self, epoch: int, logs: Mapping[str, Any] | None, arrays: EpochArrays,
                   best_value: float | None, run_best: float | None, best_is_this: bool) -> None:
        """Saves the end of `epoch` of the run in progress: its logs, `arrays`, and the
        checkpoint's values (`best_is_this`: this epoch is the run's best so far)."""
        if self._behind or not self._writable():
            return
        state = self._state
        fit = max(self._fits - 1, 0)
        if state["execution"] != self._execution:
            state.update(execution=self._execution, fits=[])
            self._new_run(fit)
        elif state["fit"] != fit or state["epochs"] and epoch <= state["epochs"][-1]:
            self._new_run(fit)  # a new `fit`, or one that went back: it starts over
        name = f"{self._execution}-{fit}-{epoch}.npz"
        os.makedirs(self.folder, exist_ok=True)
        write_atomically(os.path.join(self.folder, name), lambda file: save_arrays(file, arrays))
        state["epochs"].append(int(epoch))
        for key, value in loggable(logs).items():
            # A metric missing from earlier epochs (`validation_freq`) is padded with NaN.
            column = state["history"].setdefault(key, [math.nan] * (len(state["epochs"]) - 1))
            column.append(value)
        for column in state["history"].values():
            column.extend([math.nan] * (len(state["epochs"]) - len(column)))
        state.update(file=name, build_config=plain_or_none(arrays.build_config),
                     best_value=best_value, run_best=run_best)
        if best_is_this:
            state["run_best_file"] = name
        self._write_state()

    def end_execution(self, result: Any, best_value: float | None) -> None:
        """Records the result of the execution in progress (it will not run again) and the
        checkpoint's best value over the finished executions."""
        if not self._writable():
            return
        state = self._state
        del state["finished"][self._execution:]
        state["finished"].append(encode_result(result))
        state.update(execution=self._execution + 1, fits=[], best_value=best_value)
        self._new_run(0)
        self._write_state()

    def _new_run(self, fit: int) -> None:
        """Forgets the saved run of the execution in progress: `fit` starts afresh."""
        self._state.update(fit=fit, epochs=[], history={}, file=None, run_best=None,
                           run_best_file=None)

    def discard(self) -> None:
        """Deletes the saved progress once the trial has ended, unless another worker took
        the trial over (a shared folder, this worker's lease lost)."""
        if self._writable():
            discard(self.trial_dir)

    def _writable(self) -> bool:
        """Whether this progress is saved, and the saved state is still this worker's."""
        if self.folder is None:
            return False
        try:
            with open(os.path.join(self.folder, _STATE_FILE), encoding="utf-8") as file:
                owner = json.load(file).get("owner")
        except (OSError, ValueError):
            return True
        if owner in (self._owner, self._resumed_owner, None):
            return True
        _LOG.warning("The training state of the trial in %s is now written by another worker "
                     "(which took the trial over); this one stops saving it.", self.trial_dir)
        self.folder = None
        return False

    def _write_state(self) -> None:
        os.makedirs(self.folder, exist_ok=True)
        self._state["owner"] = self._owner
        text = json.dumps(self._state).encode("utf-8")
        write_atomically(os.path.join(self.folder, _STATE_FILE), lambda file: file.write(text))
        keep = {self._state["file"], self._state["run_best_file"]}
        for name in os.listdir(self.folder):
            if _ARRAY_FILE.fullmatch(name) and name not in keep:
                with contextlib.suppress(OSError):
                    os.remove(os.path.join(self.folder, name))


def _same_values(saved: Mapping[str, Any], current: Mapping[str, Any]) -> bool:
    """Whether the values saved when the trial started are the trial's (which may since
    have more: those `run_trial` declared)."""
    return all(name in current and current[name] == value for name, value in saved.items())

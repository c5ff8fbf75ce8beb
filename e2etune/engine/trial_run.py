"""`TrialRun`: what the training runs of one trial share while the trial runs."""

from __future__ import annotations

from typing import Any

from e2etune.engine import callbacks as callbacks_module
from e2etune.engine.objective import Objective
from e2etune.engine.training_state import TrialProgress
from e2etune.engine.trial import Trial


class TrialRun:
    """The user's callbacks, the checkpoint and the saved progress of one running trial.

    Args:
        trial: The trial.
        user_callbacks: The callbacks given to `search()`.
        progress: The trial's saved training progress (see `training_state`).
        objective: The search's objective (the checkpoint and the pruner rank epochs by it).
    """

    def __init__(self, trial: Trial, user_callbacks: list, progress: TrialProgress,
                 objective: Objective) -> None:
        self.trial = trial
        self.user_callbacks = user_callbacks
        self.progress = progress
        self.objective = objective
        #: The trial's checkpoint callback, made with its first training run.
        self.checkpoint: Any = None
        #: Whether the built-in `run_trial` ran the executions.
        self.builtin_ran = False
        #: The optimizer of a custom training loop (`Trial.restore_training`).
        self.optimizer: Any = None
        self._copies: dict[int, tuple[Any, Any]] = {}

    def remember_copies(self, copies: list, originals: list) -> None:
        """Notes which user callback each copy was made from."""
        for copied, original in zip(copies, originals):
            self._copies[id(copied)] = (copied, original)

    def originals(self, callbacks: Any) -> list:
        """The user's own callbacks behind `callbacks` (copies mapped back, the tuner's dropped)."""
        if callbacks is None:
            return []
        found = []
        for callback in callbacks:
            if callbacks_module.is_builtin(callback):
                continue
            entry = self._copies.get(id(callback))
            found.append(entry[1] if entry and entry[0] is callback else callback)
        return found

    def best_value(self) -> float | None:
        """The checkpoint's best value over the trial's finished runs."""
        if self.checkpoint is not None:
            return self.checkpoint.best_value
        return self.progress.best_value

    def stop_if_lost(self, epoch: int) -> None:
        """Stops the run at the end of `epoch` when the oracle gave the trial to another
        worker (this one was taken for dead): nothing more of it is saved.

        Raises:
            LeaseLost: when the trial was given away.
        """
        oracle = self.trial._oracle  # None for a `run_trial` called outside a search
        if oracle is None or not oracle.lease_lost(self.trial.trial_id):
            return
        from e2etune.engine import training_resume

        if self.checkpoint is not None:
            self.checkpoint.abandoned = True  # the trial's files are the new holder's now
        raise training_resume.LeaseLost(
            f"Trial {self.trial.trial_id} was given to another worker while this one trained "
            f"it (this one was taken for dead): training stopped at epoch {epoch}, and "
            "nothing of it is saved.")

    def finished(self, execution: int) -> tuple[bool, Any]:
        """`(True, result)` when `execution` finished before a crash; else starts it."""
        done, result = self.progress.result_of(execution)
        if not done:
            self.progress.begin_execution(execution)
        return done, result

    def end_execution(self, result: Any, executions: int) -> None:
        """Saves the result of the execution that ended, unless it was the trial's last."""
        if self.progress.execution + 1 < executions:
            try:
                self.progress.end_execution(result, self.best_value())
            except TypeError:  # a result that cannot be saved: the execution may run again
                pass

    def restore(self, model: Any, optimizer: Any = None) -> int:
        """`Trial.restore_training`: loads the saved state of the run in progress into
        `model` and `optimizer`; returns the epoch to train next (0: from scratch)."""
        from e2etune.engine import training_resume

        if optimizer is not None:
            self.optimizer = optimizer
        point = self.progress.resume_point()
        if point is None or not training_resume.restore(
                model, point, self.optimizer, self.trial.trial_id):
            return 0
        training_resume.replay_reports(self.trial, point, self.objective)
        return point.initial_epoch

    def save(self, model: Any, epoch: int, logs: Any = None, optimizer: Any = None) -> None:
        """`Trial.save_training`: saves the end of `epoch` of a custom training loop.

        Raises:
            LeaseLost: when the trial was given to another worker (stop training it).
        """
        from e2etune.engine import training_resume

        self.stop_if_lost(epoch)

        arrays = training_resume.capture(model, optimizer or self.optimizer)
        self.progress.save_epoch(epoch, logs, arrays, best_value=self.best_value(),
                                 run_best=None, best_is_this=False)

"""`Trial`: one point of the search space, its status and its metrics."""

from __future__ import annotations

import math
import uuid
from typing import Any, Mapping

from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.metrics import MetricsTracker
from e2etune.protos import e2etune_pb2


class TrialStatus:
    """The states of a trial, as KerasTuner names them."""

    #: Being run by a worker.
    RUNNING = "RUNNING"
    #: Created but not started (used by algorithms that queue trials).
    IDLE = "IDLE"
    #: Ended without a usable score (e.g. a NaN objective).
    INVALID = "INVALID"
    #: Stopped early by the algorithm.
    STOPPED = "STOPPED"
    #: Ended with a score.
    COMPLETED = "COMPLETED"
    #: Ended with an error, after any retries.
    FAILED = "FAILED"
    #: Stopped early by the pruner; its score is its last reported value.
    PRUNED = "PRUNED"

    ALL = (RUNNING, IDLE, INVALID, STOPPED, COMPLETED, FAILED, PRUNED)
    #: The statuses of a trial that is over and never runs again.
    ENDED = (INVALID, STOPPED, COMPLETED, FAILED, PRUNED)
    #: The lifecycle: the statuses each status may change to. A new trial is
    #: RUNNING; IDLE is a trial waiting in the queue (to be retried, or run
    #: again after an interruption or the death of its worker); the ended
    #: statuses are final.
    TRANSITIONS = {
        IDLE: (RUNNING,),
        RUNNING: (IDLE, COMPLETED, INVALID, STOPPED, FAILED, PRUNED),
        COMPLETED: (),
        INVALID: (),
        STOPPED: (),
        FAILED: (),
        PRUNED: (),
    }

    @staticmethod
    def check_transition(trial_id: str, old: str, new: str) -> None:
        """Raises `ValueError` unless a trial may go from status `old` to `new`."""
        if new not in TrialStatus.TRANSITIONS.get(old, ()):
            allowed = ", ".join(TrialStatus.TRANSITIONS.get(old, ())) or "none: it has ended"
            raise ValueError(
                f"Trial {trial_id} is {old} and cannot become {new} (allowed: {allowed}).")

    @staticmethod
    def to_proto(status: str | None) -> int:
        """The protobuf enum value of a status (None: unspecified)."""
        if status is None:
            return e2etune_pb2.TRIAL_STATUS_UNSPECIFIED
        if status not in TrialStatus.ALL:
            raise ValueError(
                f"Unknown status {status!r}; a trial status is one of {', '.join(TrialStatus.ALL)}.")
        return e2etune_pb2.TrialStatus.Value(status)

    @staticmethod
    def from_proto(value: int) -> str | None:
        """The status of a protobuf enum value (None for unspecified)."""
        if value == e2etune_pb2.TRIAL_STATUS_UNSPECIFIED:
            return None
        try:
            name = e2etune_pb2.TrialStatus.Name(value)
        except ValueError:
            name = None
        if name not in TrialStatus.ALL:
            raise ValueError(f"Unknown status {value!r}: no trial status has that protobuf value.")
        return name


class Trial:
    """One configuration tried by the search.

    Attributes:
        trial_id: Unique id; `tuner.get_trial_dir(trial_id)` is its folder.
        hyperparameters: The `HyperParameters` of this trial.
        status: One of the `TrialStatus` values.
        score: The objective's value, or None until it ends with one.
        best_step: The step (epoch) where the score was reached.
        metrics: A `MetricsTracker` of everything recorded.
        message: The error of a failed trial, with its traceback.

    Args:
        hyperparameters: The trial's `HyperParameters`.
        trial_id: Its id; the oracle assigns one (None: a random id).
        status: Initial status; defaults to RUNNING.
        message: Optional message.

    A running trial given by an oracle reports its objective as it trains
    (`report`) and asks whether to stop (`should_prune`):

        >>> for epoch in range(epochs):
        ...     val_loss = train_one_epoch()
        ...     trial.report(epoch, val_loss)
        ...     if trial.should_prune():
        ...         raise e2etune.errors.TrialPruned()
    """

    # Class-level defaults: a trial read again from the storage must not
    # overwrite what the running process keeps on its own object.
    #: The oracle running the trial (set by the oracle or the tuner).
    _oracle: Any = None
    #: The last step this run reported, None before its first report.
    _last_step: int | None = None
    #: Whether `should_prune` said yes during this run.
    _prune_requested: bool = False
    #: The Keras tuner's run of the trial in progress (`restore_training`, `save_training`).
    _training: Any = None

    def __init__(
        self,
        hyperparameters: HyperParameters,
        trial_id: str | None = None,
        status: str = TrialStatus.RUNNING,
        message: str | None = None,
    ) -> None:
        self.hyperparameters = hyperparameters
        # KerasTuner gives a trial made without an id a random one.
        self.trial_id = trial_id if trial_id is not None else uuid.uuid4().hex[:16]
        self.status = status
        self.message = message
        self.metrics = MetricsTracker()
        self.score: float | None = None
        self.best_step: int | None = 0
        #: How many times the trial was started.
        self.attempts = 0
        #: How many times the process running it died before it ended.
        self.crashes = 0
        #: The tuner (worker) running it, or that ran it last.
        self.tuner_id: str | None = None

    def summary(self) -> None:
        """Prints the trial's id, hyperparameters, score and message."""
        print(self.summary_text())

    def summary_text(self) -> str:
        """The text `summary()` prints."""
        lines = [f"Trial {self.trial_id} summary", "Hyperparameters:"]
        values = self.hyperparameters.values
        lines += [f"{name}: {value}" for name, value in values.items()] or ["default configuration"]
        if self.score is not None:
            lines.append(f"Score: {self.score}")
        if self.message:
            lines.append(self.message)
        return "\n".join(lines)

    def display_hyperparameters(self) -> str:
        """The trial's active values as `name=value` pairs."""
        return ", ".join(f"{name}={value}" for name, value in self.hyperparameters.values.items())

    # Pruning.

    def _attach(self, oracle: Any) -> None:
        """Makes `oracle` the one `report` and `should_prune` use, for a new run."""
        self._oracle = oracle
        self._last_step = None
        self._prune_requested = False

    def _running_oracle(self, what: str) -> Any:
        if self._oracle is None:
            raise RuntimeError(
                f"Trial {self.trial_id} cannot {what}: it was not given by an oracle. Call it "
                "on the trial that `run_trial` receives (or that `oracle.create_trial` returns).")
        if self.status != TrialStatus.RUNNING:
            raise RuntimeError(
                f"Trial {self.trial_id} cannot {what}: it is {self.status}, not RUNNING.")
        return self._oracle

    def report(self, step: int, value: float) -> None:
        """Records the objective's value at `step` (an epoch, say), committed at once.

        Other workers see it as soon as this returns, and the pruners compare
        trials by these values. Report each step once, in increasing order;
        a NaN is recorded (the trial then ends INVALID, as a NaN objective does).

        Raises:
            TypeError: for a step that is not an integer or a value that is not a number.
            ValueError: for a negative step, a step not after the last one
                reported, or an infinite value.
            RuntimeError: for a trial that is not running under an oracle.
        """
        oracle = self._running_oracle("report")
        if isinstance(step, bool) or not hasattr(step, "__index__"):
            raise TypeError(f"`step` must be an integer (an epoch, say); got {step!r}.")
        step = step.__index__()
        if isinstance(value, bool) or not hasattr(value, "__float__"):
            raise TypeError(f"`value` must be a number (the objective's value); got {value!r}.")
        value = float(value)
        if step < 0:
            raise ValueError(f"`step` must be >= 0; got {step}.")
        if self._last_step is not None and step <= self._last_step:
            raise ValueError(
                f"Trial {self.trial_id} reported step {self._last_step} already, so step {step} "
                "goes backwards: report each step once, in increasing order (for a second "
                "`fit`, pass `initial_epoch=` so that its epochs follow the first's).")
        if math.isinf(value):
            raise ValueError(
                f"Trial {self.trial_id} reported {value} at step {step}: the objective must be "
                "a finite number (a NaN is recorded, and the trial then ends INVALID).")
        oracle.update_trial(self.trial_id, {oracle.objective.name: value}, step=step)
        self._last_step = step

    def should_prune(self) -> bool:
        """Whether the oracle's pruner says to stop this trial now (False without a pruner).

        It compares the values this trial reported with those the other
        trials of the search reported (every worker's). When it answers True,
        stop training: raise `e2etune.errors.TrialPruned`, or return, and
        the trial ends PRUNED with its last reported value as its score.

        The oracle decides (`Oracle.should_prune`): on a worker of a
        distributed search, the chief's oracle, with the chief's pruner. Once
        it said yes, the answer stays yes for this run (without asking again).
        """
        oracle = self._running_oracle("ask whether to prune")
        if not self._prune_requested and oracle.should_prune(self.trial_id):
            self._prune_requested = True
        return self._prune_requested

    # Resuming custom training loops.

    def restore_training(self, model: Any, optimizer: Any = None) -> int:
        """Resumes a custom training loop after a crash: loads the trial's saved state into
        `model` and `optimizer`, and returns the epoch to train next (0 for a fresh run).

        Training with `model.fit(..., callbacks=callbacks)` (the `callbacks`
        that `run_trial` or `HyperModel.fit` receive) needs none of this: the
        trial resumes by itself. A loop of its own calls it once the model is
        built and before training, then trains from the epoch it returns;
        each epoch's end is saved when the loop calls the tuner's callbacks'
        `on_epoch_end` (with `callback.model = model`), or `save_training`.
        Both then save `optimizer` too.

        Example:
            >>> model, optimizer = make_model(trial.hyperparameters), keras.optimizers.Adam()
            >>> for epoch in range(trial.restore_training(model, optimizer), epochs):
            ...     loss = train_one_epoch(model, optimizer)
            ...     trial.save_training(model, epoch, {"loss": loss})

        Args:
            model: The trial's model, built (its weights exist).
            optimizer: The loop's optimizer; None: `model.optimizer`. An
                unbuilt one is built for the model's trainable variables.

        Raises:
            RuntimeError: for a trial that no Keras `Tuner` is running.
        """
        return self._training_run("restore its training").restore(model, optimizer)

    def save_training(self, model: Any, epoch: int, logs: Mapping[str, Any] | None = None,
                      optimizer: Any = None) -> None:
        """Saves the end of `epoch` of a custom training loop for `restore_training`:
        `model`'s weights, `optimizer`'s variables (None: the one given to
        `restore_training`, else `model.optimizer`) and the epoch's `logs`.
        The last epoch saved replaces the earlier ones, atomically.

        Raises:
            RuntimeError: for a trial that no Keras `Tuner` is running.
        """
        self._training_run("save its training").save(model, epoch, logs, optimizer)

    def _training_run(self, what: str) -> Any:
        if self._training is None:
            raise RuntimeError(
                f"Trial {self.trial_id} cannot {what}: no Keras `e2etune.Tuner` is running it. "
                "Call it inside `run_trial` or `HyperModel.fit`, on the trial they receive.")
        return self._training

    def to_proto(self) -> e2etune_pb2.Trial:
        """Returns the trial as a protobuf message."""
        proto = e2etune_pb2.Trial(
            trial_id=self.trial_id or "",
            hyperparameters=self.hyperparameters.to_proto(),
            status=TrialStatus.to_proto(self.status),
            best_step=self.best_step or 0,
            metrics=self.metrics.to_proto(),
            message=self.message or "",
            attempts=self.attempts,
            crashes=self.crashes,
            tuner_id=self.tuner_id or "",
        )
        if self.score is not None:
            proto.score = self.score
        return proto

    @classmethod
    def from_proto(cls, proto: e2etune_pb2.Trial) -> "Trial":
        """Makes a trial from its protobuf message."""
        status = TrialStatus.from_proto(proto.status)
        if status is None:
            raise ValueError(f"Saved trial {proto.trial_id!r} has no status; the state is damaged.")
        trial = cls(
            HyperParameters.from_proto(proto.hyperparameters),
            trial_id=proto.trial_id,
            status=status,
            message=proto.message or None,
        )
        trial.score = proto.score if proto.HasField("score") else None
        trial.best_step = proto.best_step
        trial.metrics = MetricsTracker.from_proto(proto.metrics)
        trial.attempts = proto.attempts
        trial.crashes = proto.crashes
        trial.tuner_id = proto.tuner_id or None
        return trial

    def get_state(self) -> dict[str, Any]:
        """The trial as a plain dict (KerasTuner's `get_state`)."""
        return {
            "trial_id": self.trial_id,
            "hyperparameters": self.hyperparameters.get_config(),
            "metrics": {
                name: {"direction": h.direction,
                       "observations": [{"value": o.value, "step": o.step} for o in h.get_history()]}
                for name, h in self.metrics.metrics.items()
            },
            "score": self.score,
            "best_step": self.best_step,
            "status": self.status,
            "message": self.message,
        }

    @property
    def has_finite_score(self) -> bool:
        """Whether the trial has a score that is a finite number."""
        return self.score is not None and math.isfinite(self.score)

    def __repr__(self) -> str:
        return f"Trial(trial_id={self.trial_id!r}, status={self.status!r}, score={self.score!r})"


def conclude(trial: Trial, status: str | None = None) -> None:
    """Gives `trial` the final status that `end_trial` records.

    `status` (KerasTuner's older `end_trial(trial_id, status)`) replaces the
    trial's ("COMPLETE" and "COMPLETED" both mean COMPLETED); a trial still
    RUNNING counts as COMPLETED.

    Raises:
        ValueError: when the status is not one a trial can end with.
    """
    if status is not None:
        trial.status = TrialStatus.COMPLETED if status.startswith("COMPLETE") else status
    if trial.status == TrialStatus.RUNNING:
        trial.status = TrialStatus.COMPLETED
    if trial.status not in TrialStatus.ENDED:
        raise ValueError(
            f"end_trial needs the trial's final status (one of {TrialStatus.ENDED}); "
            f"trial {trial.trial_id} has {trial.status!r}."
        )

"""`Trial`: one point of the search space, its status and its metrics."""

from __future__ import annotations

import math
import uuid
from typing import Any

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

    ALL = (RUNNING, IDLE, INVALID, STOPPED, COMPLETED, FAILED)
    #: The statuses of a trial that is over and never runs again.
    ENDED = (INVALID, STOPPED, COMPLETED, FAILED)
    #: The lifecycle: the statuses each status may change to. A new trial is
    #: RUNNING; IDLE is a trial waiting in the queue (to be retried, or run
    #: again after an interruption or the death of its worker); the ended
    #: statuses are final.
    TRANSITIONS = {
        IDLE: (RUNNING,),
        RUNNING: (IDLE, COMPLETED, INVALID, STOPPED, FAILED),
        COMPLETED: (),
        INVALID: (),
        STOPPED: (),
        FAILED: (),
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
    """

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

"""Metric histories of a trial: observations by step, each with its direction."""

from __future__ import annotations

import math
import sys
from typing import Any, Iterable

from e2etune.engine import objective
from e2etune.protos import e2etune_pb2

_DIRECTION_TO_PROTO = {"min": e2etune_pb2.MIN, "max": e2etune_pb2.MAX}
_PROTO_TO_DIRECTION = {v: k for k, v in _DIRECTION_TO_PROTO.items()}
#: Short names Keras logs that the name rules do not know.
_ALIASES = {"ce": "crossentropy"}
#: Modules whose functions are Keras losses (always minimized).
_KERAS_LOSS_MODULES = ("keras.losses", "keras.src.losses", "tf_keras.losses", "tf_keras.src.losses")


def infer_metric_direction(metric: Any) -> str | None:
    """Returns "min", "max" or None (unknown) for a metric.

    Args:
        metric: A metric's name (any case; `val_` and `weighted_` prefixes
            ignored), a Keras metric or loss function, or a Keras `Metric`
            or `Loss` object. Every Keras loss is minimized.

    Example:
        >>> infer_metric_direction("val_accuracy")
        'max'
    """
    if isinstance(metric, str):
        name = metric.lower()
        for prefix in ("val_", "weighted_"):
            name = name[len(prefix):] if name.startswith(prefix) else name
        return objective.infer_metric_direction(_ALIASES.get(name, name))
    if _is_keras_loss(metric):
        return "min"
    name = getattr(metric, "name", None) or getattr(metric, "__name__", None)
    return infer_metric_direction(name) if isinstance(name, str) else None


def _is_keras_loss(metric: Any) -> bool:
    """Whether `metric` is a Keras `Loss` or a function of `keras.losses` (Keras not imported)."""
    keras = sys.modules.get("keras")
    if keras is not None and isinstance(metric, keras.losses.Loss):
        return True
    if not callable(metric) or isinstance(metric, type):
        return False
    module = getattr(metric, "__module__", None) or ""
    return module.startswith(_KERAS_LOSS_MODULES)


class MetricObservation:
    """The values of one metric at one step (several when executions repeat).

    Args:
        value: A float or a list of floats.
        step: The step (epoch) of the observation.
    """

    def __init__(self, value: float | Iterable[float], step: int) -> None:
        self.value = [float(v) for v in value] if isinstance(value, (list, tuple)) else [float(value)]
        self.step = int(step)

    def append(self, value: float | Iterable[float]) -> None:
        """Adds values observed at the same step."""
        self.value.extend(float(v) for v in (value if isinstance(value, (list, tuple)) else [value]))

    def mean(self) -> float:
        """The mean of the values at this step."""
        return sum(self.value) / len(self.value)

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, MetricObservation)
            and self.step == other.step
            and self.value == other.value
        )

    def __repr__(self) -> str:
        return f"MetricObservation(value={self.value}, step={self.step})"


class MetricHistory:
    """All observations of one metric, in step order.

    Args:
        direction: "min" or "max": which values are better.
    """

    def __init__(self, direction: str = "min") -> None:
        if direction not in ("min", "max"):
            raise ValueError(f"A metric direction is 'min' or 'max'; got {direction!r}.")
        self.direction = direction
        self._observations: dict[int, MetricObservation] = {}

    def update(self, value: float | Iterable[float], step: int) -> None:
        """Records `value` at `step`, beside any value recorded there before."""
        if step in self._observations:
            self._observations[step].append(value)
        else:
            self._observations[step] = MetricObservation(value, step)

    def get_history(self) -> list[MetricObservation]:
        """The observations sorted by step."""
        return [self._observations[s] for s in sorted(self._observations)]

    def set_history(self, observations: list[MetricObservation]) -> None:
        """Replaces all observations."""
        self._observations = {o.step: o for o in observations}

    def _best(self) -> MetricObservation | None:
        finite = [o for o in self.get_history() if not math.isnan(o.mean())]
        if not finite:
            return None
        pick = min if self.direction == "min" else max
        return pick(finite, key=MetricObservation.mean)

    def get_best_value(self) -> float | None:
        """The best step-mean value, or None if nothing was recorded."""
        best = self._best()
        return None if best is None else best.mean()

    def get_best_step(self) -> int | None:
        """The step of the best value, or None if nothing was recorded."""
        best = self._best()
        return None if best is None else best.step

    def get_last_value(self) -> float | None:
        """The mean value at the last step, or None if nothing was recorded."""
        history = self.get_history()
        return history[-1].mean() if history else None

    def get_statistics(self) -> dict[str, float]:
        """Min, max, mean, median, var and std of the step means."""
        means = sorted(o.mean() for o in self.get_history())
        if not means:
            return {}
        mean = sum(means) / len(means)
        var = sum((m - mean) ** 2 for m in means) / len(means)
        mid = len(means) // 2
        median = means[mid] if len(means) % 2 else (means[mid - 1] + means[mid]) / 2
        return {"min": means[0], "max": means[-1], "mean": mean, "median": median,
                "var": var, "std": math.sqrt(var)}

    def to_proto(self, name: str) -> e2etune_pb2.MetricHistory:
        """Returns the history as a protobuf message."""
        return e2etune_pb2.MetricHistory(
            name=name,
            direction=_DIRECTION_TO_PROTO[self.direction],
            observations=[
                e2etune_pb2.MetricObservation(value=o.value, step=o.step) for o in self.get_history()
            ],
        )

    @classmethod
    def from_proto(cls, proto: e2etune_pb2.MetricHistory) -> "MetricHistory":
        """Makes a history from its protobuf message."""
        history = cls(_PROTO_TO_DIRECTION.get(proto.direction, "min"))
        history.set_history([MetricObservation(list(o.value), o.step) for o in proto.observations])
        return history


class MetricsTracker:
    """The metric histories of one trial, by metric name.

    Args:
        metrics: Optional names to register up front (direction inferred).
    """

    def __init__(self, metrics: Iterable[str] | None = None) -> None:
        self.metrics: dict[str, MetricHistory] = {}
        for name in metrics or []:
            self.register(name)

    def exists(self, name: str) -> bool:
        """Whether `name` has a history."""
        return name in self.metrics

    def register(self, name: str, direction: str | None = None) -> None:
        """Adds an empty history; the direction defaults to the inferred one, else "min"."""
        if name in self.metrics:
            raise ValueError(f"Metric {name!r} is already registered.")
        self.metrics[name] = MetricHistory(direction or infer_metric_direction(name) or "min")

    def update(self, name: str, value: Any, step: int = 0) -> None:
        """Records a value of `name` at `step`, registering the metric if needed."""
        if name not in self.metrics:
            self.register(name)
        self.metrics[name].update(_as_float(value, name), step)

    def get_history(self, name: str) -> list[MetricObservation]:
        """The observations of `name` sorted by step."""
        return self._get(name).get_history()

    def set_history(self, name: str, observations: list[MetricObservation]) -> None:
        """Replaces the observations of `name`."""
        if name not in self.metrics:
            self.register(name)
        self.metrics[name].set_history(observations)

    def get_best_value(self, name: str) -> float | None:
        """The best value of `name` (None if it has none)."""
        return self._get(name).get_best_value()

    def get_best_step(self, name: str) -> int | None:
        """The step of the best value of `name`."""
        return self._get(name).get_best_step()

    def get_last_value(self, name: str) -> float | None:
        """The value of `name` at its last step."""
        return self._get(name).get_last_value()

    def get_direction(self, name: str) -> str:
        """"min" or "max" for `name`."""
        return self._get(name).direction

    def get_statistics(self, name: str) -> dict[str, float]:
        """Summary statistics of `name`'s step means."""
        return self._get(name).get_statistics()

    def _get(self, name: str) -> MetricHistory:
        try:
            return self.metrics[name]
        except KeyError:
            raise KeyError(
                f"No metric {name!r} was recorded (recorded: {sorted(self.metrics) or 'none'})."
            ) from None

    def to_proto(self) -> list[e2etune_pb2.MetricHistory]:
        """The histories as protobuf messages."""
        return [history.to_proto(name) for name, history in self.metrics.items()]

    @classmethod
    def from_proto(cls, protos: Iterable[e2etune_pb2.MetricHistory]) -> "MetricsTracker":
        """Makes a tracker from `MetricHistory` messages."""
        tracker = cls()
        for proto in protos:
            tracker.metrics[proto.name] = MetricHistory.from_proto(proto)
        return tracker


def _as_float(value: Any, name: str) -> float | list[float]:
    if isinstance(value, (list, tuple)):
        return [_as_float(v, name) for v in value]  # type: ignore[misc]
    if hasattr(value, "numpy"):
        value = value.numpy()
    try:
        return float(value)
    except (TypeError, ValueError):
        raise TypeError(f"Metric {name!r} must be a number; got {value!r}.") from None

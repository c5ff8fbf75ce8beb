"""Numerical hyperparameters: `Int` and `Float`, on linear or logarithmic scales."""

from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Callable, Sequence
from typing import Any

from e2etune.engine._values import _INT64_MAX, _INT64_MIN
from e2etune.engine.conditions import Parent
from e2etune.engine.hyperparameters.base import HyperParameter, bin_index
from e2etune.protos import e2etune_pb2

SAMPLINGS = ("linear", "log", "reverse_log")
_SAMPLING_TO_PROTO = {
    "linear": e2etune_pb2.LINEAR,
    "log": e2etune_pb2.LOG,
    "reverse_log": e2etune_pb2.REVERSE_LOG,
}
_PROTO_TO_SAMPLING = {v: k for k, v in _SAMPLING_TO_PROTO.items()}


def _log_ratio(a: float, b: float) -> float:
    """log(a / b) for positive a and b, also where the ratio overflows or underflows."""
    ratio = a / b
    if ratio == 0.0 or math.isinf(ratio):  # e.g. 1e300 / 1e-300
        return math.log(a) - math.log(b)
    return math.log(ratio)  # precise when a and b are close, unlike log(a) - log(b)


def _log_span(low: float, high: float) -> float:
    return _log_ratio(high, low)


def _log_scale(prob: float, low: float, high: float) -> float:
    """low * (high / low) ** prob, without overflow."""
    exponent = prob * _log_span(low, high)
    try:
        return low * math.exp(exponent)
    except OverflowError:  # tiny low, wide range: the factor overflows, the result does not
        return math.exp(math.log(low) + exponent)


def _effective(sampling: str, low: float, high: float) -> str:
    # Bounds a few ulps apart can have log(high / low) == 0: there the scales agree.
    return "linear" if sampling != "linear" and _log_span(low, high) == 0.0 else sampling


def to_unit(value: float, low: float, high: float, sampling: str) -> float:
    """Position of `value` in [low, high] on the sampling's scale, in [0, 1]."""
    if high == low:
        return 0.5
    value = min(max(value, low), high)
    sampling = _effective(sampling, low, high)
    if sampling == "linear":
        span = high - low
        if math.isinf(span):  # the range is wider than the largest float
            prob = (value / 2 - low / 2) / (high / 2 - low / 2)
        else:
            prob = (value - low) / span
    elif sampling == "log":
        prob = _log_ratio(value, low) / _log_span(low, high)
    else:
        mirrored = min(max((high - value) + low, low), high)
        prob = 1.0 - _log_ratio(mirrored, low) / _log_span(low, high)
    return min(max(prob, 0.0), 1.0)


def from_unit(prob: float, low: float, high: float, sampling: str) -> float:
    """The value at position `prob` of [low, high] on the sampling's scale."""
    prob = float(prob)
    if prob <= 0.0:
        return low
    if prob >= 1.0:
        return high
    sampling = _effective(sampling, low, high)
    if sampling == "linear":
        span = high - low
        if math.isinf(span):  # the range is wider than the largest float
            half = high / 2 - low / 2
            value = (low + prob * half) + prob * half
        else:
            value = low + prob * span
    elif sampling == "log":
        value = _log_scale(prob, low, high)
    else:
        value = (high - _log_scale(1.0 - prob, low, high)) + low
    return min(max(value, low), high)


class _Grid(Sequence):
    """The increasing values of a stepped hyperparameter, computed from their index.

    Behaves as the list of the values (indexing, `len`, `in`, equality with a
    list) without storing it, so `Int("seed", 0, 10**12, step=1)` costs
    nothing until a value is asked for.
    """

    def __init__(self, count: int, value_at: Callable[[int], Any]) -> None:
        #: Number of values; unlike `len()`, not limited to a C ssize_t.
        self.count = count
        self._value_at = value_at

    def __len__(self) -> int:
        return self.count  # OverflowError beyond sys.maxsize values, as for `range`

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[k] for k in range(*index.indices(self.count))]
        k = operator.index(index)
        if k < 0:
            k += self.count
        if not 0 <= k < self.count:
            raise IndexError(f"grid index {index} out of range for {self.count} values")
        return self._value_at(k)

    def nearest_index(self, value: float) -> int:
        """Index of the value closest to `value` (binary search)."""
        low, high = 0, self.count  # first index whose value is >= `value`
        while low < high:
            middle = (low + high) // 2
            if self._value_at(middle) < value:
                low = middle + 1
            else:
                high = middle
        candidates = [i for i in (low - 1, low) if 0 <= i < self.count]
        return min(candidates, key=lambda i: abs(self._value_at(i) - value))

    def __contains__(self, value: object) -> bool:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            return False
        return self[self.nearest_index(value)] == value

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, (str, bytes)):
            return self.count == len(other) and all(a == b for a, b in zip(self, other))
        return NotImplemented

    def __repr__(self) -> str:
        if self.count <= 20:
            return repr(list(self))
        head = ", ".join(repr(v) for v in self[:3])
        return f"[{head}, ..., {self[-1]!r}] ({self.count} values)"


class _Numerical(HyperParameter):
    """Shared range, step and sampling logic of `Int` and `Float`."""

    _number_type: type = float

    def __init__(
        self,
        name: str,
        min_value: Any,
        max_value: Any,
        step: Any = None,
        sampling: str | None = "linear",
        default: Any = None,
        conditions: Sequence[Parent] | None = None,
    ) -> None:
        super().__init__(name, conditions=conditions)
        self.min_value = self._number(min_value, "min_value")
        self.max_value = self._number(max_value, "max_value")
        self.step = None if step is None else self._number(step, "step")
        self.sampling = self._check_sampling(sampling)
        self._check_range()
        self._values_cache: list | None = None
        self._default = self.min_value if default is None else self._number(default, "default")
        if not self.min_value <= self._default <= self.max_value:
            raise ValueError(
                f"{self._describe()}: default {default!r} is outside "
                f"[{self.min_value}, {self.max_value}]. Pass a default within the range."
            )

    def _number(self, value: Any, what: str) -> Any:
        if isinstance(value, bool) or not isinstance(value, numbers.Real):
            raise TypeError(f"{self._describe()}: {what} must be a number; got {value!r}.")
        if not math.isfinite(value):
            raise ValueError(f"{self._describe()}: {what} must be finite; got {value!r}.")
        if self._number_type is int:
            if value != int(value):
                raise ValueError(
                    f"{self._describe()}: {what} must be an integer; got {value!r}. "
                    "Use `Float` for non-integer values."
                )
            if not _INT64_MIN <= int(value) <= _INT64_MAX:
                raise ValueError(
                    f"{self._describe()}: {what} {value!r} does not fit in 64 bits; "
                    f"use a value in [{_INT64_MIN}, {_INT64_MAX}]."
                )
            return int(value)
        return float(value)

    def _check_sampling(self, sampling: str | None) -> str:
        sampling = "linear" if sampling is None else str(sampling).lower()
        if sampling not in SAMPLINGS:
            raise ValueError(
                f"{self._describe()}: unknown sampling {sampling!r}. "
                f"Use one of {', '.join(map(repr, SAMPLINGS))}."
            )
        return sampling

    def _check_range(self) -> None:
        if self.min_value > self.max_value:
            raise ValueError(
                f"{self._describe()}: min_value ({self.min_value}) is greater than "
                f"max_value ({self.max_value}). Pass min_value <= max_value."
            )
        if self.step is not None and self.step <= 0:
            raise ValueError(f"{self._describe()}: step must be positive; got {self.step}.")
        if self.sampling != "linear":
            if self.min_value <= 0:
                raise ValueError(
                    f"{self._describe()}: {self.sampling} sampling needs min_value > 0; "
                    f"got {self.min_value}. Use sampling='linear' or a positive range."
                )
            if self.step is not None and self.step <= 1:
                raise ValueError(
                    f"{self._describe()}: with {self.sampling} sampling, step is a factor "
                    f"between successive values and must be greater than 1; got {self.step}."
                )
        if self.step is not None and self._grid_count() is None:
            raise ValueError(
                f"{self._describe()}: step {self.step} is too small for "
                f"[{self.min_value}, {self.max_value}]: the number of values overflows. "
                "Pass a larger step, or no step."
            )

    @property
    def values(self) -> Sequence | None:
        """The possible values in increasing order, or None for a continuous `Float`."""
        if self.step is None:
            return None
        if self._values_cache is None:
            self._values_cache = self._stepped_values()
        return self._values_cache

    def _stepped_values(self) -> Sequence:
        low, high, cast, count = self.min_value, self.max_value, self._number_type, self._grid_count()
        if self.sampling == "linear":
            # Clipped to the range: low + k * step may round past high.
            return _Grid(count, lambda k: min(cast(low + k * self.step), high))
        if self.sampling == "log":
            return _Grid(count, lambda k: min(cast(self._geometric(k)), high))
        # Mirrored grid, dense near high; its last value is high itself, exactly.
        last = count - 1
        return _Grid(count, lambda i: high if i == last
                     else max(cast((high - self._geometric(last - i)) + low), low))

    def _geometric(self, k: int) -> Any:
        """min_value * step**k: exact for `Int`, without overflow for `Float`."""
        try:
            return self.min_value * self.step**k
        except OverflowError:
            log_value = math.log(self.min_value) + k * math.log(self.step)
            return math.exp(min(log_value, math.log(self.max_value)))

    def _grid_count(self) -> int | None:
        """Number of values on the step grid; None if it overflows a float."""
        low, high, step = self.min_value, self.max_value, self.step
        if self._number_type is int:
            if self.sampling == "linear":
                return (high - low) // step + 1
            count, value = 1, low
            while value * step <= high:
                count, value = count + 1, value * step
            return count
        if self.sampling == "linear":
            span = high - low
            # Halves when the span overflows; 0.3 / 0.1 is 2.9999999999999996,
            # so a quotient within rounding of an integer counts as that integer.
            quotient = span / step if math.isfinite(span) else (high / 2 - low / 2) / step * 2
            tolerance = 1e-9
        else:
            quotient, tolerance = _log_span(low, high) / math.log(step), 1e-9
        if not math.isfinite(quotient):
            return None
        nearest = round(quotient)
        if abs(quotient - nearest) <= tolerance * max(1.0, quotient):
            return int(nearest) + 1
        return int(math.floor(quotient)) + 1

    def _nearest_index(self, value: float) -> int:
        return self.values.nearest_index(value)

    def prob_to_value(self, prob: float) -> Any:
        if self.step is not None:
            values = self.values
            return values[bin_index(prob, values.count)]
        return self._continuous_value(prob)

    def value_to_prob(self, value: Any) -> float:
        if self.step is not None:
            return (self._nearest_index(value) + 0.5) / self.values.count
        return self._continuous_prob(value)

    def validate_value(self, value: Any) -> Any:
        value = self._number(value, "value")
        if not self.min_value <= value <= self.max_value:
            raise ValueError(
                f"{self._describe()}: value {value!r} is outside "
                f"[{self.min_value}, {self.max_value}]."
            )
        return value

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(
            min_value=self.min_value, max_value=self.max_value, step=self.step, sampling=self.sampling
        )
        return config

    def _spec_to_proto(self) -> Any:
        spec_type = e2etune_pb2.IntSpec if self._number_type is int else e2etune_pb2.FloatSpec
        spec = spec_type(
            min_value=self.min_value,
            max_value=self.max_value,
            sampling=_SAMPLING_TO_PROTO[self.sampling],
            default=self.default,
        )
        if self.step is not None:
            spec.step = self.step
        return spec

    @classmethod
    def _from_spec(cls, name: str, spec: Any, conditions: list[Parent]) -> "_Numerical":
        return cls(
            name,
            spec.min_value,
            spec.max_value,
            step=spec.step if spec.HasField("step") else None,
            sampling=_PROTO_TO_SAMPLING.get(spec.sampling, "linear"),
            default=spec.default,
            conditions=conditions,
        )


class Int(_Numerical):
    """An integer hyperparameter in [min_value, max_value], both included.

    Args:
        name: Unique name of the hyperparameter.
        min_value: Smallest value (inclusive).
        max_value: Largest value (inclusive).
        step: Distance between successive values (a factor with log sampling);
            None means every integer in the range. Defaults to None.
        sampling: "linear" (default), "log" (dense near min_value) or
            "reverse_log" (dense near max_value).
        default: Value before tuning; defaults to min_value.
        conditions: `Parent` conditions for it to be active.

    Example:
        >>> hp = Int("units", 32, 512, step=2, sampling="log")
        >>> hp.values
        [32, 64, 128, 256, 512]
    """

    proto_field = "int_spec"
    _number_type = int

    def get_config(self) -> dict:
        config = super().get_config()
        if self.step is None and self.sampling == "linear":
            config["step"] = 1  # what no step means for integers, as KerasTuner shows it
        return config

    @property
    def values(self) -> Sequence:
        """Every possible value in increasing order."""
        if self.step is None:
            return range(self.min_value, self.max_value + 1)
        return super().values

    def _continuous_value(self, prob: float) -> int:
        value = from_unit(prob, self.min_value, self.max_value + 1, self.sampling)
        return min(int(math.floor(value)), self.max_value)

    def _continuous_prob(self, value: Any) -> float:
        return to_unit(value + 0.5, self.min_value, self.max_value + 1, self.sampling)

    def _nearest_index(self, value: float) -> int:
        if self.step is None:
            return int(value) - self.min_value
        return super()._nearest_index(value)

    def grid_values(self) -> list:
        """Every value; without a step and with log sampling, `Float.GRID_SIZE` values
        spread on the sampling's scale (as KerasTuner documents)."""
        if self.step is not None or self.sampling == "linear":
            return list(self.values)
        size = Float.GRID_SIZE
        return sorted({self._continuous_value(k / (size - 1)) for k in range(size)})

    def prob_to_value(self, prob: float) -> int:
        if self.step is None:
            return self._continuous_value(prob)
        return super().prob_to_value(prob)


class Float(_Numerical):
    """A float hyperparameter in [min_value, max_value].

    Args:
        name: Unique name of the hyperparameter.
        min_value: Smallest value (inclusive).
        max_value: Largest value (inclusive).
        step: Distance between successive values (a factor with log sampling);
            None (default) means continuous.
        sampling: "linear" (default), "log" (dense near min_value) or
            "reverse_log" (dense near max_value).
        default: Value before tuning; defaults to min_value.
        conditions: `Parent` conditions for it to be active.

    Example:
        >>> lr = Float("learning_rate", 1e-4, 1e-1, sampling="log")
    """

    proto_field = "float_spec"
    _number_type = float
    #: Number of values a grid search visits on a `Float` without a step.
    GRID_SIZE = 10

    def _continuous_value(self, prob: float) -> float:
        return from_unit(prob, self.min_value, self.max_value, self.sampling)

    def _continuous_prob(self, value: Any) -> float:
        return to_unit(float(value), self.min_value, self.max_value, self.sampling)

    def grid_values(self) -> list:
        """The stepped values, or the centers of `GRID_SIZE` equal parts of the range on the
        sampling's scale (as KerasTuner; a grid search tries the default first)."""
        if self.step is not None:
            return list(self.values)
        if self.min_value == self.max_value:
            return [self.min_value]
        size = self.GRID_SIZE
        return [self._continuous_value((k + 0.5) / size) for k in range(size)]

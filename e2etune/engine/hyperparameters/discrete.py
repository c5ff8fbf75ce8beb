"""Hyperparameters with a short list of values: `Choice`, `Boolean` and `Fixed`."""

from __future__ import annotations

import math
from typing import Any, Sequence

from e2etune.engine import _values
from e2etune.engine.conditions import Parent
from e2etune.engine.hyperparameters.base import HyperParameter, bin_index
from e2etune.protos import e2etune_pb2


class _Listed(HyperParameter):
    """A hyperparameter whose values are an explicit list; probabilities are equal bins."""

    def _index(self, value: Any) -> int:
        for index, candidate in enumerate(self.values):
            if _values.same_value(candidate, value):
                return index
        raise ValueError(
            f"{self._describe()}: value {value!r} is not one of the allowed values {self.values!r}."
        )

    def prob_to_value(self, prob: float) -> Any:
        return self.values[bin_index(prob, len(self.values))]

    def value_to_prob(self, value: Any) -> float:
        return (self._index(value) + 0.5) / len(self.values)

    def validate_value(self, value: Any) -> Any:
        return self.values[self._index(_values.to_python(value))]


class Choice(_Listed):
    """One value out of a list of ints, floats, strings or bools, all of one type.

    Args:
        name: Unique name of the hyperparameter.
        values: The possible values, without duplicates.
        ordered: Whether the order of `values` is meaningful to an optimizer;
            defaults to True for numbers and False otherwise.
        default: Value before tuning; defaults to the first value.
        conditions: `Parent` conditions for it to be active.

    Example:
        >>> Choice("activation", ["relu", "tanh"]).default
        'relu'
    """

    proto_field = "choice_spec"

    def __init__(
        self,
        name: str,
        values: Sequence[Any],
        ordered: bool | None = None,
        default: Any = None,
        conditions: Sequence[Parent] | None = None,
    ) -> None:
        super().__init__(name, conditions=conditions)
        self._choices = self._check_values(values)
        numeric = not isinstance(self._choices[0], (str, bool))
        if ordered and isinstance(self._choices[0], str):
            raise ValueError(
                f"{self._describe()}: ordered=True needs numbers, and the values "
                f"{self._choices!r} are strings; for them `ordered` must be `False` (or None)."
            )
        self.ordered = numeric if ordered is None else bool(ordered)
        if default is None:
            self._default = self._choices[0]
        else:
            self._default = self._validate_default(default)

    def _check_values(self, values: Sequence[Any]) -> list:
        if isinstance(values, (str, bytes)) or not hasattr(values, "__iter__"):
            raise TypeError(f"{self._describe()}: values must be a list; got {values!r}.")
        try:
            values = [_values.to_python(v) for v in values]
        except (TypeError, ValueError) as error:
            hint = " A Choice can contain only `int`, `float`, `str`, or `bool` values."
            hint = hint if isinstance(error, TypeError) else ""
            raise type(error)(f"{self._describe()}: {error}{hint}") from None
        if not values:
            raise ValueError(
                f"{self._describe()}: values is empty; `values` must be provided, "
                "with at least one value."
            )
        types = sorted({type(v).__name__ for v in values})
        if len(types) > 1:
            raise TypeError(
                f"{self._describe()}: values mix types ({', '.join(types)}) in {values!r}. "
                "A Choice can contain only one type of value."
            )
        if any(isinstance(v, float) and math.isnan(v) for v in values):
            raise ValueError(f"{self._describe()}: values contain NaN, which cannot be chosen.")
        duplicates = sorted({repr(v) for i, v in enumerate(values) if v in values[:i]})
        if duplicates:
            raise ValueError(
                f"{self._describe()}: duplicate values {', '.join(duplicates)} in {values!r}. "
                "List each value once."
            )
        return values

    def _validate_default(self, default: Any) -> Any:
        try:
            return self.validate_value(default)
        except (TypeError, ValueError):
            raise ValueError(
                f"{self._describe()}: default {default!r} is not one of the values "
                f"{self._choices!r}; the default value should be one of them."
            ) from None

    @property
    def values(self) -> list:
        """The possible values, in the order given."""
        return self._choices

    def grid_values(self) -> list:
        """The values in the order given (KerasTuner's grid order)."""
        return list(self._choices)

    def get_config(self) -> dict:
        config = super().get_config()
        config.update(values=list(self._choices), ordered=self.ordered)
        return config

    def _spec_to_proto(self) -> Any:
        return e2etune_pb2.ChoiceSpec(
            values=[_values.to_proto(v) for v in self._choices],
            ordered=self.ordered,
            default=_values.to_proto(self.default),
        )

    @classmethod
    def _from_spec(cls, name: str, spec: Any, conditions: list[Parent]) -> "Choice":
        return cls(
            name,
            [_values.from_proto(v) for v in spec.values],
            ordered=spec.ordered,
            default=_values.from_proto(spec.default),
            conditions=conditions,
        )


class Boolean(_Listed):
    """True or False.

    Args:
        name: Unique name of the hyperparameter.
        default: Value before tuning; defaults to False.
        conditions: `Parent` conditions for it to be active.
    """

    proto_field = "boolean_spec"

    def __init__(
        self, name: str, default: bool = False, conditions: Sequence[Parent] | None = None
    ) -> None:
        super().__init__(name, conditions=conditions)
        if not isinstance(default, bool) and not (hasattr(default, "dtype") and default.dtype == bool):
            raise _values.ValueTypeError(
                f"{self._describe()}: default must be a Python boolean, True or False; "
                f"got {default!r}."
            )
        self._default = bool(default)

    @property
    def values(self) -> list:
        """`[True, False]`, as KerasTuner lists them (grid search still tries False first)."""
        return [True, False]

    def grid_values(self) -> list:
        """`[False, True]`, sorted."""
        return [False, True]

    def prob_to_value(self, prob: float) -> bool:
        # False is the lower half of [0, 1], whatever the order of `values`.
        return bool(prob >= 0.5)

    def value_to_prob(self, value: Any) -> float:
        return 0.75 if self.validate_value(value) else 0.25

    def _spec_to_proto(self) -> Any:
        return e2etune_pb2.BooleanSpec(default=self.default)

    @classmethod
    def _from_spec(cls, name: str, spec: Any, conditions: list[Parent]) -> "Boolean":
        return cls(name, default=spec.default, conditions=conditions)


class Fixed(_Listed):
    """A hyperparameter that always has one value.

    Args:
        name: Unique name of the hyperparameter.
        value: The value: an int, float, str or bool.
        conditions: `Parent` conditions for it to be active.
    """

    proto_field = "fixed_spec"

    def __init__(self, name: str, value: Any, conditions: Sequence[Parent] | None = None) -> None:
        super().__init__(name, conditions=conditions)
        try:
            self.value = _values.to_python(value)
        except (TypeError, ValueError) as error:
            raise type(error)(f"{self._describe()}: {error}") from None
        self._default = self.value

    @property
    def values(self) -> list:
        """`[value]`."""
        return [self.value]

    def get_config(self) -> dict:
        config = super().get_config()
        del config["default"]
        config["value"] = self.value
        return config

    def _spec_to_proto(self) -> Any:
        return e2etune_pb2.FixedSpec(value=_values.to_proto(self.value))

    @classmethod
    def _from_spec(cls, name: str, spec: Any, conditions: list[Parent]) -> "Fixed":
        return cls(name, _values.from_proto(spec.value), conditions=conditions)

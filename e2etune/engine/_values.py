"""Hyperparameter values: the allowed Python types and their protobuf form."""

from __future__ import annotations

import math
import numbers
from typing import Any, Union

from e2etune.protos import e2etune_pb2

HyperValue = Union[int, float, str, bool]
_INT64_MIN, _INT64_MAX = -(2**63), 2**63 - 1


class ValueTypeError(TypeError, ValueError):
    """A hyperparameter value or default of the wrong type.

    A `TypeError`, and a `ValueError` too because KerasTuner raises that one
    there, so that code catching either keeps working.
    """


def to_python(value: Any) -> HyperValue:
    """Returns `value` as a plain Python int, float, str or bool (numpy scalars included).

    Raises:
        TypeError: for any other type.
        ValueError: for an int that does not fit in 64 bits (it could not be saved).
    """
    if isinstance(value, (bool, str)):
        return value
    if hasattr(value, "item") and not isinstance(value, (int, float)):
        value = value.item()
    if isinstance(value, bool):
        return value
    if isinstance(value, numbers.Integral):
        if not _INT64_MIN <= int(value) <= _INT64_MAX:
            raise ValueError(
                f"A hyperparameter value must fit in 64 bits; got {value!r}, outside "
                f"[{_INT64_MIN}, {_INT64_MAX}]."
            )
        return int(value)
    if isinstance(value, numbers.Real):
        return float(value)
    raise ValueTypeError(
        f"A hyperparameter value must be an int, float, str or bool; got {value!r} "
        f"of type {type(value).__name__}."
    )


def same_value(a: Any, b: Any) -> bool:
    """Equality that keeps bools apart from ints (True is not 1 here)."""
    if isinstance(a, bool) != isinstance(b, bool):
        return False
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return a == b


def to_proto(value: Any) -> e2etune_pb2.Value:
    """Returns the protobuf `Value` of a hyperparameter value."""
    value = to_python(value)
    if isinstance(value, bool):
        return e2etune_pb2.Value(boolean_value=value)
    if isinstance(value, int):
        return e2etune_pb2.Value(int_value=value)
    if isinstance(value, float):
        return e2etune_pb2.Value(float_value=value)
    return e2etune_pb2.Value(string_value=value)


def from_proto(proto: e2etune_pb2.Value) -> HyperValue:
    """Returns the Python value of a protobuf `Value`."""
    kind = proto.WhichOneof("kind")
    if kind is None:
        raise ValueError("A saved hyperparameter value is empty; the saved state is damaged.")
    return getattr(proto, kind)

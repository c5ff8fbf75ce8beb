"""Conditions that make a hyperparameter active only for some parent values."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

from e2etune.engine import _values
from e2etune.protos import e2etune_pb2


class Parent:
    """Active when the hyperparameter `name` has one of `values`.

    Args:
        name: Full name of the parent hyperparameter.
        values: The parent values under which the child is active. A single
            value is accepted as well as a list.

    Example:
        >>> Parent("model_type", ["cnn"]).is_active({"model_type": "cnn"})
        True
    """

    def __init__(self, name: str, values: Any) -> None:
        if not isinstance(values, (list, tuple)):
            values = [values]
        if not values:
            raise ValueError(
                f"The condition on parent {name!r} has no `parent_values`; "
                "give at least one value of the parent."
            )
        self.name = name
        self.values = [_values.to_python(v) for v in values]

    def is_active(self, values: Mapping[str, Any]) -> bool:
        """Whether the parent's value in `values` is one of this condition's values."""
        if self.name not in values:
            return False
        value = values[self.name]
        return any(_values.same_value(value, v) for v in self.values)

    def get_config(self) -> dict:
        """Returns the condition as a plain dict."""
        return {"class_name": "Parent", "config": {"name": self.name, "values": list(self.values)}}

    @classmethod
    def from_config(cls, config: dict) -> "Parent":
        """Makes a condition from `get_config()` output (with or without the class wrapper)."""
        config = config.get("config", config)
        return cls(config["name"], config["values"])

    def to_proto(self) -> e2etune_pb2.Condition:
        """Returns the condition as a protobuf message."""
        return e2etune_pb2.Condition(name=self.name, values=[_values.to_proto(v) for v in self.values])

    @classmethod
    def from_proto(cls, proto: e2etune_pb2.Condition) -> "Parent":
        """Makes a condition from its protobuf message."""
        return cls(proto.name, [_values.from_proto(v) for v in proto.values])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Parent) and self.name == other.name and self.values == other.values

    def __repr__(self) -> str:
        return f"Parent(name={self.name!r}, values={self.values!r})"


def all_active(conditions: Iterable[Parent], values: Mapping[str, Any]) -> bool:
    """Whether every condition holds for `values`."""
    return all(condition.is_active(values) for condition in conditions)

"""The `HyperParameter` base class shared by every hyperparameter type."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Sequence

from e2etune.engine.conditions import Parent
from e2etune.protos import e2etune_pb2

if TYPE_CHECKING:
    import numpy as np

def make_rng(seed: Any = None) -> "np.random.Generator":
    """Returns a numpy `Generator` from an int seed, a `Generator`, or None."""
    import numpy as np  # Imported here so that `import e2etune` stays fast.

    if isinstance(seed, np.random.Generator):
        return seed
    return np.random.default_rng(seed)


def bin_index(prob: float, n: int) -> int:
    """Index of the bin of `prob` when [0, 1] is cut into `n` equal bins."""
    return min(int(float(prob) * n), n - 1) if prob > 0 else 0


class HyperParameter:
    """A named hyperparameter with a default value and activation conditions.

    Every type maps its values to and from the unit interval
    (`value_to_prob`, `prob_to_value`), which is what the optimizers search;
    a uniform probability maps to a value drawn with the type's sampling.
    The base class itself holds only a name and a default (as KerasTuner's
    does); the types below it define the values.

    Args:
        name: The hyperparameter's name, unique within a search space.
        default: The value used before any optimizer chooses one.
        conditions: `Parent` conditions that must all hold for it to be active.
    """

    proto_field: ClassVar[str] = ""

    def __init__(self, name: str, default: Any = None, conditions: Sequence[Parent] | None = None):
        if not isinstance(name, str) or not name:
            raise ValueError(f"A hyperparameter name must be a non-empty string; got {name!r}.")
        self.name = name
        self.conditions = list(conditions or [])
        self._default = default

    @property
    def default(self) -> Any:
        """The value used when no optimizer has chosen one."""
        return self._default

    @property
    def values(self) -> list | None:
        """All possible values in order, or None for a continuous type."""
        return None

    @property
    def is_discrete(self) -> bool:
        """Whether the hyperparameter has a finite list of values."""
        return self.values is not None

    def random_sample(self, seed: Any = None) -> Any:
        """Draws a value with the type's sampling.

        Args:
            seed: An int seed, a numpy `Generator` to draw from, or None.
        """
        return self.prob_to_value(make_rng(seed).random())

    def prob_to_value(self, prob: float) -> Any:
        """Maps a number in [0, 1] to a value; uniform input gives the type's sampling."""
        raise self._not_a_type("prob_to_value")

    def value_to_prob(self, value: Any) -> float:
        """Maps a value to [0, 1]; the inverse of `prob_to_value` on its values."""
        raise self._not_a_type("value_to_prob")

    def validate_value(self, value: Any) -> Any:
        """Returns `value` as this type stores it, or raises `ValueError` naming what is allowed."""
        raise self._not_a_type("validate_value")

    def grid_values(self) -> list:
        """The values a grid search visits, sorted; `values` for discrete types."""
        return list(self.values)

    def get_config(self) -> dict:
        """Returns the constructor arguments as a plain dict (KerasTuner's format)."""
        config = {"name": self.name, "default": self.default}
        config["conditions"] = [c.get_config() for c in self.conditions]
        return config

    @classmethod
    def from_config(cls, config: dict) -> "HyperParameter":
        """Makes a hyperparameter from `get_config()` output."""
        config = dict(config)
        config["conditions"] = [Parent.from_config(c) for c in config.get("conditions", [])]
        return cls(**config)

    def _spec_to_proto(self) -> Any:
        """Returns the type-specific protobuf message."""
        raise self._not_a_type("to_proto")

    @classmethod
    def _from_spec(cls, name: str, spec: Any, conditions: list[Parent]) -> "HyperParameter":
        """Makes the hyperparameter from its type-specific protobuf message."""
        raise NotImplementedError(f"{cls.__name__} has no protobuf form; use a subclass.")

    def to_proto(self) -> Any:
        """Returns the type's protobuf message (`ChoiceSpec`...) with the name and conditions.

        This is KerasTuner's form (`proto.name`, `proto.values`, `proto.default`);
        `hyperparameter_from_proto` and `from_proto` read it back.
        """
        spec = self._spec_to_proto()
        spec.name = self.name
        spec.conditions.extend(c.to_proto() for c in self.conditions)
        return spec

    @classmethod
    def from_proto(cls, proto: Any) -> "HyperParameter":
        """Makes a hyperparameter from what `to_proto` returned."""
        return cls._from_spec(proto.name, proto, [Parent.from_proto(c) for c in proto.conditions])

    def _to_message(self) -> e2etune_pb2.HyperParameter:
        """Returns the hyperparameter as saved in a search space (a fresh copy each call)."""
        key = (self.name, tuple(repr(c) for c in self.conditions))
        cached = self.__dict__.get("_proto_cache")
        if cached is None or cached[0] != key:
            spec = self._spec_to_proto()
            proto = e2etune_pb2.HyperParameter(
                name=self.name, conditions=[c.to_proto() for c in self.conditions]
            )
            getattr(proto, self.proto_field).CopyFrom(spec)
            cached = self.__dict__["_proto_cache"] = (key, proto)
        copy = e2etune_pb2.HyperParameter()
        copy.CopyFrom(cached[1])
        return copy

    def _not_a_type(self, method: str) -> NotImplementedError:
        return NotImplementedError(
            f"{self._describe()}: the base `HyperParameter` has no values, so `{method}` "
            "is not defined; use Int, Float, Choice, Boolean or Fixed."
        )

    def _describe(self) -> str:
        return f"{type(self).__name__} {self.name!r}"

    def __eq__(self, other: object) -> bool:
        return type(self) is type(other) and self.get_config() == other.get_config()

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_config().items() if k != "conditions")
        return f"{type(self).__name__}({args})"

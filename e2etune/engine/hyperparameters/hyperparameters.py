"""`HyperParameters`: a search space and the current point in it."""

from __future__ import annotations

import contextlib
import functools
from typing import Any, Iterable, Iterator, Sequence

from e2etune.engine import _values
from e2etune.engine.conditions import Parent
from e2etune.engine.hyperparameters.base import HyperParameter
from e2etune.engine.hyperparameters.discrete import Boolean, Choice, Fixed
from e2etune.engine.hyperparameters.numerical import Float, Int
from e2etune.protos import e2etune_pb2

#: Hyperparameter classes by name, as they appear in configs.
TYPES: dict[str, type[HyperParameter]] = {
    cls.__name__: cls for cls in (Int, Float, Choice, Boolean, Fixed)
}
_TYPES_BY_FIELD = {cls.proto_field: cls for cls in TYPES.values()}
_TYPES_BY_SPEC = {
    e2etune_pb2.HyperParameter.DESCRIPTOR.fields_by_name[field].message_type.full_name: cls
    for field, cls in _TYPES_BY_FIELD.items()}


def deserialize(config: dict) -> HyperParameter:
    """Makes a hyperparameter from `{"class_name": ..., "config": ...}`."""
    name = config.get("class_name")
    if name not in TYPES:
        raise ValueError(f"Unknown hyperparameter type {name!r}; expected one of {sorted(TYPES)}.")
    return TYPES[name].from_config(config["config"])


def serialize(hp: HyperParameter) -> dict:
    """Returns `{"class_name": ..., "config": ...}` for a hyperparameter."""
    return {"class_name": type(hp).__name__, "config": hp.get_config()}


def hyperparameter_from_proto(proto: Any) -> HyperParameter:
    """Makes a hyperparameter from its protobuf message: a `HyperParameter` of a saved
    space, or the type's own message that `hp.to_proto()` returns.

    Hyperparameters are never changed after they are made, so one object is
    shared by every trial that saved the same definition: reloading a long
    search builds each definition once.
    """
    if not isinstance(proto, e2etune_pb2.HyperParameter):
        cls = _TYPES_BY_SPEC.get(type(proto).DESCRIPTOR.full_name)
        if cls is None:
            raise TypeError(f"{type(proto).__name__} is not the protobuf message of a hyperparameter.")
        return cls.from_proto(proto)
    return _from_serialized(proto.SerializeToString(deterministic=True))


@functools.lru_cache(maxsize=4096)
def _from_serialized(data: bytes) -> HyperParameter:
    proto = e2etune_pb2.HyperParameter.FromString(data)
    field = proto.WhichOneof("kind")
    if field is None:
        raise ValueError(f"The saved hyperparameter {proto.name!r} has no type; the state is damaged.")
    conditions = [Parent.from_proto(c) for c in proto.conditions]
    return _TYPES_BY_FIELD[field]._from_spec(proto.name, getattr(proto, field), conditions)


class _ActiveValues(dict):
    """A snapshot of the active values whose writes also reach the `HyperParameters`."""

    def __init__(self, owner: "HyperParameters", items: Iterable) -> None:
        super().__init__(items)
        self._owner = owner

    def __setitem__(self, name: str, value: Any) -> None:
        super().__setitem__(name, value)
        self._owner._values[name] = value

    def __delitem__(self, name: str) -> None:
        super().__delitem__(name)
        del self._owner._values[name]

    def update(self, *args: Any, **kwargs: Any) -> None:
        for name, value in dict(*args, **kwargs).items():
            self[name] = value


class HyperParameters:
    """A search space and the values of one point in it.

    Model-building code declares hyperparameters by calling `Int`, `Float`,
    `Choice`, `Boolean` or `Fixed`; each call returns the current value, so
    the same code runs unchanged for every trial. A second call with the same
    name returns the current value again.

    Example:
        >>> hp = HyperParameters()
        >>> hp.Int("units", 32, 256, step=32)
        32
        >>> with hp.conditional_scope("units", [32]):
        ...     hp.Boolean("dropout")
        False
    """

    def __init__(self) -> None:
        self._space: dict[str, HyperParameter] = {}
        self._values: dict[str, Any] = {}
        self._conditions: list[Parent] = []
        self._scopes: list[str] = []
        #: Whether code may declare hyperparameters that are not in the space yet.
        self.allow_new_entries = True
        #: Whether newly declared hyperparameters are tuned or fixed at their default.
        self.tune_new_entries = True

    # Declaring hyperparameters.

    def Int(self, name: str, min_value: int, max_value: int, step: int | None = None,
            sampling: str = "linear", default: int | None = None,
            parent_name: str | None = None, parent_values: Any = None) -> int | None:
        """Declares an `Int` and returns its current value (None when inactive)."""
        return self._declare(Int, name, parent_name, parent_values, min_value=min_value,
                             max_value=max_value, step=step, sampling=sampling, default=default)

    def Float(self, name: str, min_value: float, max_value: float, step: float | None = None,
              sampling: str = "linear", default: float | None = None,
              parent_name: str | None = None, parent_values: Any = None) -> float | None:
        """Declares a `Float` and returns its current value (None when inactive)."""
        return self._declare(Float, name, parent_name, parent_values, min_value=min_value,
                             max_value=max_value, step=step, sampling=sampling, default=default)

    def Choice(self, name: str, values: Sequence[Any], ordered: bool | None = None,
               default: Any = None, parent_name: str | None = None,
               parent_values: Any = None) -> Any:
        """Declares a `Choice` and returns its current value (None when inactive)."""
        return self._declare(Choice, name, parent_name, parent_values, values=values,
                             ordered=ordered, default=default)

    def Boolean(self, name: str, default: bool = False, parent_name: str | None = None,
                parent_values: Any = None) -> bool | None:
        """Declares a `Boolean` and returns its current value (None when inactive)."""
        return self._declare(Boolean, name, parent_name, parent_values, default=default)

    def Fixed(self, name: str, value: Any, parent_name: str | None = None,
              parent_values: Any = None) -> Any:
        """Declares a `Fixed` value and returns it (None when inactive)."""
        return self._declare(Fixed, name, parent_name, parent_values, value=value)

    def _declare(self, cls: type[HyperParameter], name: str, parent_name: str | None,
                 parent_values: Any, **kwargs: Any) -> Any:
        if (parent_name is None) != (parent_values is None):
            raise ValueError(
                f"{cls.__name__} {name!r}: `parent_name` and `parent_values` go together; "
                "pass both or neither."
            )
        conditions = list(self._conditions)
        if parent_name is not None:
            child = f"{cls.__name__} {self._scoped(name)!r}"
            conditions.append(self._condition(parent_name, parent_values, child))
        return self._register(cls(self._scoped(name), conditions=conditions, **kwargs))

    def _register(self, hp: HyperParameter) -> Any:
        existing = self._space.get(hp.name)
        if existing is not None:
            # The first declaration wins, whatever the type of a later one, as in KerasTuner:
            # that is how `hyperparameters` given to a tuner replace a hypermodel's own.
            return self._retrieve(existing)
        if not self.allow_new_entries:
            raise RuntimeError(
                f"Hyperparameter {hp.name!r} is not in the search space and "
                "`allow_new_entries=False`. Add it to the `hyperparameters` given to the "
                "tuner, or pass `allow_new_entries=True`."
            )
        if not self.tune_new_entries and not isinstance(hp, Fixed):
            hp = Fixed(hp.name, hp.default, conditions=hp.conditions)
        self._space[hp.name] = hp
        self._values.setdefault(hp.name, hp.default)
        return self._retrieve(hp)

    def _retrieve(self, hp: HyperParameter) -> Any:
        return self._values.get(hp.name, hp.default) if self.is_active(hp) else None

    # Scopes.

    def _scoped(self, name: str) -> str:
        return "/".join([*self._scopes, name])

    def _resolve(self, name: str) -> str:
        scoped = self._scoped(name)
        return scoped if scoped in self._space or scoped in self._values else name

    def _condition(self, parent_name: str, parent_values: Any, child: str | None = None) -> Parent:
        where = f"{child}: t" if child else "T"
        full_name = self._resolve(parent_name)
        parent = self._space.get(full_name)
        if parent is None:
            known = ", ".join(repr(n) for n in self._space) or "none"
            raise ValueError(
                f"{where}he parent hyperparameter {parent_name!r} is not defined (defined: "
                f"{known}). Declare it before the hyperparameters that depend on it."
            )
        condition = Parent(full_name, parent_values)
        for value in condition.values:
            try:
                parent.validate_value(value)
            except (TypeError, ValueError) as error:
                raise ValueError(
                    f"{where}he parent value {value!r} is not a possible value of "
                    f"{parent_name!r}: {error} Check `parent_values`."
                ) from None
        return condition

    @contextlib.contextmanager
    def name_scope(self, name: str) -> Iterator[None]:
        """Prefixes the names declared inside with `name/`."""
        self._scopes.append(name)
        try:
            yield
        finally:
            self._scopes.pop()

    @contextlib.contextmanager
    def conditional_scope(self, parent_name: str, parent_values: Any) -> Iterator[None]:
        """Makes hyperparameters declared inside active only when the parent has one of `parent_values`.

        Args:
            parent_name: Name of an already declared hyperparameter.
            parent_values: A value or list of values of the parent.
        """
        self._conditions.append(self._condition(parent_name, parent_values))
        try:
            yield
        finally:
            self._conditions.pop()

    # Reading values.

    def is_active(self, hyperparameter: HyperParameter | str) -> bool:
        """Whether a hyperparameter (or name) has all its conditions, and its parents', met."""
        hp = hyperparameter
        if isinstance(hp, str):
            hp = self._space.get(self._resolve(hp))
            if hp is None:
                return self._resolve(hyperparameter) in self._values
        for condition in hp.conditions:
            parent = self._space.get(condition.name)
            if parent is None or not self.is_active(parent) or not condition.is_active(self._values):
                return False
        return True

    def get(self, name: str) -> Any:
        """Returns the current value of `name`, or None when it is inactive.

        Raises:
            KeyError: when no hyperparameter of that name was declared.
        """
        full_name = self._resolve(name)
        if full_name in self._space:
            return self._retrieve(self._space[full_name])
        if full_name in self._values:
            return self._values[full_name]
        known = ", ".join(repr(n) for n in self._space) or "none"
        raise KeyError(
            f"Hyperparameter {name!r} is not defined (defined: {known}). Declare it with "
            "hp.Int/Float/Choice/Boolean/Fixed before reading it with hp.get."
        )

    def __getitem__(self, name: str) -> Any:
        return self.get(name)

    def __contains__(self, name: str) -> bool:
        full_name = self._resolve(name)
        return full_name in self._space or full_name in self._values

    # A read-only mapping of the active values, so that `train(**hp)` works.

    def keys(self) -> list[str]:
        """The names of the active values (`dict(hp)` and `f(**hp)` use them)."""
        return list(self.values)

    def items(self) -> list[tuple[str, Any]]:
        """The active values as (name, value) pairs."""
        return list(self.values.items())

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())

    def __len__(self) -> int:
        return len(self.values)

    def __bool__(self) -> bool:
        # An empty space is still a space: `hp or HyperParameters()` must keep it.
        return True

    @property
    def values(self) -> dict[str, Any]:
        """The active values by name; writing an item sets that value."""
        items = ((n, v) for n, v in self._values.items() if n not in self._space or self.is_active(n))
        return _ActiveValues(self, items)

    @values.setter
    def values(self, values: dict[str, Any]) -> None:
        self._values = dict(values)

    @property
    def space(self) -> list[HyperParameter]:
        """The declared hyperparameters, in declaration order."""
        return list(self._space.values())

    def get_hyperparameter(self, name: str) -> HyperParameter:
        """Returns the declared hyperparameter object called `name`."""
        try:
            return self._space[self._resolve(name)]
        except KeyError:
            raise KeyError(f"Hyperparameter {name!r} is not defined.") from None

    # Copies and persistence.

    def copy(self) -> "HyperParameters":
        """Returns an independent copy with the same space, values and flags."""
        copy = HyperParameters()
        copy._space = dict(self._space)
        copy._values = dict(self._values)
        copy.allow_new_entries = self.allow_new_entries
        copy.tune_new_entries = self.tune_new_entries
        return copy

    def merge(self, hps: "HyperParameters | Sequence[HyperParameter]", overwrite: bool = True) -> None:
        """Adds the hyperparameters of `hps` (and their values) to this space.

        Args:
            hps: A `HyperParameters` or a list of hyperparameters.
            overwrite: Whether to replace hyperparameters that exist here already.
        """
        source_values = hps._values if isinstance(hps, HyperParameters) else {}
        space = hps.space if isinstance(hps, HyperParameters) else list(hps)
        for hp in space:
            if hp.name in self._space and not overwrite:
                continue
            self._space[hp.name] = hp
            if hp.name in source_values:
                self._values[hp.name] = source_values[hp.name]
            elif overwrite or hp.name not in self._values:
                self._values[hp.name] = hp.default

    def get_config(self) -> dict:
        """Returns the space and all values as a plain dict (KerasTuner's format)."""
        return {"space": [serialize(hp) for hp in self._space.values()], "values": dict(self._values)}

    @classmethod
    def from_config(cls, config: dict) -> "HyperParameters":
        """Makes a `HyperParameters` from `get_config()` output."""
        hps = cls()
        for hp_config in config.get("space", []):
            hp = deserialize(hp_config)
            hps._space[hp.name] = hp
        hps._values = dict(config.get("values", {}))
        return hps

    def to_proto(self) -> e2etune_pb2.HyperParameters:
        """Returns the space and all values as a protobuf message."""
        proto = e2etune_pb2.HyperParameters(space=[hp._to_message() for hp in self._space.values()])
        for name, value in self._values.items():
            proto.values[name].CopyFrom(_values.to_proto(value))
        return proto

    @classmethod
    def from_proto(cls, proto: e2etune_pb2.HyperParameters) -> "HyperParameters":
        """Makes a `HyperParameters` from its protobuf message."""
        hps = cls()
        for hp_proto in proto.space:
            hp = hyperparameter_from_proto(hp_proto)
            hps._space[hp.name] = hp
        # A protobuf map has no order: restore the declaration order, so that
        # iterating `values` gives the same order before and after a reload.
        order = {name: index for index, name in enumerate(hps._space)}
        names = sorted(proto.values, key=lambda n: (order.get(n, len(order)), n))
        hps._values = {name: _values.from_proto(proto.values[name]) for name in names}
        return hps

    def __eq__(self, other: object) -> bool:
        """Equal when both declare the same hyperparameters with the same values (KerasTuner's)."""
        if not isinstance(other, HyperParameters):
            return NotImplemented
        return self.get_config() == other.get_config()

    # Mutable: hashed by identity, as before equality was defined.
    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"HyperParameters(values={dict(self.values)!r})"

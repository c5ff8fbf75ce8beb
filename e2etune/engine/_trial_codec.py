"""Fast conversions between trials and the messages the storage saves, and configuration keys.

Hyperparameter definitions never change once made, so the stored form of a
space is built once per set of definitions and shared by every trial of
that space; on load, each distinct saved space is parsed once and its
definitions are shared by its trials. This keeps a commit O(1) in the
number of trials and a reload of 10,000 trials well under a second.
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import gc
import operator
from typing import Any, Collection, Iterable, Iterator, Mapping

from e2etune.engine import _values
from e2etune.engine.hyperparameters import (
    HyperParameter,
    HyperParameters,
    hyperparameter_from_proto,
)
from e2etune.engine.trial import Trial
from e2etune.protos import e2etune_pb2, parse

_PLAIN_TYPES = (int, float, str, bool)
_MISSING = object()
_first = operator.itemgetter(0)


def serialize_space(space: Iterable[e2etune_pb2.HyperParameter]) -> bytes:
    """The stored form of a search space: a `HyperParameters` message with no values."""
    return e2etune_pb2.HyperParameters(space=space).SerializeToString(deterministic=True)


@dataclasses.dataclass
class Split:
    """A `Trial` or `OracleState` message with its search space apart, as the storage saves it.

    Attributes:
        message: The message; its `HyperParameters` field (`Trial.hyperparameters`,
            `OracleState.space`) keeps its values but has an empty `space`.
        space: The space, as `serialize_space` gives it.
    """

    message: e2etune_pb2.Trial | e2etune_pb2.OracleState
    space: bytes


def values_key(values: Mapping[str, Any], defaults: Mapping[str, Any],
               untuned: Collection[str] = ()) -> tuple:
    """A hashable key of a configuration (see `Oracle._compute_values_hash`).

    Args:
        values: The configuration's values by name.
        defaults: The default of each hyperparameter of the space by name.
        untuned: Names to leave out: entries a trial declared that the search
            does not tune (`tune_new_entries=False`), always at their default.
    """
    items = []
    for name, value in values.items():
        if name.startswith("tuner/"):
            continue
        kind = type(value)
        if kind not in _PLAIN_TYPES:
            value = _values.to_python(value)
            kind = type(value)
        if name in untuned:
            continue
        default = defaults.get(name, _MISSING)
        if default == value and (kind is bool) == (type(default) is bool):
            continue
        items.append((name, kind, value))
    items.sort(key=_first)
    return tuple(items)


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    """Pauses Python's cycle collector: loading a search allocates many objects, none garbage."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _set_value(message: e2etune_pb2.Value, value: Any) -> None:
    """Sets a `Value` message as `_values.to_proto` builds it, without a copy."""
    kind = type(value)
    if kind is bool:
        message.boolean_value = value
    elif kind is int:
        message.int_value = value
    elif kind is float:
        message.float_value = value
    elif kind is str:
        message.string_value = value
    else:
        message.CopyFrom(_values.to_proto(value))


class TrialCodec:
    """Turns trials into the store's `Split` messages and saved searches back into trials."""

    _EMPTY = HyperParameters()

    def __init__(self) -> None:
        self._hp_protos: dict[int, tuple[HyperParameter, e2etune_pb2.HyperParameter]] = {}
        self._spaces: dict[tuple[int, ...], tuple[list[HyperParameter], bytes]] = {}

    def hp_proto(self, hp: HyperParameter) -> e2etune_pb2.HyperParameter:
        """The message of `hp`, built once per hyperparameter object."""
        entry = self._hp_protos.get(id(hp))
        if entry is None or entry[0] is not hp:
            if len(self._hp_protos) > 10_000:
                self._hp_protos.clear()
            entry = self._hp_protos[id(hp)] = (hp, hp._to_message())
        return entry[1]

    def space(self, space: list[HyperParameter]) -> bytes:
        """The stored form of a space (`serialize_space`), built once per set of definitions."""
        key = tuple(map(id, space))  # The entry keeps the objects alive, so ids stay theirs.
        entry = self._spaces.get(key)
        if entry is None:
            if len(self._spaces) > 64:
                self._spaces.clear()
            entry = self._spaces[key] = (space, serialize_space(map(self.hp_proto, space)))
        return entry[1]

    def trial(self, trial: Trial) -> Split:
        """What `trial.to_proto()` holds (its active values), split as the store saves it."""
        shell = copy.copy(trial)
        shell.hyperparameters = self._EMPTY
        proto = shell.to_proto()
        values = proto.hyperparameters.values
        for name, value in trial.hyperparameters.values.items():
            _set_value(values[name], value)
        return Split(proto, self.space(trial.hyperparameters.space))

    @staticmethod
    def space_of(data: bytes, what: str) -> list[HyperParameter]:
        """The hyperparameters of a stored space."""
        message = parse(e2etune_pb2.HyperParameters, data, what)
        return [hyperparameter_from_proto(hp) for hp in message.space]

    @staticmethod
    def decode(data: bytes, space: list[HyperParameter], names: list[str]
               ) -> tuple[Trial, dict[str, Any]]:
        """A stored trial (sharing the definitions of its `space`) and its active values.

        Args:
            data: The stored `Trial` message, without its space.
            space: The hyperparameters of its space; `names`: their names.

        The values keep the order in which the space declares them.
        """
        proto = parse(e2etune_pb2.Trial, data, "trial")
        # The stored values are the trial's active values.
        values = {name: _values.from_proto(value)
                  for name, value in proto.hyperparameters.values.items()}
        proto.ClearField("hyperparameters")
        trial = Trial.from_proto(proto)
        hyperparameters = HyperParameters()
        hyperparameters.merge(space)
        ordered = {name: values[name] for name in names if name in values}
        hyperparameters.values = {**ordered, **values}
        trial.hyperparameters = hyperparameters
        return trial, values

"""Configurations queued by `Oracle.enqueue_trial`: checked, completed and saved.

A queued configuration is a dict of values, possibly for a part of the
space. It is checked when it is queued (names, values, conditions), and
completed when its trial is created: the queued values are fixed, the other
active hyperparameters take what the algorithm proposed, or their default
where it proposed none (a hyperparameter the queued values made active).
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

from e2etune.engine import _values
from e2etune.engine.hyperparameters import HyperParameter, HyperParameters
from e2etune.protos import e2etune_pb2


def check(values: Any, space: HyperParameters) -> dict[str, Any]:
    """Returns `values` as stored (in space order), or raises naming what is wrong.

    Raises:
        TypeError: when `values` is not a dict of names to values, or a value
            has a type its hyperparameter refuses.
        ValueError: for a name outside the space, a value outside its
            hyperparameter's range or values, or a conditional
            hyperparameter whose parents' values are not given or leave it
            inactive.
    """
    if not isinstance(values, Mapping):
        raise TypeError(
            "`enqueue_trial` takes a dict of hyperparameter values, such as "
            f"`{{'units': 64}}`; got {values!r} of type {type(values).__name__}.")
    by_name = {hp.name: hp for hp in space.space}
    for name in values:
        if name not in by_name:
            known = ", ".join(repr(n) for n in by_name) or "none yet"
            hint = (" Values named `tuner/...` are set by the oracle." if
                    isinstance(name, str) and name.startswith("tuner/") else
                    " Declare it first (in `hyperparameters=` or the hypermodel), or fix the name.")
            raise ValueError(
                f"`enqueue_trial` got a value for {name!r}, which is not a hyperparameter of the "
                f"search space (its hyperparameters: {known}).{hint}")
    checked = {hp.name: _checked_value(hp, values[hp.name])
               for hp in space.space if hp.name in values}
    for name in checked:
        _check_active(by_name[name], checked, by_name)
    return checked


def _checked_value(hp: HyperParameter, value: Any) -> Any:
    try:
        value = hp.validate_value(value)
    except (TypeError, ValueError) as error:
        raise type(error)(f"`enqueue_trial`: {error}") from None
    step = getattr(hp, "step", None)
    allowed = hp.values if step is not None else None
    if allowed is None:
        return value
    if hasattr(allowed, "nearest_index"):  # a Float's steps: compare with a float tolerance
        nearest = allowed[allowed.nearest_index(value)]
        if math.isclose(nearest, value, rel_tol=1e-9, abs_tol=1e-12):
            return value
    elif value in allowed:
        return value
    shown = ", ".join(repr(allowed[i]) for i in range(min(3, len(allowed))))
    raise ValueError(
        f"`enqueue_trial`: {type(hp).__name__} {hp.name!r}: value {value!r} is not one of its "
        f"values with step {step}: {shown}, ... up to {allowed[len(allowed) - 1]!r}.")


def _check_active(hp: HyperParameter, values: Mapping[str, Any],
                  by_name: Mapping[str, HyperParameter]) -> None:
    for condition in hp.conditions:
        if condition.name not in values:
            raise ValueError(
                f"`enqueue_trial`: {hp.name!r} is active only when {condition.name!r} is one of "
                f"{condition.values!r}: give {condition.name!r} too, with one of these values.")
        if not condition.is_active(values):
            raise ValueError(
                f"`enqueue_trial`: {hp.name!r} is active only when {condition.name!r} is one of "
                f"{condition.values!r}, but the queued {condition.name!r} is "
                f"{values[condition.name]!r}: drop {hp.name!r} or change {condition.name!r}.")


def complete(queued: Mapping[str, Any], proposed: Mapping[str, Any] | None,
             space: HyperParameters) -> dict[str, Any]:
    """The values of a queued configuration's trial: the queued values, then the proposed
    ones, then defaults, for the hyperparameters active under them (in space order).

    Proposed entries outside the space (`tuner/...`) are kept.
    """
    proposed = dict(proposed or {})
    names = {hp.name for hp in space.space}
    values = {name: value for name, value in proposed.items() if name not in names}
    active: dict[str, Any] = {}
    for hp in space.space:
        if not all(c.is_active(active) for c in hp.conditions):
            continue
        if hp.name in queued:
            active[hp.name] = queued[hp.name]
        elif hp.name in proposed:
            active[hp.name] = proposed[hp.name]
        else:
            active[hp.name] = hp.default
    values.update(active)
    return values


def covers(queued: Mapping[str, Any], space: HyperParameters) -> bool:
    """Whether `queued` fixes every hyperparameter active under it (nothing left to propose)."""
    return complete(queued, None, space).keys() <= queued.keys()


def matches(queued: Mapping[str, Any], values: Mapping[str, Any]) -> bool:
    """Whether `values` agree with every value of `queued`."""
    return all(name in values and _values.same_value(values[name], value)
               for name, value in queued.items())


def to_protos(queue: Iterable[Mapping[str, Any]]) -> list[e2etune_pb2.HyperParameters]:
    """The queue as saved in the oracle state."""
    return [e2etune_pb2.HyperParameters(
        values={name: _values.to_proto(value) for name, value in queued.items()})
        for queued in queue]


def from_protos(protos: Iterable[e2etune_pb2.HyperParameters]) -> list[dict[str, Any]]:
    """The queue saved in the oracle state."""
    return [{name: _values.from_proto(value) for name, value in proto.values.items()}
            for proto in protos]

"""Checks of the `Oracle` constructor's arguments: early, with messages that say what is allowed."""

from __future__ import annotations

import numbers
from typing import Any

from e2etune.engine.hyperparameters import HyperParameter, HyperParameters
from e2etune.engine.objective import MultiObjective, Objective, create_objective
from e2etune.protos import e2etune_pb2


def objectives_of(objective: Objective) -> list[Objective]:
    """The objective and, for a `MultiObjective`, the objectives it combines."""
    if isinstance(objective, MultiObjective):
        return [objective, *objective.objectives]
    return [objective]


def objective_to_protos(objective: Objective) -> list[e2etune_pb2.Objective]:
    """The objectives as saved in the oracle state (those of a `MultiObjective`, or the one)."""
    objectives = objective.objectives if isinstance(objective, MultiObjective) else [objective]
    direction = {"min": e2etune_pb2.MIN, "max": e2etune_pb2.MAX}
    return [e2etune_pb2.Objective(name=o.name, direction=direction[o.direction])
            for o in objectives]


def check_objective(objective: Any) -> Objective:
    """`create_objective(objective)`, refusing empty and repeated metric names."""
    objective = create_objective(objective)
    parts = objective.objectives if isinstance(objective, MultiObjective) else [objective]
    names = [getattr(o, "name", None) for o in parts]
    for name in names:
        if not isinstance(name, str) or not name:
            raise ValueError(f"An objective's name must be a non-empty string; got {name!r}.")
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise ValueError(f"The objective {duplicates[0]!r} is listed more than once; list it once.")
    return objective


def check_int(value: Any, name: str, low: int, allow_none: bool = True) -> int | None:
    """`value` as an int, if it is an integer (not a bool) >= `low`, or None if allowed."""
    if value is None and allow_none:
        return None
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < low:
        allowed = f"an integer >= {low}" + (" or None" if allow_none else "")
        raise ValueError(f"`{name}` must be {allowed}; got {value!r}.")
    return int(value)


def check_positive(value: Any, name: str) -> float:
    """`value` as a float, if it is a finite number > 0."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real) or not (
            0 < value < float("inf")):
        raise ValueError(f"`{name}` must be a positive number of seconds; got {value!r}.")
    return float(value)


def check_space(hyperparameters: HyperParameters, allow_new_entries: bool) -> None:
    """Raises `ValueError` naming the first hyperparameter that no value can be drawn for."""
    space = {hp.name: hp for hp in hyperparameters.space}
    for hp in space.values():
        try:
            hp.prob_to_value(0.5)
            hp.validate_value(hp.default)
        except Exception as error:  # a broken definition, whatever the error's type
            raise ValueError(
                f"The hyperparameter {hp.name!r} cannot be sampled ({error}). Fix its "
                "definition in `hyperparameters`."
            ) from None
        for condition in hp.conditions:
            parent = space.get(condition.name)
            if parent is None and not allow_new_entries:
                raise ValueError(
                    f"The hyperparameter {hp.name!r} depends on {condition.name!r}, which is not "
                    "in the space and cannot be added (`allow_new_entries=False`)."
                )
            if parent is not None and not any(_is_value_of(parent, v) for v in condition.values):
                raise ValueError(
                    f"The hyperparameter {hp.name!r} is active only when {condition.name!r} is "
                    f"one of {condition.values!r}, which it can never be."
                )


def _is_value_of(hp: HyperParameter, value: Any) -> bool:
    try:
        hp.validate_value(value)
    except (TypeError, ValueError):
        return False
    return True


def check_pruner(pruner: Any) -> Any:
    """Refuses a `pruner` that is neither None nor a pruner (an object with `prune`)."""
    if pruner is None or callable(getattr(pruner, "prune", None)):
        return pruner
    raise TypeError(
        f"`pruner` must be a pruner such as `e2etune.pruners.MedianPruner()` (a "
        f"`BasePruner`), or None; got {pruner!r} of type {type(pruner).__name__}.")

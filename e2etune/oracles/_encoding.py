"""Encoding of trials as points of the unit cube for the Gaussian process."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from e2etune.engine.hyperparameters import Choice, Fixed, Float, HyperParameter
from e2etune.oracles.gaussian_process import Dimension

#: Above this many values an ordered hyperparameter is searched as continuous
#: and every proposal is snapped back to one of its values.
MAX_GRID = 1000


def _is_tuned(hp: HyperParameter) -> bool:
    return not isinstance(hp, Fixed) and (hp.values is None or len(hp.values) > 1)


class SpaceEncoding:
    """Maps the values of a trial to a row of the GP's input matrix and back.

    Each tuned hyperparameter is one column: a `Float` without step is
    continuous (its `value_to_prob`, so log-scaled ones are searched on the
    log scale); integers, stepped floats, booleans and ordered choices are
    discrete on the positions of their own values; unordered choices are
    categorical. A hyperparameter that is inactive in a trial is pinned to
    the position of its default, so trials where it is inactive never differ
    in that column.

    Args:
        space: The hyperparameters of the search space, in declaration order.
    """

    def __init__(self, space: list[HyperParameter]) -> None:
        self.space = list(space)
        self.tuned = [hp for hp in self.space if _is_tuned(hp)]
        self.dimensions = [self._dimension(hp) for hp in self.tuned]

    @staticmethod
    def _dimension(hp: HyperParameter) -> Dimension:
        if isinstance(hp, Choice) and not hp.ordered:
            return Dimension("categorical", n_choices=len(hp.values))
        if (isinstance(hp, Float) and hp.step is None) or len(hp.values) > MAX_GRID:
            return Dimension("continuous")
        return Dimension("discrete", grid=[hp.value_to_prob(v) for v in hp.values])

    def encode(self, values: Mapping[str, Any]) -> np.ndarray:
        """The row of a trial's values (inactive columns pinned to the default)."""
        row = np.empty(len(self.tuned))
        for column, (hp, dim) in enumerate(zip(self.tuned, self.dimensions)):
            value = values.get(hp.name, hp.default)
            if dim.kind == "categorical":
                row[column] = hp.values.index(value) if value in hp.values else 0
            else:
                row[column] = hp.value_to_prob(value)
        return row

    def decode(self, row: np.ndarray) -> dict[str, Any]:
        """The active values of a row, conditions evaluated in declaration order."""
        by_name = {hp.name: (column, dim) for column, (hp, dim) in
                   enumerate(zip(self.tuned, self.dimensions))}
        values: dict[str, Any] = {}
        for hp in self.space:
            if not all(c.is_active(values) for c in hp.conditions):
                continue
            if hp.name not in by_name:
                values[hp.name] = hp.default
                continue
            column, dim = by_name[hp.name]
            if dim.kind == "categorical":
                values[hp.name] = hp.values[int(round(row[column]))]
            else:
                values[hp.name] = hp.prob_to_value(float(row[column]))
        return values

    def canonical(self, row: np.ndarray) -> np.ndarray:
        """The row of the values `row` stands for: snapped to values, inactive columns pinned."""
        return self.encode(self.decode(row))

"""Encoding of trials as points of the unit cube for the Gaussian process."""

from __future__ import annotations

from typing import Any, Mapping

import numpy as np

from e2etune.engine.hyperparameters import Choice, Fixed, Float, HyperParameter
from e2etune.oracles.gaussian_process import Dimension

#: Above this many values an ordered hyperparameter is searched as continuous
#: and every proposal is snapped back to one of its values.
MAX_GRID = 1000
_SAME_POSITION = 1e-9


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
    in that column, and the model learns nothing about it from them.

    Args:
        space: The hyperparameters of the search space, in declaration order.

    Example:
        >>> from e2etune.engine.hyperparameters import HyperParameters
        >>> hp = HyperParameters()
        >>> hp.Choice("optimizer", ["adam", "sgd"])
        'adam'
        >>> with hp.conditional_scope("optimizer", "sgd"):
        ...     hp.Float("momentum", 0.0, 0.9, default=0.5)
        >>> encoding = SpaceEncoding(hp.space)
        >>> encoding.decode(encoding.encode({"optimizer": "sgd", "momentum": 0.9}))
        {'optimizer': 'sgd', 'momentum': 0.9}
        >>> encoding.project(np.array([[0.0, 1.0]]))[0].tolist()
        [[0.0, 0.5555555555555556]]
    """

    def __init__(self, space: list[HyperParameter]) -> None:
        self.space = list(space)
        self.tuned = [hp for hp in self.space if _is_tuned(hp)]
        self.names = [hp.name for hp in self.tuned]
        self.dimensions = [self._dimension(hp) for hp in self.tuned]
        self._column = {hp.name: i for i, hp in enumerate(self.tuned)}
        self._pins = np.array([self._position(hp, hp.default) for hp in self.tuned])
        self._rules = self._compile_rules()
        #: Whether some hyperparameter is active only under conditions.
        self.conditional = bool(self._rules)

    @staticmethod
    def _dimension(hp: HyperParameter) -> Dimension:
        if isinstance(hp, Choice) and not hp.ordered:
            return Dimension("categorical", n_choices=len(hp.values))
        if (isinstance(hp, Float) and hp.step is None) or len(hp.values) > MAX_GRID:
            return Dimension("continuous")
        return Dimension("discrete", grid=sorted(hp.value_to_prob(v) for v in hp.values))

    def _position(self, hp: HyperParameter, value: Any) -> float:
        """The column value of `value` (the default's for a value `hp` cannot hold)."""
        try:
            prob = float(hp.value_to_prob(value))
        except (TypeError, ValueError):
            prob = float(hp.value_to_prob(hp.default))
        if isinstance(hp, Choice) and not hp.ordered:
            return float(min(int(prob * len(hp.values)), len(hp.values) - 1))
        return min(max(prob, 0.0), 1.0)

    def encode(self, values: Mapping[str, Any]) -> np.ndarray:
        """The row of a trial's values (inactive or missing columns pinned to the default)."""
        row = self._pins.copy()
        for column, hp in enumerate(self.tuned):
            if hp.name in values and values[hp.name] is not None:
                row[column] = self._position(hp, values[hp.name])
        return self.project(row[None, :])[0][0] if self.conditional else row

    def decode(self, row: np.ndarray) -> dict[str, Any]:
        """The active values of a row, conditions evaluated in declaration order."""
        values: dict[str, Any] = {}
        for hp in self.space:
            if not all(c.is_active(values) for c in hp.conditions):
                continue
            column = self._column.get(hp.name)
            if column is None:
                values[hp.name] = hp.default
            elif self.dimensions[column].kind == "categorical":
                values[hp.name] = hp.values[int(round(row[column]))]
            else:
                values[hp.name] = hp.prob_to_value(float(row[column]))
        return values

    def canonical(self, row: np.ndarray) -> np.ndarray:
        """The row of the values `row` stands for: snapped to values, inactive columns pinned."""
        return self.encode(self.decode(row))

    def project(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pins the inactive columns of every row of `x` to their default's position.

        Args:
            x: Rows, ``(m, n_columns)``.

        Returns:
            ``(projected, inactive)``: a copy of `x` with the inactive
            columns pinned, and the boolean mask of the pinned entries.
        """
        x = np.array(x, dtype=float)
        inactive = np.zeros(x.shape, dtype=bool)
        active: dict[str, np.ndarray] = {}
        for name, column, conditions in self._rules:
            mask = np.ones(x.shape[0], dtype=bool)
            for parent, parent_column, allowed in conditions:
                if parent in active:
                    mask &= active[parent]
                if parent_column is None:
                    mask &= allowed
                else:
                    distances = np.abs(x[:, parent_column, None] - allowed)
                    mask &= (distances <= _SAME_POSITION).any(axis=1)
            active[name] = mask
            if column is not None:
                inactive[:, column] = ~mask
                x[~mask, column] = self._pins[column]
        return x, inactive

    def _compile_rules(self) -> list[tuple[str, int | None, list[tuple[str, Any, Any]]]]:
        """For each conditional hyperparameter, its column and conditions, in space order.

        A condition is ``(parent, parent_column, allowed)``: for a tuned parent
        the positions of the allowed values in its column, for a constant one
        (or one missing from the space) whether the condition holds.
        """
        by_name = {hp.name: hp for hp in self.space}
        rules = []
        for hp in self.space:
            if not hp.conditions:
                continue
            conditions = []
            for condition in hp.conditions:
                parent = by_name.get(condition.name)
                column = self._column.get(condition.name)
                if parent is None:
                    conditions.append((condition.name, None, False))
                elif column is None:
                    holds = condition.is_active({parent.name: parent.default})
                    conditions.append((condition.name, None, holds))
                else:
                    conditions.append((condition.name, column, self._allowed(parent, condition)))
            rules.append((hp.name, self._column.get(hp.name), conditions))
        return rules

    def _allowed(self, parent: HyperParameter, condition: Any) -> np.ndarray:
        allowed = []
        for value in condition.values:
            try:
                allowed.append(self._position(parent, parent.validate_value(value)))
            except (TypeError, ValueError):
                continue
        return np.array(allowed).reshape(1, -1)

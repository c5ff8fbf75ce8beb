"""Grid search: every combination of the hyperparameters' values, in a fixed order."""

from __future__ import annotations

import hashlib
from typing import Any, Callable, Sequence

from e2etune.engine import _values
from e2etune.engine._oracle_arguments import shared_arguments
from e2etune.engine.hyperparameters import HyperParameter
from e2etune.engine.oracle import Oracle
from e2etune.engine.trial import TrialStatus

#: Above this many values, an `Int` without a step is enumerated lazily, never listed.
_MAX_LISTED = 100_000


def grid_values(hp: HyperParameter) -> Sequence:
    """The values a grid search visits for `hp` (`hp.grid_values()`, large ranges kept lazy)."""
    values = hp.values
    if isinstance(values, range) and len(values) > _MAX_LISTED:
        return values
    return hp.grid_values()


def all_values(hp: HyperParameter) -> Sequence:
    """Every value of a discrete `hp` (None for a continuous one)."""
    return hp.values


@shared_arguments
class _Axis:
    """The values of one hyperparameter in grid order: its default, then the others in order.

    Args:
        values: The values in their own order (a list or a `range`).
        default: The hyperparameter's default, first whether or not it is in `values`.
    """

    def __init__(self, values: Sequence, default: Any) -> None:
        self._values = values
        self._default = default
        self._position = _index_of(values, default)

    def __len__(self) -> int:
        return len(self._values) + (self._position is None)

    def __getitem__(self, index: int) -> Any:
        if index == 0:
            return self._default
        if self._position is None or index <= self._position:
            return self._values[index - 1]
        return self._values[index]


def _index_of(values: Sequence, value: Any) -> int | None:
    if isinstance(values, range):
        is_int = isinstance(value, int) and not isinstance(value, bool)
        return values.index(value) if is_int and value in values else None
    return next((i for i, v in enumerate(values) if _values.same_value(v, value)), None)


class Grid:
    """The points of a (possibly conditional) space in grid order.

    A point is a list with, for each hyperparameter in space order, the
    index of its value on its axis, or None where it is inactive. The first
    point holds every default; the last hyperparameter varies fastest, and
    when a hyperparameter changes, those after it restart from their
    defaults (so the hyperparameters under a condition are exhausted before
    their parent changes).

    Args:
        space: The hyperparameters, in space order.
        values_of: The values of one hyperparameter (`grid_values` by default).
    """

    def __init__(self, space: Sequence[HyperParameter],
                 values_of: Callable[[HyperParameter], Sequence] = grid_values) -> None:
        self.space = list(space)
        self.axes = [_Axis(values_of(hp), hp.default) for hp in self.space]

    def size_bound(self) -> int:
        """The number of points if every hyperparameter were always active (an upper bound)."""
        size = 1
        for axis in self.axes:
            size *= len(axis)
        return size

    def first(self) -> list[int | None]:
        """The point of all defaults."""
        return self._complete([])

    def next(self, point: Sequence[int | None]) -> list[int | None] | None:
        """The point after `point`, or None after the last one."""
        for i in reversed(range(len(point))):
            index = point[i]
            if index is not None and index + 1 < len(self.axes[i]):
                return self._complete([*point[:i], index + 1])
        return None

    def values(self, point: Sequence[int | None]) -> dict[str, Any]:
        """The active values at `point`."""
        return {hp.name: axis[i]
                for hp, axis, i in zip(self.space, self.axes, point) if i is not None}

    def is_point(self, point: Any) -> bool:
        """Whether `point` (e.g. from saved state) is a valid point of this grid."""
        if not isinstance(point, list) or len(point) != len(self.axes):
            return False
        return all(i is None or (isinstance(i, int) and 0 <= i < len(axis))
                   for i, axis in zip(point, self.axes))

    def _complete(self, prefix: list[int | None]) -> list[int | None]:
        """Extends `prefix` with the defaults of the active hyperparameters that follow."""
        point = list(prefix)
        values = self.values(point)
        for hp, axis in zip(self.space[len(point):], self.axes[len(point):]):
            if all(c.is_active(values) for c in hp.conditions):
                point.append(0)
                values[hp.name] = axis[0]
            else:
                point.append(None)
        return point


class GridSearchOracle(Oracle):
    """Tries every combination of values, defaults first, never one twice.

    Order (as KerasTuner's): the first trial uses every default; then the
    last hyperparameter varies fastest, each one taking its default first
    and then its other values in order. A `Float` without a step takes
    `hp.grid_values()` (evenly spread values, sorted on its sampling scale).
    Conditional hyperparameters are varied only where they are active.

    Hyperparameters that trials declare later join the space; the grid then
    covers their other values too, going back over the earlier
    combinations but never repeating a configuration already tried (a trial
    that ran before a hyperparameter existed counts as having its default).
    The position in the grid is saved with the search, so a resumed search
    continues at the next point.

    Args:
        objective: A metric name, an `Objective`, or a list of these; None
            minimizes the value each trial returns.
        max_trials: Most trials to run; None (default) runs until the grid is
            exhausted.

    Example:
        With `hp.Choice("optimizer", ["sgd", "adam"])` and
        `hp.Choice("lr", [0.01, 0.1])`, the trials are `(sgd, 0.01)`,
        `(sgd, 0.1)`, `(adam, 0.01)`, `(adam, 0.1)`, then the search stops.
    """

    def __init__(
        self,
        objective: Any = None,
        max_trials: int | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            objective=objective,
            max_trials=max_trials,
            **kwargs,
        )
        self._grid_cache: tuple[list[HyperParameter], Grid, str] | None = None
        #: (space fingerprint, last point handed out) or None before the first one.
        self._cursor: tuple[str, list[int | None]] | None = None

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        """The next untried point of the grid; IDLE or STOPPED when none is left."""
        grid, fingerprint = self._grid()
        point = self._next_untried(grid, fingerprint)
        if point is None:
            # Running trials may still declare new hyperparameters that extend the grid.
            status = TrialStatus.IDLE if self._running else TrialStatus.STOPPED
            return {"status": status, "values": None}
        return {"status": TrialStatus.RUNNING, "values": grid.values(point)}

    def _grid(self) -> tuple[Grid, str]:
        """The grid of the current space and the space's fingerprint (cached until it changes)."""
        space = self.hyperparameters.space
        cached = self._grid_cache
        if cached is None or len(cached[0]) != len(space) or any(
                a is not b for a, b in zip(cached[0], space)):
            digest = hashlib.blake2b(digest_size=16)
            for hp in space:
                digest.update(self._codec.hp_proto(hp).SerializeToString(deterministic=True))
            cached = self._grid_cache = (space, Grid(space), digest.hexdigest())
        return cached[1], cached[2]

    def _next_untried(self, grid: Grid, fingerprint: str) -> list[int | None] | None:
        """Walks from the cursor (or from the start, if the space changed) to an untried point."""
        if self._cursor is not None and self._cursor[0] == fingerprint:
            point = grid.next(self._cursor[1])
        else:
            point = grid.first()
        last = point
        while point is not None:
            if self._compute_values_hash(grid.values(point)) not in self._tried_so_far:
                self._cursor = (fingerprint, point)
                return point
            last, point = point, grid.next(point)
        if last is not None:
            self._cursor = (fingerprint, last)
        return None

    def get_state(self) -> dict[str, Any]:
        """The last point handed out and the fingerprint of the space it belongs to."""
        if self._cursor is None:
            return {}
        return {"space": self._cursor[0], "cursor": self._cursor[1]}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restores the position in the grid (checked against the space when next used)."""
        self._grid_cache = None
        self._cursor = None
        if state.get("cursor") is not None:
            cursor, fingerprint = state["cursor"], state["space"]
            grid, current = self._grid()
            if fingerprint == current and grid.is_point(cursor):
                self._cursor = (fingerprint, list(cursor))

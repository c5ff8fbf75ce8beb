"""Grid search: every combination of the hyperparameters' values, in a fixed order."""

from __future__ import annotations

import bisect
import itertools
from typing import Any, Callable, Sequence

from e2etune.engine import _queue, _values
from e2etune.engine._oracle_arguments import shared_arguments
from e2etune.engine.hyperparameters import HyperParameter
from e2etune.engine.oracle import Oracle
from e2etune.engine.trial import Trial, TrialStatus

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

    def index(self, value: Any) -> int | None:
        """The position of `value` on the axis, or None when it is not on it."""
        if _values.same_value(value, self._default):
            return 0
        position = _index_of(self._values, value)
        if position is None:
            return None
        return position + 1 if self._position is None or position < self._position else position

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


@shared_arguments
class GridSearchOracle(Oracle):
    """Tries every combination of values, defaults first, never one twice.

    Order (as KerasTuner's): the first trial uses every default; then the
    last hyperparameter varies fastest, each one taking its default first
    and then its other values in order. A `Float` without a step takes
    `hp.grid_values()` (ten values spread on its sampling scale) after its
    default. Conditional hyperparameters are varied only where they are
    active.

    While the space stays as the search started, workers take the grid's
    points one after another, in parallel. Once trials declare new
    hyperparameters, each ended trial proposes the point that follows it in
    the grid (with what it declared), unless that point is not before the
    next trial already in grid order, as in KerasTuner: the new
    hyperparameters join the grid from that trial on, and while trials run
    that may still declare some, other workers wait (IDLE) rather than
    guess. The position is saved with the search, so a resumed search
    continues where it stopped.

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
        self._grid_cache: tuple[list[HyperParameter], Grid] | None = None
        #: Ended trials (and the first one) whose successor in the grid is to be proposed.
        self._queue: list[str] = []
        #: The grid position of every trial, sorted, with how many trials it covers.
        self._ordered: list[tuple[tuple, str]] = []
        self._ordered_count = 0
        #: Whether trials declared hyperparameters during the search: then a point after a
        #: running trial waits for its end, which may add more.
        self._grown = False

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        """The successor of an ended trial in grid order; IDLE or STOPPED when there is none."""
        grid = self._grid()
        first = grid.values(grid.first())
        # The first point starts the walk; trials queued by `enqueue_trial` may precede it.
        if (not self.trials or (len(self.trials) == 1 and trial_id in self.trials)
                or self._compute_values_hash(first) not in self._tried_so_far):
            self._queue.append(trial_id)
            return {"status": TrialStatus.RUNNING, "values": first}
        while self._queue:
            previous = self._queue.pop(0)
            if previous not in self.trials:
                continue
            point = grid.next(self._point_of(grid, self.trials[previous].hyperparameters.values))
            if point is None:
                continue
            following = self._following(grid, previous)
            if following is not None and _position(point) >= following:
                continue
            values = grid.values(point)
            if self._compute_values_hash(values) in self._tried_so_far:
                continue
            return {"status": TrialStatus.RUNNING, "values": values}
        if not self._grown:
            values = self._after_last(grid)
            if values is not None:
                return {"status": TrialStatus.RUNNING, "values": values}
        # Running trials may still declare hyperparameters that extend the grid.
        status = TrialStatus.IDLE if self._running else TrialStatus.STOPPED
        return {"status": status, "values": None}

    def _populate_queued(self, trial_id: str, queued: dict[str, Any]
                         ) -> tuple[dict[str, Any], bool]:
        """A queued configuration, the rest at defaults: the grid's walk is left as it is
        (it goes on from the queued trial too once it ends, never running a point twice)."""
        values = _queue.complete(queued, None, self.hyperparameters)
        return {"status": TrialStatus.RUNNING, "values": values}, True

    def _on_trial_end(self, trial: Trial) -> None:
        if trial.status in _FINAL and trial.trial_id not in self._queue:
            self._queue.append(trial.trial_id)

    def _grid(self) -> Grid:
        """The grid of the current space (cached until the space changes)."""
        space = self.hyperparameters.space
        cached = self._grid_cache
        if cached is None or len(cached[0]) != len(space) or any(
                a is not b for a, b in zip(cached[0], space)):
            cached = self._grid_cache = (space, Grid(space))
            self._ordered, self._ordered_count = [], 0
        return cached[1]

    def _point_of(self, grid: Grid, values: dict[str, Any]) -> list[int | None]:
        """The grid point of a trial's values (a value it lacks is the default it ran with)."""
        point: list[int | None] = []
        active: dict[str, Any] = {}
        for hp, axis in zip(grid.space, grid.axes):
            if not all(c.is_active(active) for c in hp.conditions):
                point.append(None)
                continue
            value = values.get(hp.name, hp.default)
            index = axis.index(value)
            point.append(0 if index is None else index)
            active[hp.name] = axis[point[-1]]
        return point

    def _after_last(self, grid: Grid) -> dict[str, Any] | None:
        """The first untried point after the last trial in grid order (a space that never
        grew during the search: no running trial can change what follows it)."""
        self._order(grid)
        if not self._ordered:
            return None
        last = self.trials[self._ordered[-1][1]]
        point = grid.next(self._point_of(grid, last.hyperparameters.values))
        while point is not None:
            values = grid.values(point)
            if self._compute_values_hash(values) not in self._tried_so_far:
                return values
            point = grid.next(point)
        return None

    def _order(self, grid: Grid) -> None:
        """Brings the sorted grid positions of the trials up to date."""
        if self._ordered_count > len(self.trials):
            self._ordered, self._ordered_count = [], 0
        for trial in itertools.islice(self.trials.values(), self._ordered_count, None):
            key = _position(self._point_of(grid, trial.hyperparameters.values))
            bisect.insort(self._ordered, (key, trial.trial_id))
        self._ordered_count = len(self.trials)

    def _following(self, grid: Grid, trial_id: str) -> tuple | None:
        """The grid position of the first trial after `trial_id` in grid order, if any."""
        self._order(grid)
        key = _position(self._point_of(grid, self.trials[trial_id].hyperparameters.values))
        index = bisect.bisect_right(self._ordered, (key, chr(0x10FFFF)))
        return self._ordered[index][0] if index < len(self._ordered) else None

    def _on_space_changed(self) -> None:
        self._grid_cache = None
        if self.trials:
            self._grown = True

    def get_state(self) -> dict[str, Any]:
        """The trials whose successors in the grid are still to be proposed, and whether
        trials declared new hyperparameters."""
        return {"queue": list(self._queue), "grown": self._grown}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restores the trials whose successors are still to be proposed."""
        self._queue = [t for t in state.get("queue", []) if isinstance(t, str)]
        self._grown = self._grown or bool(state.get("grown"))
        self._ordered, self._ordered_count = [], 0


#: Statuses after which a trial's successor in the grid is proposed.
_FINAL = (TrialStatus.COMPLETED, TrialStatus.FAILED, TrialStatus.INVALID, TrialStatus.PRUNED)


def _position(point: Sequence[int | None]) -> tuple:
    """A sortable key of a grid point: inactive hyperparameters sort before any value."""
    return tuple(-1 if i is None else i for i in point)

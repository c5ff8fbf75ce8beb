"""Random search: every trial draws its values at random from the space."""

from __future__ import annotations

from typing import Any

from e2etune.engine._oracle_arguments import shared_arguments
from e2etune.engine.oracle import Oracle
from e2etune.engine.trial import TrialStatus
from e2etune.oracles.grid_search import Grid, all_values

#: Largest discrete space that is enumerated to find its last untried configurations.
_MAX_ENUMERATED = 100_000


@shared_arguments
class RandomSearchOracle(Oracle):
    """Draws each trial's values at random, never repeating a configuration.

    Each value is drawn with its hyperparameter's sampling (log-uniform for
    `sampling="log"`); conditional hyperparameters are drawn only when active.
    The search stops after `max_trials`, or when no untried configuration is
    left (a small discrete space is enumerated when random draws keep hitting
    tried configurations, so it is covered entirely before the search stops).

    Args:
        objective: A metric name, an `Objective`, or a list of these; None
            minimizes the value each trial returns.
        max_trials: Number of trials. Defaults to 10.
    """

    def __init__(
        self,
        objective: Any = None,
        max_trials: int | None = 10,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            objective=objective,
            max_trials=max_trials,
            **kwargs,
        )

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        """Draws untried random values, or stops when the space is exhausted."""
        values = self._random_values()
        if values is None:
            values = self._random_untried_by_enumeration()
        if values is None:
            return {"status": TrialStatus.STOPPED, "values": None}
        return {"status": TrialStatus.RUNNING, "values": values}

    def _random_untried_by_enumeration(self) -> dict[str, Any] | None:
        """A uniformly chosen untried configuration of a small discrete space, else None."""
        space = self.hyperparameters.space
        if not all(hp.is_discrete for hp in space):
            return None
        grid = Grid(space, values_of=all_values)
        if grid.size_bound() > _MAX_ENUMERATED:
            return None
        untried = []
        point = grid.first()
        while point is not None:
            values = grid.values(point)
            if self._compute_values_hash(values) not in self._tried_so_far:
                untried.append(values)
            point = grid.next(point)
        if not untried:
            return None
        return untried[min(int(self._uniform() * len(untried)), len(untried) - 1)]

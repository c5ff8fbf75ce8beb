"""Random search: every trial draws its values at random from the space."""

from __future__ import annotations

from typing import Any

from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.oracle import Oracle
from e2etune.engine.trial import TrialStatus


class RandomSearchOracle(Oracle):
    """Draws each trial's values at random, never repeating a configuration.

    Each value is drawn with its hyperparameter's sampling (log-uniform for
    `sampling="log"`); conditional hyperparameters are drawn only when active.
    The search stops after `max_trials`, or when no untried configuration is
    left.

    Args:
        objective: A metric name, an `Objective`, or a list of these; None
            minimizes the value each trial returns.
        max_trials: Number of trials. Defaults to 10.
        seed: Random seed; None picks one.
        hyperparameters: A `HyperParameters` overriding or pre-declaring part
            of the space.
        allow_new_entries: Whether code may declare new hyperparameters.
        tune_new_entries: Whether new hyperparameters are tuned or fixed.
        max_retries_per_trial: Runs again of a trial that raised. Defaults to 0.
        max_consecutive_failed_trials: Failures in a row that stop the search.
            Defaults to 3.
    """

    def __init__(
        self,
        objective: Any = None,
        max_trials: int | None = 10,
        seed: int | None = None,
        hyperparameters: HyperParameters | None = None,
        allow_new_entries: bool = True,
        tune_new_entries: bool = True,
        max_retries_per_trial: int = 0,
        max_consecutive_failed_trials: int = 3,
    ) -> None:
        super().__init__(
            objective=objective,
            max_trials=max_trials,
            hyperparameters=hyperparameters,
            allow_new_entries=allow_new_entries,
            tune_new_entries=tune_new_entries,
            seed=seed,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        """Draws untried random values, or stops when the space is exhausted."""
        values = self._random_values()
        if values is None:
            return {"status": TrialStatus.STOPPED, "values": None}
        return {"status": TrialStatus.RUNNING, "values": values}

"""`GridSearch`: a `Tuner` that tries every combination of the space's values."""

from __future__ import annotations

from typing import Any

from e2etune.engine.base_tuner import oracle_options
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.tuner import Tuner


def _grid_search_oracle_class() -> type:
    try:
        from e2etune.oracles.grid_search import GridSearchOracle
    except ImportError as error:
        raise ImportError(
            "GridSearch needs `e2etune.oracles.grid_search.GridSearchOracle`, which this "
            f"installation lacks ({error}). Use RandomSearch meanwhile."
        ) from error
    return GridSearchOracle


class GridSearch(Tuner):
    """Tries the combinations of the space's values in order, resuming where it stopped.

    Int and Float hyperparameters are enumerated by their `step`; Choice and
    Boolean by their values.

    Args:
        hypermodel: A `HyperModel` or a `build(hp)` function; optional when
            `run_trial` is overridden.
        objective: A metric name (direction inferred), an `Objective`, or a
            list of these. None minimizes the value each trial returns.
        max_trials: Most trials to run; None (default) runs the whole grid.
        seed: Random seed (used where the oracle needs one); None picks one.
        hyperparameters: A `HyperParameters` overriding or pre-declaring part
            of the space.
        tune_new_entries: Whether hyperparameters missing from
            `hyperparameters` are tuned (True, default) or fixed at their default.
        allow_new_entries: Whether the model code may declare hyperparameters
            missing from `hyperparameters`. Defaults to True.
        max_retries_per_trial: Runs again of a trial that raised. Defaults to 0.
        max_consecutive_failed_trials: Failures in a row that stop the search.
            Defaults to 3.
        **kwargs: `Tuner` arguments (`directory`, `project_name`, `overwrite`,
            `executions_per_trial`, `storage`, ...) and the oracle's
            `heartbeat_interval`, `lease_grace`, `max_crashes_per_trial`, and
            `pruner` (an `e2etune.pruners` pruner; None by default).
    """

    def __init__(
        self,
        hypermodel: Any = None,
        objective: Any = None,
        max_trials: int | None = None,
        seed: int | None = None,
        hyperparameters: HyperParameters | None = None,
        tune_new_entries: bool = True,
        allow_new_entries: bool = True,
        max_retries_per_trial: int = 0,
        max_consecutive_failed_trials: int = 3,
        **kwargs: Any,
    ) -> None:
        self.seed = seed
        oracle = _grid_search_oracle_class()(
            **oracle_options(kwargs),
            objective=objective,
            max_trials=max_trials,
            seed=seed,
            hyperparameters=hyperparameters,
            tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        super().__init__(oracle, hypermodel, **kwargs)

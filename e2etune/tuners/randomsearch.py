"""`RandomSearch`: a `Tuner` with a random-search oracle."""

from __future__ import annotations

from typing import Any

from e2etune.engine.base_tuner import oracle_options
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.tuner import Tuner
from e2etune.oracles.random_search import RandomSearchOracle


class RandomSearch(Tuner):
    """Tries configurations drawn at random from the search space.

    Args:
        hypermodel: A `HyperModel` or a `build(hp)` function; optional when
            `run_trial` is overridden.
        objective: A metric name (direction inferred), an `Objective`, or a
            list of these. None minimizes the value each trial returns.
        max_trials: Number of trials. Defaults to 10.
        seed: Random seed; None picks one.
        hyperparameters: A `HyperParameters` overriding or pre-declaring part
            of the space.
        tune_new_entries: Whether hyperparameters missing from
            `hyperparameters` are tuned (True, default) or fixed at their default.
        allow_new_entries: Whether the model code may declare hyperparameters
            missing from `hyperparameters`. Defaults to True.
        max_retries_per_trial: Runs again of a trial that raised. Defaults to 0.
        max_consecutive_failed_trials: Failures in a row that stop the search.
            Defaults to 3.
        **kwargs: `Tuner` arguments: `directory`, `project_name`, `overwrite`,
            `executions_per_trial`, `max_model_size`, `optimizer`, `loss`,
            `metrics`, `distribution_strategy`, `tuner_id`, `logger`, `storage`;
            and the oracle's `heartbeat_interval`, `lease_grace`,
            `max_crashes_per_trial`; and `pruner` (an `e2etune.pruners` pruner
            that stops unpromising trials early; None by default).

    Example:
        >>> tuner = RandomSearch(build_model, objective="val_accuracy", max_trials=5)
        >>> tuner.search(x, y, epochs=3, validation_split=0.2)
    """

    def __init__(
        self,
        hypermodel: Any = None,
        objective: Any = None,
        max_trials: int = 10,
        seed: int | None = None,
        hyperparameters: HyperParameters | None = None,
        tune_new_entries: bool = True,
        allow_new_entries: bool = True,
        max_retries_per_trial: int = 0,
        max_consecutive_failed_trials: int = 3,
        **kwargs: Any,
    ) -> None:
        self.seed = seed
        oracle = RandomSearchOracle(
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

"""`BayesianOptimization`: a `Tuner` with the Gaussian-process oracle."""

from __future__ import annotations

from typing import Any

from e2etune.engine.base_tuner import oracle_options
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.tuner import Tuner
from e2etune.oracles.bayesian import BayesianOptimizationOracle


class BayesianOptimization(Tuner):
    """Tunes with Bayesian optimization on a Gaussian process.

    Quasi-random (Sobol) trials first, then each trial is the configuration
    of highest expected improvement under a Gaussian process fitted to the
    results so far; see `e2etune.oracles.BayesianOptimizationOracle`.

    Args:
        hypermodel: A `HyperModel` or a `build(hp)` function; optional when
            `run_trial` is overridden.
        objective: A metric name (direction inferred), an `Objective`, or a
            list of these. None minimizes the value each trial returns.
        max_trials: Number of trials. Defaults to 10.
        num_initial_points: Quasi-random trials before the model is used;
            defaults to the number of tuned hyperparameters plus 2, at most 10.
        alpha: Smallest noise of the model, as a fraction of the standard
            deviation of the scores. Defaults to 1e-4 (nearly exact scores);
            raise it (e.g. to 0.05) for noisy training runs.
        beta: Exploration. At 2.6 (default) plain expected improvement;
            larger values widen the model's uncertainty by sqrt(beta / 2.6)
            and explore more, smaller ones exploit more.
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
        >>> tuner = BayesianOptimization(build_model, objective="val_accuracy", max_trials=20)
        >>> tuner.search(x, y, epochs=3, validation_split=0.2)
    """

    def __init__(
        self,
        hypermodel: Any = None,
        objective: Any = None,
        max_trials: int = 10,
        num_initial_points: int | None = None,
        alpha: float = 1e-4,
        beta: float = 2.6,
        seed: int | None = None,
        hyperparameters: HyperParameters | None = None,
        tune_new_entries: bool = True,
        allow_new_entries: bool = True,
        max_retries_per_trial: int = 0,
        max_consecutive_failed_trials: int = 3,
        **kwargs: Any,
    ) -> None:
        self.seed = seed
        oracle = BayesianOptimizationOracle(
            **oracle_options(kwargs),
            objective=objective,
            max_trials=max_trials,
            num_initial_points=num_initial_points,
            alpha=alpha,
            beta=beta,
            seed=seed,
            hyperparameters=hyperparameters,
            tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        super().__init__(oracle, hypermodel, **kwargs)

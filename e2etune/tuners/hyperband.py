"""`Hyperband`: a `Tuner` whose promoted trials continue their parent's training."""

from __future__ import annotations

import os
import warnings
from typing import Any

from e2etune.engine import tuner_models, tuner_utils
from e2etune.engine.base_tuner import builds_hypermodel, oracle_options
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.trial import Trial
from e2etune.engine.tuner import Tuner
from e2etune.oracles.hyperband import HyperbandOracle


class Hyperband(Tuner):
    """Trains many configurations briefly and the best of them for longer.

    The schedule (printed when the search starts) follows Li et al. (2018):
    each bracket starts many trials with few epochs, and each round promotes
    the best `1/factor` to train longer. A promoted trial starts from its
    parent's model at its best epoch (weights and optimizer state) and trains
    from `initial_epoch` to `epochs`, so no epoch is trained twice. `fit`
    receives `epochs` and `initial_epoch` from the schedule.

    A `run_trial` override reads the schedule from `trial.hyperparameters`:
    `tuner/epochs`, `tuner/initial_epoch`, `tuner/bracket`, `tuner/round`
    and, for a promoted trial, `tuner/trial_id` (its parent, whose model
    `self.load_model(self.oracle.get_trial(...))` returns).

    Args:
        hypermodel: A `HyperModel` or a `build(hp)` function; optional when
            `run_trial` is overridden.
        objective: A metric name, an `Objective`, or a list of these.
        max_epochs: Epochs of the longest-trained trials. Defaults to 100.
        factor: Reduction factor between rounds. Defaults to 3.
        hyperband_iterations: How many times to run the whole schedule.
            Defaults to 1.
        seed: Random seed; None picks one.
        hyperparameters: A `HyperParameters` overriding or pre-declaring part
            of the space.
        tune_new_entries: Whether new hyperparameters are tuned or fixed.
        allow_new_entries: Whether model code may declare new hyperparameters.
        max_retries_per_trial: Runs again of a trial that raised. Defaults to 0.
        max_consecutive_failed_trials: Failures in a row that stop the search.
            Defaults to 3.
        **kwargs: `Tuner` arguments (`directory`, `project_name`, `overwrite`,
            `executions_per_trial`, `storage`, ...) and the oracle's
            `heartbeat_interval`, `lease_grace`, `max_crashes_per_trial`.

    Example:
        >>> tuner = Hyperband(build_model, objective="val_accuracy", max_epochs=27)
        >>> tuner.search(x, y, validation_split=0.2)
    """

    def __init__(
        self,
        hypermodel: Any = None,
        objective: Any = None,
        max_epochs: int = 100,
        factor: int = 3,
        hyperband_iterations: int = 1,
        seed: int | None = None,
        hyperparameters: HyperParameters | None = None,
        tune_new_entries: bool = True,
        allow_new_entries: bool = True,
        max_retries_per_trial: int = 0,
        max_consecutive_failed_trials: int = 3,
        **kwargs: Any,
    ) -> None:
        oracle = HyperbandOracle(
            **oracle_options(kwargs),
            objective=objective,
            max_epochs=max_epochs,
            factor=factor,
            hyperband_iterations=hyperband_iterations,
            seed=seed,
            hyperparameters=hyperparameters,
            tune_new_entries=tune_new_entries,
            allow_new_entries=allow_new_entries,
            max_retries_per_trial=max_retries_per_trial,
            max_consecutive_failed_trials=max_consecutive_failed_trials,
        )
        super().__init__(oracle, hypermodel, **kwargs)

    def on_search_begin(self) -> None:
        """Shows the schedule: trials and epochs of every round, and the total budget."""
        super().on_search_begin()
        if self._display.verbose:
            print(self.oracle.describe_schedule(), flush=True)

    @builds_hypermodel
    def run_trial(self, trial: Trial, *args: Any, **kwargs: Any) -> list:
        """Builds (or continues) and trains the model for the epochs the schedule gives."""
        values = trial.hyperparameters.values
        kwargs["epochs"] = values["tuner/epochs"]
        kwargs["initial_epoch"] = values["tuner/initial_epoch"]
        parent = values.get("tuner/trial_id")
        if parent is not None and not os.path.exists(self._get_checkpoint_fname(parent)):
            warnings.warn(
                f"Trial {trial.trial_id} continues trial {parent}, which saved no model; it "
                "trains from scratch instead.", stacklevel=tuner_utils.user_stacklevel())
            kwargs["initial_epoch"] = 0
        return super().run_trial(trial, *args, **kwargs)

    def _build_hypermodel(self, hp: HyperParameters) -> Any:
        """A new model, or for a promoted trial its parent's model at its best epoch."""
        parent = hp.values.get("tuner/trial_id")
        if parent is None or not os.path.exists(self._get_checkpoint_fname(parent)):
            return super()._build_hypermodel(hp)

        def build() -> Any:
            return super(Hyperband, self)._build_hypermodel(hp.copy())

        with tuner_utils.maybe_distribute(self.distribution_strategy):
            return tuner_models.load_trial_model(
                self.get_trial_dir(parent), parent, build, rebuild_first=False)

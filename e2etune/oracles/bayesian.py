"""Bayesian optimization on our own Gaussian process."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import threadpoolctl

from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.oracle import Oracle
from e2etune.engine.trial import Trial, TrialStatus
from e2etune.oracles import _acquisition
from e2etune.oracles._encoding import SpaceEncoding
from e2etune.oracles.gaussian_process import GaussianProcess

#: Plain expected improvement is used at this `beta` (KerasTuner's default).
_NEUTRAL_BETA = 2.6


class BayesianOptimizationOracle(Oracle):
    """Bayesian optimization with a Gaussian process and log expected improvement.

    The first `num_initial_points` trials are quasi-random (scrambled Sobol,
    seeded); after them each trial fits a Gaussian process (Matérn-5/2, one
    length scale per hyperparameter, fitted by marginal likelihood with
    priors, warm-started) to the scores so far and proposes the point of
    highest log expected improvement. Log-scaled hyperparameters are modelled
    on the log scale; integers and choices are searched on their own values;
    hyperparameters inactive in a trial are left out of its distances.
    Trials still running on other workers count as already evaluated at the
    worst score seen (a "constant liar"), so parallel workers spread out.
    Failed and invalid trials are not data, and no configuration is proposed
    twice.

    Args:
        objective: A metric name, an `Objective`, or a list of these.
        max_trials: Number of trials. Defaults to 10.
        num_initial_points: Quasi-random trials before the model is used;
            defaults to 3 times the number of tuned hyperparameters (at least 2).
        alpha: Smallest noise of the model, as a fraction of the standard
            deviation of the scores (the fitted noise never goes below it).
            The default, 1e-4, treats scores as nearly exact and lets the model
            resolve the optimum finely; raise it (e.g. to 0.05) when training
            the same configuration twice gives scores that differ by about 5%
            of their spread. (KerasTuner adds alpha to the variance instead,
            which blurs every score by 1% of the spread.)
        beta: Exploration. At 2.6 (default) the acquisition is plain expected
            improvement; larger values widen the model's uncertainty by
            sqrt(beta / 2.6) and explore more, smaller ones exploit more.
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
        num_initial_points: int | None = None,
        alpha: float = 1e-4,
        beta: float = 2.6,
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
        if num_initial_points is not None and (
            not isinstance(num_initial_points, int) or num_initial_points < 1
        ):
            raise ValueError(
                f"`num_initial_points` must be a positive integer or None; got {num_initial_points!r}."
            )
        if not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
            raise ValueError(f"`alpha` is a noise-to-spread ratio in (0, 1); got {alpha!r}.")
        if not (isinstance(beta, (int, float)) and beta > 0):
            raise ValueError(f"`beta` must be a positive number; got {beta!r}.")
        self.num_initial_points = num_initial_points
        self.alpha = float(alpha)
        self.beta = float(beta)
        self._gp_state: dict[str, Any] | None = None

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        """Proposes the next values: quasi-random at first, then by the Gaussian process."""
        encoding = SpaceEncoding(self.hyperparameters.space)
        if not encoding.tuned:
            values = self._random_values()
        else:
            completed = self._observed_trials()
            if len(completed) < self._initial_points(encoding):
                values = self._initial_values(encoding)
            else:
                values = self._proposal(encoding, completed)
        if values is None:
            return {"status": TrialStatus.STOPPED}
        return {"status": TrialStatus.RUNNING, "values": values}

    def _initial_points(self, encoding: SpaceEncoding) -> int:
        return self.num_initial_points or max(2, 3 * len(encoding.tuned))

    def _observed_trials(self) -> list[Trial]:
        return [
            t for t in self.trials.values()
            if t.status == TrialStatus.COMPLETED and t.score is not None and not math.isnan(t.score)
        ]

    def _initial_values(self, encoding: SpaceEncoding) -> dict[str, Any] | None:
        """The next scrambled-Sobol point not tried yet (random values after many collisions)."""
        from scipy.stats import qmc

        for _ in range(self._max_collisions):
            rng = self._rng()
            point = qmc.Sobol(len(encoding.tuned), scramble=True, seed=rng).random(1)[0]
            values = encoding.decode(self._unit_to_row(encoding, point))
            if self._compute_values_hash(values) not in self._tried_so_far:
                return values
        return self._random_values()

    @staticmethod
    def _unit_to_row(encoding: SpaceEncoding, point: np.ndarray) -> np.ndarray:
        row = point.copy()
        for column, dim in enumerate(encoding.dimensions):
            if dim.kind == "categorical":
                row[column] = min(int(point[column] * dim.n_choices), dim.n_choices - 1)
        return row

    def _proposal(self, encoding: SpaceEncoding, completed: list[Trial]) -> dict[str, Any] | None:
        # The matrices are small: one BLAS thread is fastest, and threads that
        # compete with training for the cores can make a proposal 50x slower.
        with threadpoolctl.threadpool_limits(limits=1, user_api="blas"):
            return self._fit_and_propose(encoding, completed)

    def _fit_and_propose(self, encoding: SpaceEncoding, completed: list[Trial]) -> dict[str, Any] | None:
        sign = 1.0 if self.objective.direction == "min" else -1.0
        x = np.array([encoding.encode(t.hyperparameters.values) for t in completed])
        y = np.array([sign * t.score for t in completed])
        finite = np.isfinite(y)
        worst = y[finite].max() if finite.any() else 0.0
        y = np.where(finite, y, worst)
        pending = [
            encoding.encode(t.hyperparameters.values) for t in self.ongoing_trials.values()
        ]
        tried = [encoding.encode(t.hyperparameters.values) for t in self.trials.values()]
        if pending:
            x = np.vstack([x, pending])
            y = np.concatenate([y, np.full(len(pending), worst)])
        gp = GaussianProcess(encoding.dimensions, seed=self.seed, noise_floor=self.alpha**2)
        if self._gp_state is not None:
            try:
                gp.set_state(self._gp_state)
            except ValueError:
                pass
        gp.fit(x, y)
        self._gp_state = gp.get_state()
        best = float(y[: len(completed)].min())
        exclude = np.array(tried) if tried else None
        for _ in range(3):
            row = _acquisition.optimize_acquisition(
                gp, best, self._rng(), exclude=exclude,
                exploration=math.sqrt(self.beta / _NEUTRAL_BETA),
            )
            if row is None:
                break
            values = encoding.decode(row)
            if self._compute_values_hash(values) not in self._tried_so_far:
                return values
            canonical = encoding.canonical(row)[None, :]
            exclude = canonical if exclude is None else np.vstack([exclude, canonical])
        return self._random_values()

    def get_state(self) -> dict[str, Any]:
        """The fitted kernel parameters, so a resumed search continues with the same model."""
        return {"gp": self._gp_state}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restores the kernel parameters."""
        self._gp_state = state.get("gp")

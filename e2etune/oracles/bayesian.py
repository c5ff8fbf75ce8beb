"""Bayesian optimization on our own Gaussian process."""

from __future__ import annotations

import math
import warnings
from typing import Any

import numpy as np
import threadpoolctl

from e2etune.engine._oracle_arguments import shared_arguments
from e2etune.engine.oracle import Oracle
from e2etune.engine.trial import Trial, TrialStatus
from e2etune.oracles import _acquisition, _long_search
from e2etune.oracles._encoding import SpaceEncoding
from e2etune.oracles.gaussian_process import GaussianProcess

#: Plain expected improvement is used at this `beta` (KerasTuner's default).
_NEUTRAL_BETA = 2.6
#: Above this many observations the kernel is refitted with fewer iterations.
_FULL_FIT_POINTS = 150
_SHORT_FIT_ITERATIONS = 10


@shared_arguments
class BayesianOptimizationOracle(Oracle):
    """Bayesian optimization with a Gaussian process and log expected improvement.

    The first `num_initial_points` trials follow a scrambled Sobol sequence
    (seeded, so they cover the space evenly and reproducibly); after them
    each trial fits a Gaussian process (Matérn-5/2, one length scale per
    hyperparameter, fitted by marginal likelihood with priors, warm-started)
    to the scores so far and proposes the point of highest log expected
    improvement. Log-scaled hyperparameters are modelled on the log scale;
    integers and choices are searched on their own values; a hyperparameter
    inactive in a trial is pinned to its default, so it adds nothing to the
    model. The scores are standardized and passed through a Yeo-Johnson power
    transform fitted to them (monotone, so the best stays the best), which
    keeps a few very bad scores or a narrow deep optimum from spoiling the fit.

    Trials still running on other workers, and trials that failed or gave no
    finite score, enter the model as "fantasies": observations at the
    model's own prediction. They add no information about the objective but
    remove the uncertainty there, so parallel workers spread out and a
    failing region is not proposed again and again. A score of +inf (-inf
    when maximizing) counts as the worst finite score seen. No configuration
    is proposed twice; a finite space ends the search once it is exhausted.

    Beyond 500 scored trials the cost of a suggestion stays bounded: the
    kernel is fitted on 250 of them (the best and a spread of the others)
    every n/50 new scores, the process is conditioned on 600 (the best, the
    latest and a spread) plus those scored since and the 100 nearest the best,
    grown by Cholesky updates, and the acquisition searches from fewer
    candidates (see `_long_search`).

    The model's state (kernel parameters) and the random stream are saved
    with the search, so a resumed search proposes what an uninterrupted one
    would have (beyond 500 trials the resumed one chooses its subset of
    trials afresh, so it may differ slightly).

    Args:
        objective: A metric name, an `Objective`, or a list of these.
        max_trials: Number of trials. Defaults to 10.
        num_initial_points: Quasi-random trials before the model is used;
            defaults to the number of tuned hyperparameters plus 2, at most 10.
        alpha: Smallest noise of the model, as a fraction of the standard
            deviation of the scores as modelled (standardized and
            transformed); the fitted noise never goes below it.
            The default, 1e-4, treats scores as nearly exact and lets the model
            resolve the optimum finely; raise it (e.g. to 0.05) when training
            the same configuration twice gives scores that differ by about 5%
            of their spread. (KerasTuner adds alpha to the variance instead,
            which blurs every score by 1% of the spread.)
        beta: Exploration. At 2.6 (default) the acquisition is plain expected
            improvement; larger values widen the model's uncertainty by
            sqrt(beta / 2.6) and explore more, smaller ones exploit more.

    Example:
        >>> hp = HyperParameters()
        >>> hp.Float("x", -1.0, 1.0)
        -1.0
        >>> oracle = BayesianOptimizationOracle(max_trials=15, seed=0, hyperparameters=hp)
        >>> for _ in range(15):
        ...     trial = oracle.create_trial("worker")
        ...     loss = (trial.hyperparameters["x"] - 0.3) ** 2
        ...     _ = oracle.update_trial(trial.trial_id, {"default_objective": loss})
        ...     trial.status = "COMPLETED"
        ...     oracle.end_trial(trial)
        >>> round(oracle.get_best_trials(1)[0].hyperparameters["x"], 3)
        0.3
    """

    def __init__(
        self,
        objective: Any = None,
        max_trials: int | None = 10,
        num_initial_points: int | None = None,
        alpha: float = 1e-4,
        beta: float = 2.6,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            objective=objective,
            max_trials=max_trials,
            **kwargs,
        )
        if num_initial_points is not None and (
            isinstance(num_initial_points, bool)
            or not isinstance(num_initial_points, int)
            or num_initial_points < 1
        ):
            raise ValueError(
                "`num_initial_points` must be a positive integer or None; "
                f"got {num_initial_points!r}."
            )
        if isinstance(alpha, bool) or not (isinstance(alpha, (int, float)) and 0 < alpha < 1):
            raise ValueError(f"`alpha` is a noise-to-spread ratio in (0, 1); got {alpha!r}.")
        if isinstance(beta, bool) or not (isinstance(beta, (int, float)) and 0 < beta < math.inf):
            raise ValueError(f"`beta` must be a positive finite number; got {beta!r}.")
        self.num_initial_points = num_initial_points
        self.alpha = float(alpha)
        self.beta = float(beta)
        self._gp_state: dict[str, Any] = {}
        self._threadpools: threadpoolctl.ThreadpoolController | None = None
        #: The encoding of the space and, by trial id, the values and the row of the
        #: trials encoded with it (in `_matrix`, of which `_matrix_rows` are used).
        self._cache: tuple[SpaceEncoding | None, dict[str, tuple[Any, int]]] = (None, {})
        self._matrix, self._matrix_rows = np.empty((0, 0)), 0
        #: Beyond 500 scored trials: the number of them at the last fit of the kernel, and
        #: the model kept between suggestions (with the encoding it was made for).
        self._fitted_at: int | None = None
        self._long: tuple[SpaceEncoding, _long_search.LongSearchModel] | None = None

    def populate_space(self, trial_id: str) -> dict[str, Any]:
        """Proposes the next values: quasi-random at first, then by the Gaussian process."""
        encoding = self._encoding()
        values = None
        if encoding.tuned:
            data, others = self._split_trials()
            if len(data) < self._initial_points(encoding):
                values = self._initial_values(encoding)
            if values is None and data:  # the model phase, or a small space nearly covered
                values = self._proposal(encoding, data, others)
        if values is None:
            values = self._random_values()
        if values is None:
            return {"status": TrialStatus.STOPPED}
        return {"status": TrialStatus.RUNNING, "values": values}

    def _initial_points(self, encoding: SpaceEncoding) -> int:
        return self.num_initial_points or min(len(encoding.tuned) + 2, 10)

    def _split_trials(self) -> tuple[list[tuple[Trial, float]], list[Trial]]:
        """The trials with a usable score (and that score, minimized) and all the others."""
        sign = -1.0 if self.objective.direction == "max" else 1.0
        data, others = [], []
        for trial in self.trials.values():
            score = trial.score if trial.status == TrialStatus.COMPLETED else None
            score = None if score is None else sign * float(score)
            if score is None or math.isnan(score) or score == -math.inf:
                others.append(trial)
            else:
                data.append((trial, score))
        finite = [s for _, s in data if math.isfinite(s)]
        if not finite:
            return [], [t for t, _ in data] + others
        worst = max(finite)
        return [(t, s if math.isfinite(s) else worst) for t, s in data], others

    def _initial_values(self, encoding: SpaceEncoding) -> dict[str, Any] | None:
        """The next point of the seeded scrambled Sobol sequence not tried yet, if any soon."""
        start = len(self.trials)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # balance warnings for lengths not a power of 2
            engine = _acquisition.sobol_engine(len(encoding.tuned), self.seed)
            if start:
                engine.fast_forward(start)
            points = engine.random(self._max_collisions)
        for point in points:
            values = encoding.decode(self._unit_to_row(encoding, point))
            if self._compute_values_hash(values) not in self._tried_so_far:
                return values
        return None

    @staticmethod
    def _unit_to_row(encoding: SpaceEncoding, point: np.ndarray) -> np.ndarray:
        row = point.copy()
        for column, dim in enumerate(encoding.dimensions):
            if dim.kind == "categorical":
                row[column] = min(int(point[column] * dim.n_choices), dim.n_choices - 1)
        return row

    def _proposal(
        self, encoding: SpaceEncoding, data: list[tuple[Trial, float]], others: list[Trial]
    ) -> dict[str, Any] | None:
        # The matrices are small: one BLAS thread is fastest, and threads that
        # compete with training for the cores can make a proposal 50x slower.
        # (Finding the BLAS libraries takes milliseconds: done once per oracle.)
        if self._threadpools is None:
            self._threadpools = threadpoolctl.ThreadpoolController()
        with self._threadpools.limit(limits=1, user_api="blas"):
            return self._fit_and_propose(encoding, data, others)

    def _fit_and_propose(
        self, encoding: SpaceEncoding, data: list[tuple[Trial, float]], others: list[Trial]
    ) -> dict[str, Any] | None:
        x = self._rows(encoding, [t for t, _ in data])
        y = _warp(np.array([s for _, s in data]))
        if len(y) <= _long_search.FULL_MODEL_POINTS:
            gp = GaussianProcess(encoding.dimensions, seed=self.seed, noise_floor=self.alpha**2)
            try:
                gp.set_state(self._restored_gp_state(encoding))
            except ValueError:  # a damaged saved state: start the model afresh
                gp.set_state({})
            iterations = None if len(y) <= _FULL_FIT_POINTS else _SHORT_FIT_ITERATIONS
            gp.fit(x, y, max_iterations=iterations)
            x_model, y_model = x, y
        else:
            gp, members = self._long_model(encoding, data, x, y)
            x_model, y_model = x[members], y[members]
        self._gp_state = _named_state(gp.get_state(), encoding.names)
        best = float(y.min())
        if others:
            # Fantasies: the model's own prediction where no score will come (yet).
            x_others = self._rows(encoding, others)
            fantasies = gp.predict(x_others, return_std=False)
            gp.condition(np.vstack([x_model, x_others]), np.concatenate([y_model, fantasies]))
            best = min(best, float(fantasies.min()))
        exclude = np.vstack([x, x_others]) if others else x
        for _ in range(3):
            row = _acquisition.optimize_acquisition(
                gp, best, self._rng(), exclude=exclude,
                project=encoding.project if encoding.conditional else None,
                exploration=math.sqrt(self.beta / _NEUTRAL_BETA),
                **_long_search.acquisition_budget(len(y)),
            )
            if row is None:
                break
            values = encoding.decode(row)
            if self._compute_values_hash(values) not in self._tried_so_far:
                return values
            exclude = np.vstack([exclude, encoding.canonical(row)[None, :], row[None, :]])
        return None

    def _long_model(
        self, encoding: SpaceEncoding, data: list[tuple[Trial, float]], x: np.ndarray,
        y: np.ndarray,
    ) -> tuple[GaussianProcess, np.ndarray]:
        """The process of a long search and the indices of the trials it is conditioned on."""
        if self._long is None or self._long[0] is not encoding:
            self._long = (encoding, _long_search.LongSearchModel(
                encoding.dimensions, self.seed, self.alpha**2))
        refit = _long_search.refit_due(len(y), self._fitted_at)
        gp, members = self._long[1].fit([t.trial_id for t, _ in data], x, y,
                                        self._restored_gp_state(encoding), refit)
        if refit:
            self._fitted_at = len(y)
        return gp, members

    def _encoding(self) -> SpaceEncoding:
        """The encoding of the current space (made again only when the space changes)."""
        space = self.hyperparameters.space
        cached = self._cache[0]
        if cached is None or len(cached.space) != len(space) or any(
            a is not b for a, b in zip(cached.space, space)
        ):
            self._cache = (SpaceEncoding(space), {})
            self._matrix, self._matrix_rows = np.empty((0, len(self._cache[0].names))), 0
        return self._cache[0]

    def _rows(self, encoding: SpaceEncoding, trials: list[Trial]) -> np.ndarray:
        """The encoded rows of `trials` (each encoded once per encoding, kept in one matrix)."""
        index, matrix = self._cache[1], self._matrix
        positions = []
        for trial in trials:
            entry = index.get(trial.trial_id)
            if entry is None or entry[0] is not trial.hyperparameters:
                if self._matrix_rows == len(matrix):
                    matrix = np.resize(matrix, (max(2 * len(matrix), 64), len(encoding.names)))
                matrix[self._matrix_rows] = encoding.encode(trial.hyperparameters.values)
                entry = index[trial.trial_id] = (trial.hyperparameters, self._matrix_rows)
                self._matrix_rows += 1
            positions.append(entry[1])
        self._matrix = matrix
        return matrix[positions]

    def _restored_gp_state(self, encoding: SpaceEncoding) -> dict[str, Any]:
        """The saved kernel parameters for the current columns (new columns at the default)."""
        state = self._gp_state
        if not state:
            return {}
        lengths = state["log_length_scales"]
        default = math.log(0.5)
        return {
            "log_length_scales": [lengths.get(name, default) for name in encoding.names],
            "log_signal_variance": state["log_signal_variance"],
            "log_noise_variance": state["log_noise_variance"],
        }

    def get_state(self) -> dict[str, Any]:
        """The fitted kernel parameters, so a resumed search continues with the same model."""
        return {"gp": self._gp_state, "fitted_at": self._fitted_at}

    def set_state(self, state: dict[str, Any]) -> None:
        """Restores the kernel parameters."""
        gp_state = state.get("gp") or {}
        keys = {"log_length_scales", "log_signal_variance", "log_noise_variance"}
        if gp_state and not (
            isinstance(gp_state, dict)
            and keys <= set(gp_state)
            and isinstance(gp_state["log_length_scales"], dict)
        ):
            raise ValueError(f"invalid Gaussian process state {gp_state!r}")
        self._gp_state = gp_state
        fitted_at = state.get("fitted_at")
        valid = isinstance(fitted_at, int) and not isinstance(fitted_at, bool) and fitted_at >= 0
        self._fitted_at = fitted_at if valid else None


def _named_state(state: dict[str, Any], names: list[str]) -> dict[str, Any]:
    """The GP state with the length scales keyed by hyperparameter name."""
    return {**state, "log_length_scales": dict(zip(names, state["log_length_scales"]))}


def _warp(y: np.ndarray) -> np.ndarray:
    """The scores as modelled: standardized, then Yeo-Johnson transformed.

    A few very bad scores (a diverged training run, the walls of Rosenbrock's
    valley) or a narrow deep optimum (Ackley's) make a poor fit for a
    Gaussian process; a power transform fitted to the scores by maximum
    likelihood makes them closer to normal. It is monotone, so the best
    score stays the best and the search is unchanged in every other way.
    """
    with np.errstate(over="ignore", invalid="ignore"):
        centered = y - np.median(y)
        spread = float(np.max(np.abs(centered)))
        if y.size < 3 or not 0.0 < spread < np.inf:
            return y if y.size < 3 or spread == 0.0 else np.argsort(np.argsort(y)) / y.size
        z = centered / spread  # in [-1, 1]: no overflow below
        z = (z - np.mean(z)) / np.std(z)
    grid = np.linspace(-2.0, 4.0, 61)
    best = grid[np.argmax(_yeo_johnson_likelihood(z, grid))]
    fine = np.linspace(best - 0.1, best + 0.1, 21)
    lam = float(fine[np.argmax(_yeo_johnson_likelihood(z, fine))])
    warped = _yeo_johnson(z[None, :], np.array([lam]))[0]
    return warped if np.all(np.isfinite(warped)) and np.std(warped) > 0.0 else z


def _yeo_johnson(z: np.ndarray, lam: np.ndarray) -> np.ndarray:
    """Yeo-Johnson transforms of the rows ``z`` (or of one row broadcast), one ``lam`` per row."""
    lam = lam[:, None]
    positive = z >= 0.0
    with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
        log_up = np.log1p(np.where(positive, z, 0.0))
        log_down = np.log1p(np.where(positive, 0.0, -z))
        near_zero, near_two = np.abs(lam) < 1e-8, np.abs(lam - 2.0) < 1e-8
        up = np.where(near_zero, log_up, np.expm1(lam * log_up) / np.where(near_zero, 1.0, lam))
        two = 2.0 - lam
        down = np.where(near_two, log_down, np.expm1(two * log_down) / np.where(near_two, 1.0, two))
    return np.where(positive, up, -down)


def _yeo_johnson_likelihood(z: np.ndarray, lams: np.ndarray) -> np.ndarray:
    """Profile log-likelihood of each Yeo-Johnson ``lam`` for standardized scores ``z``."""
    transformed = _yeo_johnson(np.broadcast_to(z, (lams.size, z.size)), lams)
    variance = np.var(transformed, axis=1)
    jacobian = np.sum(np.sign(z) * np.log1p(np.abs(z)))
    with np.errstate(divide="ignore"):
        value = -0.5 * z.size * np.log(variance) + (lams - 1.0) * jacobian
    return np.where(np.isfinite(value), value, -np.inf)

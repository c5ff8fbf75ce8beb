"""Log expected improvement and its optimizer over mixed encoded spaces.

Private to the Bayesian optimization oracle; numpy and scipy only. All
functions minimize the objective: the improvement is ``best - f(x)``.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable

import numpy as np
from scipy.special import erfcx, log_ndtr, ndtr

from e2etune.oracles.gaussian_process import GaussianProcess

#: Maps points to the points they stand for, with the mask of the entries it pinned.
Projection = Callable[[np.ndarray], "tuple[np.ndarray, np.ndarray]"]

_HALF_LOG_2PI = 0.5 * np.log(2.0 * np.pi)
_ASYMPTOTIC_Z = -1.0 / np.sqrt(np.finfo(float).eps)
_MIN_STD = 1e-300
_MAX_Z = 1e150
_DUPLICATE_TOL = 1e-9
_MAX_PASSES = 3
_MAX_LBFGS_ITERATIONS = 25
_FULL_GRID_SIZE = 16
_LOCAL_SCALES = np.array([0.003, 0.03, 0.1, 0.3])


def _log_h(z: np.ndarray) -> np.ndarray:
    """``log(z Phi(z) + phi(z))``, accurate for every finite ``z``.

    Follows Ament et al., "Unexpected improvements to expected improvement
    for Bayesian optimization" (NeurIPS 2023), eq. 9: direct for ``z > -1``,
    through ``erfcx`` below, and the asymptotic expansion past
    ``-1/sqrt(eps)`` where the ``erfcx`` form loses its last digit.
    """
    out = np.empty_like(z)
    upper = z > -1.0
    zu = z[upper]
    out[upper] = np.log(zu * ndtr(zu) + np.exp(-0.5 * zu * zu - _HALF_LOG_2PI))
    middle = ~upper & (z > _ASYMPTOTIC_Z)
    zm = z[middle]
    log_ratio = np.log(erfcx(-zm / np.sqrt(2.0)) * -zm) + 0.5 * np.log(np.pi / 2.0)
    out[middle] = -0.5 * zm * zm - _HALF_LOG_2PI + _log1mexp(log_ratio)
    far = z <= _ASYMPTOTIC_Z
    zf = z[far]
    out[far] = -0.5 * zf * zf - _HALF_LOG_2PI - 2.0 * np.log(-zf)
    return out


def _log1mexp(x: np.ndarray) -> np.ndarray:
    """``log(1 - exp(x))`` for ``x < 0`` without cancellation."""
    x = np.minimum(x, -1e-300)
    out = np.empty_like(x)
    near = x > -np.log(2.0)
    out[near] = np.log(-np.expm1(x[near]))
    out[~near] = np.log1p(-np.exp(x[~near]))
    return out


def log_expected_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """Log expected improvement below ``best`` (minimization).

    ``EI = std * h(z)`` with ``z = (best - mean) / std`` and
    ``h(z) = z Phi(z) + phi(z)``; its log stays finite (and very negative)
    far from the data, where EI itself underflows to zero.

    Args:
        mean: Posterior means, any shape.
        std: Posterior standard deviations, the same shape, positive
            (clipped at 1e-300).
        best: The value to improve on (the lowest observed score, say).

    Returns:
        ``log(EI)``, shaped like ``mean``.

    Example:
        >>> value = log_expected_improvement(np.array([30.0]), np.array([1.0]), 0.0)
        >>> bool(np.isfinite(value[0]) and value[0] < -400)
        True
    """
    mean = np.asarray(mean, dtype=float)
    std = np.maximum(np.asarray(std, dtype=float), _MIN_STD)
    return np.log(std) + _log_h(_standardized_improvement(mean, std, best)).reshape(mean.shape)


def log_expected_improvement_with_grad(
    mean: np.ndarray, std: np.ndarray, best: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """:func:`log_expected_improvement` and its partial derivatives.

    Args:
        mean: Posterior means, any shape.
        std: Posterior standard deviations, the same shape, positive.
        best: The value to improve on.

    Returns:
        ``(log_ei, d log_ei / d mean, d log_ei / d std)``, each shaped like
        ``mean``.
    """
    mean = np.asarray(mean, dtype=float)
    std = np.maximum(np.asarray(std, dtype=float), _MIN_STD)
    z = _standardized_improvement(mean, std, best)
    log_h = _log_h(z)
    # With h' = Phi and h - z h' = phi, the derivatives are ratios of logs that
    # stay finite where Phi, phi and h all underflow.
    d_mean = -np.exp(log_ndtr(z) - log_h).reshape(mean.shape) / std
    d_std = np.exp(-0.5 * z * z - _HALF_LOG_2PI - log_h).reshape(mean.shape) / std
    return np.log(std) + log_h.reshape(mean.shape), d_mean, d_std


def _standardized_improvement(mean: np.ndarray, std: np.ndarray, best: float) -> np.ndarray:
    """``(best - mean) / std`` as a 1-d array, clipped to +-1e150 to keep ``z**2`` finite."""
    return np.clip(np.atleast_1d((best - mean) / std), -_MAX_Z, _MAX_Z).ravel()


class _Space:
    """The columns of an encoded space grouped by kind."""

    def __init__(self, gp: GaussianProcess):
        dims = gp.dimensions
        self.n_dims = len(dims)
        self.continuous = np.array(
            [i for i, d in enumerate(dims) if d.kind == "continuous"], dtype=int
        )
        # Every non-continuous column with its allowed values, in order.
        self.choices = {
            i: (d.grid if d.kind == "discrete" else np.arange(float(d.n_choices)))
            for i, d in enumerate(dims)
            if d.kind != "continuous"
        }
        self.ordered = {i for i, d in enumerate(dims) if d.kind == "discrete"}

    def size(self) -> float:
        """The number of points when no column is continuous, else infinity."""
        if self.continuous.size:
            return np.inf
        return float(np.prod([float(v.size) for v in self.choices.values()]))

    def enumerate(self) -> np.ndarray:
        """Every point of a space without continuous columns."""
        columns = [self.choices[i] for i in range(self.n_dims)]
        return np.array(list(itertools.product(*columns)), dtype=float).reshape(-1, self.n_dims)

    def from_unit(self, u: np.ndarray) -> np.ndarray:
        """Maps points of the unit cube onto the space, cell by cell."""
        x = u.copy()
        for i, values in self.choices.items():
            x[:, i] = values[np.minimum((u[:, i] * values.size).astype(int), values.size - 1)]
        return x

    def moves(self, column: int, x: np.ndarray) -> np.ndarray:
        """Values to try in ``column`` for each row of ``x``, ``(m, q)``.

        All values of a categorical or short discrete column; for a long
        grid the positions 1, 2, 4, ... steps away on either side.
        """
        values = self.choices[column]
        if column not in self.ordered or values.size <= _FULL_GRID_SIZE:
            return np.broadcast_to(values, (x.shape[0], values.size))
        index = np.searchsorted(values, x[:, column])
        steps = 2 ** np.arange(int(np.ceil(np.log2(values.size))))
        offsets = np.concatenate([-steps[::-1], steps])
        return values[np.clip(index[:, None] + offsets, 0, values.size - 1)]


class _Acquisition:
    """Log-EI of a fitted process with its standard deviation scaled by ``exploration``.

    With ``project``, every point is first projected (inactive conditional
    columns pinned), so points that stand for the same configuration score
    the same and the gradient of a pinned entry is zero.
    """

    def __init__(
        self,
        gp: GaussianProcess,
        best: float,
        exploration: float = 1.0,
        project: Projection | None = None,
    ):
        self.gp, self.best, self.exploration, self.project = gp, best, exploration, project

    def __call__(self, x: np.ndarray) -> np.ndarray:
        if self.project is not None:
            x = self.project(x)[0]
        mean, std = self.gp.predict(x)
        values = log_expected_improvement(mean, self.exploration * std, self.best)
        return np.where(np.isnan(values), -np.inf, values)

    def with_grad(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Values at the rows of ``x`` and their gradients with respect to ``x``.

        The gradient columns of categorical dimensions are zero; those of
        discrete ones are the gradient of the continuous relaxation.
        """
        inactive = None
        if self.project is not None:
            x, inactive = self.project(x)
        mean, var, d_mean, d_var = self.gp._posterior_with_grad(x)
        std = self.exploration * np.sqrt(var)
        values, g_mean, g_std = log_expected_improvement_with_grad(mean, std, self.best)
        # d std / dx = exploration * d var / (2 sqrt(var)) = exploration**2 * d var / (2 std).
        grad = (
            g_mean[:, None] * d_mean + (g_std * self.exploration**2 / (2.0 * std))[:, None] * d_var
        )
        if inactive is not None:
            grad[inactive] = 0.0
        return values, grad


def optimize_acquisition(
    gp: GaussianProcess,
    best: float,
    rng: np.random.Generator,
    *,
    n_candidates: int = 1024,
    n_restarts: int = 8,
    exclude: np.ndarray | None = None,
    exploration: float = 1.0,
    project: Projection | None = None,
) -> np.ndarray | None:
    """The encoded point of highest log expected improvement.

    Scores scrambled Sobol points and perturbations of the best training
    point, then refines the ``n_restarts`` best of them: L-BFGS-B on the
    continuous columns with analytic gradients, alternating with a
    coordinate search over the grid of every discrete column and the
    categories of every categorical one. Discrete values are always exact
    grid positions. A space with no continuous column and at most
    ``n_candidates`` points is enumerated instead.

    Args:
        gp: A fitted :class:`GaussianProcess`; its dimensions define the space.
        best: The value to improve on, in the units of the process outputs.
        rng: Source of the Sobol scrambling and perturbations; the result
            is a function of its state.
        n_candidates: Number of quasi-random candidates scored (default
            1024), plus a quarter as many around the best training point.
        n_restarts: Number of candidates refined (default 8).
        exclude: Points already evaluated or pending, ``(m, n_dims)``; the
            result differs from each of them in at least one column (by
            more than 1e-9). Default ``None`` excludes nothing.
        exploration: Factor on the posterior standard deviation (default
            1.0, plain log-EI); above 1 explores more, below 1 exploits more.
        project: Maps points ``(m, n_dims)`` to ``(points, pinned)``: the
            points they stand for (inactive conditional columns pinned) and
            the mask of the pinned entries. Candidates are scored, compared
            with ``exclude`` and returned projected. Default ``None``: every
            column is always active.

    Returns:
        The point, shape ``(n_dims,)``, or ``None`` when every candidate is
        excluded (a fully explored finite space, say).

    Raises:
        RuntimeError: when ``gp`` has not been fitted.
        ValueError: for a non-finite ``best`` or non-positive
            ``exploration``, non-positive counts or a wrongly shaped
            ``exclude``.
    """
    if not gp.is_fitted:
        raise RuntimeError("optimize_acquisition needs a fitted GaussianProcess.")
    if not np.isfinite(best):
        raise ValueError(f"best must be a finite number, got {best!r}.")
    if not exploration > 0.0:
        raise ValueError(f"exploration must be positive, got {exploration!r}.")
    if n_candidates < 1 or n_restarts < 0:
        raise ValueError(
            f"Need n_candidates >= 1 and n_restarts >= 0, got {n_candidates} and {n_restarts}."
        )
    space = _Space(gp)
    exclude = np.empty((0, space.n_dims)) if exclude is None else np.asarray(exclude, dtype=float)
    if exclude.ndim != 2 or exclude.shape[1] != space.n_dims:
        raise ValueError(f"exclude must have shape (m, {space.n_dims}), got {exclude.shape}.")
    acquisition = _Acquisition(gp, float(best), float(exploration), project)
    canonical = (lambda x: x) if project is None else (lambda x: project(x)[0])

    if space.size() <= n_candidates:
        points = canonical(space.enumerate())
        if project is not None:
            points = points[np.sort(np.unique(points, axis=0, return_index=True)[1])]
        return _best_allowed(points, acquisition(points), exclude)

    candidates = canonical(
        np.vstack(
            [
                space.from_unit(_sobol(space.n_dims, n_candidates, rng)),
                _perturb_incumbent(gp, space, rng, max(n_candidates // 4, 1)),
            ]
        )
    )
    scores = acquisition(candidates)
    top = np.argsort(-scores, kind="stable")[:n_restarts]
    if top.size:
        refined, refined_scores = _refine(acquisition, space, candidates[top], scores[top])
        candidates = np.vstack([canonical(refined), candidates])
        scores = np.concatenate([refined_scores, scores])
    return _best_allowed(candidates, scores, exclude)


def sobol_engine(n_dims: int, seed: int) -> Any:
    """A scrambled Sobol engine seeded with `seed`, whatever SciPy's spelling of the seed."""
    from scipy.stats import qmc  # imported on first use: scipy.stats is slow to import

    try:
        return qmc.Sobol(n_dims, scramble=True, rng=seed)
    except TypeError:  # SciPy < 1.15 calls the argument seed.
        return qmc.Sobol(n_dims, scramble=True, seed=seed)


def _sobol(n_dims: int, n: int, rng: np.random.Generator) -> np.ndarray:
    engine = sobol_engine(n_dims, int(rng.integers(2**63)))
    return engine.random_base2(int(np.ceil(np.log2(n))))[:n]


def _perturb_incumbent(
    gp: GaussianProcess, space: _Space, rng: np.random.Generator, n: int
) -> np.ndarray:
    """Gaussian steps of several sizes from the best training point.

    Continuous columns move by a normal step clipped to the unit cube; each
    other column moves with probability ``1 / n_dims`` to a random allowed
    value.
    """
    incumbent = gp.x_train[np.argmin(gp.y_train)]
    points = np.tile(incumbent, (n, 1))
    cont = space.continuous
    if cont.size:
        scales = _LOCAL_SCALES[rng.integers(_LOCAL_SCALES.size, size=n)]
        steps = rng.normal(size=(n, cont.size)) * scales[:, None]
        points[:, cont] = np.clip(points[:, cont] + steps, 0.0, 1.0)
    for i, values in space.choices.items():
        move = rng.random(n) < 1.0 / space.n_dims
        points[move, i] = values[rng.integers(values.size, size=int(move.sum()))]
    return points


def _refine(acquisition: _Acquisition, space: _Space, x: np.ndarray, values: np.ndarray):
    """Alternates gradient steps and coordinate search from the rows of ``x``."""
    for _ in range(_MAX_PASSES):
        if space.continuous.size:
            x, values = _ascend_continuous(acquisition, space.continuous, x, values)
        moved = False
        for column in space.choices:
            x, values, moved_here = _coordinate_step(acquisition, space, column, x, values)
            moved |= moved_here
        if not moved:
            break
    return x, values


def _ascend_continuous(
    acquisition: _Acquisition, columns: np.ndarray, x: np.ndarray, values: np.ndarray
):
    """One joint L-BFGS-B run over the continuous columns of all rows.

    The rows are independent, so the sum of their log-EI has a
    block-diagonal Hessian and one run serves all restarts. A row keeps its
    start where the run made it worse.
    """
    shape = (x.shape[0], columns.size)
    trial = x.copy()

    def objective(flat: np.ndarray) -> tuple[float, np.ndarray]:
        trial[:, columns] = flat.reshape(shape)
        acq, grad = acquisition.with_grad(trial)
        acq = np.where(np.isfinite(acq), acq, -1e300)
        return -float(acq.sum()), -grad[:, columns].ravel()

    import scipy.optimize  # imported on first use, so that importing e2etune stays fast

    result = scipy.optimize.minimize(
        objective,
        x[:, columns].ravel(),
        jac=True,
        method="L-BFGS-B",
        bounds=[(0.0, 1.0)] * (shape[0] * shape[1]),
        options={"maxiter": _MAX_LBFGS_ITERATIONS},
    )
    trial[:, columns] = np.clip(result.x.reshape(shape), 0.0, 1.0)
    new_values = acquisition(trial)
    better = new_values > values
    return np.where(better[:, None], trial, x), np.where(better, new_values, values)


def _coordinate_step(
    acquisition: _Acquisition, space: _Space, column: int, x: np.ndarray, values: np.ndarray
):
    """Moves every row to the best of the values ``space.moves`` offers."""
    options = space.moves(column, x)
    trials = np.repeat(x, options.shape[1], axis=0)
    trials[:, column] = options.ravel()
    scores = acquisition(trials).reshape(options.shape)
    rows = np.arange(x.shape[0])
    pick = np.argmax(scores, axis=1)
    better = scores[rows, pick] > values
    if not better.any():
        return x, values, False
    x = x.copy()
    x[better, column] = options[rows, pick][better]
    return x, np.where(better, scores[rows, pick], values), True


def _best_allowed(points: np.ndarray, scores: np.ndarray, exclude: np.ndarray) -> np.ndarray | None:
    """The highest scoring row of ``points`` that is not in ``exclude``."""
    for index in np.argsort(-scores, kind="stable"):
        point = points[index]
        if not exclude.size or not np.any(
            np.all(np.abs(exclude - point) <= _DUPLICATE_TOL, axis=1)
        ):
            return point.copy()
    return None

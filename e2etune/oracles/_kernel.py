"""Input dimensions, Matérn-5/2 kernel, priors and marginal likelihood of the GP.

Private helpers of :mod:`e2etune.oracles.gaussian_process` (which exports
:class:`Dimension`); numpy and scipy only. The kernel parameters travel as one vector ``theta``::

    theta = [log l_1, ..., log l_d, log signal_variance, log noise_variance]

Every column of the input matrix is mapped to "raw features" whose squared
Euclidean distance is the per-dimension distance of the kernel: a continuous
or discrete column is itself (shifted by 0.5 to keep the numbers small), a
categorical column is a one-hot vector scaled by ``1/sqrt(2)``, so that two
different categories are at squared distance 1 and equal ones at 0. Dividing
the raw features of dimension ``i`` by its length scale ``l_i`` gives
features whose squared distance is the scaled distance ``r^2`` of the
kernel, so that every distance matrix is one matrix product.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from scipy.linalg import lapack

SQRT5 = np.sqrt(5.0)
LOG_LENGTH_SCALE_BOUNDS = (np.log(1e-2), np.log(1e2))
LOG_SIGNAL_VARIANCE_BOUNDS = (np.log(1e-3), np.log(1e3))
DEFAULT_LENGTH_SCALE = 0.5
DEFAULT_SIGNAL_VARIANCE = 1.0
DEFAULT_NOISE_VARIANCE = 1e-3
_LOG_2PI = np.log(2.0 * np.pi)
_KINDS = ("continuous", "discrete", "categorical")


@dataclasses.dataclass(frozen=True, eq=False)
class Dimension:
    """One column of the encoded input matrix.

    Args:
        kind: ``"continuous"`` (any value in ``[0, 1]``), ``"discrete"`` (one
            of the positions in ``grid``) or ``"categorical"`` (a category
            index ``0, ..., n_choices - 1`` stored as a float).
        grid: For ``"discrete"`` only: the allowed positions, strictly
            increasing, within ``[0, 1]``; stored as a read-only float array.
        n_choices: For ``"categorical"`` only: the number of categories, at
            least 1.

    Raises:
        ValueError: when the kind is unknown or its fields are missing,
            superfluous or invalid.

    Example:
        >>> Dimension("discrete", grid=[0.0, 0.5, 1.0]).grid
        array([0. , 0.5, 1. ])
    """

    kind: str
    grid: np.ndarray | None = None
    n_choices: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"Dimension kind must be one of {_KINDS}, got {self.kind!r}.")
        if self.kind != "discrete" and self.grid is not None:
            raise ValueError(
                f"Only a 'discrete' dimension takes a grid, got one for {self.kind!r}."
            )
        if self.kind != "categorical" and self.n_choices is not None:
            raise ValueError(
                f"Only a 'categorical' dimension takes n_choices, got one for {self.kind!r}."
            )
        if self.kind == "discrete":
            object.__setattr__(self, "grid", _validated_grid(self.grid))
        if self.kind == "categorical":
            n = self.n_choices
            if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
                raise ValueError(
                    f"A 'categorical' dimension needs an integer n_choices >= 1, got {n!r}."
                )
            object.__setattr__(self, "n_choices", int(n))

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Dimension):
            return NotImplemented
        same_grid = (self.grid is None and other.grid is None) or (
            self.grid is not None
            and other.grid is not None
            and np.array_equal(self.grid, other.grid)
        )
        return self.kind == other.kind and self.n_choices == other.n_choices and same_grid

    def __hash__(self) -> int:
        grid = None if self.grid is None else tuple(self.grid.tolist())
        return hash((self.kind, grid, self.n_choices))


def _validated_grid(grid: Any) -> np.ndarray:
    if grid is None:
        raise ValueError("A 'discrete' dimension needs a grid of allowed positions in [0, 1].")
    values = np.array(grid, dtype=float)
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"The grid must be a non-empty 1-d sequence, got shape {values.shape}.")
    if not np.all(np.isfinite(values)) or values[0] < 0.0 or values[-1] > 1.0:
        raise ValueError(f"The grid positions must lie in [0, 1], got {values.tolist()}.")
    if np.any(np.diff(values) <= 0.0):
        raise ValueError(f"The grid must be strictly increasing, got {values.tolist()}.")
    values.flags.writeable = False
    return values



class Encoding:
    """Maps input rows to raw kernel features.

    Args:
        is_categorical: One flag per column.
        n_choices: Number of categories per column (ignored where the flag
            is false).
    """

    def __init__(self, is_categorical: list[bool], n_choices: list[int]):
        self.numeric = np.array([i for i, c in enumerate(is_categorical) if not c], dtype=int)
        self.categorical = [(i, n) for i, (c, n) in enumerate(zip(is_categorical, n_choices)) if c]
        owner = list(self.numeric)
        self._offsets = []
        for i, n in self.categorical:
            self._offsets.append(len(owner))
            owner.extend([i] * n)
        self.owner = np.array(owner, dtype=int)

    def raw(self, x: np.ndarray) -> np.ndarray:
        """Raw features of the rows of ``x``, shape ``(m, n_features)``."""
        raw = np.zeros((x.shape[0], self.owner.size))
        raw[:, : self.numeric.size] = x[:, self.numeric] - 0.5
        rows = np.arange(x.shape[0])
        for (i, _), offset in zip(self.categorical, self._offsets):
            raw[rows, offset + x[:, i].astype(int)] = np.sqrt(0.5)
        return raw


def default_theta(n_dims: int) -> np.ndarray:
    """The starting point of the first fit."""
    return np.concatenate(
        [
            np.full(n_dims, np.log(DEFAULT_LENGTH_SCALE)),
            [np.log(DEFAULT_SIGNAL_VARIANCE), np.log(DEFAULT_NOISE_VARIANCE)],
        ]
    )


def theta_bounds(n_dims: int, noise_floor: float) -> list[tuple[float, float]]:
    """Box bounds of ``theta`` for L-BFGS-B; the noise variance lies in ``[noise_floor, 1]``."""
    noise = (float(np.log(noise_floor)), 0.0)
    return [LOG_LENGTH_SCALE_BOUNDS] * n_dims + [LOG_SIGNAL_VARIANCE_BOUNDS, noise]


def log_prior(theta: np.ndarray) -> tuple[float, np.ndarray]:
    """Log prior density of ``theta`` (up to a constant) and its gradient.

    The priors follow the original defaults of Optuna's GPSampler: on every
    length scale ``l`` the weak, log-symmetric ``-0.1 * (l**2 + l**-2)``
    (within about one nat of its peak at 1 between 0.3 and 3, steep below
    0.05 and above 20); a Gamma(2, 1) density on the signal variance and a
    Gamma(1.1, 30) density on the noise variance, both on the standardized
    output scale (mean noise 0.037). The densities are taken in the natural
    parameters, without the Jacobian of the log transform.
    """
    log_l, log_s, log_n = theta[:-2], theta[-2], theta[-1]
    l2, s, noise = np.exp(2.0 * log_l), np.exp(log_s), np.exp(log_n)
    value = -0.1 * np.sum(l2 + 1.0 / l2) + (log_s - s) + (0.1 * log_n - 30.0 * noise)
    grad = np.concatenate([-0.2 * (l2 - 1.0 / l2), [1.0 - s, 0.1 - 30.0 * noise]])
    return value, grad


def matern52(r2: np.ndarray, signal: float) -> tuple[np.ndarray, np.ndarray]:
    """Matérn-5/2 covariance of squared scaled distances and its derivative.

    Overwrites ``r2`` (it becomes the returned ``k``) to spare the big
    temporaries that dominate the cost at a few hundred points.

    Returns:
        ``(k, dk)``: ``k = signal (1 + sqrt5 r + 5/3 r^2) exp(-sqrt5 r)`` and
        ``dk = dk/d(r^2) = -5/6 signal (1 + sqrt5 r) exp(-sqrt5 r)``.
    """
    tail = np.sqrt(r2)
    tail *= SQRT5
    e = np.negative(tail)
    np.exp(e, out=e)
    tail += 1.0
    k = r2
    k *= 5.0 / 3.0
    k += tail
    k *= e
    k *= signal
    tail *= e
    tail *= (-5.0 / 6.0) * signal
    return k, tail


def squared_distances(features_a: np.ndarray, features_b: np.ndarray) -> np.ndarray:
    """Pairwise squared Euclidean distances, clipped at zero."""
    r2 = features_a @ features_b.T
    r2 *= -2.0
    r2 += np.einsum("ij,ij->i", features_a, features_a)[:, None]
    r2 += np.einsum("ij,ij->i", features_b, features_b)[None, :]
    return np.maximum(r2, 0.0, out=r2)


def cholesky(matrix: np.ndarray) -> np.ndarray:
    """Lower Cholesky factor, adding diagonal jitter until it succeeds.

    Reads only the lower triangle of ``matrix``. The jitter starts at 1e-10
    of the mean diagonal and grows tenfold up to 10% of it, which covers
    exact duplicates and the precision the noise floor leaves behind. The
    upper triangle of the result is zero.

    Raises:
        np.linalg.LinAlgError: when even the largest jitter fails (a matrix
            with NaN entries, say).
    """
    return cholesky_with_jitter(matrix)[0]


def cholesky_with_jitter(matrix: np.ndarray) -> tuple[np.ndarray, float]:
    """:func:`cholesky` and the jitter it added to the diagonal (0.0 when none)."""
    factor, info = lapack.dpotrf(matrix, lower=1, clean=1)
    if info == 0 and np.isfinite(factor[-1, -1]):
        return factor, 0.0
    diagonal = np.diag(matrix).copy()
    scale = max(float(np.mean(diagonal)), 1e-12)
    for jitter in scale * 10.0 ** np.arange(-10.0, 0.0):
        shifted = matrix.copy()
        shifted.flat[:: matrix.shape[0] + 1] = diagonal + jitter
        factor, info = lapack.dpotrf(shifted, lower=1, clean=1, overwrite_a=1)
        if info == 0 and np.isfinite(factor[-1, -1]):
            return factor, float(jitter)
    raise np.linalg.LinAlgError("the kernel matrix is not positive definite, even with jitter")


def cholesky_append(
    factor: np.ndarray, cross: np.ndarray, corner: np.ndarray, jitter: float = 0.0
) -> np.ndarray | None:
    """The Cholesky factor of a matrix grown by a block of rows, from the old factor.

    With ``K = L L^T`` (``L = factor``, ``n x n``), the factor of
    ``[[K, B], [B^T, C]]`` is ``[[L, 0], [S^T, M]]`` with ``S = L^-1 B`` and
    ``M M^T = C - S^T S``: ``O(n^2 k)`` work for ``k`` new rows instead of
    ``O((n + k)^3)``.

    Args:
        factor: Lower Cholesky factor ``L`` of the old matrix, ``(n, n)``.
        cross: ``B``, the covariances of the old rows with the new ones, ``(n, k)``.
        corner: ``C``, the covariance of the new rows, ``(k, k)``.
        jitter: Added to the diagonal of ``C`` (the jitter ``L`` was made with).

    Returns:
        The grown factor, ``(n + k, n + k)``, or ``None`` when the Schur
        complement is not numerically positive definite (factorize afresh then).
    """
    n, k = cross.shape
    solved, info = lapack.dtrtrs(factor, cross, lower=1)
    if info != 0:
        return None
    schur = corner - solved.T @ solved
    schur.flat[:: k + 1] += jitter
    block, info = lapack.dpotrf(schur, lower=1, clean=1)
    if info != 0 or not np.all(np.isfinite(block)) or np.any(np.diag(block) <= 0.0):
        return None
    grown = np.zeros((n + k, n + k))
    grown[:n, :n] = factor
    grown[n:, :n] = solved.T
    grown[n:, n:] = block
    return grown


def kernel_matrix(
    theta: np.ndarray, raw: np.ndarray, owner: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Training covariance ``K = s k(r^2) + noise I`` and ``dK/d(r^2)``."""
    features = raw * np.exp(-theta[:-2])[owner]
    r2 = squared_distances(features, features)
    np.fill_diagonal(r2, 0.0)
    cov, dk = matern52(r2, np.exp(theta[-2]))
    cov.flat[:: cov.shape[0] + 1] += np.exp(theta[-1])
    return cov, dk


def kernel_blocks(
    theta: np.ndarray, raw_old: np.ndarray, raw_new: np.ndarray, owner: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The blocks added to the training covariance by new rows: old-new and new-new (with noise)."""
    inv_length = np.exp(-theta[:-2])[owner]
    r2 = squared_distances(raw_old * inv_length, raw_new * inv_length)
    cross, _ = matern52(r2, np.exp(theta[-2]))
    corner, _ = kernel_matrix(theta, raw_new, owner)
    return cross, corner


def _pair_sums(weights: np.ndarray, raw: np.ndarray, owner: np.ndarray, n_dims: int) -> np.ndarray:
    """Per dimension ``sum_jk weights_jk D_i(j, k)`` for lower-triangular weights.

    ``D_i(j, k)`` is the raw squared distance in dimension ``i``; expanding
    the square turns the sum into matrix products.
    """
    products = weights @ raw
    per_feature = weights.sum(axis=1) @ (raw * raw) + weights.sum(axis=0) @ (raw * raw)
    per_feature -= 2.0 * np.einsum("ij,ij->j", raw, products)
    return np.bincount(owner, weights=per_feature, minlength=n_dims)


def _outer_pair_sums(
    weights: np.ndarray, alpha: np.ndarray, raw: np.ndarray, owner: np.ndarray, n_dims: int
) -> np.ndarray:
    """Per dimension ``sum_jk alpha_j alpha_k weights_jk D_i(j, k)``, symmetric weights."""
    scaled = raw * alpha[:, None]
    products = weights @ np.column_stack([alpha, scaled])
    per_feature = 2.0 * (products[:, 0] * alpha) @ (raw * raw) - 2.0 * np.einsum(
        "ij,ij->j", scaled, products[:, 1:]
    )
    return np.bincount(owner, weights=per_feature, minlength=n_dims)


def negative_log_posterior(
    theta: np.ndarray, raw: np.ndarray, owner: np.ndarray, y: np.ndarray
) -> tuple[float, np.ndarray]:
    """Negative log marginal likelihood minus log prior, divided by ``n``.

    The division by the number of points only rescales the objective so that
    optimizer tolerances mean the same thing for every ``n``.

    Args:
        theta: Kernel parameters (see the module docstring).
        raw: Raw features of the training inputs, ``(n, p)``.
        owner: For every raw feature, the dimension it belongs to.
        y: Standardized training outputs, ``(n,)``.

    Returns:
        The objective and its analytic gradient with respect to ``theta``.
    """
    n, n_dims = y.size, theta.size - 2
    cov, dk = kernel_matrix(theta, raw, owner)
    factor = cholesky(cov)
    alpha, _ = lapack.dpotrs(factor, y, lower=1)
    inverse, _ = lapack.dpotri(factor, lower=1)
    y_alpha, alpha_sq = float(y @ alpha), float(alpha @ alpha)
    value = 0.5 * y_alpha + np.sum(np.log(np.diag(factor))) + 0.5 * n * _LOG_2PI

    # d(value)/d(theta_j) = 0.5 tr(W dK/d(theta_j)) with W = K^-1 - alpha alpha^T;
    # dK/dlog(signal) = K - noise I turns its trace into sums over n terms.
    noise = np.exp(theta[-1])
    trace_inverse = float(np.trace(inverse))
    grad_signal = 0.5 * (n - noise * trace_inverse - y_alpha + noise * alpha_sq)
    grad_noise = 0.5 * noise * (trace_inverse - alpha_sq)
    # inverse holds only its lower triangle: the symmetric sum is twice that.
    inverse *= dk
    pairs = 2.0 * _pair_sums(inverse, raw, owner, n_dims) - _outer_pair_sums(
        dk, alpha, raw, owner, n_dims
    )
    grad_length = -np.exp(-2.0 * theta[:-2]) * pairs
    grad = np.concatenate([grad_length, [grad_signal, grad_noise]])

    prior, prior_grad = log_prior(theta)
    return (value - prior) / n, (grad - prior_grad) / n

"""Gaussian process regression for Bayesian optimization (numpy + scipy).

The model behind :class:`~e2etune.oracles.BayesianOptimizationOracle`: a
zero-mean Gaussian process on standardized outputs with a Matérn-5/2 kernel,
one length scale per input column (ARD), a signal variance and a noise
variance. Kernel parameters are fitted by maximizing the log marginal
likelihood plus log priors with analytic gradients and L-BFGS-B, warm-started
from the previous fit.

Inputs live in the unit cube, already encoded by the caller: a continuous
column holds a float in ``[0, 1]``, a discrete column one of the positions of
its grid, a categorical column the index of the category as a float.

Example:
    >>> import numpy as np
    >>> gp = GaussianProcess([Dimension("continuous"), Dimension("categorical", n_choices=3)])
    >>> x = np.array([[0.1, 0.0], [0.5, 1.0], [0.9, 2.0], [0.3, 1.0]])
    >>> mean, std = gp.fit(x, np.array([1.0, 0.2, 0.5, 0.4])).predict(x[:2])
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.linalg import lapack

from e2etune.oracles import _kernel
from e2etune.oracles._kernel import Dimension

__all__ = ["Dimension", "GaussianProcess"]

_MAX_FIT_ITERATIONS = 50
_COLD_RESTARTS = 2
_MAX_POINTS_FOR_RESTARTS = 200


class GaussianProcess:
    """Gaussian process with a Matérn-5/2 ARD kernel over mixed inputs.

    Continuous and discrete columns contribute ``(x_i - x'_i)^2 / l_i^2`` to
    the squared scaled distance ``r^2``, categorical columns ``1 / l_i^2``
    when the categories differ and 0 when they are equal; the covariance is
    ``s * (1 + sqrt5 r + 5/3 r^2) exp(-sqrt5 r) + noise * [x == x']``, on
    standardized outputs, with ``noise >= noise_floor``. See
    :func:`e2etune.oracles._kernel.log_prior` for the priors.

    Args:
        dimensions: One :class:`Dimension` per input column.
        seed: Seeds the random restarts of a first fit on at most 200
            points (the fits after it are warm-started and deterministic).
            ``None`` (the default) uses 0.
        noise_floor: Smallest noise variance, relative to the variance of
            the outputs (the standardized scale), in ``(0, 1)``. Defaults to
            1e-6; raise it for noisy objectives.

    Raises:
        ValueError: when ``dimensions`` is empty or holds anything but
            :class:`Dimension`, or ``noise_floor`` is out of range.
    """

    def __init__(
        self,
        dimensions: Sequence[Dimension],
        seed: int | None = None,
        noise_floor: float = 1e-6,
    ):
        self.dimensions = tuple(dimensions)
        if not self.dimensions:
            raise ValueError("A GaussianProcess needs at least one dimension.")
        for dim in self.dimensions:
            if not isinstance(dim, Dimension):
                raise ValueError(
                    f"dimensions must hold Dimension objects, got {type(dim).__name__}."
                )
        if not 0.0 < noise_floor < 1.0:
            raise ValueError(f"noise_floor is a variance ratio in (0, 1), got {noise_floor!r}.")
        self.seed = seed
        self.noise_floor = float(noise_floor)
        self._encoding = _kernel.Encoding(
            [d.kind == "categorical" for d in self.dimensions],
            [d.n_choices or 0 for d in self.dimensions],
        )
        self._theta: np.ndarray | None = None
        self._x: np.ndarray | None = None
        self._y: np.ndarray | None = None
        #: The last factorization: kernel parameters, raw features, factor, jitter.
        self._factored: tuple[np.ndarray, np.ndarray, np.ndarray, float] | None = None

    @property
    def n_dims(self) -> int:
        """The number of input columns."""
        return len(self.dimensions)

    @property
    def is_fitted(self) -> bool:
        """Whether :meth:`fit` has been called."""
        return self._x is not None

    @property
    def x_train(self) -> np.ndarray | None:
        """The inputs of the last :meth:`fit`, ``(n, n_dims)``, or ``None``."""
        return self._x

    @property
    def y_train(self) -> np.ndarray | None:
        """The outputs of the last :meth:`fit`, original units, or ``None``."""
        return self._y

    def fit(
        self,
        x: np.ndarray,
        y: np.ndarray,
        max_iterations: int | None = None,
        subset: np.ndarray | None = None,
    ) -> GaussianProcess:
        """Fits the kernel parameters and conditions the process on the data.

        Starts L-BFGS-B from the parameters of the previous fit (or of
        :meth:`set_state`); the first fit starts from defaults and, on at
        most 200 points, from two random points too, and keeps the best.

        Args:
            x: Inputs, shape ``(n, n_dims)``, encoded as the dimensions say.
            y: Outputs, shape ``(n,)``, finite. Constant outputs are fine.
            max_iterations: Cap on the L-BFGS-B iterations of each start
                (default 50); 0 keeps the current parameters (those of the
                previous fit or :meth:`set_state`, else the defaults).
            subset: Indices of the rows the kernel parameters are fitted
                on (default ``None``: all); the output scaling and the
                conditioning use every row. Bounds the cost of a fit on
                many points.

        Returns:
            The process itself.

        Raises:
            ValueError: for wrong shapes, non-finite values or category
                indices out of range.
        """
        x, y = self._check_xy(x, y)
        self._y_mean = float(np.mean(y))
        std = float(np.std(y))
        self._y_std = std if std > 1e-12 * max(1.0, abs(self._y_mean)) else 1.0
        raw = self._encoding.raw(x)
        rows = slice(None) if subset is None else np.asarray(subset, dtype=int)
        standardized = (y - self._y_mean) / self._y_std
        self._theta = self._optimize_theta(raw[rows], standardized[rows], max_iterations)
        self._condition(x, y, raw)
        return self

    def condition(self, x: np.ndarray, y: np.ndarray) -> GaussianProcess:
        """Conditions the process on ``(x, y)`` without fitting anything.

        Keeps the kernel parameters and the output scaling of the last
        :meth:`fit`: made for adding fantasized observations (say, the
        posterior mean at points still being evaluated) to the data of a fit.
        When ``x`` begins with the rows of the last conditioning, the
        Cholesky factor is grown by the other rows (``O(n^2)`` per row)
        instead of computed again (``O(n^3)``).

        Args:
            x: Inputs, shape ``(n, n_dims)``.
            y: Outputs, shape ``(n,)``, finite, in original units.

        Returns:
            The process itself.

        Raises:
            RuntimeError: before the first :meth:`fit`.
            ValueError: for wrong shapes or non-finite values.
        """
        if self._x is None:
            raise RuntimeError("Call fit() before conditioning the GaussianProcess.")
        x, y = self._check_xy(x, y)
        self._condition(x, y, self._encoding.raw(x))
        return self

    def _condition(self, x: np.ndarray, y: np.ndarray, raw: np.ndarray) -> None:
        # What every prediction needs, computed once.
        self._inv_length = np.exp(-self._theta[:-2])
        self._signal = float(np.exp(self._theta[-2]))
        self._inv_length_features = self._inv_length[self._encoding.owner]
        self._train_features = raw * self._inv_length_features
        self._train_norms = np.einsum("ij,ij->i", self._train_features, self._train_features)
        self._factor = self._training_factor(raw)
        self._alpha, _ = lapack.dpotrs(self._factor, (y - self._y_mean) / self._y_std, lower=1)
        self._x, self._y, self._raw = x.copy(), y.copy(), raw
        self._x.flags.writeable = self._y.flags.writeable = False

    def _training_factor(self, raw: np.ndarray) -> np.ndarray:
        """The Cholesky factor of the training covariance, grown from the last one if it can be.

        A factor's leading block is the factor of the leading rows, so when
        the kernel parameters did not change and the first rows are those of
        the last factorization, only the rows after them are added
        (:func:`~e2etune.oracles._kernel.cholesky_append`, ``O(n^2 k)``).
        """
        owner, last = self._encoding.owner, self._factored
        if last is not None and np.array_equal(last[0], self._theta):
            _, old_raw, old_factor, jitter = last
            common = min(len(old_raw), len(raw))
            same = np.all(old_raw[:common] == raw[:common], axis=1)
            prefix = common if same.all() else int(np.argmin(same))
            factor, kept = None, old_factor[:prefix, :prefix]
            if prefix == len(raw):
                factor = kept.copy()
            elif prefix > 0:
                cross, corner = _kernel.kernel_blocks(self._theta, raw[:prefix], raw[prefix:], owner)
                factor = _kernel.cholesky_append(kept, cross, corner, jitter)
            if factor is not None:
                self._factored = (last[0], raw, factor, jitter)
                return factor
        cov, _ = _kernel.kernel_matrix(self._theta, raw, owner)
        factor, jitter = _kernel.cholesky_with_jitter(cov)
        self._factored = (self._theta.copy(), raw, factor, jitter)
        return factor

    def _check_xy(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = self._check_x(x)
        y = np.asarray(y, dtype=float)
        if y.shape != (x.shape[0],) or y.size == 0:
            raise ValueError(f"y must have shape ({x.shape[0]},) with n >= 1, got {y.shape}.")
        if not np.all(np.isfinite(y)):
            raise ValueError(
                "y must be finite; drop or replace NaN and infinite scores before fitting."
            )
        return x, y

    def _optimize_theta(
        self, raw: np.ndarray, y: np.ndarray, max_iterations: int | None
    ) -> np.ndarray:
        bounds = _kernel.theta_bounds(self.n_dims, self.noise_floor)
        iterations = _MAX_FIT_ITERATIONS if max_iterations is None else int(max_iterations)
        if iterations <= 0:
            return self._theta if self._theta is not None else _kernel.default_theta(self.n_dims)
        if self._theta is not None:
            starts = [self._theta]
        elif y.size > _MAX_POINTS_FOR_RESTARTS:
            starts = [_kernel.default_theta(self.n_dims)]
        else:
            starts = self._cold_starts(bounds)
        best_theta, best_value = None, np.inf
        for start in starts:
            theta, value = self._run_lbfgs(start, raw, y, bounds, iterations)
            if value < best_value:
                best_theta, best_value = theta, value
        if best_theta is None:
            default = _kernel.default_theta(self.n_dims)
            best_theta, _ = self._run_lbfgs(default, raw, y, bounds, iterations)
        return best_theta

    def _cold_starts(self, bounds: list[tuple[float, float]]) -> list[np.ndarray]:
        rng = np.random.default_rng(0 if self.seed is None else self.seed)
        default = _kernel.default_theta(self.n_dims)
        low, high = np.array(bounds).T
        randoms = [
            np.clip(default + rng.normal(0.0, 1.0, default.size), low, high)
            for _ in range(_COLD_RESTARTS)
        ]
        return [default] + randoms

    def _run_lbfgs(self, start, raw, y, bounds, iterations) -> tuple[np.ndarray, float]:
        low, high = np.array(bounds).T
        start = np.clip(start, low, high)
        import scipy.optimize  # imported on first use, so that importing e2etune stays fast

        try:
            result = scipy.optimize.minimize(
                _kernel.negative_log_posterior,
                start,
                args=(raw, self._encoding.owner, y),
                jac=True,
                method="L-BFGS-B",
                bounds=bounds,
                options={"maxiter": iterations, "ftol": 1e-7, "gtol": 1e-3},
            )
        except np.linalg.LinAlgError:
            return start, np.inf
        if not np.all(np.isfinite(result.x)) or not np.isfinite(result.fun):
            return start, np.inf
        return result.x, float(result.fun)

    def predict(
        self, x: np.ndarray, return_std: bool = True
    ) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
        """Posterior of the latent function at ``x``, in original output units.

        Args:
            x: Inputs, shape ``(m, n_dims)``.
            return_std: Whether to return the posterior standard deviation
                too (default ``True``). It excludes the observation noise.

        Returns:
            The posterior mean, shape ``(m,)``, and with ``return_std`` the
            tuple ``(mean, std)``.

        Raises:
            RuntimeError: before the first :meth:`fit`.
            ValueError: for a wrongly shaped or encoded ``x``.
        """
        mean, var = self._posterior(self._check_x(x), with_grad=False)[:2]
        mean = self._y_mean + self._y_std * mean
        if not return_std:
            return mean
        return mean, self._y_std * np.sqrt(var)

    def _posterior_with_grad(
        self, x: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Posterior mean and variance with their gradients, original units.

        Args:
            x: Inputs, shape ``(m, n_dims)``, already validated.

        Returns:
            ``(mean, var, dmean, dvar)`` with shapes ``(m,)``, ``(m,)``,
            ``(m, n_dims)``, ``(m, n_dims)``; the gradient columns of
            categorical dimensions are zero.
        """
        mean, var, dmean, dvar = self._posterior(x, with_grad=True)
        scale = self._y_std
        return self._y_mean + scale * mean, scale**2 * var, scale * dmean, scale**2 * dvar

    def _posterior(self, x: np.ndarray, with_grad: bool):
        if self._x is None:
            raise RuntimeError("Call fit() before asking the GaussianProcess for predictions.")
        inv_length, signal = self._inv_length, self._signal
        features = self._encoding.raw(x)
        features *= self._inv_length_features
        r2 = features @ self._train_features.T
        r2 *= -2.0
        r2 += np.einsum("ij,ij->i", features, features)[:, None]
        r2 += self._train_norms
        k, dk = _kernel.matern52(np.maximum(r2, 0.0, out=r2), signal)
        mean = k @ self._alpha
        v, _ = lapack.dtrtrs(self._factor, k.T, lower=1)
        var = np.maximum(signal - np.einsum("ij,ij->j", v, v), 1e-12 * signal)
        if not with_grad:
            return mean, var
        beta, _ = lapack.dtrtrs(self._factor, v, lower=1, trans=1)
        numeric = self._encoding.numeric
        dmean = np.zeros(x.shape)
        dvar = np.zeros(x.shape)
        # dr^2/dx_i = 2 (x_i - X_i) / l_i^2 for numeric columns.
        scale = 2.0 * inv_length[numeric] ** 2
        xs, train = x[:, numeric], self._x[:, numeric]
        g = dk * self._alpha
        dmean[:, numeric] = scale * (xs * g.sum(axis=1)[:, None] - g @ train)
        h = dk * beta.T
        dvar[:, numeric] = -2.0 * scale * (xs * h.sum(axis=1)[:, None] - h @ train)
        return mean, var, dmean, dvar

    def scaled_distances(self, x: np.ndarray, point: np.ndarray) -> np.ndarray:
        """Squared distances ``r^2`` of the kernel from the rows of ``x`` to ``point``.

        Raises:
            RuntimeError: before the first :meth:`fit`.
        """
        if self._x is None:
            raise RuntimeError("Call fit() before asking the GaussianProcess for distances.")
        features = self._encoding.raw(self._check_x(x)) * self._inv_length_features
        center = self._encoding.raw(self._check_x(point[None, :]))[0] * self._inv_length_features
        return np.einsum("ij,ij->i", features - center, features - center)

    def get_state(self) -> dict[str, Any]:
        """The fitted kernel parameters as plain Python numbers.

        Returns:
            ``{"log_length_scales": [float] * n_dims, "log_signal_variance":
            float, "log_noise_variance": float}`` (natural logs, standardized
            output scale), or ``{}`` before the first fit or
            :meth:`set_state`.
        """
        if self._theta is None:
            return {}
        return {
            "log_length_scales": [float(v) for v in self._theta[:-2]],
            "log_signal_variance": float(self._theta[-2]),
            "log_noise_variance": float(self._theta[-1]),
        }

    def set_state(self, state: dict[str, Any]) -> None:
        """Restores kernel parameters from :meth:`get_state` as the warm start.

        The next :meth:`fit` starts from them; the data are not part of the
        state, so fit again before predicting. An empty dict resets to the
        cold start.

        Raises:
            ValueError: when keys are missing or the number of length scales
                differs from the number of dimensions.
        """
        if not state:
            self._theta = None
            return
        try:
            lengths = [float(v) for v in state["log_length_scales"]]
            rest = [float(state["log_signal_variance"]), float(state["log_noise_variance"])]
        except (KeyError, TypeError) as err:
            raise ValueError(f"Invalid GaussianProcess state {state!r}: {err}.") from err
        if len(lengths) != self.n_dims:
            raise ValueError(
                f"The state has {len(lengths)} length scales, "
                f"but the process has {self.n_dims} dimensions."
            )
        theta = np.array(lengths + rest)
        if not np.all(np.isfinite(theta)):
            raise ValueError(f"The state holds non-finite parameters: {state!r}.")
        low, high = np.array(_kernel.theta_bounds(self.n_dims, self.noise_floor)).T
        self._theta = np.clip(theta, low, high)

    def _check_x(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=float)
        if x.ndim != 2 or x.shape[1] != self.n_dims:
            raise ValueError(f"x must have shape (n, {self.n_dims}), got {x.shape}.")
        if not np.all(np.isfinite(x)):
            raise ValueError("x must be finite.")
        for i, n in self._encoding.categorical:
            column = x[:, i]
            if np.any((column < 0) | (column >= n) | (column != np.round(column))):
                raise ValueError(f"Column {i} is categorical: it must hold indices 0..{n - 1}.")
        return x

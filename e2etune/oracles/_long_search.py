"""The Gaussian process of a long search: bounded cost beyond 500 scored trials.

Private to :mod:`e2etune.oracles.bayesian`. Up to :data:`FULL_MODEL_POINTS`
scored trials the oracle fits its process on all of them at every
suggestion (an exact fit costs ``O(n^3)`` per likelihood evaluation). Beyond,
it follows the "subset of data" approximation (Rasmussen & Williams,
*Gaussian Processes for Machine Learning*, 2006, section 8.3.1), in the way
of the GP libraries made for long runs:

- the kernel parameters are fitted on at most :data:`FIT_POINTS` trials, the
  best :data:`FIT_BEST` and the others evenly spread over the search (the
  most recent included), warm-started, and only every ``n //``
  :data:`REFIT_DIVISOR` new scores;
- the process is conditioned on :data:`CONDITION_POINTS` trials chosen
  when the kernel is refitted (the best :data:`CONDITION_BEST`, the latest
  :data:`CONDITION_RECENT`, the others evenly spread), plus every trial
  scored since, whose rows are appended to the Cholesky factor
  (``O(n^2)`` per trial) while the kernel parameters stay the same;
- for each suggestion, the :data:`NEIGHBOURS` other trials nearest the
  best one (in the kernel's scaled distance) are appended as well, so that
  the model knows the region the search exploits;
- the acquisition scores :data:`LONG_CANDIDATES` quasi-random candidates
  (instead of 1024) and refines :data:`LONG_RESTARTS` of them (instead of 8).

The best and the latest trials are always kept, so the model is exact where
the search concentrates; dropped trials are older ones in regions already
known to be worse. Every scored trial still counts as tried: none is
proposed again.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from e2etune.oracles.gaussian_process import Dimension, GaussianProcess

#: Up to this many scored trials the process is fitted and conditioned on all of them.
FULL_MODEL_POINTS = 500
#: Kernel parameters are fitted on at most this many trials, the best ``FIT_BEST`` among them.
FIT_POINTS = 250
FIT_BEST = 80
#: The process is conditioned on this many trials (the best ``CONDITION_BEST``, the latest
#: ``CONDITION_RECENT``), plus the ones scored since they were chosen.
CONDITION_POINTS = 600
CONDITION_BEST = 200
CONDITION_RECENT = 200
#: The trials nearest the best one (in the kernel's scaled distance) also conditioned on.
NEIGHBOURS = 100
#: The kernel is refitted after ``n // REFIT_DIVISOR`` new scores.
REFIT_DIVISOR = 50
FIT_ITERATIONS = 10
#: Beyond ``FULL_MODEL_POINTS``: quasi-random candidates and refined restarts of the acquisition.
LONG_CANDIDATES = 512
LONG_RESTARTS = 4


def spread_subset(y: np.ndarray, size: int, n_best: int, n_recent: int = 0) -> np.ndarray:
    """Increasing indices of the ``n_best`` lowest ``y``, the latest and others spread out.

    After the ``n_best`` lowest, the ``n_recent`` last indices not chosen yet
    (where a search concentrates), then indices spaced evenly over the rest
    (trial order), to ``size`` indices in all; every index when there are
    at most ``size``.

    Example:
        >>> spread_subset(np.array([5.0, 0.0, 4.0, 3.0, 2.0, 1.0, 6.0, 7.0]), 5, 2, 1).tolist()
        [0, 1, 5, 6, 7]
    """
    n = y.size
    if n <= size:
        return np.arange(n)
    n_best = min(n_best, size)
    chosen = np.zeros(n, dtype=bool)
    chosen[np.argsort(y, kind="stable")[:n_best]] = True
    rest = np.flatnonzero(~chosen)
    n_recent = min(n_recent, size - n_best)
    chosen[rest[rest.size - n_recent:]] = True
    rest = rest[: rest.size - n_recent]
    n_spread = size - n_best - n_recent
    if n_spread > 0:
        # rest.size - 1 >= n_spread - 1: the rounded positions are distinct.
        chosen[rest[np.round(np.linspace(rest.size - 1, 0, n_spread)).astype(int)]] = True
    return np.flatnonzero(chosen)


def acquisition_budget(n: int) -> dict[str, int]:
    """Keyword arguments of ``optimize_acquisition`` at ``n`` scored trials ({} up to 500)."""
    if n <= FULL_MODEL_POINTS:
        return {}
    return {"n_candidates": LONG_CANDIDATES, "n_restarts": LONG_RESTARTS}


def refit_due(n: int, fitted_at: int | None) -> bool:
    """Whether the kernel parameters are fitted again at ``n`` scored trials."""
    if fitted_at is None or n < fitted_at:
        return True
    return n - fitted_at >= max(1, n // REFIT_DIVISOR)


class LongSearchModel:
    """The conditioned process of a long search, kept between suggestions.

    Holds, in memory, the trials the process is conditioned on (in the order
    of its rows) and the process itself, whose last Cholesky factor is grown
    at the next suggestion instead of recomputed.

    Args:
        dimensions: The encoded columns of the space.
        seed: Seeds the process (its first fit's restarts).
        noise_floor: The process's smallest noise variance.
    """

    def __init__(self, dimensions: Sequence[Dimension], seed: int | None, noise_floor: float):
        self.dimensions = list(dimensions)
        self._seed, self._noise_floor = seed, noise_floor
        self._gp: GaussianProcess | None = None
        self._members: list[str] = []
        self._known: set[str] = set()

    def fit(
        self,
        ids: list[str],
        x: np.ndarray,
        y: np.ndarray,
        state: dict,
        refit: bool,
    ) -> tuple[GaussianProcess, np.ndarray]:
        """The process conditioned on a bounded subset of the trials.

        Args:
            ids: The ids of the scored trials, in trial order.
            x: Their encoded rows, ``(n, n_dims)``.
            y: Their scores as modelled, ``(n,)``.
            state: Kernel parameters to start from (``GaussianProcess.get_state``).
            refit: Whether to fit the kernel parameters (and choose the
                conditioning subset afresh) now.

        Returns:
            The process and the indices of the trials it is conditioned on.
        """
        position = {trial_id: i for i, trial_id in enumerate(ids)}
        members = None if refit or self._gp is None else self._grown_members(position, ids)
        if members is None:
            members = spread_subset(y, CONDITION_POINTS, CONDITION_BEST, CONDITION_RECENT)
            self._gp = GaussianProcess(self.dimensions, self._seed, self._noise_floor)
        self._members = [ids[i] for i in members]
        self._known = set(ids)
        gp = self._gp
        try:
            gp.set_state(state)
        except ValueError:  # a damaged saved state: start the model afresh
            gp.set_state({})
        fit_rows = spread_subset(y[members], FIT_POINTS, FIT_BEST)
        gp.fit(x[members], y[members], max_iterations=FIT_ITERATIONS if refit else 0,
               subset=fit_rows)
        # The trials nearest the best one, where the search exploits, join for this suggestion.
        distances = gp.scaled_distances(x, x[int(np.argmin(y))])
        distances[members] = np.inf
        near = np.argsort(distances, kind="stable")[:NEIGHBOURS]
        near = near[np.isfinite(distances[near])]
        if near.size:
            members = np.concatenate([members, near])
            gp.condition(x[members], y[members])
        return gp, members

    def _grown_members(self, position: dict[str, int], ids: list[str]) -> np.ndarray | None:
        """The last members (in their order) then the trials scored since, or None if one left."""
        try:
            kept = [position[trial_id] for trial_id in self._members]
        except KeyError:  # a member is no longer scored (run again, say): choose afresh
            return None
        new = [i for i, trial_id in enumerate(ids) if trial_id not in self._known]
        return np.array(kept + new, dtype=int)

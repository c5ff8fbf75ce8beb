"""A random forest of regression trees in numpy, and the exact variance decomposition of a tree.

Each tree is fitted by CART (least squares) on a bootstrap sample with a
random subset of the features at each split. A fitted tree is a partition
of the input box into leaf boxes, each with a constant value; under the
uniform measure on the box, the variance of the tree's prediction and the
part of it that one feature explains alone (its first-order functional
ANOVA component) are computed exactly from the leaf boxes.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np


@dataclasses.dataclass
class LeafBoxes:
    """A fitted tree as its leaves: `lower[i] <= x < upper[i]` predicts `values[i]`."""

    lower: np.ndarray
    upper: np.ndarray
    values: np.ndarray


def fit_tree(x: np.ndarray, y: np.ndarray, lower: np.ndarray, upper: np.ndarray,
             rng: np.random.Generator, max_features: int, min_samples_leaf: int = 1,
             max_depth: int = 16) -> LeafBoxes:
    """Fits a least-squares regression tree on `x` (n x d) and `y`, inside the box [lower, upper].

    Splits fall halfway between neighbouring distinct values of a feature.
    """
    n, d = x.shape
    leaves_lower, leaves_upper, leaves_values = [], [], []
    stack = [(np.arange(n), lower.copy(), upper.copy(), 0)]
    while stack:
        index, low, high, depth = stack.pop()
        split = None
        if depth < max_depth and len(index) >= 2 * min_samples_leaf:
            features = rng.choice(d, size=min(max_features, d), replace=False)
            split = _best_split(x[index][:, features], y[index], min_samples_leaf)
        if split is None:
            leaves_lower.append(low)
            leaves_upper.append(high)
            leaves_values.append(float(y[index].mean()))
            continue
        column, threshold = split
        feature = features[column]
        goes_left = x[index, feature] < threshold
        left_high, right_low = high.copy(), low.copy()
        left_high[feature] = right_low[feature] = threshold
        stack.append((index[goes_left], low, left_high, depth + 1))
        stack.append((index[~goes_left], right_low, high, depth + 1))
    return LeafBoxes(np.array(leaves_lower), np.array(leaves_upper), np.array(leaves_values))


def _best_split(x: np.ndarray, y: np.ndarray, min_samples_leaf: int
                ) -> tuple[int, float] | None:
    """The (column, threshold) that most lowers the squared error, or None if nothing does."""
    n = len(y)
    order = np.argsort(x, axis=0, kind="stable")
    xs = np.take_along_axis(x, order, axis=0)
    ys = y[order]
    sums, squares = np.cumsum(ys, axis=0), np.cumsum(ys * ys, axis=0)
    sizes = np.arange(1, n)[:, None]  # left sizes 1..n-1
    left_sum, left_square = sums[:-1], squares[:-1]
    right_sum, right_square = sums[-1] - left_sum, squares[-1] - left_square
    error = (left_square - left_sum ** 2 / sizes) + (right_square - right_sum ** 2 / (n - sizes))
    valid = xs[1:] > xs[:-1]
    valid[: min_samples_leaf - 1] = False
    valid[n - min_samples_leaf:] = False
    if not valid.any():
        return None
    error = np.where(valid, error, np.inf)
    position, column = np.unravel_index(np.argmin(error), error.shape)
    total = squares[-1, column] - sums[-1, column] ** 2 / n
    if not error[position, column] < total - 1e-12 * max(abs(total), 1.0):
        return None
    threshold = (xs[position, column] + xs[position + 1, column]) / 2
    return int(column), float(threshold)


def first_order_fractions(tree: LeafBoxes, lower: np.ndarray, upper: np.ndarray
                          ) -> np.ndarray | None:
    """The fraction of the tree's variance that each feature explains alone (None: no variance).

    For feature j, the marginal prediction f_j(v) averages the tree over
    every other feature with x_j = v; the fraction is Var(f_j) / Var(f).
    """
    span = upper - lower
    widths = (tree.upper - tree.lower) / span  # each leaf's share of each axis
    weights = np.prod(widths, axis=1)
    mean = weights @ tree.values
    variance = weights @ (tree.values - mean) ** 2
    if not variance > 1e-12 * max(mean * mean, 1e-300):
        return None
    fractions = np.zeros(len(lower))
    for j in range(len(lower)):
        cuts = np.unique(np.concatenate([tree.lower[:, j], tree.upper[:, j]]))
        if len(cuts) <= 2:
            continue  # the tree never splits on j: f_j is constant
        starts, ends = cuts[:-1], cuts[1:]
        covers = (tree.lower[:, j, None] <= starts) & (tree.upper[:, j, None] >= ends)
        # Each leaf's value times its share of the other axes, summed per interval of x_j.
        marginal = (tree.values * weights / widths[:, j]) @ covers
        shares = (ends - starts) / span[j]
        fractions[j] = shares @ (marginal - mean) ** 2 / variance
    return fractions


def default_max_features(d: int) -> int:
    """How many features each split considers: most of them, so no feature is missed for long."""
    return max(1, math.ceil(0.7 * d))

"""Hyperparameter importance: how much of the score's variation each hyperparameter explains alone.

The method is functional ANOVA on a random forest (the idea of Hutter,
Hoos and Leyton-Brown, 2014, written here with numpy):

1. Each hyperparameter becomes one input on its own scale: an `Int` or
   `Float` its position in [0, 1] on its sampling's scale (so a log-scaled
   learning rate is read in decades), a `Choice` or `Boolean` one cell of
   width 1 per value (unordered choices in a new random order for each
   tree, so no order is favoured), an ordered numeric `Choice` its index.
   Where a conditional hyperparameter was inactive, each tree sees a random
   value of its range instead: its trees learn that the value changes
   nothing there, so it is credited only with what its own value changes
   where it is active, never with the effect of the parent that activates it.
2. A forest of regression trees is fitted to the completed trials' scores.
3. For each tree, the variance of its prediction over the whole space
   (uniform on the cells above) and the variance of its one-hyperparameter
   marginals are computed exactly from its leaves; a hyperparameter's
   importance is the mean, over the trees, of its marginal's share of the
   variance.

An importance is a fraction in [0, 1]: 0.8 means that the hyperparameter
alone explains 80% of how the score varies across the space. The
importances sum to at most 1; the rest is explained by interactions.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from e2etune.engine.hyperparameters import Boolean, Choice, Fixed, HyperParameter
from e2etune.engine.hyperparameters.numerical import to_unit
from e2etune.results import _forest
from e2etune.results._errors import NotEnoughTrialsError
from e2etune.results._reader import SearchResults, read_results

#: The fewest completed trials an importance is computed from.
MIN_TRIALS = 3


@dataclasses.dataclass
class _Feature:
    """One hyperparameter as a forest input: its axis [lower, upper] and how a value lands on it.

    Attributes:
        categories: The values of a categorical hyperparameter (None: numeric).
        shuffled: Whether the categories get a new random order for each tree.
        scale: For a numeric one, `(min, max, sampling)` mapping values onto [0, 1].
    """

    name: str
    lower: float
    upper: float
    categories: list[Any] | None
    shuffled: bool
    scale: tuple[float, float, str] | None

    def encode(self, values: dict[str, Any], order: np.ndarray | None,
               rng: np.random.Generator) -> float:
        """The position of a trial's value on the axis (`order`: this tree's category order)."""
        if self.name not in values:  # inactive: any value is as good
            if self.categories is not None:
                return float(rng.integers(len(self.categories))) + 0.5
            return float(rng.uniform(self.lower, self.upper))
        value = values[self.name]
        if self.categories is not None:
            index = _index(self.categories, value)
            return float(order[index] if order is not None else index) + 0.5
        low, high, sampling = self.scale
        return to_unit(float(value), low, high, sampling)


def hyperparameter_importance(source: Any = None, *, storage: Any = None,
                              project: str | None = None, params: list[str] | None = None,
                              metric: str | None = None, n_trees: int = 64,
                              seed: int = 0) -> dict[str, float]:
    """How much each hyperparameter alone explains of the score's variation, most important first.

    Functional ANOVA on a random forest fitted to the completed trials (see
    this module's docstring for the method).

    Args:
        source: A project folder, a tuner or oracle, or `SearchResults` (see
            `read_results`); None with `storage` and `project`.
        storage: A storage URL or `BaseStorage`, with `project`.
        project: The project's name in the storage.
        params: The hyperparameters to rank (None: every tuned one; names
            starting with `tuner/`, set by Hyperband, are left out).
        metric: Rank by this metric instead of the objective's score.
        n_trees: How many trees the forest has. Defaults to 64.
        seed: Seed of the forest's randomness. Defaults to 0.

    Returns:
        `{name: fraction of variance}`, sorted from most to least important.

    Raises:
        UnknownNameError: for a name in `params` or a `metric` the search lacks.
        NotEnoughTrialsError: with fewer than 3 completed trials.

    Example:
        >>> hyperparameter_importance("results/my_search")  # doctest: +SKIP
        {'learning_rate': 0.71, 'units': 0.08, 'dropout': 0.02}
    """
    if not isinstance(n_trees, int) or n_trees < 1:
        raise ValueError(f"`n_trees` must be a positive int; got {n_trees!r}.")
    results = read_results(source, storage=storage, project=project)
    names = _tuned_names(results, params)
    metric = results.check_metric(metric)
    scored = [(t, results.value_of(t, metric)) for t in results.trials]
    scored = [(t, v) for t, v in scored if v is not None]
    if len(scored) < MIN_TRIALS:
        raise NotEnoughTrialsError(
            f"Hyperparameter importance needs at least {MIN_TRIALS} completed trials with a "
            f"{'value of ' + repr(metric) if metric else 'score'}; the search has {len(scored)}.")
    trials = [t for t, _ in scored]
    y = np.array([v for _, v in scored], dtype=float)
    features = [f for f in (_feature(results, name, trials) for name in names) if f is not None]
    importances = dict.fromkeys(names, 0.0)
    if features and np.ptp(y) > 0:
        fractions = _forest_fractions(features, trials, y, n_trees, seed)
        importances.update(zip((f.name for f in features), map(float, fractions)))
    return dict(sorted(importances.items(), key=lambda item: -item[1]))


def _tuned_names(results: SearchResults, params: list[str] | None) -> list[str]:
    if params:
        return results.check_hyperparameters(params)
    return [name for name in results.check_hyperparameters(None)
            if not isinstance(results.hyperparameter(name), Fixed)]


def _feature(results: SearchResults, name: str, trials: list) -> _Feature | None:
    """How to encode hyperparameter `name` (None when it is never active)."""
    values = [t.values[name] for t in trials if name in t.values]
    if not values:
        return None
    hp = results.hyperparameter(name)
    categories = _categories(hp, values)
    if categories is not None:
        ordered = isinstance(hp, Choice) and bool(hp.ordered)
        feature = _Feature(name, 0.0, float(len(categories)), categories, not ordered, None)
    elif hp is not None and hasattr(hp, "sampling"):
        scale = (float(hp.min_value), float(hp.max_value), hp.sampling)
        feature = _Feature(name, 0.0, 1.0, None, False, scale)
    else:  # only values were saved: their observed range, linearly
        feature = _Feature(name, 0.0, 1.0, None, False,
                           (float(min(values)), float(max(values)), "linear"))
    return feature


def _categories(hp: HyperParameter | None, values: list) -> list | None:
    """A categorical hyperparameter's values in their declared order; None for a numeric one."""
    if isinstance(hp, Boolean):
        return [False, True]
    if isinstance(hp, Choice):
        return list(hp.values)
    if hp is None and any(isinstance(v, (str, bool)) for v in values):
        return sorted(set(values), key=str)
    return None


def _index(categories: list, value: Any) -> int:
    for index, category in enumerate(categories):
        if category == value and isinstance(category, bool) == isinstance(value, bool):
            return index
    return 0  # a value the definition does not list (changed since): counted with the first


def _forest_fractions(features: list[_Feature], trials: list, y: np.ndarray,
                      n_trees: int, seed: int) -> np.ndarray:
    """Each feature's first-order share of the variance, averaged over the forest's trees."""
    rng = np.random.default_rng(seed)
    lower = np.array([f.lower for f in features])
    upper = np.array([f.upper for f in features])
    max_features = _forest.default_max_features(len(features))
    varies = any(f.shuffled for f in features) or any(
        f.name not in t.values for f in features for t in trials)
    x = _matrix(features, trials, None, rng)
    totals, counted = np.zeros(len(features)), 0
    for _ in range(n_trees):
        if varies:
            orders = [rng.permutation(len(f.categories)) if f.shuffled else None
                      for f in features]
            x = _matrix(features, trials, orders, rng)
        sample = rng.integers(0, len(y), size=len(y))
        tree = _forest.fit_tree(x[sample], y[sample], lower, upper, rng, max_features)
        fractions = _forest.first_order_fractions(tree, lower, upper)
        if fractions is not None:
            totals += fractions
            counted += 1
    return totals / max(counted, 1)


def _matrix(features: list[_Feature], trials: list, orders: list | None,
            rng: np.random.Generator) -> np.ndarray:
    return np.array([[f.encode(t.values, None if orders is None else orders[j], rng)
                      for j, f in enumerate(features)] for t in trials], dtype=float)

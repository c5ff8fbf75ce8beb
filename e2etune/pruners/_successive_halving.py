"""`SuccessiveHalvingPruner`: asynchronous successive halving (ASHA)."""

from __future__ import annotations

import itertools
from collections.abc import Sequence

from e2etune.engine.objective import Objective
from e2etune.engine.trial import Trial
from e2etune.pruners._base import BasePruner, check_int, intermediate_values, is_nan


class SuccessiveHalvingPruner(BasePruner):
    """Asynchronous successive halving (Li et al., 2020: ASHA).

    Rung `k` is at step `min_resource * reduction_factor ** (min_early_stopping_rate
    + k)`. When a trial first reports at or past a rung, its value there is
    compared with the values every trial recorded at that rung (each
    trial's value at its first reported step at or past it): it goes on only
    if it is among the best `1 / reduction_factor` of them (at least the
    best one). Nobody waits for a rung to fill: the first trial to reach it
    always goes on, and later ones compete with those that came before. A
    NaN value at a rung prunes the trial.

    Call `trial.should_prune()` after every `report` (the Keras tuner does):
    a rung is judged when the trial reports its first step at or past it.

    Args:
        min_resource: Step of the first rung (with `min_early_stopping_rate=0`).
            Defaults to 1.
        reduction_factor: How much fewer trials go on at each rung; an
            integer >= 2. Defaults to 3.
        min_early_stopping_rate: Skips the first rungs: the first is at
            `min_resource * reduction_factor ** min_early_stopping_rate`.
            Defaults to 0.

    Example:
        >>> pruner = SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
        >>> tuner = e2etune.RandomSearch(build_model, objective="val_loss", pruner=pruner)
    """

    def __init__(self, min_resource: int = 1, reduction_factor: int = 3,
                 min_early_stopping_rate: int = 0) -> None:
        self.min_resource = check_int(min_resource, "min_resource", 1)
        self.reduction_factor = check_int(reduction_factor, "reduction_factor", 2)
        self.min_early_stopping_rate = check_int(
            min_early_stopping_rate, "min_early_stopping_rate", 0)

    def rung_step(self, rung: int) -> int:
        """The step of rung `rung` (0 for the first)."""
        return self.min_resource * self.reduction_factor ** (self.min_early_stopping_rate + rung)

    def prune(self, trial: Trial, others: Sequence[Trial], objective: Objective) -> bool:
        """Whether `trial` misses the top `1 / reduction_factor` at a rung it just reached."""
        values = intermediate_values(trial, objective)
        if not values:
            return False
        steps = list(values)
        step, previous = steps[-1], steps[-2] if len(steps) > 1 else -1
        value = values[step]
        curves = None
        for rung in itertools.count():
            rung_step = self.rung_step(rung)
            if rung_step > step:
                return False
            if rung_step <= previous:
                continue  # judged when the trial reached it
            if is_nan(value):
                return True
            if curves is None:
                curves = [intermediate_values(other, objective) for other in others]
            competing = [value] + [v for v in (_value_at(c, rung_step) for c in curves)
                                   if v is not None and not is_nan(v)]
            ranked = sorted(competing, reverse=objective.direction == "max")
            kept = max(len(ranked) // self.reduction_factor, 1)
            if objective.better_than(value, ranked[kept - 1]) or value == ranked[kept - 1]:
                continue
            return True


def _value_at(curve: dict[int, float], rung_step: int) -> float | None:
    """A trial's value at a rung: at its first reported step at or past the rung."""
    for step, value in curve.items():
        if step >= rung_step:
            return value
    return None

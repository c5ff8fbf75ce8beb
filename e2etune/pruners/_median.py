"""`MedianPruner`: stop a trial that does worse than the median of the others."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from e2etune.engine.objective import Objective
from e2etune.engine.trial import Trial, TrialStatus
from e2etune.pruners._base import BasePruner, check_int, intermediate_values, is_nan


class MedianPruner(BasePruner):
    """Prunes a trial whose best value so far is worse than the other trials' median.

    At each step the trial reports (from `warmup_steps` on, every
    `interval_steps`), its best value up to that step is compared with the
    median of the values the other trials reported at that same step:
    completed ones and those still running (in any worker), not the pruned
    ones, whose poor early values would lower the bar at the very steps
    where they were stopped. It is pruned when it is strictly worse,
    provided at least `min_trials` such trials reported that step (so the
    first trials are never pruned). A trial whose every value is NaN is
    pruned at once after the warmup.

    Args:
        warmup_steps: Steps before which no trial is pruned (its first
            `warmup_steps` reports). Defaults to 0.
        min_trials: How many other trials must have reported a step before
            a trial can be pruned there. Defaults to 5.
        interval_steps: Prune only every this many steps after the warmup.
            Defaults to 1.

    Example:
        >>> pruner = MedianPruner(warmup_steps=2, min_trials=5)
        >>> tuner = e2etune.RandomSearch(build_model, objective="val_loss", pruner=pruner)
    """

    def __init__(self, warmup_steps: int = 0, min_trials: int = 5,
                 interval_steps: int = 1) -> None:
        self.warmup_steps = check_int(warmup_steps, "warmup_steps", 0)
        self.min_trials = check_int(min_trials, "min_trials", 1)
        self.interval_steps = check_int(interval_steps, "interval_steps", 1)

    def prune(self, trial: Trial, others: Sequence[Trial], objective: Objective) -> bool:
        """Whether `trial`'s best value so far is worse than the median at its last step."""
        values = intermediate_values(trial, objective)
        if not values:
            return False
        step = max(values)
        if step < self.warmup_steps or (step - self.warmup_steps) % self.interval_steps:
            return False
        finite = [v for v in values.values() if not is_nan(v)]
        if not finite:
            return True
        best = min(finite) if objective.direction == "min" else max(finite)
        peers = []
        for other in others:
            if other.status == TrialStatus.PRUNED:
                continue
            value = intermediate_values(other, objective).get(step)
            if value is not None and not is_nan(value):
                peers.append(value)
        if len(peers) < self.min_trials:
            return False
        return objective.better_than(statistics.median(peers), best)

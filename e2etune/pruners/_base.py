"""`BasePruner`: what every pruner implements."""

from __future__ import annotations

import abc
import math
from collections.abc import Sequence

from e2etune.engine.objective import Objective
from e2etune.engine.trial import Trial


def intermediate_values(trial: Trial, objective: Objective) -> dict[int, float]:
    """The values `trial` reported for `objective`, by step, in step order.

    At each step the first value recorded counts (what `trial.report` wrote);
    a result recorded at the same step when the trial ended is ignored.
    """
    if not trial.metrics.exists(objective.name):
        return {}
    return {o.step: float(o.value[0]) for o in trial.metrics.get_history(objective.name)
            if o.value}


def is_nan(value: float) -> bool:
    """Whether `value` is NaN (a diverged run)."""
    return math.isnan(value)


class BasePruner(abc.ABC):
    """Decides from reported values whether a running trial should stop now.

    A pruner keeps no state of its own: every decision is made again from
    the values in the storage, so any number of workers can share one
    search, and a search resumes without losing anything. Subclasses
    implement `prune`.
    """

    @abc.abstractmethod
    def prune(self, trial: Trial, others: Sequence[Trial], objective: Objective) -> bool:
        """Whether `trial` should stop now.

        Args:
            trial: The running trial; its last reported step (the largest
                key of `intermediate_values(trial, objective)`) is "now".
            others: Every other trial of the search, whatever its status
                (running in other workers, completed, pruned...), with the
                values it reported.
            objective: The objective (its `name` and `direction`).

        Returns:
            True to stop the trial (it ends PRUNED), False to go on.
        """

    def __repr__(self) -> str:
        arguments = ", ".join(f"{k}={v!r}" for k, v in vars(self).items())
        return f"{type(self).__name__}({arguments})"


def check_int(value: object, name: str, minimum: int) -> int:
    """`value` as an integer >= `minimum`, or a `ValueError` naming `name`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"`{name}` must be an integer >= {minimum}; got {value!r}.")
    return value

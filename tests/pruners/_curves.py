"""Helpers of the pruner tests: trials with known learning curves, replayed step by step."""

from __future__ import annotations

from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.objective import Objective
from e2etune.engine.trial import Trial, TrialStatus

LOSS = Objective("val_loss", "min")
ACCURACY = Objective("val_accuracy", "max")


def trial_with(curve: dict[int, float], objective: Objective = LOSS, trial_id: str = "t",
               status: str = TrialStatus.COMPLETED) -> Trial:
    """A trial that reported `curve` (step -> value) for `objective`."""
    trial = Trial(HyperParameters(), trial_id=trial_id, status=status)
    trial.metrics.register(objective.name, objective.direction)
    for step, value in curve.items():
        trial.metrics.update(objective.name, value, step=step)
    return trial


def first_pruned_step(pruner, curve: dict[int, float], others: list[Trial],
                      objective: Objective = LOSS) -> int | None:
    """Replays `curve` report by report; the first step at which `pruner` prunes, or None."""
    trial = trial_with({}, objective, trial_id="new", status=TrialStatus.RUNNING)
    for step, value in curve.items():
        trial.metrics.update(objective.name, value, step=step)
        if pruner.prune(trial, others, objective):
            return step
    return None


def run_in_order(pruner, curves: list[dict[int, float]], objective: Objective = LOSS
                 ) -> list[int | None]:
    """Runs trials one after another, each stopped where `pruner` says; their pruned steps."""
    done: list[Trial] = []
    pruned = []
    for number, curve in enumerate(curves):
        trial = trial_with({}, objective, trial_id=str(number), status=TrialStatus.RUNNING)
        stop = None
        for step, value in curve.items():
            trial.metrics.update(objective.name, value, step=step)
            if pruner.prune(trial, done, objective):
                stop = step
                break
        trial.status = TrialStatus.PRUNED if stop is not None else TrialStatus.COMPLETED
        pruned.append(stop)
        done.append(trial)
    return pruned

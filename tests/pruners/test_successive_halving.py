"""`SuccessiveHalvingPruner` (asynchronous successive halving) on known learning curves."""

from __future__ import annotations

import math

import pytest
from _curves import ACCURACY, LOSS, first_pruned_step, run_in_order, trial_with

from e2etune.pruners import BasePruner, SuccessiveHalvingPruner

STEPS = range(10)


def constant(level: float, steps=STEPS) -> dict[int, float]:
    return {s: float(level) for s in steps}


def test_is_a_pruner_with_documented_defaults():
    pruner = SuccessiveHalvingPruner()
    assert isinstance(pruner, BasePruner)
    assert (pruner.min_resource, pruner.reduction_factor, pruner.min_early_stopping_rate) == (
        1, 3, 0)
    assert [pruner.rung_step(k) for k in range(3)] == [1, 3, 9]
    assert [SuccessiveHalvingPruner(2, 2, 1).rung_step(k) for k in range(3)] == [4, 8, 16]


def test_known_curves_in_order():
    # Rungs at steps 1, 3, 9. At a rung with n values, the best max(n // 3, 1) go on.
    levels = [5, 3, 8, 1, 9, 2, 7, 4, 6]
    pruned = run_in_order(SuccessiveHalvingPruner(), [constant(v) for v in levels])
    # 5, 3: first at their rung's top. 8: [8, 5, 3] keeps 1 -> pruned at 1. 1: best. 9: pruned.
    # 2: rung 1 has 6 values, keeps 2 (1, 2); rung 3 has [2, 5, 3, 1], keeps 1 -> pruned at 3.
    # 7, 4, 6: rung 1 keeps 2 of 7, 2 of 8, 3 of 9 (1, 2, 3) -> pruned at 1.
    assert pruned == [None, None, 1, None, 1, 3, 1, 1, 1]


def test_the_first_trial_at_a_rung_never_waits():
    assert first_pruned_step(SuccessiveHalvingPruner(), constant(100.0), []) is None


def test_a_rung_is_judged_once_when_reached():
    # Kept at rung 1 while it was the best there; better trials arriving later do not
    # prune it at rung 1 again (only at the next rung, where it competes anew).
    pruner = SuccessiveHalvingPruner()
    first = trial_with(constant(5.0, range(2)), trial_id="a")  # reached rung 1 only
    trial = trial_with({0: 5.0, 1: 5.0}, trial_id="t")
    assert not pruner.prune(trial, [first], LOSS)
    better = [trial_with(constant(1.0, range(2)), trial_id=f"b{i}") for i in range(5)]
    trial.metrics.update("val_loss", 5.0, step=2)
    assert not pruner.prune(trial, [first, *better], LOSS)  # step 2: no rung
    trial.metrics.update("val_loss", 5.0, step=3)
    assert not pruner.prune(trial, [first, *better], LOSS)  # rung 3: alone there
    assert pruner.prune(trial_with({0: 5.0, 1: 5.0}), [first, *better], LOSS)


def test_sparse_reports_judge_every_rung_crossed():
    # Reports at steps 0 and 5 cross rungs 1 and 3 at once, with the value at step 5.
    others = [trial_with(constant(1.0), trial_id=f"o{i}") for i in range(3)]
    pruner = SuccessiveHalvingPruner()
    assert first_pruned_step(pruner, {0: 0.5, 5: 2.0}, others) == 5
    assert first_pruned_step(pruner, {0: 9.0, 5: 0.5}, others) is None


def test_min_early_stopping_rate_skips_the_first_rungs():
    others = [trial_with(constant(1.0), trial_id=f"o{i}") for i in range(3)]
    curve = constant(2.0)
    assert first_pruned_step(SuccessiveHalvingPruner(), curve, others) == 1
    assert first_pruned_step(SuccessiveHalvingPruner(min_early_stopping_rate=1), curve,
                             others) == 3
    assert first_pruned_step(SuccessiveHalvingPruner(min_resource=2, reduction_factor=2),
                             curve, others) == 2


def test_maximizing_objective():
    others = [trial_with(constant(0.8), ACCURACY, f"o{i}") for i in range(3)]
    assert first_pruned_step(SuccessiveHalvingPruner(), constant(0.7), others, ACCURACY) == 1
    assert first_pruned_step(SuccessiveHalvingPruner(), constant(0.9), others, ACCURACY) is None


def test_ties_go_on():
    others = [trial_with(constant(1.0), trial_id=f"o{i}") for i in range(3)]
    assert first_pruned_step(SuccessiveHalvingPruner(), constant(1.0), others) is None


def test_nan_at_a_rung_prunes_and_others_nan_are_ignored():
    assert first_pruned_step(SuccessiveHalvingPruner(), {0: 1.0, 1: math.nan}, []) == 1
    nan_others = [trial_with(constant(math.nan), trial_id=f"n{i}") for i in range(5)]
    assert first_pruned_step(SuccessiveHalvingPruner(), constant(9.0), nan_others) is None


@pytest.mark.parametrize("arguments", [
    {"min_resource": 0}, {"reduction_factor": 1}, {"min_early_stopping_rate": -1},
    {"reduction_factor": 2.5},
])
def test_refuses_bad_arguments(arguments):
    with pytest.raises(ValueError, match="must be an integer"):
        SuccessiveHalvingPruner(**arguments)

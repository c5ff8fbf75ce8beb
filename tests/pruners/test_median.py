"""`MedianPruner` on known learning curves: which trial is pruned at which step."""

from __future__ import annotations

import math

import pytest
from _curves import ACCURACY, first_pruned_step, run_in_order, trial_with

from e2etune.engine.trial import TrialStatus
from e2etune.pruners import BasePruner, MedianPruner

STEPS = range(6)


def others(count: int = 5) -> list:
    """Trials whose values at step s are 10 - s, 11 - s, ...: the median is 12 - s for 5."""
    return [trial_with({s: i + 10 - s for s in STEPS}, trial_id=f"o{i}") for i in range(count)]


def test_is_a_pruner_with_documented_defaults():
    pruner = MedianPruner()
    assert isinstance(pruner, BasePruner)
    assert (pruner.warmup_steps, pruner.min_trials, pruner.interval_steps) == (0, 5, 1)
    assert "MedianPruner(warmup_steps=0" in repr(pruner)


def test_prunes_a_trial_worse_than_the_median_at_its_first_step():
    assert first_pruned_step(MedianPruner(), {s: 13 - s for s in STEPS}, others()) == 0


def test_keeps_a_trial_better_than_the_median():
    assert first_pruned_step(MedianPruner(), {s: 11.5 - s for s in STEPS}, others()) is None


def test_keeps_a_trial_equal_to_the_median():
    assert first_pruned_step(MedianPruner(), {s: 12 - s for s in STEPS}, others()) is None


def test_waits_for_the_warmup():
    curve = {s: 13 - s for s in STEPS}
    assert first_pruned_step(MedianPruner(warmup_steps=2), curve, others()) == 2


def test_compares_the_best_value_so_far():
    # Bad at step 0 (pruned there without warmup); from step 1 its best beats every median.
    curve = {0: 20.0, 1: 5.0, 2: 30.0, 3: 30.0, 4: 30.0, 5: 30.0}
    assert first_pruned_step(MedianPruner(), curve, others()) == 0
    assert first_pruned_step(MedianPruner(warmup_steps=1), curve, others()) is None


def test_needs_min_trials_that_reported_the_step():
    curve = {s: 13 - s for s in STEPS}
    assert first_pruned_step(MedianPruner(min_trials=5), curve, others(4)) is None
    assert first_pruned_step(MedianPruner(min_trials=4), curve, others(4)) == 0
    # Others that stopped at step 2 (at 100) count up to step 2 only.
    short = [trial_with({s: 100.0 for s in range(3)}, trial_id=f"s{i}") for i in range(5)]
    assert first_pruned_step(MedianPruner(), {s: 50.0 for s in STEPS}, short) is None
    # With them, the medians of steps 0-2 are above 50; at step 3 it is 9.
    assert first_pruned_step(MedianPruner(), {s: 50.0 for s in STEPS}, short + others()) == 3


def test_prunes_only_every_interval_after_the_warmup():
    curve = {s: 13 - s for s in STEPS}
    assert first_pruned_step(MedianPruner(warmup_steps=1, interval_steps=2), curve, others()) == 1
    worse_late = {s: (0.0 if s < 2 else 100.0) for s in STEPS}
    pruner = MedianPruner(warmup_steps=1, interval_steps=2)
    assert first_pruned_step(pruner, {**worse_late, 0: 100.0, 1: 100.0}, others()) == 1
    # Best so far stays 0 until step 1; worse from step 2, judged at step 3 (1 + 2).
    assert first_pruned_step(pruner, {0: 0.0, 1: 0.0, **{s: 100.0 for s in range(2, 6)}},
                             others()) is None


def test_maximizing_objective():
    peers = [trial_with({s: 0.5 + 0.01 * i + 0.05 * s for s in STEPS}, ACCURACY, f"o{i}")
             for i in range(5)]
    low = {s: 0.4 + 0.05 * s for s in STEPS}
    high = {s: 0.6 + 0.05 * s for s in STEPS}
    assert first_pruned_step(MedianPruner(), low, peers, ACCURACY) == 0
    assert first_pruned_step(MedianPruner(), high, peers, ACCURACY) is None


def test_nan_values():
    # A trial whose every value is NaN is pruned; NaN values of others are ignored.
    assert first_pruned_step(MedianPruner(), {0: math.nan}, others()) == 0
    nan_peers = [trial_with({s: math.nan for s in STEPS}, trial_id=f"n{i}") for i in range(5)]
    assert first_pruned_step(MedianPruner(), {s: 100.0 for s in STEPS}, nan_peers) is None
    # A NaN after finite values: the best finite value so far counts.
    assert first_pruned_step(MedianPruner(), {0: 0.0, 1: math.nan}, others()) is None


def test_trials_in_order_with_known_curves():
    # Constant curves, run one after another, min_trials=2, warmup 1.
    levels = [5, 3, 8, 1, 9, 2, 4]
    curves = [{s: float(level) for s in STEPS} for level in levels]
    pruned = run_in_order(MedianPruner(warmup_steps=1, min_trials=2), curves)
    # Medians at step 1 over the trials not pruned: [5, 3] -> 4 (8 pruned, 1 kept),
    # [5, 3, 1] -> 3 (9 pruned, 2 kept), [5, 3, 1, 2] -> 2.5 (4 pruned).
    assert pruned == [None, None, 1, None, 1, None, 1]


def test_pruned_trials_do_not_lower_the_bar():
    bad = [trial_with({s: 100.0 for s in STEPS}, trial_id=f"p{i}", status=TrialStatus.PRUNED)
           for i in range(5)]
    # Against the five others alone, 13 - s is pruned; the pruned trials do not rescue it.
    assert first_pruned_step(MedianPruner(), {s: 13 - s for s in STEPS}, bad + others()) == 0
    assert first_pruned_step(MedianPruner(), {s: 13 - s for s in STEPS}, bad) is None
    running = [trial_with({0: 100.0}, trial_id=f"r{i}", status=TrialStatus.RUNNING)
               for i in range(5)]
    assert first_pruned_step(MedianPruner(), {0: 200.0}, running) == 0


def test_reported_values_ignore_a_result_recorded_later_at_the_same_step():
    peer = trial_with({s: 10.0 for s in STEPS}, trial_id="p")
    peer.metrics.update("val_loss", 0.0, step=0)  # the final result, recorded at step 0
    assert first_pruned_step(MedianPruner(min_trials=1), {0: 5.0}, [peer]) is None
    assert first_pruned_step(MedianPruner(min_trials=1), {0: 11.0}, [peer]) == 0


@pytest.mark.parametrize("arguments", [
    {"warmup_steps": -1}, {"min_trials": 0}, {"interval_steps": 0}, {"warmup_steps": 1.5},
    {"min_trials": True},
])
def test_refuses_bad_arguments(arguments):
    with pytest.raises(ValueError, match="must be an integer"):
        MedianPruner(**arguments)

"""The `Oracle` base: trial lifecycle, ids, retries, failures, validation, dedup, messages."""

from __future__ import annotations

import math

import pytest

from e2etune import errors
from e2etune.engine.hyperparameters import Choice, HyperParameters, Int, Parent
from e2etune.engine.objective import Objective
from e2etune.engine.oracle import Oracle
from e2etune.engine.trial import Trial, TrialStatus
from e2etune.oracles import RandomSearchOracle


def space() -> HyperParameters:
    hp = HyperParameters()
    hp.Float("x", -1.0, 1.0)
    hp.Int("units", 8, 64, step=8)
    hp.Choice("activation", ["relu", "tanh"])
    return hp


def oracle(**kwargs) -> RandomSearchOracle:
    kwargs.setdefault("hyperparameters", space())
    kwargs.setdefault("seed", 3)
    return RandomSearchOracle(**kwargs)


def finish(o: Oracle, trial: Trial, score: float | None = 1.0,
           status: str = TrialStatus.COMPLETED, message: str | None = None) -> Trial:
    """Ends `trial` as a tuner would."""
    if score is not None:
        o.update_trial(trial.trial_id, {o.objective.name: score})
    trial.status, trial.message = status, message
    o.end_trial(trial)
    return o.get_trial(trial.trial_id)


# Trial ids.


@pytest.mark.parametrize("max_trials, first, last", [(10, "00", "09"), (5, "0", "4"),
                                                      (100, "000", "002"), (None, "0000", "0002")])
def test_trial_ids_are_numbers_padded_to_the_width_of_max_trials(max_trials, first, last):
    o = oracle(max_trials=max_trials)
    ids = [finish(o, o.create_trial("t")).trial_id for _ in range(min(max_trials or 3, 3))]
    assert ids[0] == first
    if max_trials in (10, 5):
        ids += [finish(o, o.create_trial("t")).trial_id for _ in range(max_trials - 3)]
        assert ids[-1] == last
    assert len(set(ids)) == len(ids)


def test_ids_stay_unique_when_an_id_is_taken():
    o = oracle(max_trials=10)
    o.trials["00"] = Trial(space(), "00", TrialStatus.COMPLETED)
    assert o.create_trial("t").trial_id == "01"


def test_a_worker_gets_its_running_trial_again():
    o = oracle(max_trials=10)
    first = o.create_trial("a")
    assert o.create_trial("a") is first
    assert o.create_trial("b").trial_id != first.trial_id


def test_stops_after_max_trials_and_counts_remaining():
    o = oracle(max_trials=3)
    assert o.remaining_trials() == 3
    for _ in range(3):
        finish(o, o.create_trial("t"))
    assert o.remaining_trials() == 0
    assert o.create_trial("t").status == TrialStatus.STOPPED
    assert len(o.trials) == 3
    assert oracle(max_trials=None).remaining_trials() is None


# Scores and best trials.


@pytest.mark.parametrize("direction", ["min", "max"])
def test_best_trials_follow_the_objective_direction(direction):
    o = oracle(objective=Objective("score", direction), max_trials=5)
    for score in [3.0, 1.0, 4.0, 2.0]:
        finish(o, o.create_trial("t"), score)
    best = [t.score for t in o.get_best_trials(4)]
    assert best == sorted(best, reverse=direction == "max")
    assert o.get_best_trials()[0].score == (1.0 if direction == "min" else 4.0)


def test_the_best_step_of_a_max_objective_is_its_largest_value():
    o = oracle(objective=Objective("my_score", "max"), max_trials=2)
    trial = o.create_trial("t")
    for step, value in enumerate([0.2, 0.9, 0.5]):
        o.update_trial(trial.trial_id, {"my_score": value}, step=step)
    trial = finish(o, trial, None)
    assert trial.score == 0.9 and trial.best_step == 1


def test_the_default_objective_takes_the_single_returned_metric():
    o = oracle(max_trials=2)
    trial = o.create_trial("t")
    o.update_trial(trial.trial_id, {"val_loss": 0.25})
    assert finish(o, trial, None).score == 0.25


@pytest.mark.parametrize("value", [math.nan, None])
def test_a_nan_or_missing_objective_makes_the_trial_invalid_and_never_best(value):
    o = oracle(max_trials=5)
    finish(o, o.create_trial("t"), 2.0)
    bad = finish(o, o.create_trial("t"), value)
    assert bad.status == TrialStatus.INVALID
    assert "NaN or missing" in bad.message
    assert [t.score for t in o.get_best_trials(1)] == [2.0]
    # Past the completed trials, the others follow (as in KerasTuner), never ahead.
    assert [t.trial_id for t in o.get_best_trials(5)][1:] == [bad.trial_id]
    assert o._retry_queue == []


def test_a_nan_objective_is_not_retried_and_counts_as_a_failure():
    o = oracle(max_trials=5, max_retries_per_trial=1, max_consecutive_failed_trials=2)
    trial = finish(o, o.create_trial("t"), math.nan)
    assert trial.status == TrialStatus.INVALID and o._retry_queue == []
    assert o._consecutive_failures == [trial.trial_id]
    with pytest.raises(errors.TooManyFailedTrialsError, match="2 trials failed in a row"):
        finish(o, o.create_trial("t"), math.nan)


# Retries and failures.


def test_an_error_is_retried_under_the_same_id_then_fails():
    o = oracle(max_trials=5, max_retries_per_trial=2)
    trial = o.create_trial("t")
    for attempt in (1, 2, 3):
        assert trial.attempts == attempt
        assert not trial.metrics.metrics, "a retry starts without the metrics of the last attempt"
        o.update_trial(trial.trial_id, {"default_objective": 5.0})
        ended = finish(o, trial, None, TrialStatus.INVALID, f"error {attempt}")
        if attempt < 3:
            assert ended.status == TrialStatus.IDLE
            trial = o.create_trial("t")
            assert trial.trial_id == ended.trial_id
    assert ended.status == TrialStatus.FAILED
    assert ended.message == "error 3"
    assert o.create_trial("t").trial_id != ended.trial_id


def test_a_retried_trial_that_succeeds_scores_only_its_last_attempt():
    o = oracle(max_trials=5, max_retries_per_trial=1)
    trial = o.create_trial("t")
    o.update_trial(trial.trial_id, {"default_objective": 100.0})
    finish(o, trial, None, TrialStatus.INVALID, "boom")
    trial = o.create_trial("t")
    ended = finish(o, trial, 1.0)
    assert ended.status == TrialStatus.COMPLETED and ended.score == 1.0
    assert ended.message is None


def test_failed_trials_are_never_retried():
    o = oracle(max_trials=5, max_retries_per_trial=3)
    trial = finish(o, o.create_trial("t"), None, TrialStatus.FAILED, "FailedTrialError")
    assert trial.status == TrialStatus.FAILED
    assert o.create_trial("t").trial_id != trial.trial_id


def test_consecutive_failures_stop_the_search_with_the_last_error():
    o = oracle(max_trials=10, max_consecutive_failed_trials=3)
    finish(o, o.create_trial("t"), None, TrialStatus.FAILED, "first")
    finish(o, o.create_trial("t"), None, TrialStatus.FAILED, "second")
    finish(o, o.create_trial("t"), 1.0)  # a success resets the count
    finish(o, o.create_trial("t"), None, TrialStatus.FAILED, "third")
    finish(o, o.create_trial("t"), None, TrialStatus.FAILED, "fourth")
    with pytest.raises(errors.TooManyFailedTrialsError) as info:
        finish(o, o.create_trial("t"), None, TrialStatus.INVALID, "ValueError: the last one")
    assert isinstance(info.value, RuntimeError)
    assert "3 trials failed in a row" in str(info.value)
    assert "ValueError: the last one" in str(info.value)
    assert o.get_trial("05").status == TrialStatus.FAILED


def test_end_trial_needs_a_final_status():
    o = oracle(max_trials=3)
    trial = o.create_trial("t")
    trial.status = TrialStatus.IDLE
    with pytest.raises(ValueError, match="final status"):
        o.end_trial(trial)


def test_end_trial_takes_kerastuners_forms():
    o = oracle(max_trials=3)
    trial = o.create_trial("t")
    o.update_trial(trial.trial_id, {"default_objective": 1.0})
    o.end_trial(trial)  # still RUNNING: KerasTuner counts it as completed
    assert trial.status == TrialStatus.COMPLETED and trial.score == 1.0
    other = o.create_trial("t")
    o.update_trial(other.trial_id, {"default_objective": 0.5})
    o.end_trial(other.trial_id, "COMPLETE")  # the older signature
    assert o.get_best_trials(1) == [other]
    with pytest.raises(ValueError, match="cannot become COMPLETED"):
        o.end_trial(other.trial_id, "COMPLETED")  # ended already


# Validation.


@pytest.mark.parametrize("max_trials", [0, -1, 1.5, 10.0, "10", True])
def test_max_trials_must_be_a_positive_integer(max_trials):
    with pytest.raises(ValueError, match="max_trials"):
        oracle(max_trials=max_trials)


@pytest.mark.parametrize("objective, error", [
    ("no_such_direction", ValueError),
    (42, TypeError),
    ([], ValueError),
    (["loss", "loss"], ValueError),
    (Objective("", "min"), ValueError),
])
def test_objectives_the_oracle_cannot_use_are_rejected(objective, error):
    with pytest.raises(error):
        oracle(objective=objective)


@pytest.mark.parametrize("kwargs", [{"seed": -1}, {"seed": 1.5}, {"max_retries_per_trial": -1},
                                    {"max_consecutive_failed_trials": 0}])
def test_other_arguments_are_checked(kwargs):
    with pytest.raises(ValueError):
        oracle(**kwargs)


def test_hyperparameters_must_be_a_hyperparameters():
    with pytest.raises(TypeError, match="HyperParameters"):
        oracle(hyperparameters={"x": 1})


class _Broken(Choice):
    def prob_to_value(self, prob):
        raise ZeroDivisionError("no values to draw from")


def test_a_space_that_cannot_be_sampled_is_rejected():
    hp = HyperParameters()
    hp.merge([_Broken("width", [1, 2])])
    with pytest.raises(ValueError, match="'width' cannot be sampled"):
        oracle(hyperparameters=hp)


def test_a_hyperparameter_that_can_never_be_active_is_rejected():
    hp = HyperParameters()
    hp.Choice("model", ["cnn", "mlp"])
    hp.merge([Int("filters", 8, 64, conditions=[Parent("model", ["rnn"])])])
    with pytest.raises(ValueError, match="never"):
        oracle(hyperparameters=hp)
    orphan = HyperParameters()
    orphan.merge([Int("filters", 8, 64, conditions=[Parent("model", ["cnn"])])])
    with pytest.raises(ValueError, match="allow_new_entries"):
        oracle(hyperparameters=orphan, allow_new_entries=False)
    oracle(hyperparameters=orphan)  # the parent may still be declared by the model code


# The space.


def test_update_space_appends_new_hyperparameters_only():
    o = oracle(max_trials=5)
    declared = o.get_space()
    declared.Boolean("dropout")
    declared.Int("units", 1, 2)  # already known: the known definition stays
    o.update_space(declared)
    names = [hp.name for hp in o.get_space().space]
    assert names == ["x", "units", "activation", "dropout"]
    assert o.get_space().get_hyperparameter("units").max_value == 64


def test_update_space_refuses_new_hyperparameters_when_not_allowed():
    o = oracle(max_trials=5, allow_new_entries=False)
    declared = HyperParameters()
    declared.Boolean("dropout")
    with pytest.raises(RuntimeError, match="allow_new_entries"):
        o.update_space(declared)


def test_get_space_is_a_copy():
    o = oracle(max_trials=5)
    o.get_space().Boolean("dropout")
    assert "dropout" not in o.get_space()


# Duplicates.


def test_configuration_keys_ignore_defaults_and_tuner_entries_but_not_types():
    o = oracle(max_trials=5)
    key = o._compute_values_hash
    assert key({"x": 0.5, "units": 8}) == key({"x": 0.5})  # 8 is the default of units
    assert key({"x": 0.5, "tuner/epochs": 3}) == key({"x": 0.5})
    assert key({"x": 0.5}) != key({"x": 0.25})
    assert key({"units": 1}) != key({"units": 1.0}) != key({"units": True})
    assert key({"x": 0.1, "units": 2}) == key({"units": 2, "x": 0.1})


def test_a_configuration_is_never_proposed_twice():
    hp = HyperParameters()
    hp.Choice("a", [1, 2, 3])
    hp.Boolean("b")
    o = RandomSearchOracle(hyperparameters=hp, max_trials=50, seed=0)
    seen = []
    while (trial := o.create_trial("t")).status == TrialStatus.RUNNING:
        seen.append(tuple(sorted(trial.hyperparameters.values.items())))
        finish(o, trial)
    assert len(seen) == 6 == len(set(seen))


# Hooks and messages.


class _Counting(Oracle):
    """Proposes x = 0, 1, 2, ... and keeps its counter in its state."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.counter = 0

    def populate_space(self, trial_id):
        self.counter += 1
        return {"status": TrialStatus.RUNNING, "values": {"x": self.counter}}

    def get_state(self):
        return {"counter": self.counter}

    def set_state(self, state):
        self.counter = state["counter"]


def test_algorithm_state_is_saved_with_each_event_and_restored(tmp_path):
    o = _Counting(max_trials=10)
    o._set_project_dir(str(tmp_path), "p")
    for _ in range(3):
        finish(o, o.create_trial("t"))
    o.close()
    again = _Counting(max_trials=10)
    again._set_project_dir(str(tmp_path), "p")
    assert again.counter == 3
    assert again.create_trial("t").hyperparameters.values == {"x": 4}
    again.close()


def test_stored_trials_hold_what_trial_to_proto_holds():
    o = oracle(objective=Objective("score", "max"), max_trials=5)
    trial = o.create_trial("t")
    o.update_trial(trial.trial_id, {"score": 0.5, "loss": 2.0}, step=0)
    o.update_trial(trial.trial_id, {"score": 0.75, "loss": 1.0}, step=1)
    trial.status, trial.message = TrialStatus.COMPLETED, "note"
    o.end_trial(trial)
    split = o._codec.trial(trial)
    stored = split.message
    stored.hyperparameters.space.extend(type(stored.hyperparameters).FromString(split.space).space)
    assert stored == trial.to_proto()


def test_update_trial_returns_the_status():
    o = oracle(max_trials=2)
    trial = o.create_trial("t")
    assert o.update_trial(trial.trial_id, {"default_objective": 1.0}) == TrialStatus.RUNNING
    with pytest.raises(KeyError, match="No trial"):
        o.get_trial("nope")


def test_a_trial_counts_as_the_configuration_it_ran_not_the_one_it_was_given():
    o = oracle(max_trials=4)
    trial = o.create_trial("t")
    given = dict(trial.hyperparameters.values)
    assert o._duplicate(given)
    ran = {**given, "x": 0.0 if given["x"] != 0.0 else 0.5}
    trial.hyperparameters.values["x"] = ran["x"]  # the run changed what it trained with
    o.update_trial(trial.trial_id, {"default_objective": 1.0})
    trial.status = TrialStatus.COMPLETED
    o.end_trial(trial)
    assert not o._duplicate(given) and o._duplicate(ran)


def test_without_tune_new_entries_new_hyperparameters_keep_their_defaults_outside_the_space():
    hps = HyperParameters()
    hps.Int("units", 1, 4)
    o = RandomSearchOracle(max_trials=3, seed=1, hyperparameters=hps, tune_new_entries=False)
    trial = o.create_trial("t")
    trial.hyperparameters.Float("lr", 0.1, 1.0)  # declared by the model code: its default
    assert trial.hyperparameters["lr"] == 0.1
    o.update_trial(trial.trial_id, {"default_objective": 1.0})
    trial.status = TrialStatus.COMPLETED
    o.end_trial(trial)
    assert [hp.name for hp in o.get_space().space] == ["units"]

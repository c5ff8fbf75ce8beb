"""The framework-free search loop with a `run_trial` override: results, failures, the project."""

from __future__ import annotations

import math
import os

import pytest

from e2etune import errors
from e2etune.engine.base_tuner import BaseTuner
from e2etune.engine.hypermodel import HyperModel
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.trial import TrialStatus
from e2etune.oracles import GridSearchOracle, RandomSearchOracle


class FunctionTuner(BaseTuner):
    """Runs `function(hp, trial)` as the trial."""

    def __init__(self, function, **kwargs):
        self.function = function
        super().__init__(**kwargs)

    def run_trial(self, trial, *args, **kwargs):
        return self.function(trial.hyperparameters, trial)


def quadratic(hp, trial):
    return (hp.Float("x", -2.0, 2.0) - 0.5) ** 2 + hp.Int("k", 0, 3)


def tuner(tmp_path, function=quadratic, project="p", **oracle_kwargs):
    oracle_kwargs.setdefault("seed", 1)
    oracle_kwargs.setdefault("max_trials", 8)
    oracle = RandomSearchOracle(**oracle_kwargs)
    return FunctionTuner(function, oracle=oracle, directory=str(tmp_path), project_name=project)


def test_a_search_runs_max_trials_and_finds_the_best(tmp_path):
    t = tuner(tmp_path, max_trials=20)
    t.search(verbose=0)
    trials = t.oracle.trials.values()
    assert len(trials) == 20 and all(x.status == TrialStatus.COMPLETED for x in trials)
    best = t.get_best_hyperparameters()[0]
    assert quadratic(best, None) == min(x.score for x in trials)
    assert [hp.name for hp in t.oracle.get_space().space] == ["x", "k"]
    assert t.remaining_trials == 0
    assert os.path.isdir(t.get_trial_dir("00"))
    t.oracle.close()


def test_results_summary_and_search_space_summary_print(tmp_path, capsys):
    t = tuner(tmp_path, max_trials=2)
    t.search(verbose=0)
    t.results_summary(1)
    t.search_space_summary()
    out = capsys.readouterr().out
    assert "Results summary" in out and "Default search space size: 2" in out
    t.oracle.close()


def test_an_error_is_retried_then_the_search_goes_on(tmp_path):
    calls = []

    def flaky(hp, trial):
        hp.Float("x", 0.0, 1.0)
        calls.append(trial.trial_id)
        if trial.trial_id == "00" and trial.attempts == 1:
            raise ValueError("transient")
        return 1.0

    t = tuner(tmp_path, flaky, max_trials=10, max_retries_per_trial=1)
    t.search(verbose=0)
    assert calls == ["00", "00", *(f"0{i}" for i in range(1, 10))]
    assert all(x.status == TrialStatus.COMPLETED for x in t.oracle.trials.values())
    t.oracle.close()


def test_failed_trial_error_fails_at_once_and_the_search_goes_on(tmp_path):
    calls = []

    def picky(hp, trial):
        hp.Float("x", 0.0, 1.0)
        calls.append(trial.trial_id)
        if trial.trial_id == "01":
            raise errors.FailedTrialError("too large")
        return 1.0

    t = tuner(tmp_path, picky, max_trials=10, max_retries_per_trial=3)
    t.search(verbose=0)
    assert calls == [f"0{i}" for i in range(10)]
    failed = t.oracle.get_trial("01")
    assert failed.status == TrialStatus.FAILED and "too large" in failed.message
    t.oracle.close()


def test_consecutive_failures_stop_the_search_with_the_last_message(tmp_path):
    def broken(hp, trial):
        hp.Float("x", 0.0, 1.0)
        raise KeyError(f"missing column in trial {trial.trial_id}")

    t = tuner(tmp_path, broken, max_trials=10)
    with pytest.raises(RuntimeError) as info:
        t.search(verbose=0)
    assert "3 trials failed in a row" in str(info.value)
    assert "missing column in trial 02" in str(info.value)
    assert len(t.oracle.trials) == 3
    t.oracle.close()


def test_a_fatal_error_stops_the_search_at_once(tmp_path):
    calls = []

    def fatal(hp, trial):
        calls.append(trial.trial_id)
        raise errors.FatalValueError("wrong data")

    t = tuner(tmp_path, fatal, max_trials=10, max_retries_per_trial=5)
    with pytest.raises(errors.FatalValueError, match="wrong data"):
        t.search(verbose=0)
    assert calls == ["00"]
    t.oracle.close()


def test_a_nan_result_is_invalid_and_never_best(tmp_path):
    def sometimes_nan(hp, trial):
        hp.Float("x", 0.0, 1.0)
        return math.nan if trial.trial_id in ("01", "03") else float(trial.trial_id)

    t = tuner(tmp_path, sometimes_nan, max_trials=10)
    t.search(verbose=0)
    statuses = {i: x.status for i, x in t.oracle.trials.items()}
    assert statuses["01"] == statuses["03"] == TrialStatus.INVALID
    assert [x.trial_id for x in t.oracle.get_best_trials(3)] == ["00", "02", "04"]
    t.oracle.close()


def test_an_exhausted_space_ends_the_search_cleanly(tmp_path):
    def small(hp, trial):
        return hp.Choice("a", [1, 2, 3]) * 1.0

    t = FunctionTuner(small, oracle=RandomSearchOracle(max_trials=10, seed=0),
                      directory=str(tmp_path), project_name="small")
    t.search(verbose=0)
    values = sorted(x.hyperparameters.get("a") for x in t.oracle.trials.values())
    assert values == [1, 2, 3]
    t.oracle.close()


def test_a_grid_search_over_hyperparameters_declared_in_run_trial(tmp_path):
    def declared(hp, trial):
        a = hp.Choice("a", ["x", "y"])
        if a == "y":
            return 2.0 + hp.Boolean("b")  # "b" appears in the second trial
        return 1.0

    t = FunctionTuner(declared, oracle=GridSearchOracle(), directory=str(tmp_path),
                      project_name="grid")
    t.search(verbose=0)
    values = [x.hyperparameters.values for x in t.oracle.trials.values()]
    # As in KerasTuner, "b" is varied from the trial that declared it on.
    assert values == [{"a": "x"}, {"a": "y", "b": False}, {"a": "y", "b": True}]
    t.oracle.close()


def test_the_trials_of_a_finished_search_are_on_disk(tmp_path):
    t = tuner(tmp_path, max_trials=4)
    t.search(verbose=0)
    scores = {i: x.score for i, x in t.oracle.trials.items()}
    t.oracle.close()
    again = tuner(tmp_path, max_trials=4)
    assert {i: x.score for i, x in again.oracle.trials.items()} == scores
    again.search(verbose=0)  # nothing left to run
    assert len(again.oracle.trials) == 4
    again.oracle.close()


def test_hyperparameters_given_to_the_oracle_override_the_code(tmp_path):
    hp = HyperParameters()
    hp.Fixed("k", 2)
    t = tuner(tmp_path, max_trials=5, hyperparameters=hp)
    t.search(verbose=0)
    assert {x.hyperparameters.get("k") for x in t.oracle.trials.values()} == {2}
    t.oracle.close()


class BranchyModel(HyperModel):
    """A framework-free hypermodel whose hyperparameters depend on a choice."""

    def __init__(self):
        super().__init__()
        self.builds = []

    def build(self, hp):
        kind = hp.Choice("kind", ["linear", "tree"])
        with hp.conditional_scope("kind", ["linear"]):
            if kind == "linear":
                hp.Float("l2", 0.0, 1.0)
        with hp.conditional_scope("kind", ["tree"]):
            if kind == "tree":
                hp.Int("depth", 1, 5)
        self.builds.append(kind)
        return kind

    def fit(self, hp, model, *args, **kwargs):
        return hp.get("l2") if model == "linear" else hp.get("depth") / 10


def test_the_tuner_builds_once_per_branch_to_know_the_whole_space(tmp_path):
    model = BranchyModel()
    t = BaseTuner(oracle=RandomSearchOracle(max_trials=1, seed=1), hypermodel=model,
                  directory=tmp_path, project_name="branches")
    assert [hp.name for hp in t.oracle.get_space().space] == ["kind", "l2", "depth"]
    assert model.builds == ["linear", "tree"]
    t.oracle.close()


def test_undeclared_hyperparameters_with_allow_new_entries_false_fail_at_once(tmp_path):
    fixed = HyperParameters()
    fixed.Choice("kind", ["linear", "tree"])
    oracle = RandomSearchOracle(max_trials=1, hyperparameters=fixed, allow_new_entries=False)
    with pytest.raises(RuntimeError, match=r"\['l2'\].*`allow_new_entries` is `False`"):
        BaseTuner(oracle=oracle, hypermodel=BranchyModel(), directory=tmp_path)


def test_bad_arguments_name_what_is_expected(tmp_path):
    with pytest.raises(ValueError, match="Received `hypermodel=None`"):
        BaseTuner(oracle=RandomSearchOracle(max_trials=1), directory=tmp_path)
    for error in (TypeError, ValueError):  # KerasTuner raises ValueError
        with pytest.raises(error, match="Expected `oracle` argument to be an instance of"):
            FunctionTuner(quadratic, oracle="random", directory=tmp_path)


def test_the_directory_is_kept_as_given(tmp_path):
    t = tuner(tmp_path)
    t_path = FunctionTuner(quadratic, oracle=RandomSearchOracle(max_trials=1),
                           directory=tmp_path, project_name="path")
    assert t.directory == str(tmp_path) and t_path.directory == tmp_path
    assert t_path.project_dir == os.path.join(str(tmp_path), "path")
    t.oracle.close()
    t_path.oracle.close()


def test_trial_numbers_continue_after_a_resume(tmp_path):
    first = tuner(tmp_path, max_trials=2)
    first.search(verbose=0)
    first.oracle.close()
    again = tuner(tmp_path, max_trials=5)
    again.search(verbose=0)
    numbers = again.oracle._display.trial_number  # where KerasTuner code reads them
    assert sorted(numbers.values()) == [3, 4, 5] and numbers == again._display.trial_number
    again.oracle.close()


def test_reporting_through_update_trial_and_returning_none_is_deprecated(tmp_path):
    def report(hp, trial):
        t.oracle.update_trial(trial.trial_id, {"default_objective": 1.0})

    t = tuner(tmp_path, report, max_trials=1)
    with pytest.deprecated_call(match="Please remove the call"):
        t.search(verbose=0)
    assert t.oracle.get_best_trials(1)[0].score == 1.0
    t.oracle.close()

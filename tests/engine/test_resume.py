"""Resuming a search: what stays, what runs again, what the user may change, what is refused."""

from __future__ import annotations

import json
import sqlite3

import pytest

from e2etune import errors
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.trial import TrialStatus
from e2etune.oracles import GridSearchOracle, RandomSearchOracle
from e2etune.protos import e2etune_pb2


def space() -> HyperParameters:
    hp = HyperParameters()
    hp.Float("x", -1.0, 1.0)
    hp.Int("k", 0, 9)
    hp.Choice("c", ["a", "b", "c"])
    return hp


def grid_space() -> HyperParameters:
    hp = HyperParameters()
    hp.Choice("a", [1, 2, 3])
    hp.Boolean("b")
    hp.Int("k", 0, 2)
    return hp


def score(values) -> float:
    return sum(hash(str(v)) % 100 for v in values.values()) / 100.0


def open_oracle(path, cls=RandomSearchOracle, overwrite=False, **kwargs):
    kwargs.setdefault("seed", 7)
    kwargs.setdefault("hyperparameters", space() if cls is RandomSearchOracle else grid_space())
    oracle = cls(**kwargs)
    oracle._set_project_dir(str(path), "project", overwrite=overwrite)
    return oracle


def run(oracle, count=None, tuner_id="t"):
    """Runs up to `count` trials to completion; returns their ids."""
    ran = []
    while count is None or len(ran) < count:
        trial = oracle.create_trial(tuner_id)
        if trial.status != TrialStatus.RUNNING:
            break
        result = score(trial.hyperparameters.values)
        oracle.update_trial(trial.trial_id, {oracle.objective.name: result})
        trial.status = TrialStatus.COMPLETED
        oracle.end_trial(trial)
        ran.append(trial.trial_id)
    return ran


def snapshot(oracle):
    return {i: (t.status, t.hyperparameters.values, t.score) for i, t in oracle.trials.items()}


# Random search.


def test_random_search_resumes_exactly_as_an_uninterrupted_run(tmp_path):
    reference = open_oracle(tmp_path / "reference", max_trials=12)
    run(reference)
    oracle = open_oracle(tmp_path / "resumed", max_trials=12)
    run(oracle, 5)
    oracle.close()
    oracle = open_oracle(tmp_path / "resumed", max_trials=12)
    assert len(oracle.trials) == 5
    run(oracle)
    assert snapshot(oracle) == snapshot(reference)
    reference.close()
    oracle.close()


def test_a_larger_max_trials_on_resume_takes_effect(tmp_path):
    oracle = open_oracle(tmp_path, max_trials=4)
    run(oracle)
    assert oracle.create_trial("t").status == TrialStatus.STOPPED
    oracle.close()
    oracle = open_oracle(tmp_path, max_trials=10)
    before = snapshot(oracle)
    assert oracle.remaining_trials() == 6
    new = run(oracle)
    assert new == ["04", "05", "06", "07", "08", "09"]
    assert {i: before[i] for i in before} == {i: snapshot(oracle)[i] for i in before}
    oracle.close()
    oracle = open_oracle(tmp_path, max_trials=3)  # fewer than done: nothing more runs
    assert run(oracle) == [] and len(oracle.trials) == 10
    oracle.close()


def test_a_running_trial_runs_again_under_its_id_with_its_values(tmp_path):
    oracle = open_oracle(tmp_path, max_trials=10)
    run(oracle, 2)
    interrupted = oracle.create_trial("t")
    values = interrupted.hyperparameters.values
    oracle.update_trial(interrupted.trial_id, {"default_objective": 99.0})
    oracle.close()  # as if the process died here
    oracle = open_oracle(tmp_path, max_trials=10)
    assert oracle.get_trial(interrupted.trial_id).status == TrialStatus.IDLE
    again = oracle.create_trial("t")
    assert again.trial_id == interrupted.trial_id == "02"
    assert again.hyperparameters.values == values
    assert again.attempts == 1 and not again.metrics.metrics
    assert run(oracle, 1) == ["02"]
    assert run(oracle, 1) == ["03"]
    oracle.close()


def test_retries_and_failure_counts_continue(tmp_path):
    oracle = open_oracle(tmp_path, max_trials=10, max_retries_per_trial=1,
                         max_consecutive_failed_trials=3)
    for message in ("one", "two"):
        trial = oracle.create_trial("t")
        trial.status, trial.message = TrialStatus.FAILED, message
        oracle.end_trial(trial)
    trial = oracle.create_trial("t")
    trial.status, trial.message = TrialStatus.INVALID, "retry me"
    oracle.end_trial(trial)
    assert oracle.get_trial("02").status == TrialStatus.IDLE
    oracle.close()
    oracle = open_oracle(tmp_path, max_trials=10, max_retries_per_trial=1,
                         max_consecutive_failed_trials=3)
    retried = oracle.create_trial("t")
    assert retried.trial_id == "02" and retried.attempts == 2
    retried.status, retried.message = TrialStatus.INVALID, "still broken"
    with pytest.raises(errors.TooManyFailedTrialsError, match="still broken"):
        oracle.end_trial(retried)
    oracle.close()


def test_overwrite_starts_afresh(tmp_path):
    oracle = open_oracle(tmp_path, max_trials=10)
    run(oracle, 3)
    oracle.close()
    oracle = open_oracle(tmp_path, max_trials=10, overwrite=True, seed=8)
    assert oracle.trials == {} and oracle.seed == 8
    assert run(oracle, 1) == ["00"]
    oracle.close()


def test_the_seed_position_continues(tmp_path):
    oracle = open_oracle(tmp_path, max_trials=10)
    run(oracle, 3)
    position = oracle._seed_state
    oracle.close()
    oracle = open_oracle(tmp_path, max_trials=10, seed=12345)  # the saved stream continues
    assert (oracle.seed, oracle._seed_state) == (7, position)
    oracle.close()


def test_a_search_with_another_objective_is_refused_never_mixed(tmp_path):
    oracle = open_oracle(tmp_path, max_trials=10, objective="loss")
    trial = oracle.create_trial("t")
    oracle.update_trial(trial.trial_id, {"loss": 2.0, "accuracy": 0.75})
    trial.status = TrialStatus.COMPLETED
    oracle.end_trial(trial)
    oracle.close()
    with pytest.raises(errors.SearchStateError,
                       match=r"optimizes loss \(min\), not accuracy \(max\).*overwrite=True"):
        open_oracle(tmp_path, max_trials=10, objective="accuracy")
    oracle = open_oracle(tmp_path, max_trials=10, objective="loss")
    assert oracle.get_trial("00").score == 2.0
    oracle.close()


def test_changed_hyperparameters_take_effect(tmp_path):
    oracle = open_oracle(tmp_path, max_trials=10)
    run(oracle, 2)
    oracle.close()
    changed = HyperParameters()
    changed.Int("k", 100, 200)
    oracle = open_oracle(tmp_path, max_trials=10, hyperparameters=changed)
    run(oracle, 3)
    assert all(100 <= oracle.get_trial(i).hyperparameters.get("k") <= 200 for i in ("02", "03"))
    assert [hp.name for hp in oracle.get_space().space] == ["x", "k", "c"]
    oracle.close()


# Grid search.


def test_grid_search_continues_at_the_next_point_and_never_repeats(tmp_path):
    reference = open_oracle(tmp_path / "reference", GridSearchOracle)
    order = [reference.get_trial(i).hyperparameters.values for i in run(reference)]
    assert len(order) == 18
    oracle = open_oracle(tmp_path / "resumed", GridSearchOracle, max_trials=5)
    run(oracle)
    oracle.close()
    for max_trials in (7, None):
        oracle = open_oracle(tmp_path / "resumed", GridSearchOracle, max_trials=max_trials)
        run(oracle)
        oracle.close()
    oracle = open_oracle(tmp_path / "resumed", GridSearchOracle)
    assert [t.hyperparameters.values for t in oracle.trials.values()] == order
    assert run(oracle) == []
    reference.close()
    oracle.close()


def test_grid_search_reruns_an_interrupted_point_then_moves_on(tmp_path):
    oracle = open_oracle(tmp_path, GridSearchOracle)
    run(oracle, 2)
    interrupted = oracle.create_trial("t").hyperparameters.values
    oracle.close()
    oracle = open_oracle(tmp_path, GridSearchOracle)
    run(oracle)
    values = [t.hyperparameters.values for t in oracle.trials.values()]
    assert values[2] == interrupted
    assert len(values) == 18 and len({json.dumps(v, sort_keys=True) for v in values}) == 18
    oracle.close()


def test_grid_search_covers_a_space_grown_on_resume_without_repeats(tmp_path):
    oracle = open_oracle(tmp_path, GridSearchOracle, max_trials=4)
    run(oracle)
    oracle.close()
    grown = grid_space()
    grown.Choice("extra", ["p", "q"])
    oracle = open_oracle(tmp_path, GridSearchOracle, hyperparameters=grown)
    run(oracle)
    values = [t.hyperparameters.values for t in oracle.trials.values()]
    full = [{**v, "extra": v.get("extra", "p")} for v in values]
    # As in KerasTuner, the new hyperparameter is varied from the last trial on: the three
    # points before it keep its default; nothing runs twice.
    assert len(full) == 36 - 3 == len({json.dumps(v, sort_keys=True) for v in full})
    oracle.close()


# What is refused.


def test_another_oracle_class_is_refused(tmp_path):
    run(open_oracle(tmp_path, max_trials=3), 1)
    with pytest.raises(errors.SearchStateError, match="RandomSearchOracle, not GridSearchOracle"):
        open_oracle(tmp_path, GridSearchOracle)


def _edit_state(path, edit):
    connection = sqlite3.connect(path / "project" / "search.db")
    data = connection.execute("SELECT state FROM e2etune_projects").fetchone()[0]
    state = e2etune_pb2.OracleState.FromString(data)
    edit(state)
    connection.execute("UPDATE e2etune_projects SET state = ?, state_revision = revision + 1, "
                       "revision = revision + 1", (state.SerializeToString(),))
    connection.commit()
    connection.close()


def test_an_oracle_state_of_another_version_is_refused(tmp_path):
    open_oracle(tmp_path, max_trials=3).close()
    _edit_state(tmp_path, lambda s: setattr(s, "format_version", 2))
    with pytest.raises(errors.SearchStateError, match="newer e2etune.*overwrite=True"):
        open_oracle(tmp_path, max_trials=3)
    open_oracle(tmp_path, max_trials=3, overwrite=True).close()


def test_a_damaged_algorithm_state_is_reported(tmp_path):
    oracle = open_oracle(tmp_path, GridSearchOracle)
    run(oracle, 2)
    oracle.close()
    _edit_state(tmp_path, lambda s: setattr(s, "algorithm_state", b"{not json"))
    with pytest.raises(errors.SearchStateError, match="cannot be loaded.*overwrite=True"):
        open_oracle(tmp_path, GridSearchOracle)


def test_a_failed_load_releases_the_project(tmp_path):
    run(open_oracle(tmp_path, max_trials=3), 1)
    with pytest.raises(errors.SearchStateError):
        open_oracle(tmp_path, GridSearchOracle)
    open_oracle(tmp_path, max_trials=3).close()  # not locked by the failed attempt

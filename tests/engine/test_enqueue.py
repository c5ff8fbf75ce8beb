"""`oracle.enqueue_trial(values)`: queued configurations run first, once, across restarts
and workers."""

from __future__ import annotations

import collections
import importlib.util
import json
import logging
import os
import pathlib
import subprocess
import sys

import pytest

from e2etune.engine.base_tuner import BaseTuner
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.trial import TrialStatus
from e2etune.oracles import (
    BayesianOptimizationOracle,
    GridSearchOracle,
    HyperbandOracle,
    RandomSearchOracle,
)

HERE = pathlib.Path(__file__).resolve().parent
WORKER = HERE / "_worker.py"


def space() -> HyperParameters:
    hp = HyperParameters()
    hp.Choice("a", [0, 1, 2, 3])
    hp.Choice("b", ["p", "q"])
    hp.Float("x", 0.0, 1.0)
    return hp


def conditional_space() -> HyperParameters:
    hp = HyperParameters()
    hp.Choice("model", ["cnn", "mlp"])
    with hp.conditional_scope("model", "cnn"):
        hp.Int("filters", 8, 64, step=8)
    with hp.conditional_scope("model", "mlp"):
        hp.Int("units", 16, 128, default=32)
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    return hp


ORACLES = {
    "random": lambda **kw: RandomSearchOracle(max_trials=6, **kw),
    "grid": lambda **kw: GridSearchOracle(**kw),
    "bayesian": lambda **kw: BayesianOptimizationOracle(max_trials=6, num_initial_points=3, **kw),
    "hyperband": lambda **kw: HyperbandOracle(max_epochs=3, factor=3, **kw),
}


def grid_space() -> HyperParameters:
    hp = HyperParameters()
    hp.Choice("a", [0, 1, 2, 3])
    hp.Choice("b", ["p", "q"])
    return hp


def make(name: str, hp: HyperParameters | None = None, **kwargs):
    hp = hp or (grid_space() if name == "grid" else space())
    return ORACLES[name](hyperparameters=hp, seed=5, **kwargs)


def score(values) -> float:
    return values["a"] + (values["b"] == "q") / 2 + values.get("x", 0.0)


def run(oracle, count=None, tuner_id="t") -> list:
    """Runs up to `count` trials to completion; returns their trials."""
    ran = []
    while count is None or len(ran) < count:
        trial = oracle.create_trial(tuner_id)
        if trial.status != TrialStatus.RUNNING:
            break
        result = score(trial.hyperparameters.values)
        oracle.update_trial(trial.trial_id, {"default_objective": result})
        trial.status = TrialStatus.COMPLETED
        oracle.end_trial(trial)
        ran.append(trial)
    return ran


def user_values(trial) -> dict:
    return {k: v for k, v in trial.hyperparameters.values.items() if not k.startswith("tuner/")}


def open_oracle(path, name="random", **kwargs):
    oracle = make(name, **kwargs)
    oracle._set_project_dir(str(path), "project")
    return oracle


# The queue runs first.


@pytest.mark.parametrize("name", sorted(ORACLES))
def test_queued_configurations_run_first_in_order(name):
    oracle = make(name)
    oracle.enqueue_trial({"a": 3, "b": "q"})
    oracle.enqueue_trial({"a": 1})
    oracle.enqueue_trial({"a": 2, "b": "p"})
    first, second, third, *rest = run(oracle)
    assert (first.hyperparameters["a"], first.hyperparameters["b"]) == (3, "q")
    assert second.hyperparameters["a"] == 1
    assert (third.hyperparameters["a"], third.hyperparameters["b"]) == (2, "p")
    for trial in (first, second, third):  # every active hyperparameter has a valid value
        values = user_values(trial)
        assert set(values) == {hp.name for hp in oracle.hyperparameters.space}
        for hp in oracle.hyperparameters.space:
            assert hp.validate_value(values[hp.name]) == values[hp.name]
    assert rest and not oracle._queued


def test_the_rest_of_a_partial_configuration_is_what_the_algorithm_proposes():
    reference = make("random")
    proposed = run(reference, 1)[0].hyperparameters.values
    oracle = make("random")
    oracle.enqueue_trial({"a": 0})
    assert run(oracle, 1)[0].hyperparameters.values == {**proposed, "a": 0}


def test_grid_search_still_visits_every_point_once():
    oracle = make("grid")
    oracle.enqueue_trial({"a": 2})
    oracle.enqueue_trial({"a": 3, "b": "q"})
    points = [(t.hyperparameters["a"], t.hyperparameters["b"]) for t in run(oracle)]
    assert points[:2] == [(2, "p"), (3, "q")]  # the rest at defaults
    assert sorted(points) == sorted((a, b) for a in range(4) for b in "pq")


def test_a_queued_value_makes_its_conditional_children_active():
    oracle = RandomSearchOracle(hyperparameters=conditional_space(), max_trials=4, seed=2)
    oracle.enqueue_trial({"model": "cnn", "filters": 16})
    oracle.enqueue_trial({"model": "mlp"})
    first = oracle.create_trial("t")
    assert first.hyperparameters.values.keys() == {"model", "filters", "lr"}
    assert first.hyperparameters.values["filters"] == 16
    oracle.end_trial(first.trial_id, TrialStatus.FAILED)
    second = oracle.create_trial("t")
    assert second.hyperparameters.values.keys() == {"model", "units", "lr"}
    assert 16 <= second.hyperparameters.values["units"] <= 128


def test_a_configuration_tried_already_runs_again_unless_skipped():
    oracle = make("random")
    done = user_values(run(oracle, 1)[0])
    assert oracle.enqueue_trial(done, skip_if_exists=True) is False
    assert oracle.enqueue_trial({"a": done["a"]}, skip_if_exists=True) is False  # a part matches
    assert oracle.enqueue_trial(done) is True
    assert oracle.enqueue_trial(done, skip_if_exists=True) is False  # queued already
    again = run(oracle, 1)[0]
    assert user_values(again) == done


def test_queued_trials_count_toward_max_trials_and_leftovers_are_reported(caplog):
    oracle = RandomSearchOracle(hyperparameters=space(), max_trials=2, seed=1)
    for a in range(3):
        oracle.enqueue_trial({"a": a})
    with caplog.at_level(logging.WARNING, logger="e2etune"):
        ran = run(oracle)
    assert [t.hyperparameters["a"] for t in ran] == [0, 1]
    assert "1 queued configuration(s) not run" in caplog.text


# Hyperband's bookkeeping.


def test_hyperband_runs_queued_configurations_in_a_first_round():
    reference = run(make("hyperband"))
    oracle = make("hyperband")
    oracle.enqueue_trial({"a": 3, "b": "q", "x": 0.5})
    ran = run(oracle)
    assert len(ran) == len(reference)  # the schedule is unchanged
    first = ran[0].hyperparameters.values
    assert first["tuner/round"] == 0 and first["tuner/bracket"] == oracle.brackets[0].s
    assert (first["a"], first["b"], first["x"]) == (3, "q", 0.5)
    for trial in ran:  # every promotion continues a trial of the round before
        values = trial.hyperparameters.values
        if "tuner/trial_id" in values:
            parent = oracle.trials[values["tuner/trial_id"]].hyperparameters.values
            assert parent["tuner/round"] == values["tuner/round"] - 1
            assert user_values(oracle.trials[values["tuner/trial_id"]]) == user_values(trial)


def test_hyperband_queues_for_the_next_bracket_while_promotions_run():
    oracle = make("hyperband")
    first_round = oracle.brackets[0].rounds[0].trials
    run(oracle, first_round)  # the first round of the first bracket is done
    oracle.enqueue_trial({"a": 0, "b": "p", "x": 0.25})
    promoted = run(oracle, 1)[0].hyperparameters.values
    assert promoted["tuner/round"] == 1 and "tuner/trial_id" in promoted
    rest = run(oracle)
    queued = [t for t in rest if user_values(t) == {"a": 0, "b": "p", "x": 0.25}]
    assert len(queued) == 1
    values = queued[0].hyperparameters.values
    assert values["tuner/round"] == 0 and values["tuner/bracket"] == oracle.brackets[1].s
    assert rest.index(queued[0]) == 0  # the next bracket's first trial


# Bad input.


@pytest.mark.parametrize("values, error, words", [
    ({"c": 1}, ValueError, ["'c'", "not a hyperparameter", "'a'", "'b'", "'x'"]),
    ({"tuner/epochs": 3}, ValueError, ["'tuner/epochs'", "set by the oracle"]),
    ({"x": 2.0}, ValueError, ["'x'", "[0.0, 1.0]"]),
    ({"a": 7}, ValueError, ["'a'", "[0, 1, 2, 3]"]),
    ({"b": "z"}, ValueError, ["'b'", "['p', 'q']"]),
    ({"x": "big"}, TypeError, ["'x'", "number"]),
    ([("a", 1)], TypeError, ["dict"]),
])
def test_bad_values_are_refused_naming_the_hyperparameter_and_what_it_allows(
        values, error, words):
    oracle = make("random")
    with pytest.raises(error) as raised:
        oracle.enqueue_trial(values)
    for word in words:
        assert word in str(raised.value)
    assert not oracle._queued


@pytest.mark.parametrize("values, words", [
    ({"filters": 16}, ["'filters'", "'model'", "['cnn']", "give 'model' too"]),
    ({"model": "mlp", "filters": 16}, ["'filters'", "'mlp'", "['cnn']"]),
    ({"model": "cnn", "filters": 12}, ["'filters'", "step 8", "64"]),
])
def test_conditions_and_steps_are_checked(values, words):
    oracle = RandomSearchOracle(hyperparameters=conditional_space(), seed=2)
    with pytest.raises(ValueError) as raised:
        oracle.enqueue_trial(values)
    for word in words:
        assert word in str(raised.value)


# Saved with the search.


def test_the_queue_survives_a_restart(tmp_path):
    oracle = open_oracle(tmp_path)
    run(oracle, 1)
    oracle.enqueue_trial({"a": 3, "b": "q"})
    oracle.enqueue_trial({"a": 2})
    oracle.close()
    oracle = open_oracle(tmp_path)
    assert oracle._queued == [{"a": 3, "b": "q"}, {"a": 2}]
    first, second = run(oracle, 2)
    assert (first.hyperparameters["a"], first.hyperparameters["b"]) == (3, "q")
    assert second.hyperparameters["a"] == 2
    oracle.close()
    oracle = open_oracle(tmp_path)
    assert oracle._queued == [] and len(oracle.trials) == 3
    oracle.close()


def test_a_queued_configuration_leaves_the_queue_with_its_trial(tmp_path):
    oracle = open_oracle(tmp_path)
    oracle.enqueue_trial({"a": 3})
    oracle.enqueue_trial({"a": 1})
    trial = oracle.create_trial("t")  # still running
    oracle.reload()  # what the storage holds
    assert oracle._queued == [{"a": 1}]
    assert oracle.trials[trial.trial_id].hyperparameters["a"] == 3
    oracle.close()


def test_configurations_queued_before_the_project_opens_join_its_queue(tmp_path):
    oracle = open_oracle(tmp_path)
    oracle.enqueue_trial({"a": 3})
    oracle.close()
    oracle = make("random")
    oracle.enqueue_trial({"a": 1})
    oracle._set_project_dir(str(tmp_path), "project")
    assert [t.hyperparameters["a"] for t in run(oracle, 2)] == [3, 1]
    oracle.close()


class QueueTuner(BaseTuner):
    def run_trial(self, trial, *args, **kwargs):
        return score(trial.hyperparameters.values)


def test_a_tuner_runs_its_oracles_queue_first(tmp_path):
    tuner = QueueTuner(oracle=RandomSearchOracle(hyperparameters=space(), max_trials=3, seed=1),
                       directory=tmp_path, project_name="tuner")
    tuner.oracle.enqueue_trial({"a": 2, "b": "q", "x": 0.125})
    tuner.search(verbose=0)
    first = tuner.oracle.trials[tuner.oracle.start_order[0]]
    assert first.hyperparameters.values == {"a": 2, "b": "q", "x": 0.125}
    assert len(tuner.oracle.trials) == 3
    tuner.oracle.close()


# Workers of one search share the queue.


def _worker_module():
    spec = importlib.util.spec_from_file_location("_worker", WORKER)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_two_processes_run_each_queued_configuration_exactly_once(tmp_path):
    worker = _worker_module()
    config = {"directory": str(tmp_path / "search"), "project": "shared", "sleep": 0.05,
              "log": str(tmp_path / "runs.log"), "algorithm": "random", "max_trials": 10}
    oracle = worker.make_oracle(config)
    oracle._set_project_dir(config["directory"], config["project"])
    queued = [{"x": round(-1.5 + i / 4, 2), "n": i} for i in range(6)]
    for values in queued:
        oracle.enqueue_trial(values)
    oracle.close()
    env = dict(os.environ, PYTHONPATH=str(HERE.parents[1]))
    processes = [subprocess.Popen([sys.executable, str(WORKER), json.dumps(config)],
                                  stderr=subprocess.PIPE, text=True, env=env) for _ in range(2)]
    for process in processes:
        _, err = process.communicate(timeout=120)
        assert process.returncode == 0, err
    events = collections.Counter(tuple(line.split()[:2]) for line in
                                 pathlib.Path(config["log"]).read_text().splitlines())
    oracle = worker.make_oracle(config)
    oracle._set_project_dir(config["directory"], config["project"])
    trials = [oracle.trials[t] for t in sorted(oracle.trials)]
    assert len(trials) == 10 and oracle._queued == []
    assert [t.hyperparameters.values for t in trials[:6]] == queued  # first, in order
    for values in queued:
        assert sum(t.hyperparameters.values == values for t in trials) == 1
    assert all(events[("start", t.trial_id)] == 1 for t in trials)
    assert len({line.split()[2] for line in pathlib.Path(config["log"]).read_text().splitlines()
                }) == 2  # both processes ran trials
    oracle.close()

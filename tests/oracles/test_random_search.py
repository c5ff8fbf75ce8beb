"""Random search: reproducible draws within the space, conditions, no repeats, exhaustion."""

from __future__ import annotations

import math
import statistics

import pytest

from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.trial import TrialStatus
from e2etune.oracles import RandomSearchOracle


def space() -> HyperParameters:
    hp = HyperParameters()
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    hp.Int("units", 16, 256, step=16)
    hp.Choice("model", ["cnn", "mlp"])
    with hp.conditional_scope("model", ["cnn"]):
        hp.Int("filters", 8, 64)
    hp.Boolean("dropout")
    return hp


def draw(oracle: RandomSearchOracle, count: int) -> list[dict]:
    values = []
    for _ in range(count):
        trial = oracle.create_trial("t")
        if trial.status != TrialStatus.RUNNING:
            break
        values.append(trial.hyperparameters.values)
        oracle.update_trial(trial.trial_id, {"default_objective": 0.0})
        trial.status = TrialStatus.COMPLETED
        oracle.end_trial(trial)
    return values


def test_the_default_arguments_match_keras_tuner():
    oracle = RandomSearchOracle()
    assert oracle.max_trials == 10
    assert oracle.max_retries_per_trial == 0 and oracle.max_consecutive_failed_trials == 3
    assert 1 <= oracle.seed <= 10_000


def test_the_same_seed_gives_the_same_trials():
    first = draw(RandomSearchOracle(hyperparameters=space(), max_trials=20, seed=5), 20)
    second = draw(RandomSearchOracle(hyperparameters=space(), max_trials=20, seed=5), 20)
    other = draw(RandomSearchOracle(hyperparameters=space(), max_trials=20, seed=6), 20)
    assert first == second != other


def test_values_are_in_the_space_and_conditions_hold():
    values = draw(RandomSearchOracle(hyperparameters=space(), max_trials=200, seed=1), 200)
    assert len(values) == 200
    for v in values:
        assert 1e-4 <= v["lr"] <= 1e-1
        assert v["units"] in range(16, 257, 16)
        assert ("filters" in v) == (v["model"] == "cnn")
        assert isinstance(v["dropout"], bool)
    assert {v["model"] for v in values} == {"cnn", "mlp"}


def test_log_sampling_is_uniform_on_the_log_scale():
    values = draw(RandomSearchOracle(hyperparameters=space(), max_trials=400, seed=2), 400)
    logs = [math.log10(v["lr"]) for v in values]
    assert abs(statistics.median(logs) - (-2.5)) < 0.25


def test_a_small_space_is_covered_entirely_then_the_search_stops():
    hp = HyperParameters()
    hp.Choice("a", [1, 2, 3, 4, 5])
    hp.Int("b", 0, 3)
    values = draw(RandomSearchOracle(hyperparameters=hp, max_trials=100, seed=0), 100)
    assert len(values) == 20
    assert len({(v["a"], v["b"]) for v in values}) == 20


def test_a_conditional_discrete_space_is_covered_entirely():
    hp = HyperParameters()
    hp.Choice("model", ["cnn", "mlp"])
    with hp.conditional_scope("model", ["cnn"]):
        hp.Choice("filters", [8, 16, 32])
    values = draw(RandomSearchOracle(hyperparameters=hp, max_trials=100, seed=0), 100)
    assert sorted(map(str, values)) == sorted(map(str, [
        {"model": "mlp"}, {"model": "cnn", "filters": 8},
        {"model": "cnn", "filters": 16}, {"model": "cnn", "filters": 32}]))


def test_hyperparameters_declared_by_trials_are_drawn_next():
    oracle = RandomSearchOracle(max_trials=10, seed=0)
    trial = oracle.create_trial("t")
    assert trial.hyperparameters.values == {}
    trial.hyperparameters.Int("depth", 1, 100)
    oracle.update_trial(trial.trial_id, {"default_objective": 0.0})
    trial.status = TrialStatus.COMPLETED
    oracle.end_trial(trial)
    depths = {v["depth"] for v in draw(oracle, 9)}
    assert len(depths) > 5


@pytest.mark.parametrize("tune_new_entries", [True, False])
def test_tune_new_entries(tune_new_entries):
    hp = HyperParameters()
    hp.Float("x", 0.0, 1.0)
    oracle = RandomSearchOracle(hyperparameters=hp, max_trials=5, seed=0,
                                tune_new_entries=tune_new_entries)
    trial = oracle.create_trial("t")
    trial.hyperparameters.Int("depth", 1, 100, default=7)
    oracle.update_trial(trial.trial_id, {"default_objective": 0.0})
    trial.status = TrialStatus.COMPLETED
    oracle.end_trial(trial)
    drawn = draw(oracle, 4)
    if tune_new_entries:
        assert len({v["depth"] for v in drawn}) == 4
    else:  # outside the space: the code that declares it gets its default
        assert all("depth" not in v for v in drawn)

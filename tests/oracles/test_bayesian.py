"""Bayesian optimization oracle: reproducible, resumable, robust to odd spaces and scores."""

from __future__ import annotations

import math

import numpy as np
import pytest

from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.trial import TrialStatus
from e2etune.oracles import BayesianOptimizationOracle, RandomSearchOracle
from e2etune.oracles._encoding import SpaceEncoding
from e2etune.oracles.bayesian import _warp

BRANIN_MIN = 0.397887


def mixed_space() -> HyperParameters:
    hp = HyperParameters()
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    hp.Int("units", 16, 256, step=16)
    hp.Choice("activation", ["relu", "tanh", "gelu"])
    hp.Choice("optimizer", ["adam", "sgd"])
    with hp.conditional_scope("optimizer", ["sgd"]):
        hp.Float("momentum", 0.0, 0.99)
    return hp


def mixed_loss(v: dict) -> float:
    loss = (math.log10(v["lr"]) + 2.5) ** 2 + ((v["units"] - 128) / 240) ** 2
    loss += {"relu": 0.0, "tanh": 0.2, "gelu": 0.1}[v["activation"]]
    if v["optimizer"] == "sgd":
        loss += (v["momentum"] - 0.9) ** 2 - 0.05
    return loss


def branin_space() -> HyperParameters:
    hp = HyperParameters()
    hp.Float("x1", -5.0, 10.0)
    hp.Float("x2", 0.0, 15.0)
    return hp


def branin(v: dict) -> float:
    x1, x2 = v["x1"], v["x2"]
    b, c, t = 5.1 / (4.0 * np.pi**2), 5.0 / np.pi, 1.0 / (8.0 * np.pi)
    return (x2 - b * x1**2 + c * x1 - 6.0) ** 2 + 10.0 * (1.0 - t) * np.cos(x1) + 10.0


def run(oracle, loss, count: int, tuner_id: str = "w") -> list[dict]:
    """Runs up to `count` trials sequentially; returns their values."""
    seen = []
    for _ in range(count):
        trial = oracle.create_trial(tuner_id)
        if trial.status != TrialStatus.RUNNING:
            break
        seen.append(dict(trial.hyperparameters.values))
        oracle.update_trial(trial.trial_id, {"default_objective": loss(seen[-1])})
        trial.status = TrialStatus.COMPLETED
        oracle.end_trial(trial)
    return seen


def make(hp=None, **kwargs) -> BayesianOptimizationOracle:
    kwargs.setdefault("max_trials", 100)
    kwargs.setdefault("seed", 1)
    return BayesianOptimizationOracle(hyperparameters=hp or mixed_space(), **kwargs)


def test_the_default_arguments_match_keras_tuner():
    oracle = BayesianOptimizationOracle()
    assert oracle.max_trials == 10 and oracle.num_initial_points is None
    assert oracle.alpha == 1e-4 and oracle.beta == 2.6
    assert oracle.max_retries_per_trial == 0 and oracle.max_consecutive_failed_trials == 3


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"num_initial_points": 0}, "num_initial_points"),
        ({"num_initial_points": 2.0}, "num_initial_points"),
        ({"alpha": 0.0}, "alpha"),
        ({"alpha": 1.5}, "alpha"),
        ({"beta": -1.0}, "beta"),
        ({"beta": math.inf}, "beta"),
    ],
)
def test_bad_arguments_are_refused(kwargs, message):
    with pytest.raises(ValueError, match=message):
        BayesianOptimizationOracle(**kwargs)


def test_a_seeded_search_is_reproducible():
    first = run(make(num_initial_points=4), mixed_loss, 10)
    second = run(make(num_initial_points=4), mixed_loss, 10)
    other = run(make(num_initial_points=4, seed=2), mixed_loss, 10)
    assert first == second
    assert first[:4] != other[:4] and first[4:] != other[4:]


def test_the_initial_points_follow_a_sobol_sequence():
    values = run(make(branin_space(), num_initial_points=8, max_trials=8), branin, 8)
    cells = {(int(v["x1"] >= 2.5), int(v["x2"] >= 7.5)) for v in values[:4]}
    assert cells == {(0, 0), (0, 1), (1, 0), (1, 1)}  # each quadrant once, as Sobol does


def test_a_resumed_search_continues_identically(tmp_path):
    uninterrupted = run(make(num_initial_points=4), mixed_loss, 12)
    oracle = make(num_initial_points=4)
    oracle._set_project_dir(str(tmp_path), "p")
    head = run(oracle, mixed_loss, 7)
    oracle.close()
    resumed = make(num_initial_points=4)
    resumed._set_project_dir(str(tmp_path), "p")
    assert resumed._gp_state == oracle._gp_state != {}
    tail = run(resumed, mixed_loss, 5)
    resumed.close()
    assert head + tail == uninterrupted


def test_conditional_values_are_sent_only_when_active_and_the_search_improves():
    values = run(make(num_initial_points=6, seed=3), mixed_loss, 30)
    for v in values:
        assert ("momentum" in v) == (v["optimizer"] == "sgd")
        assert 1e-4 <= v["lr"] <= 1e-1 and v["units"] in range(16, 257, 16)
    losses = [mixed_loss(v) for v in values]
    assert min(losses[6:]) < min(losses[:6])
    assert len({str(sorted(v.items())) for v in values}) == len(values)


def test_a_hyperparameter_appearing_mid_search_is_tuned():
    oracle = make(branin_space(), num_initial_points=3)
    run(oracle, branin, 6)
    trial = oracle.create_trial("w")
    trial.hyperparameters.Choice("extra", ["a", "b", "c"])
    trial.hyperparameters.Int("depth", 1, 8, parent_name="extra", parent_values=["b"])
    oracle.update_trial(trial.trial_id, {"default_objective": branin(trial.hyperparameters.values)})
    trial.status = TrialStatus.COMPLETED
    oracle.end_trial(trial)
    later = run(oracle, lambda v: branin(v) + (v.get("depth", 0) - 4) ** 2 / 10, 10)
    assert len({v["extra"] for v in later}) > 1
    assert all(("depth" in v) == (v["extra"] == "b") for v in later)
    assert set(oracle._gp_state["log_length_scales"]) == {"x1", "x2", "extra", "depth"}


def test_update_space_adds_a_column_and_keeps_the_fitted_scales():
    oracle = make(branin_space(), num_initial_points=3)
    run(oracle, branin, 5)
    scales = dict(oracle._gp_state["log_length_scales"])
    hp = HyperParameters()
    hp.Float("x3", 0.0, 1.0)
    oracle.update_space(hp)
    restored = oracle._restored_gp_state(SpaceEncoding(oracle.hyperparameters.space))
    assert restored["log_length_scales"] == [scales["x1"], scales["x2"], math.log(0.5)]
    values = run(oracle, lambda v: branin(v) + v["x3"], 4)
    assert len(values) == 4 and all(0.0 <= v["x3"] <= 1.0 for v in values)
    assert set(oracle._gp_state["log_length_scales"]) == {"x1", "x2", "x3"}


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_non_finite_scores_neither_crash_nor_poison_the_model(bad):
    oracle = make(branin_space(), num_initial_points=3, max_consecutive_failed_trials=100)
    scores = iter([bad, 3.0, bad, 10.0, 1.0, bad, 20.0, bad])
    values = run(oracle, lambda v: next(scores, None) or branin(v), 16)
    assert len(values) == 16
    state = oracle._gp_state
    assert all(math.isfinite(v) for v in state["log_length_scales"].values())
    best = oracle.get_best_trials(1)[0]
    assert math.isfinite(best.score)


def test_failed_trials_are_not_proposed_again():
    oracle = make(branin_space(), num_initial_points=3, max_consecutive_failed_trials=100)
    seen = []
    for i in range(12):
        trial = oracle.create_trial("w")
        seen.append(tuple(trial.hyperparameters.values.items()))
        if i % 3 == 2:
            trial.status = TrialStatus.FAILED
        else:
            oracle.update_trial(trial.trial_id, {"default_objective": branin(
                trial.hyperparameters.values)})
            trial.status = TrialStatus.COMPLETED
        oracle.end_trial(trial)
    assert len(set(seen)) == len(seen)


def test_a_space_of_fixed_values_ends_after_one_trial():
    hp = HyperParameters()
    hp.Fixed("units", 32)
    hp.Fixed("activation", "relu")
    values = run(make(hp), lambda v: 1.0, 5)
    assert values == [{"units": 32, "activation": "relu"}]


@pytest.mark.parametrize("num_initial_points", [2, 50])
def test_a_finite_space_is_explored_fully_without_duplicates_then_ends(num_initial_points):
    hp = HyperParameters()
    hp.Choice("model", ["cnn", "mlp", "rnn"])
    with hp.conditional_scope("model", ["cnn"]):
        hp.Int("filters", 1, 3)
    hp.Boolean("dropout")
    oracle = make(hp, num_initial_points=num_initial_points)
    values = run(oracle, lambda v: v.get("filters", 0) + v["dropout"], 50)
    keys = {tuple(sorted(v.items())) for v in values}
    assert len(values) == len(keys) == (3 + 1 + 1) * 2
    assert oracle.create_trial("w").status == TrialStatus.STOPPED


def test_parallel_workers_propose_different_points():
    oracle = make(branin_space(), num_initial_points=4)
    run(oracle, branin, 8)
    first = oracle.create_trial("worker-a")
    second = oracle.create_trial("worker-b")
    third = oracle.create_trial("worker-c")
    points = [np.array([t.hyperparameters["x1"], t.hyperparameters["x2"]])
              for t in (first, second, third)]
    gaps = [np.linalg.norm((a - b) / 15.0) for i, a in enumerate(points) for b in points[i + 1:]]
    assert min(gaps) > 0.02


def test_maximizing_objectives_are_climbed():
    hp = HyperParameters()
    hp.Float("x", 0.0, 1.0)
    oracle = make(hp, num_initial_points=3, objective="accuracy")
    for _ in range(12):
        trial = oracle.create_trial("w")
        x = trial.hyperparameters["x"]
        oracle.update_trial(trial.trial_id, {"accuracy": 1.0 - (x - 0.7) ** 2})
        trial.status = TrialStatus.COMPLETED
        oracle.end_trial(trial)
    assert oracle.get_best_trials(1)[0].hyperparameters["x"] == pytest.approx(0.7, abs=0.02)


def test_on_branin_40_trials_beat_40_random_ones():
    ours, random = [], []
    for seed in range(3):
        ours.append(min(map(branin, run(make(branin_space(), seed=seed), branin, 40))))
        random.append(min(map(branin, run(
            RandomSearchOracle(hyperparameters=branin_space(), seed=seed, max_trials=40),
            branin, 40))))
    ours, random = np.array(ours) - BRANIN_MIN, np.array(random) - BRANIN_MIN
    assert np.mean(ours) < np.mean(random) / 10
    assert np.max(ours) < 1e-2


def test_the_score_warping_keeps_the_order_and_tames_heavy_tails():
    rng = np.random.default_rng(0)
    heavy = np.exp(rng.normal(0.0, 3.0, 60))
    warped = _warp(heavy)
    assert np.array_equal(np.argsort(warped), np.argsort(heavy))
    skew = lambda v: np.mean(((v - v.mean()) / v.std()) ** 3)  # noqa: E731
    assert abs(skew(warped)) < skew(heavy) / 2
    np.testing.assert_allclose(_warp(1e6 * heavy + 3.0), warped, atol=1e-6)
    assert np.array_equal(_warp(np.array([2.0, 2.0, 2.0])), [2.0, 2.0, 2.0])
    assert np.all(np.isfinite(_warp(np.array([0.0, 1.0, 1e300]))))


def test_a_damaged_model_state_is_refused_on_load_and_survived_in_memory():
    oracle = make(branin_space())
    with pytest.raises(ValueError, match="invalid"):
        oracle.set_state({"gp": {"log_length_scales": [0.0, 0.0]}})
    oracle.set_state({"gp": {"log_length_scales": {"x1": math.nan, "x2": 0.0},
                             "log_signal_variance": 0.0, "log_noise_variance": -5.0}})
    values = run(oracle, branin, 12)
    assert len(values) == 12 and math.isfinite(oracle._gp_state["log_length_scales"]["x1"])

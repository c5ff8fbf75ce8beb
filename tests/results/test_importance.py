"""Hyperparameter importance (functional ANOVA on a random forest) on synthetic searches."""

from __future__ import annotations

import math

import numpy as np
import pytest

from e2etune.engine.base_tuner import BaseTuner
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.oracles import RandomSearchOracle
from e2etune.results import NotEnoughTrialsError, UnknownNameError, hyperparameter_importance
from e2etune.results import _forest

DRIVERS = {
    "lr": lambda v: (math.log10(v["lr"]) + 3) ** 2,  # log-scaled Float
    "units": lambda v: v["units"] / 10,  # Int
    "optimizer": lambda v: {"adam": 0.0, "sgd": 3.0, "rmsprop": 1.0, "adagrad": 2.0}[
        v["optimizer"]],  # unordered Choice
    "batchnorm": lambda v: 5.0 * v["batchnorm"],  # Boolean
}


def space() -> HyperParameters:
    hp = HyperParameters()
    hp.Float("lr", 1e-5, 1e-1, sampling="log")
    hp.Int("units", 8, 256)
    hp.Choice("optimizer", ["adam", "sgd", "rmsprop", "adagrad"])
    hp.Boolean("batchnorm")
    with hp.conditional_scope("optimizer", ["sgd"]):
        hp.Float("momentum", 0.0, 0.9)
    return hp


def search(tmp_path, function, trials: int = 40):
    class FunctionTuner(BaseTuner):
        def run_trial(self, trial, *args, **kwargs):
            return function(trial.hyperparameters.values)

    tuner = FunctionTuner(oracle=RandomSearchOracle(max_trials=trials, seed=1,
                                                    hyperparameters=space()),
                          directory=str(tmp_path), project_name="p")
    tuner.search(verbose=0)
    tuner.oracle.close()
    return tmp_path / "p"


@pytest.mark.parametrize("driver", list(DRIVERS))
def test_the_one_hyperparameter_that_drives_the_score_ranks_first(tmp_path, driver):
    importance = hyperparameter_importance(search(tmp_path, DRIVERS[driver]))
    assert list(importance)[0] == driver
    assert importance[driver] > 0.7
    assert all(v < 0.1 for name, v in importance.items() if name != driver), importance
    # The conditional hyperparameter is not credited with the effect of its parent.
    assert importance["momentum"] < 0.1
    assert set(importance) == {"lr", "units", "optimizer", "batchnorm", "momentum"}


def test_importance_is_deterministic_and_restricted_to_params(tmp_path):
    folder = search(tmp_path, DRIVERS["lr"], trials=20)
    assert hyperparameter_importance(folder) == hyperparameter_importance(folder)
    assert list(hyperparameter_importance(folder, params=["units", "lr"])) == ["lr", "units"]
    with pytest.raises(UnknownNameError, match="'lrate'"):
        hyperparameter_importance(folder, params=["lrate"])


def test_a_constant_score_gives_zero_importances(tmp_path):
    importance = hyperparameter_importance(search(tmp_path, lambda v: 1.0, trials=6))
    assert set(importance.values()) == {0.0}


def test_too_few_trials_are_reported(tmp_path):
    with pytest.raises(NotEnoughTrialsError, match="at least 3 completed trials.*has 2"):
        hyperparameter_importance(search(tmp_path, DRIVERS["lr"], trials=2))


def test_a_tree_decomposes_an_additive_function_exactly():
    # f = 2 * [x0 > 0.5] + [x1 > 0.25]: variances 1 and 3/16, no interaction.
    grid = np.array([[a, b] for a in np.linspace(0.01, 0.99, 20)
                     for b in np.linspace(0.01, 0.99, 20)])
    y = 2.0 * (grid[:, 0] > 0.5) + (grid[:, 1] > 0.25)
    lower, upper = np.zeros(2), np.ones(2)
    tree = _forest.fit_tree(grid, y, lower, upper, np.random.default_rng(0), max_features=2)
    fractions = _forest.first_order_fractions(tree, lower, upper)
    total = 1.0 + 3 / 16
    assert fractions == pytest.approx([1.0 / total, (3 / 16) / total], abs=0.02)

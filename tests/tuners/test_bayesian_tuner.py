"""The `BayesianOptimization` tuner: KerasTuner's signature on our oracle."""

from __future__ import annotations

import inspect

import e2etune as kt
from e2etune.engine.tuner import Tuner
from e2etune.oracles import BayesianOptimizationOracle
from e2etune.tuners import BayesianOptimization


class Quadratic(BayesianOptimization):
    """Minimizes a function of the hyperparameters without training anything."""

    def run_trial(self, trial, **kwargs):
        hp = trial.hyperparameters
        x = hp.Float("x", -2.0, 2.0)
        kind = hp.Choice("kind", ["a", "b"])
        return (x - 0.5) ** 2 + (0.0 if kind == "b" else 0.3)


def test_the_signature_matches_kerastuner():
    defaults = {k: p.default for k, p in inspect.signature(BayesianOptimization).parameters.items()
                if p.default is not inspect.Parameter.empty}
    assert defaults == dict(
        hypermodel=None, objective=None, max_trials=10, num_initial_points=None, alpha=1e-4,
        beta=2.6, seed=None, hyperparameters=None, tune_new_entries=True,
        allow_new_entries=True, max_retries_per_trial=0, max_consecutive_failed_trials=3)
    assert kt.BayesianOptimization is BayesianOptimization
    assert kt.oracles.BayesianOptimizationOracle is BayesianOptimizationOracle
    assert issubclass(BayesianOptimization, Tuner)


def test_arguments_reach_the_oracle_and_the_tuner(tmp_path):
    tuner = Quadratic(objective="loss", max_trials=7, num_initial_points=3, alpha=0.01,
                      beta=5.0, seed=4, max_retries_per_trial=1, executions_per_trial=2,
                      directory=tmp_path, project_name="p")
    oracle = tuner.oracle
    assert isinstance(oracle, BayesianOptimizationOracle)
    assert (oracle.max_trials, oracle.num_initial_points, oracle.alpha, oracle.beta,
            oracle.seed, oracle.max_retries_per_trial) == (7, 3, 0.01, 5.0, 4, 1)
    assert tuner.executions_per_trial == 2 and tuner.seed == 4


def test_a_search_finds_the_minimum_and_resumes(tmp_path):
    tuner = Quadratic(max_trials=8, num_initial_points=3, seed=1, directory=tmp_path,
                      project_name="p")
    tuner.search(verbose=0)
    resumed = Quadratic(max_trials=14, num_initial_points=3, seed=1, directory=tmp_path,
                        project_name="p")
    assert resumed.oracle._gp_state == tuner.oracle._gp_state
    resumed.search(verbose=0)
    assert len(resumed.oracle.trials) == 14
    best = resumed.get_best_hyperparameters(1)[0]
    assert best["kind"] == "b" and abs(best["x"] - 0.5) < 0.1

"""The KerasTuner-named tuners and namespaces."""

import inspect
import subprocess
import sys

import pytest

import e2etune as kt
from e2etune.engine.tuner import Tuner
from e2etune.oracles.bayesian import BayesianOptimizationOracle
from e2etune.oracles.random_search import RandomSearchOracle
from e2etune.tuners import GridSearch, RandomSearch


def build(hp):
    import keras

    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(hp.Int("units", 1, 3))])
    model.compile(loss="mse")
    return model


def test_namespaces():
    assert kt.Tuner is Tuner and kt.engine.tuner.Tuner is Tuner
    assert kt.RandomSearch is RandomSearch and kt.tuners.RandomSearch is RandomSearch
    assert kt.GridSearch is GridSearch
    assert kt.engine.hypermodel.HyperModel is kt.HyperModel
    assert issubclass(RandomSearch, Tuner) and issubclass(GridSearch, Tuner)


def test_importing_the_tuners_does_not_import_tensorflow():
    code = ("import sys, e2etune, e2etune.engine.tuner, e2etune.tuners; e2etune.Tuner; "
            "e2etune.RandomSearch; "
            "print(any(m.split('.')[0] in ('tensorflow', 'keras') for m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_constructor_defaults_match_kerastuner():
    tuner_defaults = {k: p.default for k, p in inspect.signature(Tuner).parameters.items()
                      if p.default is not inspect.Parameter.empty}
    assert tuner_defaults == dict(
        oracle=None, hypermodel=None, max_model_size=None, optimizer=None, loss=None,
        metrics=None, distribution_strategy=None, directory=None, project_name=None,
        logger=None, tuner_id=None, overwrite=False, executions_per_trial=1, storage=None)
    random_defaults = {k: p.default for k, p in inspect.signature(RandomSearch).parameters.items()
                       if p.default is not inspect.Parameter.empty}
    assert random_defaults == dict(
        hypermodel=None, objective=None, max_trials=10, seed=None, hyperparameters=None,
        tune_new_entries=True, allow_new_entries=True, max_retries_per_trial=0,
        max_consecutive_failed_trials=3)
    assert inspect.signature(GridSearch).parameters["max_trials"].default is None


@pytest.mark.parametrize("oracle_class, own", [
    (RandomSearchOracle, ["objective", "max_trials"]),
    (BayesianOptimizationOracle, ["objective", "max_trials", "num_initial_points", "alpha", "beta"]),
])
def test_oracles_show_kerastuners_signature_with_the_shared_arguments(oracle_class, own):
    parameters = inspect.signature(oracle_class).parameters
    assert list(parameters)[:len(own) + 6] == own + [
        "seed", "hyperparameters", "allow_new_entries", "tune_new_entries",
        "max_retries_per_trial", "max_consecutive_failed_trials"]
    assert all(parameters[name].kind is inspect.Parameter.KEYWORD_ONLY for name in
               ("storage", "heartbeat_interval", "lease_grace", "max_crashes_per_trial"))
    assert "max_crashes_per_trial" in oracle_class.__doc__
    # Positional arguments past the oracle's own land on the shared ones, in that order.
    defaults = [parameters[name].default for name in own[2:]]
    oracle = oracle_class(None, 5, *defaults, 11, None, True, True, 2)
    assert (oracle.max_trials, oracle.seed, oracle.max_retries_per_trial) == (5, 11, 2)
    with pytest.raises(TypeError, match="multiple values for argument 'seed'"):
        oracle_class(None, 5, *defaults, 11, seed=12)


def test_random_search_passes_oracle_and_tuner_arguments(tmp_path):
    tuner = RandomSearch(build, objective="val_loss", max_trials=4, seed=7,
                         max_retries_per_trial=2, executions_per_trial=3,
                         directory=tmp_path, project_name="p", overwrite=True)
    assert isinstance(tuner.oracle, RandomSearchOracle)
    assert (tuner.oracle.max_trials, tuner.oracle.seed, tuner.oracle.max_retries_per_trial) == (4, 7, 2)
    assert tuner.executions_per_trial == 3 and tuner.seed == 7
    assert tuner.project_dir == str(tmp_path / "p")
    assert "units" in tuner.oracle.get_space()


def test_default_oracle_of_tuner_from_oracle_arguments(tmp_path):
    class MyTuner(Tuner):
        def run_trial(self, trial, **kwargs):
            return 0.0

    tuner = MyTuner(max_trials=2, objective="val_accuracy", seed=3, directory=tmp_path)
    assert isinstance(tuner.oracle, BayesianOptimizationOracle)
    assert tuner.oracle.objective.direction == "max" and tuner.oracle.seed == 3


def test_grid_search_tries_every_combination(tmp_path):
    pytest.importorskip("e2etune.oracles.grid_search")
    seen = []

    class Grid(GridSearch):
        def run_trial(self, trial, **kwargs):
            hp = trial.hyperparameters
            seen.append((hp.Choice("a", [1, 2]), hp.Boolean("b")))
            return float(len(seen))

    tuner = Grid(directory=tmp_path, overwrite=True)
    assert tuner.oracle.max_trials is None
    tuner.search(verbose=0)
    assert sorted(seen) == [(1, False), (1, True), (2, False), (2, True)]


def test_tuning_plain_functions_never_imports_keras(tmp_path):
    code = f"""
import sys
import e2etune as kt

class MyTuner(kt.RandomSearch):
    def run_trial(self, trial, *args, **kwargs):
        assert kwargs["callbacks"] == []
        x = trial.hyperparameters.Float("x", -1.0, 1.0)
        return x * x + 1

tuner = MyTuner(max_trials=5, seed=0, overwrite=True, directory={str(tmp_path)!r})
tuner.search(verbose=0)
assert len(tuner.oracle.get_best_trials(5)) == 5
print(any(m.split('.')[0] in ('tensorflow', 'keras') for m in sys.modules))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "False"

"""The names of the KerasTuner 1.4 contract are where KerasTuner code looks for them."""

import importlib

import pytest

CONTRACT = {
    "e2etune": ["HyperModel", "HyperParameters", "Objective", "Oracle", "Tuner", "RandomSearch",
                "BayesianOptimization", "Hyperband", "GridSearch"],
    "e2etune.oracles": ["RandomSearchOracle", "BayesianOptimizationOracle", "HyperbandOracle",
                        "GridSearchOracle"],
    "e2etune.errors": ["FailedTrialError", "FatalError", "FatalValueError", "FatalTypeError",
                       "FatalRuntimeError"],
    "e2etune.engine.hyperparameters": ["HyperParameters", "Int", "Float", "Choice", "Boolean",
                                       "Fixed"],
    "e2etune.engine.trial": ["Trial", "TrialStatus"],
    "e2etune.engine.tuner": ["Tuner"],
    "e2etune.engine.hypermodel": ["HyperModel"],
    "e2etune.engine.oracle": ["Oracle"],
    "e2etune.engine.objective": ["Objective", "MultiObjective"],
    "e2etune.tuners": ["RandomSearch", "BayesianOptimization", "Hyperband", "GridSearch"],
    "e2etune.applications": ["HyperResNet", "HyperXception", "HyperEfficientNet",
                             "HyperImageAugment"],
}


@pytest.mark.parametrize("module_name", sorted(CONTRACT))
def test_contract_names_exist(module_name):
    module = importlib.import_module(module_name)
    missing = [name for name in CONTRACT[module_name] if not hasattr(module, name)]
    assert not missing


def test_top_level_names_are_the_engine_classes():
    import e2etune as kt
    from e2etune.engine.hyperparameters import HyperParameters
    from e2etune.oracles.hyperband import HyperbandOracle
    from e2etune.tuners.hyperband import Hyperband

    assert kt.HyperParameters is HyperParameters
    assert kt.oracles.HyperbandOracle is HyperbandOracle
    assert kt.Hyperband is Hyperband
    assert issubclass(kt.Hyperband, kt.Tuner)

"""e2etune: hyperparameter tuning for whole Keras workflows.

A drop-in replacement for KerasTuner 1.4 (`import e2etune as kt`). Importing
e2etune does not import TensorFlow; Keras loads when a tuner first needs it.
"""

from __future__ import annotations

import importlib
from typing import Any

from e2etune import errors
from e2etune.engine.hypermodel import HyperModel
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.objective import MultiObjective, Objective
from e2etune.engine.trial import Trial, TrialStatus

__version__ = "0.1.0"

_LAZY = {
    "Oracle": "e2etune.engine.oracle",
    "Tuner": "e2etune.engine.tuner",
    "RandomSearch": "e2etune.tuners",
    "GridSearch": "e2etune.tuners",
    "BayesianOptimization": "e2etune.tuners",
    "Hyperband": "e2etune.tuners",
    "SklearnTuner": "e2etune.tuners",
    "oracles": "e2etune.oracles",
    "pruners": "e2etune.pruners",
    "tuners": "e2etune.tuners",
    "engine": "e2etune.engine",
    "applications": "e2etune.applications",
}

__all__ = [
    "BayesianOptimization",
    "GridSearch",
    "HyperModel",
    "HyperParameters",
    "Hyperband",
    "MultiObjective",
    "Objective",
    "Oracle",
    "RandomSearch",
    "SklearnTuner",
    "Trial",
    "TrialStatus",
    "Tuner",
    "applications",
    "errors",
    "oracles",
    "pruners",
    "tuners",
]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'e2etune' has no attribute {name!r}")
    module = importlib.import_module(_LAZY[name])
    value = module if module.__name__ == f"e2etune.{name}" else getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

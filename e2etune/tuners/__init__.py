"""Tuners that pair the Keras `Tuner` with a search algorithm, named as in KerasTuner.

`BayesianOptimization` and `Hyperband` load from their own modules
(`e2etune.tuners.bayesian`, `e2etune.tuners.hyperband`) on first use.
"""

from __future__ import annotations

import importlib
from typing import Any

from e2etune.tuners.gridsearch import GridSearch
from e2etune.tuners.randomsearch import RandomSearch

_LAZY = {
    "BayesianOptimization": "e2etune.tuners.bayesian",
    "Hyperband": "e2etune.tuners.hyperband",
    "SklearnTuner": "e2etune.tuners.sklearn_tuner",
}

__all__ = ["BayesianOptimization", "GridSearch", "Hyperband", "RandomSearch", "SklearnTuner"]


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'e2etune.tuners' has no attribute {name!r}")
    try:
        module = importlib.import_module(_LAZY[name])
    except ModuleNotFoundError as error:
        if error.name != _LAZY[name]:
            raise
        raise AttributeError(
            f"e2etune.tuners.{name} is not available in this version ({_LAZY[name]} is missing)."
        ) from None
    value = getattr(module, name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))

"""Hyperparameter types and the `HyperParameters` search space."""

from e2etune.engine.conditions import Parent
from e2etune.engine.hyperparameters.base import HyperParameter
from e2etune.engine.hyperparameters.discrete import Boolean, Choice, Fixed
from e2etune.engine.hyperparameters.hyperparameters import (
    TYPES,
    HyperParameters,
    deserialize,
    hyperparameter_from_proto,
    serialize,
)
from e2etune.engine.hyperparameters.numerical import Float, Int

__all__ = [
    "Boolean",
    "Choice",
    "Fixed",
    "Float",
    "HyperParameter",
    "HyperParameters",
    "Int",
    "Parent",
    "TYPES",
    "deserialize",
    "hyperparameter_from_proto",
    "serialize",
]

"""Search algorithms: each oracle decides the values of the next trial."""

from e2etune.engine.oracle import Oracle
from e2etune.oracles.bayesian import BayesianOptimizationOracle
from e2etune.oracles.grid_search import GridSearchOracle
from e2etune.oracles.hyperband import HyperbandOracle
from e2etune.oracles.random_search import RandomSearchOracle

__all__ = [
    "BayesianOptimizationOracle",
    "GridSearchOracle",
    "HyperbandOracle",
    "Oracle",
    "RandomSearchOracle",
]

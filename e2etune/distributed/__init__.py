"""Distributed tuning: a chief serves the search over gRPC, workers run its trials.

Started by KerasTuner's environment variables (see `environment`): the
process whose `KERASTUNER_TUNER_ID` contains "chief" serves its oracle
(`chief.serve`) and trains nothing; every other process is a worker whose
tuner talks to that oracle through a `client.ClientOracle`. Importing this
package imports neither grpc nor TensorFlow: only a distributed search does.
"""

from __future__ import annotations

from typing import Any

from e2etune.distributed.environment import Distribution, from_environment

__all__ = ["Distribution", "from_environment", "serve_if_chief", "worker_oracle"]


def worker_oracle(oracle: Any, tuner_id: str) -> Any:
    """The oracle a worker's tuner uses instead of `oracle`, or None outside a worker.

    Connects to the chief (waiting for it, see `E2ETUNE_CHIEF_WAIT`).
    """
    distribution = from_environment()
    if distribution is None or distribution.is_chief:
        return None
    from e2etune.distributed.client import ClientOracle

    return ClientOracle(oracle, distribution, tuner_id)


def serve_if_chief(tuner: Any) -> bool:
    """In the chief, serves `tuner.oracle` until the search is over and returns True; else False.

    The chief says (on stderr) where it serves, and how the search ended.
    """
    distribution = from_environment()
    if distribution is None or not distribution.is_chief:
        return False
    from e2etune.distributed.chief import serve

    serve(tuner, distribution)
    return True

"""`enqueue_trial` on a worker: the configuration is queued on the chief's oracle, over gRPC."""

from __future__ import annotations

import json

import grpc
import pytest

from e2etune.distributed import chief
from e2etune.distributed.client import ClientOracle
from e2etune.distributed.environment import Distribution
from e2etune.distributed.service import OracleServicer
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.trial import TrialStatus
from e2etune.oracles import RandomSearchOracle

from ._cluster import Cluster, finish, free_port


def test_a_workers_queued_configuration_runs_first_on_the_chiefs_search(tmp_path):
    cluster = Cluster(tmp_path, max_trials=3, sleep=0.02)
    cluster.extra.update(E2ETUNE_AUTH_TOKEN="enqueue-t0ken")
    calls = [[{"n": 7}, False],  # a part of the space: the algorithm picks x
             [{"n": 7}, True],  # queued already: skipped
             [{"n": 99}, False],
             [{"units": 3}, False]]
    try:
        chief_process = cluster.chief()
        worker = cluster.worker(config={"enqueue": calls})
        out, err = finish(worker)
        assert worker.returncode == 0, err
        _, chief_err = finish(chief_process)
        assert chief_process.returncode == 0, chief_err
    finally:
        cluster.stop_all()
    queued, skipped, out_of_range, unknown = json.loads(out.strip().splitlines()[-1])["enqueued"]
    assert (queued, skipped) == (True, False)
    assert out_of_range == {"error": "ValueError",
                            "message": "`enqueue_trial`: Int 'n': value 99 is outside [0, 50]."}
    assert unknown["error"] == "ValueError"
    assert "'units', which is not a hyperparameter of the search space" in unknown["message"]
    trials = list(cluster.saved_trials().values())
    assert [t.status for t in trials] == [TrialStatus.COMPLETED] * 3
    first = trials[0].hyperparameters.values
    assert first["n"] == 7 and -2.0 <= first["x"] <= 2.0
    assert sum(t.hyperparameters["n"] == 7 for t in trials) == 1  # queued once


def make_oracle() -> RandomSearchOracle:
    hp = HyperParameters()
    hp.Float("x", -1.0, 1.0)
    hp.Int("n", 0, 10, step=2)
    hp.Choice("kind", ["a", "b"])
    with hp.conditional_scope("kind", "b"):
        hp.Boolean("extra")
    return RandomSearchOracle(hyperparameters=hp, max_trials=5, seed=1, heartbeat_interval=0.3,
                              lease_grace=2.0)


@pytest.fixture
def serving(tmp_path):
    """`serving()`: a chief in this process (over real gRPC), its oracle and a worker's
    `ClientOracle`."""
    chiefs, clients = [], []

    def start() -> tuple[RandomSearchOracle, ClientOracle]:
        oracle = make_oracle()
        oracle._set_project_dir(str(tmp_path), "p")
        distribution = Distribution("chief", "127.0.0.1", free_port(), chief_wait=5.0,
                                    auth_token="t0ken")
        chiefs.append((chief.start_server(oracle, distribution)[0], oracle))
        worker = Distribution(**{**distribution.__dict__, "tuner_id": "tuner0"})
        clients.append(ClientOracle(make_oracle(), worker, "tuner0"))
        return oracle, clients[-1]

    yield start
    for client in clients:
        client.close()
    for server, oracle in chiefs:
        server.stop(grace=None)
        oracle.close()


BAD_VALUES = [
    {"n": 3},  # off its steps
    {"n": 12},
    {"n": 2**70},  # cannot travel: refused on the worker as the chief refuses it
    {"x": "high"},
    {"x": [0.5]},
    {"kind": None},
    {"extra": True},  # its parent is missing
    {"kind": "a", "extra": True},
    {"tuner/epochs": 2},
    {3: 1},
    [("n", 2)],
]


@pytest.mark.parametrize("values", BAD_VALUES, ids=repr)
def test_a_bad_configuration_raises_on_the_worker_what_the_chief_raises(serving, values):
    oracle, client = serving()
    with pytest.raises((TypeError, ValueError)) as local:
        make_oracle().enqueue_trial(values)
    with pytest.raises((TypeError, ValueError)) as remote:
        client.enqueue_trial(values)
    assert (type(remote.value), str(remote.value)) == (type(local.value), str(local.value))
    assert oracle._queued == []


def test_values_travel_with_their_types_and_the_queue_is_saved(serving, tmp_path):
    oracle, client = serving()
    assert client.enqueue_trial({"kind": "b", "extra": True, "x": 0.25, "n": 4})
    assert not client.enqueue_trial({"n": 4, "kind": "b", "extra": True, "x": 0.25},
                                    skip_if_exists=True)
    assert client.enqueue_trial({"n": 4}, skip_if_exists=True)  # another configuration
    assert oracle._queued == [{"x": 0.25, "n": 4, "kind": "b", "extra": True}, {"n": 4}]
    saved = make_oracle()
    saved._set_project_dir(str(tmp_path), "p")
    try:
        assert saved._queued == oracle._queued
        types = {name: type(value) for name, value in saved._queued[0].items()}
        assert types == {"x": float, "n": int, "kind": str, "extra": bool}
    finally:
        saved.close()
    trial = client.create_trial("tuner0")
    assert trial.hyperparameters.values == {"x": 0.25, "n": 4, "kind": "b", "extra": True}


def test_an_enqueue_sent_again_after_its_answer_was_lost_is_queued_once(serving, monkeypatch):
    answered = OracleServicer.EnqueueTrial
    lost: list[str] = []

    def lose_the_first_answer(self, request, context):
        answer = answered(self, request, context)
        if not lost:
            lost.append(request.request_id)
            context.abort(grpc.StatusCode.UNAVAILABLE, "the answer was lost")
        return answer

    monkeypatch.setattr(OracleServicer, "EnqueueTrial", lose_the_first_answer)
    oracle, client = serving()  # the server binds its handlers when it starts
    assert client.enqueue_trial({"n": 2})  # queued at the first try, answered at the second
    assert lost and oracle._queued == [{"n": 2}]
    assert client.enqueue_trial({"n": 2})  # a new call: queued again, as asked
    assert oracle._queued == [{"n": 2}, {"n": 2}]

"""Pruning in a distributed search: the chief's oracle decides, with one small call per question.

`Oracle.should_prune` in this process; `ShouldPrune` over real gRPC to a chief
in this process; and a chief with two workers as real processes, whose
trials report known curves (`_prune_node.py`).
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys

import pytest

from e2etune.distributed import chief
from e2etune.distributed.client import ChiefPruner, ClientOracle
from e2etune.distributed.environment import Distribution
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.trial import TrialStatus
from e2etune.oracles import GridSearchOracle
from e2etune.pruners import MedianPruner

from ._cluster import HERE, Cluster, finish, free_port

NODE = HERE / "_prune_node.py"


def make_oracle(pruner=None, **kwargs) -> GridSearchOracle:
    hp = HyperParameters()
    hp.Choice("level", [1.0, 2.0, 3.0, 4.0], ordered=True)
    return GridSearchOracle(hyperparameters=hp, pruner=pruner, heartbeat_interval=0.3,
                            lease_grace=2.0, **kwargs)


def report(oracle, trial, values) -> None:
    for step, value in enumerate(values):
        oracle.update_trial(trial.trial_id, {oracle.objective.name: value}, step=step)


# `Oracle.should_prune`.

def test_oracle_should_prune_compares_the_stored_trial_with_the_others(tmp_path):
    oracle = make_oracle(MedianPruner(min_trials=1))
    oracle._set_project_dir(str(tmp_path), "p")
    good, bad = oracle.create_trial("a"), oracle.create_trial("b")
    assert not oracle.should_prune(bad.trial_id)  # nothing reported yet
    report(oracle, good, [1.0, 0.5])
    report(oracle, bad, [2.0])
    assert oracle.should_prune(bad.trial_id)  # 2.0 at step 0, worse than the other's 1.0
    assert not oracle.should_prune(good.trial_id)
    with pytest.raises(KeyError, match="No trial with id 'nope'"):
        oracle.should_prune("nope")
    oracle.close()


def test_oracle_should_prune_sees_what_another_process_reported(tmp_path):
    first = make_oracle(MedianPruner(min_trials=1))
    first._set_project_dir(str(tmp_path), "p")
    second = make_oracle(MedianPruner(min_trials=1))
    second._set_project_dir(str(tmp_path), "p")
    theirs, ours = first.create_trial("a"), second.create_trial("b")
    report(second, ours, [2.0])
    assert not second.should_prune(ours.trial_id)  # the other trial reported nothing yet
    report(first, theirs, [1.0])
    assert second.should_prune(ours.trial_id)  # read from the storage
    assert ours.should_prune()  # `Trial.should_prune` asks its oracle
    first.close()
    second.close()


def test_oracle_should_prune_is_false_without_a_pruner(tmp_path):
    oracle = make_oracle()
    oracle._set_project_dir(str(tmp_path), "p")
    trial = oracle.create_trial("a")
    report(oracle, trial, [1e9])
    assert oracle.should_prune(trial.trial_id) is False
    assert oracle.should_prune("unknown") is False  # without a pruner nothing is looked up
    oracle.close()


# `ShouldPrune` over gRPC, to a chief in this process.

@pytest.fixture
def served(tmp_path):
    """Serves `oracle` from this process: `served(oracle)` -> a worker's `Distribution`."""
    servers = []

    def start(oracle) -> Distribution:
        oracle._set_project_dir(str(tmp_path / f"chief{len(servers)}"), "p")
        distribution = Distribution("chief", "127.0.0.1", free_port(), chief_wait=2.0)
        server, _ = chief.start_server(oracle, distribution)
        servers.append((server, oracle))
        return Distribution("tuner0", distribution.host, distribution.port, chief_wait=2.0)

    yield start
    for server, oracle in servers:
        server.stop(grace=None)
        oracle.close()


class CallLog:
    """Records the method of every call a `ClientOracle` sends to the chief."""

    def __init__(self, client: ClientOracle) -> None:
        self.methods: list[str] = []
        connection_call = client._connection.call

        def call(method, request, *args, **kwargs):
            self.methods.append(method)
            return connection_call(method, request, *args, **kwargs)

        client._connection.call = call


def test_a_worker_asks_the_chief_in_one_call_that_reads_no_trials(served, caplog):
    chief_oracle = make_oracle(MedianPruner(min_trials=1))
    distribution = served(chief_oracle)
    caplog.set_level(logging.WARNING, logger="e2etune")
    client = ClientOracle(make_oracle(), distribution, "tuner0")  # the worker has no pruner
    assert "is not used" not in caplog.text
    assert isinstance(client.pruner, ChiefPruner)
    assert repr(client.pruner) == repr(chief_oracle.pruner)
    with pytest.raises(RuntimeError, match="decides on the chief"):
        client.pruner.prune(None, [], None)
    other = chief_oracle.create_trial("chief")  # a trial of another worker, on the chief
    report(chief_oracle, other, [1.0, 1.0])
    trial = client.create_trial("tuner0")
    trial._attach(client)
    log = CallLog(client)
    trial.report(0, 0.5)
    assert not trial.should_prune()
    trial.report(1, 3.0)  # its best so far (0.5) is still better than the other's 1.0
    assert not trial.should_prune()
    assert log.methods == ["UpdateTrial", "ShouldPrune", "UpdateTrial", "ShouldPrune"]
    client.end_trial(trial.trial_id, TrialStatus.COMPLETED)
    late = client.create_trial("tuner0")
    late._attach(client)
    log.methods.clear()
    late.report(0, 2.0)  # 2.0 at step 0: worse than both others
    assert late.should_prune() and late.should_prune()  # the answer stays yes
    assert log.methods == ["UpdateTrial", "ShouldPrune"]  # the yes is kept: no second call
    assert client.should_prune("not-this-workers") is False
    assert log.methods == ["UpdateTrial", "ShouldPrune"]  # no lease: no call
    client.close()


def test_a_worker_that_lost_the_lease_is_told_to_go_on(served, caplog):
    chief_oracle = make_oracle(MedianPruner(min_trials=1))
    client = ClientOracle(make_oracle(), served(chief_oracle), "tuner0")
    other = chief_oracle.create_trial("chief")
    report(chief_oracle, other, [1.0])
    trial = client.create_trial("tuner0")
    client.update_trial(trial.trial_id, {chief_oracle.objective.name: 2.0}, step=0)
    assert client.should_prune(trial.trial_id)
    client._leases[trial.trial_id].attempt += 1  # as if the chief had given the trial away
    caplog.set_level(logging.WARNING, logger="e2etune")
    assert client.should_prune(trial.trial_id) is False
    assert "gave trial" in caplog.text and client._leases[trial.trial_id].lost
    client.close()


def test_a_chief_without_a_pruner_is_not_asked_and_a_worker_pruner_is_named_unused(
        served, caplog):
    caplog.set_level(logging.WARNING, logger="e2etune")
    client = ClientOracle(make_oracle(MedianPruner()), served(make_oracle()), "tuner0")
    assert client.pruner is None
    assert "pruner MedianPruner(" in caplog.text and "the chief has none" in caplog.text
    trial = client.create_trial("tuner0")
    log = CallLog(client)
    assert client.should_prune(trial.trial_id) is False
    assert log.methods == []
    client.close()


# A chief and two workers, as processes.

def start(cluster: Cluster, tuner_id: str, config: dict) -> subprocess.Popen:
    config = {**config, "directory": str(cluster.tmp_path / tuner_id)}
    process = subprocess.Popen([sys.executable, str(NODE), json.dumps(config)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                               env=cluster.env(tuner_id))
    cluster.processes.append(process)
    return process


def last_json(out: str) -> dict:
    return json.loads(out.strip().splitlines()[-1])


def test_the_chiefs_pruner_prunes_the_workers_trials_without_reading_all_trials(tmp_path):
    cluster = Cluster(tmp_path)
    (tmp_path / "done").mkdir()
    steps = 4
    config = {"project": "shared", "done": str(tmp_path / "done"), "good": [1.0, 2.0],
              "steps": steps, "min_trials": 2}
    try:
        processes = [start(cluster, name, config) for name in ("chief", "tuner0", "tuner1")]
        outputs = {}
        for name, process in zip(("chief", "tuner0", "tuner1"), processes):
            out, err = finish(process, timeout=120)
            assert process.returncode == 0, err
            outputs[name] = last_json(out)
    finally:
        cluster.stop_all()
    saved = make_oracle()
    saved._set_project_dir(str(tmp_path / "chief"), "shared")
    ended = {t.hyperparameters.get("level"): (t.status, t.best_step)
             for t in saved.trials.values()}
    saved.close()
    # Only the chief has a pruner: the good trials ran every step, the others were pruned at
    # their first (the median of two or three others is below them there).
    last = steps - 1
    assert ended == {1.0: ("COMPLETED", last), 2.0: ("COMPLETED", last),
                     3.0: ("PRUNED", 0), 4.0: ("PRUNED", 0), 5.0: ("PRUNED", 0),
                     6.0: ("PRUNED", 0)}
    workers = [outputs["tuner0"], outputs["tuner1"]]
    assert all(w["pruner"] == "MedianPruner(warmup_steps=0, min_trials=2, interval_steps=1)"
               for w in workers), workers
    questions = sum(w["questions"] for w in workers)
    assert questions == 2 * steps + 4  # every step of the good trials, one of each other
    # Each question was one `ShouldPrune`, and nothing else (each worker ran a good trial).
    assert all(w["questions"] >= steps and w["calls"] == {"ShouldPrune": w["questions"]}
               for w in workers), workers
    counts, pages = outputs["chief"]["counts"], outputs["chief"]["pages"]
    assert counts["ShouldPrune"] == questions
    assert counts.get("GetTrial", 0) == 0
    # The only full reads are each worker's last, of the final trials once the search is over.
    assert len([page for page in pages if page > 1]) <= 2, pages

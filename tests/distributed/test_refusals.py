"""What the chief and the workers refuse, and what they say: in this process, over real gRPC."""

from __future__ import annotations

import logging
import socket
import time

import pytest

from e2etune.distributed import chief, environment
from e2etune.distributed.client import ClientOracle
from e2etune.distributed.connection import ChiefRefusedError, ChiefUnreachableError
from e2etune.distributed.environment import Distribution
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.oracle import Oracle
from e2etune.oracles import BayesianOptimizationOracle, RandomSearchOracle

from ._cluster import free_port

SECRET = "s3cret-t0ken-value"


def make_oracle(objective="loss", cls=RandomSearchOracle):
    hp = HyperParameters()
    hp.Float("x", -1.0, 1.0)
    return cls(objective=objective, hyperparameters=hp, max_trials=3, seed=1,
               heartbeat_interval=0.3, lease_grace=2.0)


@pytest.fixture
def serving(tmp_path):
    """Starts a chief in this process: `serving(**distribution)` -> its Distribution."""
    servers = []

    def start(oracle=None, **settings):
        oracle = oracle or make_oracle()
        oracle._set_project_dir(str(tmp_path), "p")
        distribution = Distribution("chief", "127.0.0.1", free_port(), chief_wait=2.0, **settings)
        server, _ = chief.start_server(oracle, distribution)
        servers.append((server, oracle))
        return distribution

    yield start
    for server, oracle in servers:
        server.stop(grace=None)
        oracle.close()


def as_worker(distribution: Distribution, **changes) -> Distribution:
    fields = {**distribution.__dict__, "tuner_id": "tuner0", **changes}
    return Distribution(**fields)


def test_a_call_without_the_token_is_refused_and_logged_without_it(serving, caplog):
    distribution = serving(auth_token=SECRET)
    caplog.set_level(logging.WARNING, logger="e2etune")
    for token in (None, "wrong"):
        with pytest.raises(ChiefRefusedError, match="UNAUTHENTICATED|auth token") as raised:
            ClientOracle(make_oracle(), as_worker(distribution, auth_token=token), "tuner0")
        assert SECRET not in str(raised.value) and distribution.address in str(raised.value)
    assert "carried no auth token" in caplog.text and "carried a wrong auth token" in caplog.text
    assert SECRET not in caplog.text and "wrong" not in caplog.text.replace("a wrong", "")
    client = ClientOracle(make_oracle(), as_worker(distribution), "tuner0")
    assert client.create_trial("tuner0").status == "RUNNING"
    client.close()
    assert SECRET not in repr(distribution)


def test_a_worker_with_another_objective_or_oracle_is_refused_naming_both(serving):
    distribution = serving()
    with pytest.raises(ChiefRefusedError) as raised:
        ClientOracle(make_oracle("val_loss"), as_worker(distribution), "tuner0")
    message = str(raised.value)
    assert "RandomSearchOracle optimizing val_loss (min)" in message
    assert "RandomSearchOracle optimizing loss (min)" in message
    with pytest.raises(ChiefRefusedError, match="BayesianOptimizationOracle optimizing loss.*"
                       "chief RandomSearchOracle optimizing loss"):
        ClientOracle(make_oracle(cls=BayesianOptimizationOracle), as_worker(distribution), "t")


def test_an_unreachable_chief_is_named_with_the_time_waited(capfd):
    port = free_port()
    distribution = Distribution("tuner0", "127.0.0.1", port, chief_wait=1.0)
    with pytest.raises(ChiefUnreachableError) as raised:
        ClientOracle(make_oracle(), distribution, "tuner0")
    message = str(raised.value)
    assert f"The chief at 127.0.0.1:{port} did not answer for 1 s" in message
    assert "E2ETUNE_CHIEF_WAIT=1" in message
    assert f"waiting for the chief at 127.0.0.1:{port} (up to 1 s" in capfd.readouterr().err


def test_a_port_in_use_is_a_clear_error_at_the_chiefs_start(tmp_path):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        oracle = make_oracle()
        oracle._set_project_dir(str(tmp_path), "p")
        with pytest.raises(chief.ChiefStartError, match=f"cannot listen on 127.0.0.1:{port}: the "
                           "port is in use"):
            chief.start_server(oracle, Distribution("chief", "127.0.0.1", port))
        oracle.close()


def test_the_variables_switch_the_roles_on():
    assert environment.from_environment({"KERASTUNER_TUNER_ID": "tuner0"}) is None
    worker = environment.from_environment({"E2ETUNE_TUNER_ID": "tuner3",
                                           "E2ETUNE_ORACLE_PORT": "8000",
                                           "E2ETUNE_CHIEF_WAIT": "5"})
    assert (worker.is_chief, worker.address, worker.chief_wait) == (False, "127.0.0.1:8000", 5.0)
    chief_role = environment.from_environment({"KERASTUNER_TUNER_ID": "chief-0",
                                               "KERASTUNER_ORACLE_IP": "::1",
                                               "KERASTUNER_ORACLE_PORT": "8000"})
    assert chief_role.is_chief and chief_role.address == "[::1]:8000"
    with pytest.raises(ValueError, match="KERASTUNER_TUNER_ID.*not set"):
        environment.from_environment({"KERASTUNER_ORACLE_IP": "10.0.0.1",
                                      "KERASTUNER_ORACLE_PORT": "8000"})
    with pytest.raises(ValueError, match="KERASTUNER_ORACLE_PORT='http' is not a port"):
        environment.from_environment({"KERASTUNER_TUNER_ID": "chief",
                                      "KERASTUNER_ORACLE_PORT": "http"})


def test_a_result_sent_after_a_long_outage_of_the_chief_is_recorded_if_nobody_took_over(tmp_path):
    port = free_port()
    distribution = Distribution("chief", "127.0.0.1", port, chief_wait=30.0)

    def start_chief():
        oracle = make_oracle()
        oracle._set_project_dir(str(tmp_path), "p")
        return oracle, chief.start_server(oracle, distribution)[0]

    oracle, server = start_chief()
    client = ClientOracle(make_oracle(), as_worker(distribution), "tuner0")
    trial = client.create_trial("tuner0")
    client.update_trial(trial.trial_id, {"loss": 0.5})
    client._heartbeat.stop()  # cut off: no more heartbeats
    server.stop(grace=None)
    oracle.close()
    time.sleep(2.5)  # longer than the lease (2 s): the restarted chief takes the worker for dead
    oracle, server = start_chief()
    try:
        assert oracle.get_trial(trial.trial_id).status == "IDLE"
        trial.status = "COMPLETED"
        client.end_trial(trial)
        stored = oracle.get_trial(trial.trial_id)
        assert (stored.status, stored.crashes, stored.attempts) == ("COMPLETED", 0, 1)
        assert len(stored.metrics.get_history("loss")) == 1 and stored.score == 0.5
        client.update_trial(trial.trial_id, {"loss": 0.1})  # the lease is over: refused
        assert oracle.get_trial(trial.trial_id).score == 0.5
    finally:
        client.close()
        server.stop(grace=None)
        oracle.close()


class Countdown(Oracle):
    """A user's own algorithm: it runs in the chief."""

    def populate_space(self, trial_id):
        return {"status": "RUNNING", "values": {"x": 1.0 - len(self.trials) / 4}}


def test_a_users_own_oracle_runs_in_the_chief_and_answers_after_the_end(serving):
    distribution = serving(oracle=make_oracle(cls=Countdown))
    client = ClientOracle(make_oracle(cls=Countdown), as_worker(distribution), "tuner0")
    assert client.max_trials == 3 and client.get_space().get("x") == -1.0
    while True:
        trial = client.create_trial("tuner0")
        if trial.status == "STOPPED":
            break
        assert client.update_trial(trial.trial_id, {"loss": trial.hyperparameters["x"] ** 2}) \
            == "RUNNING"
        trial.status = "COMPLETED"
        client.end_trial(trial)
        assert trial.score == trial.hyperparameters["x"] ** 2  # as the chief scored it
    best = client.get_best_trials(3)  # answered from the final trials, without the chief
    assert [t.hyperparameters["x"] for t in best] == [0.5, 0.75, 1.0]
    assert len(client.trials) == 3 and client.remaining_trials() == 0
    assert client.best_trial_so_far().hyperparameters["x"] == 0.5

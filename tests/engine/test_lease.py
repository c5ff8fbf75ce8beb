"""Leases and worker identities: when a worker counts as gone, and the heartbeat."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from e2etune.engine import lease
from e2etune.engine.base_tuner import default_tuner_id
from e2etune.storage import WorkerRecord


def _record(pid: int, expires: float, host: str | None = None, started: int | None = None):
    return WorkerRecord("token", host or lease.this_host(), pid,
                        lease.process_start(pid) if started is None else started, expires)


def test_a_live_worker_of_this_host_with_a_valid_lease_is_not_gone():
    now = time.time()
    assert not lease.is_gone(lease.new_worker("t", now + 10), now)
    assert lease.same_process(lease.new_worker("t", now + 10))


def test_an_expired_lease_is_gone_wherever_the_worker_runs():
    now = time.time()
    assert lease.is_gone(_record(os.getpid(), now - 1), now)
    assert lease.is_gone(_record(1, now - 1, host="elsewhere/0"), now)
    assert lease.is_gone(None, now)


def test_a_dead_process_on_this_host_is_gone_at_once_but_not_on_another_host():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    now = time.time()
    assert lease.is_gone(_record(process.pid, now + 100, started=1), now)
    assert not lease.is_gone(_record(process.pid, now + 100, host="elsewhere/0", started=1), now)


def test_a_reused_process_id_is_not_mistaken_for_the_worker():
    now = time.time()
    started = lease.process_start(os.getpid())
    assert started > 0
    assert not lease.is_gone(_record(os.getpid(), now + 100), now)
    assert lease.is_gone(_record(os.getpid(), now + 100, started=started + 1), now)


def test_the_heartbeat_renews_until_stopped_and_survives_failures():
    calls = []
    failed = threading.Event()

    def renew():
        calls.append(time.monotonic())
        if len(calls) == 2:
            failed.set()
            raise OSError("storage unreachable")

    beat = lease.Heartbeat(renew, 0.02, name="test")
    deadline = time.monotonic() + 5
    while len(calls) < 5 and time.monotonic() < deadline:
        time.sleep(0.01)
    beat.stop()
    count = len(calls)
    time.sleep(0.1)
    assert failed.is_set() and count >= 5 and len(calls) == count


def test_the_tuner_id_is_unique_by_default_and_kerastuners_variable_wins(monkeypatch):
    monkeypatch.delenv("KERASTUNER_TUNER_ID", raising=False)
    monkeypatch.delenv("E2ETUNE_TUNER_ID", raising=False)
    first, second = default_tuner_id(), default_tuner_id()
    assert first != second and str(os.getpid()) in first
    monkeypatch.setenv("KERASTUNER_TUNER_ID", "worker7")
    assert default_tuner_id() == "worker7"


@pytest.mark.parametrize("bad", [0, -1.0, float("inf"), "10", True])
def test_lease_settings_are_checked(bad):
    from e2etune.oracles import RandomSearchOracle

    with pytest.raises(ValueError, match="heartbeat_interval"):
        RandomSearchOracle(heartbeat_interval=bad)
    with pytest.raises(ValueError, match="lease_grace"):
        RandomSearchOracle(lease_grace=bad)
    with pytest.raises(ValueError, match="longer than `heartbeat_interval`"):
        RandomSearchOracle(heartbeat_interval=5.0, lease_grace=5.0)
    with pytest.raises(ValueError, match="max_crashes_per_trial"):
        RandomSearchOracle(max_crashes_per_trial=0)


def test_a_killed_process_not_yet_reaped_by_its_parent_is_gone():
    process = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        now = time.time()
        record = _record(process.pid, now + 100)
        assert not lease.is_gone(record, now)
        process.kill()
        deadline = time.monotonic() + 10
        while not lease.is_gone(record, now) and time.monotonic() < deadline:
            time.sleep(0.01)  # a zombie until `wait()` below
        assert lease.is_gone(record, now)
    finally:
        process.wait()


def test_a_worker_knows_when_its_trial_was_given_to_another(tmp_path):
    from e2etune.engine.hyperparameters import HyperParameters
    from e2etune.engine.trial import TrialStatus
    from e2etune.oracles import RandomSearchOracle

    def make_oracle():
        hp = HyperParameters()
        hp.Int("x", 0, 9)
        oracle = RandomSearchOracle(objective="loss", max_trials=3, hyperparameters=hp, seed=1)
        oracle._set_project_dir(str(tmp_path), "p")
        return oracle

    first = make_oracle()
    trial = first.create_trial("first")
    assert trial.status == TrialStatus.RUNNING and not first.lease_lost(trial.trial_id)
    # A new oracle of this process takes the project over, and the running trial with it.
    second = make_oracle()
    taken = second.create_trial("second")
    assert taken.trial_id == trial.trial_id
    assert first.lease_lost(trial.trial_id)
    assert not second.lease_lost(trial.trial_id)
    second.close()
    first.close()

"""A chief and its workers as real processes on loopback, over real gRPC."""

from __future__ import annotations

import os
import signal
import time

import pytest

from e2etune.engine.trial import TrialStatus

from ._cluster import Cluster, finish, wait_for_text


@pytest.fixture
def cluster(tmp_path):
    cluster = Cluster(tmp_path)
    yield cluster
    cluster.stop_all()


def check_each_trial_ran_once(cluster: Cluster, count: int) -> dict:
    trials = cluster.saved_trials()
    assert len(trials) == count
    assert [t.status for t in trials.values()] == [TrialStatus.COMPLETED] * count
    runs = cluster.runs()
    assert set(runs) == set(trials)
    return runs


def test_a_chief_and_four_workers_run_forty_trials_each_once(cluster):
    cluster.config.update(max_trials=40, sleep=0.05)
    workers = [cluster.worker() for _ in range(4)]
    for worker in workers:  # every worker is up and waiting before the chief starts
        wait_for_text(worker, "waiting for the chief")
    chief = cluster.chief()
    for process in [*workers, chief]:
        out, err = finish(process)
        assert process.returncode == 0, err
    runs = check_each_trial_ran_once(cluster, 40)
    assert all(counts == {"start": 1, "end": 1} for counts in runs.values()), runs
    assert "the search is over (40 of 40 trials completed)" in err


def test_a_worker_killed_mid_trial_costs_one_lease(cluster):
    cluster.config.update(max_trials=12, sleep=0.2, lease_grace=1.5, heartbeat_interval=0.3)
    chief = cluster.chief()
    workers = [cluster.worker() for _ in range(2)]
    trial_id, pid = cluster.wait_for_start()
    os.kill(pid, signal.SIGKILL)
    for process in [*workers, chief]:
        _, err = finish(process)
        assert process.returncode in (0, -signal.SIGKILL), err
    assert sorted(p.returncode for p in workers) == [-signal.SIGKILL, 0]
    runs = check_each_trial_ran_once(cluster, 12)
    assert runs[trial_id] == {"start": 2, "end": 1}
    assert all(c == {"start": 1, "end": 1} for t, c in runs.items() if t != trial_id)
    assert cluster.saved_trials()[trial_id].crashes == 1
    assert f"The worker running trial {trial_id}" in err  # logged by the chief


def test_the_chief_killed_and_restarted_mid_search_loses_and_repeats_nothing(cluster):
    cluster.config.update(max_trials=14, sleep=0.15, lease_grace=20.0, heartbeat_interval=0.3)
    chief = cluster.chief()
    workers = [cluster.worker() for _ in range(2)]
    while sum(c["end"] for c in cluster.runs().values()) < 4:
        assert chief.poll() is None
        time.sleep(0.02)
    chief.kill()
    finish(chief)
    chief = cluster.chief()
    for process in [*workers, chief]:
        _, err = finish(process)
        assert process.returncode == 0, err
        if process is not chief:
            assert f"waiting for the chief at 127.0.0.1:{cluster.port}" in err
    runs = check_each_trial_ran_once(cluster, 14)
    assert all(counts == {"start": 1, "end": 1} for counts in runs.values()), runs
    for trial in cluster.saved_trials().values():
        assert trial.crashes == 0 and trial.attempts == 1
        assert len(trial.metrics.get_history("loss")) == 1  # each result recorded once
        assert len(trial.metrics.get_history("loss")[0].value) == 1


def test_a_cut_off_workers_late_result_is_refused_and_counted_once(cluster):
    cluster.config.update(max_trials=6, sleep=0.1, lease_grace=1.0, heartbeat_interval=0.2)
    chief = cluster.chief()
    first = cluster.worker()
    trial_id, pid = cluster.wait_for_start()
    os.kill(pid, signal.SIGSTOP)  # alive, but silent: only its lease can tell
    try:
        second = cluster.worker()
        deadline = time.monotonic() + 60
        while cluster.runs()[trial_id]["start"] < 2:  # the other worker took the trial over
            assert time.monotonic() < deadline and second.poll() is None
            time.sleep(0.02)
    finally:
        os.kill(pid, signal.SIGCONT)
    _, first_err = finish(first)
    for process in (second, chief):
        _, err = finish(process)
        assert process.returncode == 0, err
    assert first.returncode == 0, first_err
    assert (f"Refused the result of trial {trial_id}: this worker lost the trial's lease"
            in first_err)
    assert f"Refused the result of trial {trial_id} from tuner tuner0" in err
    check_each_trial_ran_once(cluster, 6)
    trial = cluster.saved_trials()[trial_id]
    assert trial.crashes == 1 and len(trial.metrics.get_history("loss")) == 1


def test_a_keras_tuner_runs_unchanged_as_chief_and_worker(cluster, tmp_path):
    import json
    import subprocess
    import sys

    from ._cluster import HERE

    def start(tuner_id):
        return subprocess.Popen([sys.executable, str(HERE / "_keras_node.py"),
                                 str(tmp_path / tuner_id)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, env=cluster.env(tuner_id))

    chief, worker = start("chief"), start("tuner0")
    out, err = finish(worker, timeout=240)
    assert worker.returncode == 0, err
    _, chief_err = finish(chief, timeout=60)
    assert chief.returncode == 0, chief_err
    result = json.loads(out.strip().splitlines()[-1])
    assert result["trials"] == 3 and result["units"] in (2, 4, 6, 8) and result["params"] > 0
    assert (tmp_path / "tuner0" / "keras" / "trial_0").is_dir()  # the worker's own folders
    assert not (tmp_path / "tuner0" / "keras" / "search.db").exists()  # never the chief's storage
    assert (tmp_path / "chief" / "keras" / "search.db").exists()

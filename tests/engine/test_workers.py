"""Several real processes working on one search, on SQLite and on PostgreSQL.

Each worker is `_worker.py` in a process of its own; every run of a trial
appends "start|end TRIAL_ID PID" to a shared log, so the tests see which
process ran what, and how many times.
"""

from __future__ import annotations

import collections
import importlib.util
import itertools
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from e2etune.engine.trial import TrialStatus
from worker_log import wait_for_first_start

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
WORKER = HERE / "_worker.py"

_spec = importlib.util.spec_from_file_location("_worker", WORKER)
worker_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(worker_module)


@pytest.fixture(params=["sqlite", "postgres"])
def storage(request) -> str | None:
    """None (the project folder's SQLite file) or the URL of a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return None
    return request.getfixturevalue("postgres").new_database()


def make_config(tmp_path: pathlib.Path, storage: str | None, **config) -> dict:
    config = {"directory": str(tmp_path / "search"), "project": "shared", "sleep": 0.02,
              "log": str(tmp_path / "runs.log"), "storage": storage, **config}
    return config


def start(config: dict) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    return subprocess.Popen([sys.executable, str(WORKER), json.dumps(config)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def finish(process: subprocess.Popen, timeout: float = 180) -> str:
    """Waits for a worker to end; returns its standard error."""
    _, err = process.communicate(timeout=timeout)
    return err


def run_workers(config: dict, count: int = 4) -> None:
    processes = [start(config) for _ in range(count)]
    for process in processes:
        err = finish(process)
        assert process.returncode == 0, err


def runs(config: dict) -> dict[str, collections.Counter]:
    """How many times each trial was started and ended, and by which processes."""
    events: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
    pids = set()
    for line in pathlib.Path(config["log"]).read_text().splitlines():
        event, trial_id, pid = line.split()
        events[trial_id][event] += 1
        pids.add(pid)
    events["_pids"] = collections.Counter(pids)
    return events


def saved_oracle(config: dict):
    """An oracle reading the saved search (it joins it, then leaves)."""
    oracle = worker_module.make_oracle(config)
    oracle._set_project_dir(config["directory"], config["project"], storage=config["storage"])
    return oracle


def check_each_trial_ran_once(config: dict, oracle) -> None:
    events = runs(config)
    workers = events.pop("_pids")
    assert len(workers) >= 2, "the other processes did no work"
    assert set(events) == set(oracle.trials)
    for trial_id, counts in events.items():
        assert counts == {"start": 1, "end": 1}, trial_id
    assert all(t.status == TrialStatus.COMPLETED for t in oracle.trials.values())


def test_random_search_in_four_processes(tmp_path, storage):
    config = make_config(tmp_path, storage, algorithm="random", max_trials=40)
    run_workers(config)
    oracle = saved_oracle(config)
    assert len(oracle.trials) == 40
    check_each_trial_ran_once(config, oracle)
    keys = {oracle._compute_values_hash(t.hyperparameters.values) for t in oracle.trials.values()}
    assert len(keys) == 40
    oracle.close()


def test_grid_search_in_four_processes_runs_every_point_once(tmp_path, storage):
    config = make_config(tmp_path, storage, algorithm="grid", max_trials=None)
    run_workers(config)
    oracle = saved_oracle(config)
    points = [(t.hyperparameters["a"], t.hyperparameters["b"]) for t in oracle.trials.values()]
    assert sorted(points) == sorted(itertools.product(range(8), "pqrst"))
    check_each_trial_ran_once(config, oracle)
    oracle.close()


def test_bayesian_optimization_in_four_processes_never_repeats(tmp_path, storage):
    config = make_config(tmp_path, storage, algorithm="bayesian", max_trials=40)
    run_workers(config)
    oracle = saved_oracle(config)
    values = [(t.hyperparameters["x"], t.hyperparameters["n"]) for t in oracle.trials.values()]
    assert len(values) == 40 and len(set(values)) == 40
    check_each_trial_ran_once(config, oracle)
    oracle.close()


def test_hyperband_in_four_processes_fills_its_rounds(tmp_path, storage):
    config = make_config(tmp_path, storage, algorithm="hyperband")
    run_workers(config)
    oracle = saved_oracle(config)
    check_each_trial_ran_once(config, oracle)
    by_round = collections.Counter()
    for trial in oracle.trials.values():
        values = trial.hyperparameters.values
        bracket, round_index = values["tuner/bracket"], values["tuner/round"]
        by_round[bracket, round_index] += 1
        if round_index:
            parent = oracle.get_trial(values["tuner/trial_id"]).hyperparameters.values
            assert (parent["tuner/bracket"], parent["tuner/round"]) == (bracket, round_index - 1)
            assert parent["tuner/epochs"] == values["tuner/initial_epoch"]
    planned = {(b.s, i): r.trials for b in oracle.brackets for i, r in enumerate(b.rounds)}
    assert by_round == planned
    oracle.close()


def _wait_for_start(config: dict, timeout: float = 60) -> tuple[str, int]:
    """The first trial a worker started, and that worker's process id."""
    return wait_for_first_start(config["log"], timeout)


def test_a_killed_workers_trial_runs_again_at_once_and_the_search_completes(tmp_path, storage):
    config = make_config(tmp_path, storage, algorithm="random", max_trials=12, sleep=0.2)
    processes = [start(config) for _ in range(2)]
    trial_id, pid = _wait_for_start(config)
    os.kill(pid, signal.SIGKILL)
    for process in processes:
        err = finish(process)
        assert process.returncode in (0, -signal.SIGKILL), err
    oracle = saved_oracle(config)
    assert sorted(t.status for t in oracle.trials.values()) == [TrialStatus.COMPLETED] * 12
    assert oracle.get_trial(trial_id).crashes == 1
    assert runs(config)[trial_id] == {"start": 2, "end": 1}
    oracle.close()


def test_a_stopped_workers_lease_expires_and_its_late_result_is_refused(tmp_path, storage):
    config = make_config(tmp_path, storage, algorithm="random", max_trials=6, sleep=0.1,
                         lease_grace=1.5, heartbeat_interval=0.3)
    first = start(config)
    trial_id, pid = _wait_for_start(config)
    os.kill(pid, signal.SIGSTOP)  # alive, but silent: only its lease can tell
    try:
        second = start(config)
        err = finish(second, timeout=120)
        assert second.returncode == 0, err
        assert runs(config)[trial_id] == {"start": 2, "end": 1}
    finally:
        os.kill(pid, signal.SIGCONT)
    err = finish(first)
    assert first.returncode == 0, err
    assert f"Refused the result of trial {trial_id}" in err
    oracle = saved_oracle(config)
    trial = oracle.get_trial(trial_id)
    assert trial.status == TrialStatus.COMPLETED and trial.crashes == 1
    assert len(trial.metrics.get_history(oracle.objective.name)) == 1  # counted once
    assert sum(t.status == TrialStatus.COMPLETED for t in oracle.trials.values()) == 6
    oracle.close()


def test_a_trial_that_kills_its_process_fails_after_its_third_death(tmp_path, storage):
    config = make_config(tmp_path, storage, algorithm="random", max_trials=6, die_in="2",
                         sleep=0.0)
    codes = []
    for _ in range(6):
        process = start(config)
        err = finish(process)
        codes.append(process.returncode)
        if process.returncode == 0:
            break
    assert codes == [-signal.SIGKILL] * 3 + [0], err
    oracle = saved_oracle(config)
    poisoned = oracle.get_trial("2")
    assert poisoned.status == TrialStatus.FAILED and poisoned.crashes == 3
    assert "died 3 times" in poisoned.message and "max_crashes_per_trial" in poisoned.message
    others = [t for t in oracle.trials.values() if t.trial_id != "2"]
    assert len(others) == 5 and all(t.status == TrialStatus.COMPLETED for t in others)
    oracle.close()


def test_sigterm_gives_the_running_trial_back_without_counting_a_crash(tmp_path, storage):
    config = make_config(tmp_path, storage, algorithm="random", max_trials=4, hang_in="0",
                         hang=60)
    process = start(config)
    trial_id, pid = _wait_for_start(config)
    assert trial_id == "0"
    time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    finish(process, timeout=30)
    assert process.returncode == -signal.SIGTERM
    oracle = saved_oracle(config)
    trial = oracle.get_trial("0")
    assert (trial.status, trial.crashes, trial.attempts) == (TrialStatus.IDLE, 0, 0)
    assert oracle._retry_queue == ["0"]
    oracle.close()


def test_the_heartbeat_keeps_a_long_trial_its_workers_own(tmp_path, storage):
    config = make_config(tmp_path, storage, algorithm="random", max_trials=5, sleep=0.05,
                         lease_grace=1.0, heartbeat_interval=0.2)
    first = start(dict(config, hang_in="0", hang=3.0))  # trains for 3 leases
    assert _wait_for_start(config)[0] == "0"
    second = start(config)
    for process in (first, second):
        err = finish(process)
        assert process.returncode == 0, err
    events = runs(config)
    workers = events.pop("_pids")
    assert len(workers) == 2
    assert all(counts == {"start": 1, "end": 1} for counts in events.values()), events
    oracle = saved_oracle(config)
    assert oracle.get_trial("0").crashes == 0
    oracle.close()

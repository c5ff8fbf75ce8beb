"""A trial whose worker was killed mid-epoch goes on, on another worker, from its last saved epoch.

A real distributed Keras search (`_resume_node.py`): a chief and two
workers on loopback, all sharing one project `directory` (as on NFS). Worker
A is paused in the middle of an epoch of trial 0, after earlier epochs were
saved, and killed with SIGKILL; once A's lease expires, worker B takes trial
0 over (same attempt) and continues it in its own process from the epoch
after A's last saved one, with the optimizer's state: its losses are those
of an uninterrupted run of the trial.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import signal
import subprocess
import sys
import time

import pytest

from e2etune.engine import training_state
from e2etune.engine.trial import TrialStatus

from . import _resume_node as node
from ._cluster import free_port

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
PROJECT = "resume"
PAUSE_EPOCH = 3  # A waits in the middle of this epoch of trial 0: epochs 0..2 are saved


class Processes:
    """The search's processes; their output goes to files, never to a pipe that could fill."""

    def __init__(self, tmp_path: pathlib.Path) -> None:
        self.tmp_path = tmp_path
        self.port = free_port()
        self.directory = tmp_path / "shared"  # every process's `directory`
        self.log = tmp_path / "epochs.log"
        self.go = tmp_path / "go"  # worker B joins the search once it exists
        self.started: dict[str, subprocess.Popen] = {}

    def start(self, tuner_id: str, **config) -> subprocess.Popen:
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("KERASTUNER_", "E2ETUNE_"))}
        env.update(PYTHONPATH=str(ROOT), KERASTUNER_TUNER_ID=tuner_id,
                   KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=str(self.port),
                   E2ETUNE_CHIEF_WAIT="60", TF_CPP_MIN_LOG_LEVEL="3")
        config = {"directory": str(self.directory), "project": PROJECT, "log": str(self.log),
                  **config}
        with open(self.tmp_path / f"{tuner_id}.out", "w") as out, \
                open(self.tmp_path / f"{tuner_id}.err", "w") as err:
            process = subprocess.Popen([sys.executable, str(HERE / "_resume_node.py"),
                                        json.dumps(config)], stdout=out, stderr=err, env=env)
        self.started[tuner_id] = process
        return process

    def output(self, tuner_id: str) -> str:
        path = self.tmp_path / f"{tuner_id}.err"
        return path.read_text()[-4000:] if path.exists() else ""

    def finish(self, tuner_id: str, timeout: float) -> int:
        try:
            return self.started[tuner_id].wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{tuner_id} still runs after {timeout} s:\n"
                                 f"{self.output(tuner_id)}") from None

    def entries(self) -> list[dict]:
        if not self.log.exists():
            return []
        return [json.loads(line) for line in self.log.read_text().splitlines() if line]

    def stop_all(self) -> None:
        for process in self.started.values():
            if process.poll() is None:
                process.kill()
            process.wait(timeout=30)


@pytest.fixture
def processes(tmp_path):
    processes = Processes(tmp_path)
    yield processes
    processes.stop_all()


def wait_until(condition, what: str, timeout: float, processes: Processes, *alive: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        for tuner_id in alive:
            code = processes.started[tuner_id].poll()
            assert code is None, f"{tuner_id} ended ({code}) before {what}:\n" \
                                 f"{processes.output(tuner_id)}"
        assert time.monotonic() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.05)


def saved_trials(directory: pathlib.Path) -> dict:
    """The chief's saved trials, read from its storage once every process has ended."""
    oracle = node.make_oracle()
    oracle._set_project_dir(str(directory), PROJECT)
    try:
        return dict(oracle.trials)
    finally:
        oracle.close()


def reference_losses(hyperparameters) -> list[float]:
    """Trial 0's loss at each epoch in an uninterrupted run, in this process."""
    model = node.build(hyperparameters.copy())
    history = model.fit(**node.fit_arguments())
    return history.history["loss"]


def test_a_trial_killed_mid_epoch_goes_on_on_another_worker(processes):
    processes.start("chief")
    worker_a = processes.start("tuner0", pause=f"0:{PAUSE_EPOCH}")
    # B imports Keras meanwhile, and joins the search once A is dead.
    worker_b = processes.start("tuner1", wait_for=str(processes.go))

    wait_until(lambda: any("paused" in e for e in processes.entries()), "A's pause", 120,
               processes, "chief", "tuner0")
    worker_a.send_signal(signal.SIGKILL)
    assert worker_a.wait(timeout=30) == -signal.SIGKILL
    state_dir = processes.directory / PROJECT / "trial_0" / training_state.STATE_DIR
    assert state_dir.is_dir()  # A's saved epochs, left for whoever takes the trial over
    processes.go.touch()

    assert processes.finish("tuner1", timeout=120) == 0, processes.output("tuner1")
    assert processes.finish("chief", timeout=60) == 0, processes.output("chief")
    # The chief gave trial 0 away when A's lease expired (a remote worker's process is not
    # watched).
    assert "The worker running trial 0 (tuner tuner0" in processes.output("chief")

    entries = [e for e in processes.entries() if "paused" not in e]
    before = [e for e in entries if e["trial"] == "0" and e["pid"] == worker_a.pid]
    after = [e for e in entries if e["trial"] == "0" and e["pid"] == worker_b.pid]
    assert {e["pid"] for e in entries} == {worker_a.pid, worker_b.pid}
    epochs_before, epochs_after = [e["epoch"] for e in before], [e["epoch"] for e in after]
    assert epochs_before == list(range(PAUSE_EPOCH)), entries
    assert epochs_after, f"B never trained trial 0: {entries}"
    # B goes on from the epoch after A's last saved one (at worst it trains one again).
    assert epochs_after == list(range(epochs_after[0], node.EPOCHS)), entries
    assert epochs_after[0] in (epochs_before[-1], epochs_before[-1] + 1), entries
    together = epochs_before + epochs_after
    assert sorted(set(together)) == list(range(node.EPOCHS))
    assert len(together) - len(set(together)) <= 1
    # With the optimizer's state: its step count, and the momentum that makes the losses
    # those of an uninterrupted run.
    first = after[0]
    assert first["iterations"] == (first["epoch"] + 1) * node.STEPS, entries
    assert [e["iterations"] for e in after] == [
        (e["epoch"] + 1) * node.STEPS for e in after], entries

    trials = saved_trials(processes.directory)
    assert sorted(trials) == [str(i) for i in range(node.MAX_TRIALS)]
    assert {t.status for t in trials.values()} == {TrialStatus.COMPLETED}, {
        i: t.status for i, t in trials.items()}
    assert trials["0"].attempts == 1 and trials["0"].crashes == 1  # a loss, not a retry
    # Each other trial ran once, whole, in B.
    for trial_id in trials.keys() - {"0"}:
        assert [(e["pid"], e["epoch"]) for e in entries if e["trial"] == trial_id] == [
            (worker_b.pid, epoch) for epoch in range(node.EPOCHS)]
    assert not state_dir.exists()  # the trial ended: its saved state is gone

    curve = reference_losses(trials["0"].hyperparameters)
    for entry in before + after:
        assert math.isclose(entry["loss"], curve[entry["epoch"]], rel_tol=1e-4), (entry, curve)
    assert first["loss"] < curve[0] / 5


def test_a_worker_taken_for_dead_stops_training_and_saves_nothing(processes):
    """A worker stopped (not killed) long enough to be taken for dead, then continued, must
    not overwrite what the worker that took its trial over saved."""
    processes.start("chief")
    worker_a = processes.start("tuner0", pause=f"0:{PAUSE_EPOCH}", pause_seconds=2)
    processes.start("tuner1", wait_for=str(processes.go))
    wait_until(lambda: any("paused" in e for e in processes.entries()), "the pause", 240,
               processes, "chief", "tuner0")
    os.kill(worker_a.pid, signal.SIGSTOP)
    processes.go.touch()
    assert processes.finish("tuner1", 240) == 0, processes.output("tuner1")
    checkpoint = processes.directory / PROJECT / "trial_0" / "checkpoint.keras"
    saved = checkpoint.read_bytes()
    os.kill(worker_a.pid, signal.SIGCONT)
    assert processes.finish("tuner0", 120) == 0, processes.output("tuner0")
    assert processes.finish("chief", 60) == 0, processes.output("chief")

    assert checkpoint.read_bytes() == saved  # B's model, as the chief recorded it
    assert not (checkpoint.parent / training_state.STATE_DIR).exists()
    a_pid = worker_a.pid
    a_epochs = [e["epoch"] for e in processes.entries()
                if e.get("pid") == a_pid and e.get("trial") == "0"]
    # A went on at most to the end of the epoch it was in, and one more before it heard.
    assert max(a_epochs) <= PAUSE_EPOCH + 1
    assert "taken for dead" in processes.output("tuner0")
    trials = saved_trials(processes.directory)
    assert all(t.status == TrialStatus.COMPLETED for t in trials.values())

"""Starting a chief and workers of a distributed search as real processes (see `_node.py`)."""

from __future__ import annotations

import collections
import json
import os
import pathlib
import socket
import subprocess
import sys
import time

from worker_log import wait_for_first_start

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
NODE = HERE / "_node.py"
_VARIABLES = ("KERASTUNER_", "E2ETUNE_")


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((host, 0))
        return sock.getsockname()[1]


class Cluster:
    """The processes of one search: `chief()` and `worker()` start them.

    Each process gets the config (`_node.py`) and the environment of its role;
    `extra` environment variables reach every process.
    """

    def __init__(self, tmp_path: pathlib.Path, host: str = "127.0.0.1", **config) -> None:
        self.tmp_path = tmp_path
        self.host = host
        self.port = free_port()
        self.config = {"project": "shared", "algorithm": "random", "max_trials": 10,
                       "sleep": 0.05, "log": str(tmp_path / "runs.log"),
                       "lease_grace": 3.0, "heartbeat_interval": 0.3, **config}
        self.extra: dict[str, str] = {"E2ETUNE_CHIEF_WAIT": "60"}
        self.processes: list[subprocess.Popen] = []
        self._workers = 0

    def env(self, tuner_id: str, **extra: str) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith(_VARIABLES)}
        env.update(PYTHONPATH=str(ROOT), KERASTUNER_TUNER_ID=tuner_id,
                   KERASTUNER_ORACLE_IP=self.host, KERASTUNER_ORACLE_PORT=str(self.port))
        env.update({**self.extra, **extra})
        return env

    def start(self, tuner_id: str, prefix: tuple[str, ...] = (), config: dict | None = None,
              **extra: str) -> subprocess.Popen:
        directory = self.tmp_path / tuner_id
        config = {"directory": str(directory), **self.config, **(config or {})}
        process = subprocess.Popen([*prefix, sys.executable, str(NODE), json.dumps(config)],
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env=self.env(tuner_id, **extra))
        self.processes.append(process)
        return process

    def chief(self, **kwargs) -> subprocess.Popen:
        return self.start("chief", **kwargs)

    def worker(self, **kwargs) -> subprocess.Popen:
        self._workers += 1
        return self.start(f"tuner{self._workers - 1}", **kwargs)

    def runs(self) -> dict[str, collections.Counter]:
        """How many times each trial was started and ended."""
        events: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
        log = pathlib.Path(self.config["log"])
        for line in (log.read_text().splitlines() if log.exists() else []):
            event, trial_id, _ = line.split()
            events[trial_id][event] += 1
        return events

    def wait_for_start(self, timeout: float = 60) -> tuple[str, int]:
        """The first trial a worker started, and that worker's process id."""
        return wait_for_first_start(self.config["log"], timeout)

    def saved_trials(self) -> dict:
        """The chief's saved trials, read from its storage."""
        sys.path.insert(0, str(HERE))
        try:
            import _node
        finally:
            sys.path.remove(str(HERE))
        oracle = _node.make_oracle(self.config)
        oracle._set_project_dir(str(self.tmp_path / "chief"), self.config["project"])
        trials = dict(oracle.trials)
        oracle.close()
        return trials

    def stop_all(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                process.kill()
            process.communicate()


def finish(process: subprocess.Popen, timeout: float = 90) -> tuple[str, str]:
    """Waits for a process to end; returns its standard output and error."""
    try:
        return process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        out, err = process.communicate()
        raise AssertionError(f"still running after {timeout} s:\n{err}") from None


def wait_for_text(process: subprocess.Popen, text: str, timeout: float = 60) -> str:
    """Reads the process's standard error until a line holds `text`; returns what was read."""
    deadline, seen = time.monotonic() + timeout, []
    while time.monotonic() < deadline:
        line = process.stderr.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if text in line:
            return "".join(seen)
    raise AssertionError(f"{text!r} never came; the process wrote:\n{''.join(seen)}")

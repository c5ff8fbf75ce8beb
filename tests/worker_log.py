"""The log that test workers write as they start trials ("start <trial id> <pid>" lines)."""

from __future__ import annotations

import pathlib
import time


def wait_for_first_start(log: str | pathlib.Path, timeout: float = 60) -> tuple[str, int]:
    """The first trial a worker started, and that worker's process id."""
    log = pathlib.Path(log)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if log.exists() and log.read_text():
            _, trial_id, pid = log.read_text().splitlines()[0].split()
            return trial_id, int(pid)
        time.sleep(0.02)
    raise AssertionError("no worker started a trial")

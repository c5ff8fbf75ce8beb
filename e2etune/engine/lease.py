"""Leases: how a worker keeps its running trials, and how others know it is gone.

Each oracle instance is a *worker* with a record in the storage (see
`WorkerRecord`). While its process lives, a `Heartbeat` renews the
record's lease; the trials it runs are its own as long as the lease
holds. A worker is gone when its lease expired (its host died, its network
was cut, it hung), or at once when it ran on this host and its process no
longer exists: a search restarted after a crash never waits out its own
leases.
"""

from __future__ import annotations

import functools
import logging
import os
import socket
import threading
import weakref
from typing import Callable

from e2etune.storage import WorkerRecord

_LOG = logging.getLogger("e2etune")


@functools.lru_cache(maxsize=1)
def this_host() -> str:
    """This host's name, boot id and process-id namespace.

    Equal exactly for the processes that see each other's process ids: two
    containers of one machine may share a name and a boot id, never a
    process-id namespace.
    """
    try:
        with open("/proc/sys/kernel/random/boot_id") as file:
            boot = file.read().strip()[:8]
    except OSError:
        boot = "?"
    try:
        namespace = os.readlink("/proc/self/ns/pid").partition("[")[2].rstrip("]")
    except OSError:
        namespace = "?"
    return f"{socket.gethostname()}/{boot}/{namespace}"


def process_start(pid: int) -> int:
    """When process `pid` started, in clock ticks since boot (0 when unknown).

    A process id can be reused once its process ended; its start time tells
    the new process from the old one.
    """
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read()
    except OSError:
        return 0
    # The second field, the command, is in parentheses and may hold spaces.
    fields = stat[stat.rfind(b")") + 2:].split()
    try:
        return int(fields[19])
    except (IndexError, ValueError):
        return 0


def _process_exists(pid: int) -> bool:
    """Whether process `pid` runs (a zombie, dead but not yet reaped by its parent, does not)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as file:
            stat = file.read()
    except FileNotFoundError:
        return False
    except OSError:
        stat = b""
    if stat:
        return stat[stat.rfind(b")") + 2:][:1] not in (b"Z", b"X")
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def new_worker(token: str, expires: float) -> WorkerRecord:
    """A record of worker `token` in this process, its lease ending at `expires`."""
    pid = os.getpid()
    return WorkerRecord(token, this_host(), pid, process_start(pid), expires)


def is_gone(worker: WorkerRecord | None, now: float) -> bool:
    """Whether `worker` can no longer run trials: its lease expired or its process is dead."""
    if worker is None or worker.expires < now:
        return True
    if worker.host != this_host():
        return False
    if not _process_exists(worker.pid):
        return True
    return bool(worker.started) and process_start(worker.pid) not in (0, worker.started)


def same_process(worker: WorkerRecord) -> bool:
    """Whether `worker` lives in this process."""
    return worker.host == this_host() and worker.pid == os.getpid()


class Heartbeat:
    """A daemon thread that calls `renew()` every `interval` seconds until stopped.

    A failed renewal is logged (once until one succeeds again) and retried
    at the next beat: the trial goes on meanwhile, and keeps its lease if
    the storage answers again before the lease ends.
    """

    def __init__(self, renew: Callable[[], None], interval: float, name: str) -> None:
        # A weak reference: the beats must not keep the oracle (and its connection) alive.
        self._renew = weakref.WeakMethod(renew) if hasattr(renew, "__self__") else lambda: renew
        self._interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        failing = False
        while not self._stop.wait(self._interval):
            renew = self._renew()
            if renew is None:  # the oracle is gone
                return
            try:
                renew()
            except Exception as error:
                if not failing:
                    _LOG.warning("Could not renew the lease of this worker (%s); retrying.", error)
                failing = True
            else:
                failing = False

    def stop(self) -> None:
        """Stops the beats (and waits for one in progress)."""
        self._stop.set()
        if self._thread is not threading.current_thread():
            self._thread.join()

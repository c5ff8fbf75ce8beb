"""`BaseStorage`: where a search's state lives, shared by every process that runs it.

A storage holds any number of searches ("projects"), each kept apart by its
name. A project is:

- its trials: one row each, in creation order, saved as protobuf bytes with
  the few fields every process must query (status, the worker that holds
  the trial) beside them;
- its search spaces: each distinct space once, so a trial row refers to its
  space by key and a commit costs the same however large the space;
- the oracle state (one row: seeds, queues, the algorithm's own state);
- its workers: one row per live oracle instance, holding the lease that
  keeps its running trials its own.

Every change is made in a `StorageTransaction`, which holds the project's
lock from start to end: whatever a process reads in it is the latest state,
and whatever it writes is committed atomically with it or not at all. Each
committed transaction that wrote something gives the project a new
*revision*; the rows it wrote carry that revision, so a process reads what
others wrote since its last read, never everything.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses

from e2etune.errors import SearchStateError

#: What every message about an unusable saved search ends with.
OVERWRITE_HINT = "Pass `overwrite=True` to start a fresh search in this project."


class UnusableStorageError(SearchStateError):
    """The storage holds no usable search state: damaged, another program's, or another version.

    Unlike a passing error (a lock held too long, a server down), this one
    stays until the data is replaced: `overwrite=True` replaces a project
    folder's own file.
    """


@dataclasses.dataclass
class TrialRecord:
    """One trial as the storage saves it.

    Attributes:
        trial_id: The trial's id, unique in its project.
        number: Its position in creation order (0 for the first trial).
        space_id: The key of its search space (see `StorageTransaction.space_id`).
        status: Its status, as the protobuf `TrialStatus` enum value.
        worker: The token of the worker holding its lease while it runs, else None.
        data: The `Trial` message without its space, serialized.
    """

    trial_id: str
    number: int
    space_id: int
    status: int
    worker: str | None
    data: bytes


@dataclasses.dataclass
class StateRecord:
    """The oracle state of a project: its space's key and the `OracleState` message (no space)."""

    space_id: int
    data: bytes


@dataclasses.dataclass(frozen=True)
class WorkerRecord:
    """A live oracle instance and the lease it holds on its running trials.

    Attributes:
        token: A random id of the oracle instance, unique across hosts.
        host: The host the worker runs on (name and boot id).
        pid: Its process id on that host.
        started: When its process started, in the host's clock ticks (0 when unknown),
            so that a reused process id is not mistaken for the worker.
        expires: When the lease ends unless renewed, in the storage's clock (seconds).
    """

    token: str
    host: str
    pid: int
    started: int
    expires: float


@dataclasses.dataclass
class Changes:
    """What changed in a project since a revision.

    Attributes:
        revision: The project's revision now.
        trials: The trials written after the revision asked for, in creation order.
        state: The oracle state, if it was written after that revision (else None).
        cleared: Whether the project was cleared after that revision: the
            reader must forget what it knew.
    """

    revision: int
    trials: list[TrialRecord]
    state: StateRecord | None
    cleared: bool = False


class StorageTransaction(abc.ABC):
    """A transaction on one project, holding its lock (see `BaseStorage.transaction`).

    Writes take effect when the transaction ends without an error; they are
    all discarded otherwise.
    """

    @property
    @abc.abstractmethod
    def revision(self) -> int:
        """The project's revision when the transaction began."""

    @property
    @abc.abstractmethod
    def next_revision(self) -> int:
        """The project's revision once this transaction commits (higher if it wrote anything)."""

    @abc.abstractmethod
    def changes(self, since: int) -> Changes:
        """The trials and state written after revision `since` (0: everything)."""

    @abc.abstractmethod
    def space(self, space_id: int) -> bytes:
        """The search space stored under `space_id`.

        Raises:
            KeyError: if there is none.
        """

    @abc.abstractmethod
    def space_id(self, data: bytes) -> int:
        """The key of the search space `data`, storing it if it is new."""

    @abc.abstractmethod
    def put_trial(self, record: TrialRecord) -> None:
        """Inserts the trial, or replaces the saved trial of the same id."""

    @abc.abstractmethod
    def put_state(self, record: StateRecord) -> None:
        """Replaces the oracle state."""

    @abc.abstractmethod
    def workers(self) -> dict[str, WorkerRecord]:
        """The project's registered workers, by token."""

    @abc.abstractmethod
    def put_worker(self, worker: WorkerRecord) -> None:
        """Registers a worker, or replaces its record."""

    @abc.abstractmethod
    def remove_worker(self, token: str) -> None:
        """Unregisters a worker (nothing happens if it is not registered)."""

    @abc.abstractmethod
    def now(self) -> float:
        """The storage's clock, in seconds: every worker's leases are measured on it."""

    @abc.abstractmethod
    def clear(self) -> None:
        """Deletes the project's trials, spaces, state and workers (`overwrite=True`)."""


class BaseStorage(abc.ABC):
    """Where searches are saved; subclasses implement one database.

    Guarantees every backend gives:
    - `transaction(project)` serializes the transactions on one project
      across threads, processes and (for a server database) hosts;
    - a transaction is atomic and durable once it returns: a crash or
      `kill -9` of any process at any moment loses no committed write and
      leaves no partial one;
    - the cost of a transaction does not grow with the number of trials.

    Attributes:
        url: Where the storage is, as a URL without any password, safe to
            print.
    """

    url: str

    @abc.abstractmethod
    def transaction(self, project: str) -> contextlib.AbstractContextManager[StorageTransaction]:
        """A transaction holding the lock of `project` (created if new) until it ends."""

    @abc.abstractmethod
    def read(self, project: str, since: int = 0) -> Changes:
        """What changed in `project` after revision `since` (0: all of it), without its lock.

        One consistent snapshot, for readers (reports, a refresh of the
        trials); it never blocks a transaction.
        """

    @abc.abstractmethod
    def spaces(self, project: str) -> dict[int, bytes]:
        """Every search space of the project, by key (for readers)."""

    @abc.abstractmethod
    def renew_lease(self, project: str, worker: WorkerRecord, duration: float) -> None:
        """Extends `worker`'s lease to `duration` seconds from now (registering it if it is not)."""

    @abc.abstractmethod
    def projects(self) -> list[str]:
        """The names of the projects saved here."""

    @abc.abstractmethod
    def close(self) -> None:
        """Releases the connection; the storage cannot be used afterwards."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.url!r})"


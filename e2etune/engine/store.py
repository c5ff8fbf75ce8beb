"""The store: the durable state of one search, as protobuf messages in SQLite.

`<project_dir>/search.db` holds the oracle state (one row), the trials (one
row each, in creation order) and the search spaces they refer to: each
distinct space is stored once, so a trial row holds only the trial's
values, metrics and status, and a commit costs the same however large the
space or long the search.

Guarantees:
- Each `commit` is one SQLite transaction in WAL mode: a crash or `kill -9`
  at any instant leaves the last committed state intact, and the cost of a
  commit does not grow with the number of trials. (With `synchronous=NORMAL`,
  a commit survives the process as soon as it returns; a power loss or an
  OS crash may undo the last few commits but never corrupts the state.)
- One writer per project: the writer holds an `flock` on `search.lock`, so a
  second process gets `ConcurrentWriterError`; readers (`writer=False`)
  never block the writer. Within one process, a new writer of the same
  project takes over from the previous one, whose next commit is refused.
- The database file appears only once it is complete (it is built under a
  temporary name and renamed), so an existing file that is empty, garbage or
  of another version is reported, never replaced.
"""

from __future__ import annotations

import dataclasses
import fcntl
import os
import pathlib
import shutil
import sqlite3
import threading
import weakref
from typing import Iterable

from e2etune.errors import SearchStateError
from e2etune.protos import e2etune_pb2, parse

#: Version of the layout of the database; another version is refused.
FORMAT_VERSION = 1
DATABASE_NAME = "search.db"
LOCK_NAME = "search.lock"
#: State files of other tools (KerasTuner) that this store cannot resume.
_FOREIGN_STATE_FILES = ("oracle.json",)

_SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE spaces (id INTEGER PRIMARY KEY, data BLOB NOT NULL);
CREATE TABLE trials (
    number INTEGER PRIMARY KEY,
    trial_id TEXT NOT NULL UNIQUE,
    space_id INTEGER NOT NULL,
    data BLOB NOT NULL
);
CREATE TABLE oracle (
    id INTEGER PRIMARY KEY CHECK (id = 0),
    space_id INTEGER NOT NULL,
    data BLOB NOT NULL
);
"""
_TABLES = {"meta", "spaces", "trials", "oracle"}
_OVERWRITE_HINT = "Pass `overwrite=True` to start a fresh search in this project."

#: The live writer of each project in this process, by real path.
_WRITERS: dict[str, "weakref.ref[Store]"] = {}
_WRITERS_LOCK = threading.Lock()


class ConcurrentWriterError(SearchStateError):
    """Another process is already writing this search."""


def serialize_space(space: Iterable[e2etune_pb2.HyperParameter]) -> bytes:
    """The stored form of a search space: a `HyperParameters` message with no values."""
    return e2etune_pb2.HyperParameters(space=space).SerializeToString(deterministic=True)


@dataclasses.dataclass
class Split:
    """A `Trial` or `OracleState` with its search space apart, as the store saves it.

    Attributes:
        message: The message; its `HyperParameters` field (`Trial.hyperparameters`,
            `OracleState.space`) keeps its values but has an empty `space`.
        space: The space, as `serialize_space` gives it.
    """

    message: e2etune_pb2.Trial | e2etune_pb2.OracleState
    space: bytes

    @classmethod
    def of(cls, message: e2etune_pb2.Trial | e2etune_pb2.OracleState) -> "Split":
        """Splits a complete message (which is left unchanged)."""
        copy = type(message)()
        copy.CopyFrom(message)
        hyperparameters = _hyperparameters_field(copy)
        space = serialize_space(hyperparameters.space)
        hyperparameters.ClearField("space")
        return cls(copy, space)


def _hyperparameters_field(message: e2etune_pb2.Trial | e2etune_pb2.OracleState):
    if isinstance(message, e2etune_pb2.OracleState):
        return message.space
    return message.hyperparameters


@dataclasses.dataclass
class SavedSearch:
    """A saved search as `Store.read` returns it.

    Attributes:
        state: The oracle state, or None for a new search; its `space` is
            empty: the space is `spaces[state_space_id]`.
        state_space_id: The key of the oracle's space in `spaces`.
        trials: The trials in creation order; their `hyperparameters.space`
            is empty: the space of `trials[i]` is `spaces[space_ids[i]]`.
        space_ids: For each trial, the key of its space in `spaces`.
        spaces: The distinct search spaces (`HyperParameters` messages
            without values) by key.
    """

    state: e2etune_pb2.OracleState | None
    state_space_id: int | None
    trials: list[e2etune_pb2.Trial]
    space_ids: list[int]
    spaces: dict[int, e2etune_pb2.HyperParameters]

    def complete(self) -> tuple[e2etune_pb2.OracleState | None, list[e2etune_pb2.Trial]]:
        """The state and trials with their spaces filled in (complete messages)."""
        if self.state is not None:
            self.state.space.space.extend(self.spaces[self.state_space_id].space)
        for trial, space_id in zip(self.trials, self.space_ids):
            trial.hyperparameters.space.extend(self.spaces[space_id].space)
        return self.state, self.trials


class Store:
    """The durable state of one search in `<project_dir>/search.db`.

    Args:
        project_dir: The project folder (created if missing).
        overwrite: Whether to delete the saved search (the database and the
            `trial_*` folders) and start afresh.
        writer: Whether this process writes the search. Only one writer per
            project at a time; a second process gets `ConcurrentWriterError`.

    Raises:
        SearchStateError: when the saved state is damaged, was written by an
            incompatible version, or belongs to another tool.
    """

    def __init__(self, project_dir: str | os.PathLike, overwrite: bool = False,
                 writer: bool = True) -> None:
        self.project_dir = pathlib.Path(project_dir)
        self.path = self.project_dir / DATABASE_NAME
        self.writer = writer
        self._mutex = threading.Lock()
        self._lock_file = None
        self._connection: sqlite3.Connection | None = None
        self._closed_because: str | None = None
        self._space_ids: dict[bytes, int] = {}
        if not writer:
            if self.path.exists():
                self._connection = self._open()
            return
        self.project_dir.mkdir(parents=True, exist_ok=True)
        self._lock_file = self._acquire_lock()
        try:
            if overwrite:
                self._delete_saved_search()
            if not self.path.exists():
                if not overwrite:
                    self._check_no_foreign_state()
                self._create()
            self._connection = self._open()
            self._space_ids = {
                data: key for key, data in self._query("SELECT id, data FROM spaces")}
        except BaseException:
            self.close()
            raise

    # Opening.

    def _acquire_lock(self):
        key = os.path.realpath(self.project_dir)
        with _WRITERS_LOCK:
            previous = _WRITERS.get(key)
            previous = previous() if previous is not None else None
            if previous is not None:
                previous._close(
                    f"another tuner or oracle in this process opened {self.project_dir} "
                    "after it, and only the last one may write the search"
                )
            lock_file = open(self.project_dir / LOCK_NAME, "a+")
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError as error:
                if not isinstance(error, BlockingIOError):
                    lock_file.close()
                    raise SearchStateError(
                        f"Cannot lock {self.project_dir / LOCK_NAME} ({error}): the file system "
                        "does not support file locks. Put `directory` on a local disk."
                    ) from None
                lock_file.seek(0)
                owner = lock_file.read().strip() or "unknown"
                lock_file.close()
                raise ConcurrentWriterError(
                    f"Another process (pid {owner}) is running the search in {self.project_dir}; "
                    "two processes cannot write one search. Wait for it to finish, use another "
                    "`project_name`, or run several workers through distributed tuning "
                    "(KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP, KERASTUNER_ORACLE_PORT)."
                ) from None
            lock_file.seek(0)
            lock_file.truncate()
            lock_file.write(str(os.getpid()))
            lock_file.flush()
            _WRITERS[key] = weakref.ref(self)
        return lock_file

    def _delete_saved_search(self) -> None:
        for suffix in ("", "-wal", "-shm", ".new", ".new-journal", ".new-wal", ".new-shm"):
            pathlib.Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        for trial_dir in self.project_dir.glob("trial_*"):
            if trial_dir.is_dir():
                shutil.rmtree(trial_dir)

    def _check_no_foreign_state(self) -> None:
        log = pathlib.Path(f"{self.path}-wal")
        if log.exists() and log.stat().st_size > 0:
            raise SearchStateError(
                f"{self.path} is missing but its write-ahead log {log.name} is there: the "
                f"search state is damaged. {_OVERWRITE_HINT}"
            )
        foreign = [name for name in _FOREIGN_STATE_FILES if (self.project_dir / name).exists()]
        if foreign:
            raise SearchStateError(
                f"{self.project_dir} holds a search saved by KerasTuner or an incompatible "
                f"version ({', '.join(foreign)}), which e2etune cannot resume. "
                f"{_OVERWRITE_HINT} Or choose another `project_name`."
            )
        if any(p.is_dir() for p in self.project_dir.glob("trial_*")):
            raise SearchStateError(
                f"{self.project_dir} has trial folders but no search state ({DATABASE_NAME} is "
                f"missing, so the search cannot be resumed). {_OVERWRITE_HINT}"
            )

    def _create(self) -> None:
        """Builds an empty database under a temporary name, then renames it into place."""
        temporary = pathlib.Path(f"{self.path}.new")
        for suffix in ("", "-journal", "-wal", "-shm"):
            pathlib.Path(f"{temporary}{suffix}").unlink(missing_ok=True)
        connection = sqlite3.connect(temporary, isolation_level=None)
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.executescript(
                "BEGIN;" + _SCHEMA
                + f"INSERT INTO meta VALUES ('format_version', '{FORMAT_VERSION}'); COMMIT;"
            )
        finally:
            connection.close()
        with open(temporary, "rb+") as file:
            os.fsync(file.fileno())
        os.replace(temporary, self.path)
        directory = os.open(self.project_dir, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)

    def _open(self) -> sqlite3.Connection:
        if self.path.stat().st_size == 0:
            raise self._damaged("the file is empty")
        try:
            connection = sqlite3.connect(
                self.path, isolation_level=None, timeout=30.0, check_same_thread=False
            )
        except sqlite3.Error as error:
            raise self._damaged(error) from None
        try:
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            self._check_layout(connection)
        except sqlite3.DatabaseError as error:
            connection.close()
            raise self._damaged(error) from None
        except BaseException:
            connection.close()
            raise
        return connection

    def _check_layout(self, connection: sqlite3.Connection) -> None:
        tables = {row[0] for row in connection.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table'")}
        row = None
        if "meta" in tables:
            row = connection.execute(
                "SELECT value FROM meta WHERE key = 'format_version'").fetchone()
        if row is None:
            raise SearchStateError(
                f"{self.path} is not an e2etune search state (it has no format version): it "
                f"is damaged or was written by another program. {_OVERWRITE_HINT}"
            )
        try:
            version = int(row[0])
        except ValueError:
            raise self._damaged(f"format version {row[0]!r}") from None
        if version != FORMAT_VERSION:
            age = "a newer" if version > FORMAT_VERSION else "an older"
            upgrade = " Upgrade e2etune, or pass" if version > FORMAT_VERSION else " Pass"
            raise SearchStateError(
                f"The search state in {self.path} was written by {age} e2etune (format "
                f"{version}); this version reads format {FORMAT_VERSION} only.{upgrade} "
                "`overwrite=True` to start a fresh search in this project."
            )
        if not _TABLES <= tables:
            raise self._damaged(f"tables {sorted(_TABLES - tables)} are missing")

    def _damaged(self, error: object) -> SearchStateError:
        return SearchStateError(
            f"The search state in {self.path} is damaged and cannot be read ({error}). "
            f"{_OVERWRITE_HINT}"
        )

    # Reading.

    def _query(self, sql: str) -> list[tuple]:
        try:
            return self._connection.execute(sql).fetchall()
        except sqlite3.DatabaseError as error:
            raise self._damaged(error) from None

    def read(self) -> SavedSearch:
        """Returns the saved search, spaces apart (see `SavedSearch`)."""
        with self._mutex:
            if self._connection is None:
                self._check_open()
                return SavedSearch(None, None, [], [], {})
            try:
                self._connection.execute("BEGIN")
                try:
                    state_rows = self._query("SELECT space_id, data FROM oracle WHERE id = 0")
                    space_rows = self._query("SELECT id, data FROM spaces")
                    rows = self._query(
                        "SELECT trial_id, space_id, data FROM trials ORDER BY number")
                finally:
                    self._connection.execute("COMMIT")
            except sqlite3.DatabaseError as error:
                raise self._damaged(error) from None
        spaces = {key: self._parse(e2etune_pb2.HyperParameters, data, f"search space {key!r}")
                  for key, data in space_rows}
        state, state_space_id = None, None
        if state_rows:
            state_space_id, data = state_rows[0]
            state = self._parse(e2etune_pb2.OracleState, data, "oracle state")
        elif rows:
            raise self._damaged("trials were saved without the oracle state")
        trials, space_ids = [], []
        for trial_id, space_id, data in rows:
            trials.append(self._parse(e2etune_pb2.Trial, data, f"trial {trial_id!r}"))
            space_ids.append(space_id)
        missing = {k for k in [state_space_id, *space_ids] if k is not None} - spaces.keys()
        if missing or (state_rows and state_space_id is None):
            raise self._damaged(f"search spaces {sorted(missing, key=repr)} are missing")
        return SavedSearch(state, state_space_id, trials, space_ids, spaces)

    def _parse(self, message_type: type, data: object, what: str):
        if not isinstance(data, bytes):
            raise self._damaged(f"the saved {what} is missing")
        return parse(message_type, data, what)

    def load(self) -> tuple[e2etune_pb2.OracleState | None, list[e2etune_pb2.Trial]]:
        """The oracle state (None for a new search) and the complete trials in creation order."""
        return self.read().complete()

    # Writing.

    def commit(self, trials: Iterable[e2etune_pb2.Trial | Split] = (),
               oracle_state: e2etune_pb2.OracleState | Split | None = None) -> None:
        """Writes trials (new or updated, by `trial_id`) and the oracle state in one transaction.

        Messages may be complete or already `Split` (which saves a copy).
        """
        with self._mutex:
            self._check_open()
            if self._lock_file is None:
                raise SearchStateError("This store was opened read-only; it cannot commit.")
            new_spaces: list[tuple[int, bytes]] = []
            rows = []
            for trial in trials:
                split = trial if isinstance(trial, Split) else Split.of(trial)
                rows.append((split.message.trial_id, self._space_id(split.space, new_spaces),
                             split.message.SerializeToString()))
            state_row = None
            if oracle_state is not None:
                split = oracle_state if isinstance(oracle_state, Split) else Split.of(oracle_state)
                state_row = (self._space_id(split.space, new_spaces),
                             split.message.SerializeToString())
            try:
                self._write(rows, state_row, new_spaces)
            except BaseException as error:
                for _, key in new_spaces:
                    self._space_ids.pop(key, None)
                if isinstance(error, sqlite3.OperationalError):
                    raise SearchStateError(
                        f"Could not save the search state in {self.path} ({error})."
                    ) from None
                if isinstance(error, sqlite3.DatabaseError):
                    raise self._damaged(error) from None
                raise

    def _write(self, rows: list[tuple], state_row: tuple | None,
               new_spaces: list[tuple[int, bytes]]) -> None:
        connection = self._connection
        connection.execute("BEGIN IMMEDIATE")
        try:
            if new_spaces:
                connection.executemany("INSERT INTO spaces VALUES (?, ?)", new_spaces)
            for row in rows:
                connection.execute(
                    "INSERT INTO trials (trial_id, space_id, data) VALUES (?, ?, ?) "
                    "ON CONFLICT(trial_id) DO UPDATE SET "
                    "space_id = excluded.space_id, data = excluded.data",
                    row,
                )
            if state_row is not None:
                connection.execute("INSERT OR REPLACE INTO oracle VALUES (0, ?, ?)", state_row)
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        connection.execute("COMMIT")

    def _space_id(self, space: bytes, new_spaces: list[tuple[int, bytes]]) -> int:
        """The key of a stored space, adding it to `new_spaces` if it is not stored yet."""
        space_id = self._space_ids.get(space)
        if space_id is None:
            space_id = max(self._space_ids.values(), default=-1) + 1
            self._space_ids[space] = space_id
            new_spaces.append((space_id, space))
        return space_id

    # Closing.

    def _check_open(self) -> None:
        if self._closed_because is not None:
            raise SearchStateError(
                f"The search in {self.project_dir} can no longer be written from here: "
                f"{self._closed_because}."
            )

    def _close(self, reason: str) -> None:
        with self._mutex:
            self._closed_because = reason
            if self._connection is not None:
                self._connection.close()
                self._connection = None
            if self._lock_file is not None:
                self._lock_file.close()
                self._lock_file = None

    def close(self) -> None:
        """Closes the database and releases the writer's lock."""
        if self._closed_because is None:
            self._close("the store was closed")
        with _WRITERS_LOCK:
            key = os.path.realpath(self.project_dir)
            ref = _WRITERS.get(key)
            if ref is not None and ref() is self:
                del _WRITERS[key]

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def exists(project_dir: str | os.PathLike) -> bool:
    """Whether `project_dir` holds a saved search."""
    return (pathlib.Path(project_dir) / DATABASE_NAME).exists()

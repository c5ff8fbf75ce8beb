"""The store: the durable state of one search, as protobuf messages in SQLite.

Each trial event is one transaction, so a crash or `kill -9` at any instant
leaves the last committed state intact; the cost of a commit does not grow
with the number of trials; and several processes on one host can open the
same project (one writer holds a lock, readers never block it).
"""

from __future__ import annotations

import fcntl
import os
import pathlib
import sqlite3
from typing import Iterable

from e2etune.errors import SearchStateError
from e2etune.protos import e2etune_pb2, parse

#: Version of the layout of the database; a newer one is refused.
FORMAT_VERSION = 1
DATABASE_NAME = "search.db"
LOCK_NAME = "search.lock"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS trials (
    number INTEGER PRIMARY KEY AUTOINCREMENT,
    trial_id TEXT NOT NULL UNIQUE,
    data BLOB NOT NULL
);
CREATE TABLE IF NOT EXISTS oracle (id INTEGER PRIMARY KEY CHECK (id = 0), data BLOB NOT NULL);
"""


class ConcurrentWriterError(SearchStateError):
    """Another process is already writing this search."""


class Store:
    """The durable state of one search in `<project_dir>/search.db`.

    Args:
        project_dir: The project folder (created if missing).
        overwrite: Whether to delete any saved search and start afresh.
        writer: Whether this process writes the search. Only one writer per
            project at a time; a second one gets `ConcurrentWriterError`.
    """

    def __init__(self, project_dir: str | os.PathLike, overwrite: bool = False,
                 writer: bool = True) -> None:
        self.project_dir = pathlib.Path(project_dir)
        self.project_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.project_dir / DATABASE_NAME
        self._lock_file = self._acquire_lock() if writer else None
        if overwrite:
            for suffix in ("", "-wal", "-shm"):
                pathlib.Path(f"{self.path}{suffix}").unlink(missing_ok=True)
        self._connection = self._connect()

    def _acquire_lock(self):
        lock_file = open(self.project_dir / LOCK_NAME, "a+")
        try:
            fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock_file.seek(0)
            owner = lock_file.read().strip() or "unknown"
            lock_file.close()
            raise ConcurrentWriterError(
                f"Another process (pid {owner}) is running the search in {self.project_dir}. "
                "Wait for it to finish, use another `project_name`, or run several workers "
                "through distributed tuning (KERASTUNER_TUNER_ID, KERASTUNER_ORACLE_IP, "
                "KERASTUNER_ORACLE_PORT)."
            ) from None
        lock_file.seek(0)
        lock_file.truncate()
        lock_file.write(str(os.getpid()))
        lock_file.flush()
        return lock_file

    def _connect(self) -> sqlite3.Connection:
        existed = self.path.exists() and self.path.stat().st_size > 0
        try:
            connection = sqlite3.connect(self.path, isolation_level=None, timeout=30.0)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA synchronous=NORMAL")
            if not existed:
                with connection:
                    connection.executescript(_SCHEMA)
                    connection.execute(
                        "INSERT OR REPLACE INTO meta VALUES ('format_version', ?)",
                        (str(FORMAT_VERSION),),
                    )
            self._check_version(connection)
        except sqlite3.DatabaseError as error:
            raise self._damaged(error) from None
        return connection

    def _check_version(self, connection: sqlite3.Connection) -> None:
        row = connection.execute("SELECT value FROM meta WHERE key = 'format_version'").fetchone()
        if row is None:
            raise SearchStateError(
                f"The search state in {self.path} has no format version; it was not written "
                "by e2etune or is damaged. Pass `overwrite=True` to start a fresh search."
            )
        if int(row[0]) > FORMAT_VERSION:
            raise SearchStateError(
                f"The search state in {self.path} was written by a newer e2etune (format "
                f"{row[0]}, this version reads up to {FORMAT_VERSION}). Upgrade e2etune, or "
                "pass `overwrite=True` to start a fresh search."
            )

    def _damaged(self, error: Exception) -> SearchStateError:
        return SearchStateError(
            f"The search state in {self.path} is damaged and cannot be read ({error}). "
            "Pass `overwrite=True` to start a fresh search in this project."
        )

    def load(self) -> tuple[e2etune_pb2.OracleState | None, list[e2etune_pb2.Trial]]:
        """Returns the oracle state (None for a new search) and the trials in creation order."""
        try:
            row = self._connection.execute("SELECT data FROM oracle WHERE id = 0").fetchone()
            rows = self._connection.execute("SELECT trial_id, data FROM trials ORDER BY number").fetchall()
        except sqlite3.DatabaseError as error:
            raise self._damaged(error) from None
        state = None if row is None else parse(e2etune_pb2.OracleState, row[0], "oracle state")
        trials = [parse(e2etune_pb2.Trial, data, f"trial {trial_id!r}") for trial_id, data in rows]
        return state, trials

    def commit(self, trials: Iterable[e2etune_pb2.Trial] = (),
               oracle_state: e2etune_pb2.OracleState | None = None) -> None:
        """Writes trials and the oracle state in one atomic transaction."""
        if self._lock_file is None:
            raise SearchStateError("This store was opened read-only; it cannot commit.")
        rows = [(t.trial_id, t.SerializeToString()) for t in trials]
        connection = self._connection
        try:
            connection.execute("BEGIN IMMEDIATE")
            try:
                connection.executemany(
                    "INSERT INTO trials (trial_id, data) VALUES (?, ?) "
                    "ON CONFLICT(trial_id) DO UPDATE SET data = excluded.data",
                    rows,
                )
                if oracle_state is not None:
                    connection.execute(
                        "INSERT OR REPLACE INTO oracle (id, data) VALUES (0, ?)",
                        (oracle_state.SerializeToString(),),
                    )
            except BaseException:
                connection.execute("ROLLBACK")
                raise
            connection.execute("COMMIT")
        except sqlite3.DatabaseError as error:
            raise self._damaged(error) from None

    def close(self) -> None:
        """Closes the database and releases the writer's lock."""
        self._connection.close()
        if self._lock_file is not None:
            self._lock_file.close()
            self._lock_file = None

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:
            pass


def exists(project_dir: str | os.PathLike) -> bool:
    """Whether `project_dir` holds a saved search."""
    return (pathlib.Path(project_dir) / DATABASE_NAME).exists()

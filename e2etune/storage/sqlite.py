"""`SQLiteStorage`: searches in one SQLite file, shared by the processes of one host."""

from __future__ import annotations

import os
import pathlib
import sqlite3
import time

from e2etune.errors import SearchStateError
from e2etune.storage._sql import SQLStorage
from e2etune.storage.base import OVERWRITE_HINT, UnusableStorageError


class SQLiteStorage(SQLStorage):
    """Searches saved in an SQLite database file (the default storage).

    The file is in WAL mode: readers never block the writer, and each
    transaction is one atomic commit, so a crash or `kill -9` at any moment
    loses no committed trial. A transaction takes SQLite's write lock for
    the whole file, which serializes the processes working on it. (With
    `synchronous=NORMAL` a commit survives its process as soon as it
    returns; a power loss may undo the last few commits, never corrupt the
    file.)

    SQLite's locks need a local disk: for processes on several machines use
    `PostgresStorage`, and never put the file on NFS.

    Args:
        path: The database file; created, with its folder, if missing.
        timeout: How long a transaction waits for another process's lock, in
            seconds. Defaults to 60.

    Raises:
        SearchStateError: if the file is not an e2etune database, is damaged,
            or was written by an incompatible version.
    """

    _NOW = "((julianday('now') - 2440587.5) * 86400.0)"

    def __init__(self, path: str | os.PathLike, timeout: float = 60.0) -> None:
        super().__init__()
        self.path = pathlib.Path(path)
        self.url = f"sqlite:///{self.path}"
        self._timeout = timeout
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._open()

    def _connect(self) -> sqlite3.Connection:
        try:
            connection = sqlite3.connect(self.path, isolation_level=None, timeout=self._timeout,
                                         check_same_thread=False)
        except sqlite3.Error as error:
            raise self._error(error) from None
        try:
            self._use_wal(connection)
            connection.execute("PRAGMA synchronous=NORMAL")
        except sqlite3.Error as error:
            connection.close()
            raise self._error(error) from None
        return connection

    def _use_wal(self, connection: sqlite3.Connection) -> None:
        """Switches the file to WAL mode, waiting out other processes that create or recover it.

        SQLite answers "database is locked" at once, without its busy timeout,
        when another process holds the file while it switches the journal mode.
        """
        deadline = time.monotonic() + self._timeout
        while True:
            try:
                connection.execute("PRAGMA journal_mode=WAL")
                return
            except sqlite3.OperationalError as error:
                if "locked" not in str(error) or time.monotonic() > deadline:
                    raise
                time.sleep(0.02)

    def _begin_write(self) -> None:
        self._execute("BEGIN IMMEDIATE")

    def _begin_read(self) -> None:
        self._execute("BEGIN")

    def _tables(self) -> set[str]:
        return {row[0] for row in self._rows("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def _check_foreign_tables(self, tables: set[str]) -> None:
        if "meta" in tables:  # the layout of e2etune 0.1 (format 1)
            rows = self._rows("SELECT value FROM meta WHERE key = 'format_version'")
            if rows:
                self.check_format(rows[0][0])
        if tables:
            raise UnusableStorageError(
                f"{self.path} is not an e2etune search state (it holds the tables "
                f"{sorted(tables)}): it was written by another program. {OVERWRITE_HINT}")

    def _error(self, error: Exception) -> Exception:
        if isinstance(error, sqlite3.OperationalError):
            return SearchStateError(f"Could not use the search state in {self.path} ({error}).")
        if isinstance(error, sqlite3.DatabaseError):
            return UnusableStorageError(
                f"The search state in {self.path} is damaged and cannot be read ({error}). "
                f"{OVERWRITE_HINT}")
        return error


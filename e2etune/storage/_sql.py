"""`SQLStorage`: the storage layout and queries, shared by the SQL backends.

The backends differ only in how they connect, lock a project, tell the time
and name their types; the tables, the revisions and every query are here.
Queries are written with `?` placeholders; a backend with another style
converts them once.
"""

from __future__ import annotations

import abc
import contextlib
import threading
from typing import Any, Iterator, Sequence

from e2etune.errors import SearchStateError
from e2etune.storage.base import (
    OVERWRITE_HINT,
    BaseStorage,
    Changes,
    StateRecord,
    StorageTransaction,
    TrialRecord,
    UnusableStorageError,
    WorkerRecord,
)

#: Version of the layout of the tables; a database of another version is refused.
FORMAT_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS e2etune_meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS e2etune_projects (
    id {id_type},
    name TEXT NOT NULL UNIQUE,
    revision BIGINT NOT NULL,
    state_revision BIGINT NOT NULL,
    cleared_revision BIGINT NOT NULL,
    state_space_id BIGINT,
    state {blob}
);
CREATE TABLE IF NOT EXISTS e2etune_spaces (
    project_id BIGINT NOT NULL,
    space_id BIGINT NOT NULL,
    data {blob} NOT NULL,
    PRIMARY KEY (project_id, space_id)
);
CREATE TABLE IF NOT EXISTS e2etune_trials (
    project_id BIGINT NOT NULL,
    trial_id TEXT NOT NULL,
    number BIGINT NOT NULL,
    space_id BIGINT NOT NULL,
    status INTEGER NOT NULL,
    worker TEXT,
    revision BIGINT NOT NULL,
    data {blob} NOT NULL,
    PRIMARY KEY (project_id, trial_id)
);
CREATE INDEX IF NOT EXISTS e2etune_trials_by_revision ON e2etune_trials (project_id, revision);
CREATE TABLE IF NOT EXISTS e2etune_workers (
    project_id BIGINT NOT NULL,
    token TEXT NOT NULL,
    host TEXT NOT NULL,
    pid BIGINT NOT NULL,
    started BIGINT NOT NULL,
    expires DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (project_id, token)
)
"""


class SQLStorage(BaseStorage):
    """A storage in an SQL database; subclasses connect to one kind of database.

    One connection per storage object, used by one thread at a time.
    """

    #: SQL type of the tables' binary columns, and of an auto-numbered key.
    _BLOB = "BLOB"
    _ID_TYPE = "INTEGER PRIMARY KEY"
    #: What locks the project row being read (empty where the transaction locks everything).
    _FOR_UPDATE = ""
    #: The SQL expression of the database's clock, in seconds since the epoch.
    _NOW = ""

    def __init__(self) -> None:
        self._mutex = threading.RLock()
        self._connection: Any = None
        self._project_ids: dict[str, int] = {}
        #: Per project id: the stored spaces by key, and the keys by content.
        self._space_data: dict[int, dict[int, bytes]] = {}
        self._space_keys: dict[int, dict[bytes, int]] = {}
        self._cleared_seen: dict[int, int] = {}

    # What a backend provides.

    @abc.abstractmethod
    def _connect(self) -> Any:
        """A new DB-API connection in autocommit mode (transactions are begun explicitly)."""

    @abc.abstractmethod
    def _begin_write(self) -> None:
        """Begins a transaction that may write."""

    @abc.abstractmethod
    def _begin_read(self) -> None:
        """Begins a read-only transaction that sees one consistent snapshot."""

    @abc.abstractmethod
    def _tables(self) -> set[str]:
        """The names of the database's tables."""

    @abc.abstractmethod
    def _error(self, error: Exception) -> Exception:
        """The error to raise for a database error (named for the user, no secrets)."""

    def _sql(self, query: str) -> str:
        """`query` in the backend's placeholder style."""
        return query

    def _check_foreign_tables(self, tables: set[str]) -> None:
        """Refuses a database that holds other tables, where that is not allowed."""

    def _lock_schema(self) -> None:
        """Keeps other processes from creating the tables at the same time (if needed)."""

    def _open(self) -> None:
        """Connects, then creates or checks the tables (closing again if that fails)."""
        try:
            self._connection = self._connect()
            self._guarded(self._prepare)
        except BaseException:
            self.close()
            raise

    # Queries.

    def _execute(self, query: str, params: Sequence[Any] = ()) -> Any:
        return self._connection.execute(self._sql(query), params)

    def _rows(self, query: str, params: Sequence[Any] = ()) -> list[tuple]:
        return self._execute(query, params).fetchall()

    def _prepare(self) -> None:
        """Creates the tables of a new database, or checks the version of an existing one."""
        tables = self._tables()
        if "e2etune_meta" in tables:
            self._check_version()
            return
        self._check_foreign_tables(tables)
        with self._write_transaction():
            self._lock_schema()
            for statement in _SCHEMA.format(id_type=self._ID_TYPE, blob=self._BLOB).split(";"):
                self._execute(statement)
            self._execute("INSERT INTO e2etune_meta (key, value) VALUES ('format_version', ?) "
                          "ON CONFLICT (key) DO NOTHING", (str(FORMAT_VERSION),))
        self._check_version()

    def _check_version(self) -> None:
        rows = self._rows("SELECT value FROM e2etune_meta WHERE key = 'format_version'")
        if not rows:
            raise UnusableStorageError(
                f"The storage {self.url} has no format version: it is damaged. {OVERWRITE_HINT}")
        self.check_format(rows[0][0])

    def check_format(self, version: Any) -> None:
        """Refuses a layout written by another version of e2etune.

        Raises:
            SearchStateError: naming both versions and what to do.
        """
        try:
            version = int(version)
        except (TypeError, ValueError):
            raise UnusableStorageError(
                f"The storage {self.url} has an invalid format version {version!r}: it is "
                f"damaged. {OVERWRITE_HINT}") from None
        if version != FORMAT_VERSION:
            newer = version > FORMAT_VERSION
            what = "Upgrade e2etune to read it, or" if newer else "It cannot be resumed:"
            raise UnusableStorageError(
                f"The storage {self.url} was written by {'a newer' if newer else 'an older'} "
                f"e2etune (format {version}); this version reads format {FORMAT_VERSION}. "
                f"{what} pass `overwrite=True` to start a fresh search in this project, or use "
                "another storage.")

    @contextlib.contextmanager
    def _write_transaction(self) -> Iterator[None]:
        self._begin_write()
        try:
            yield
        except BaseException:
            self._execute("ROLLBACK")
            raise
        self._execute("COMMIT")

    def _guarded(self, work: Any) -> Any:
        """Runs `work()` with the connection, turning database errors into clear ones."""
        with self._mutex:
            if self._connection is None:
                raise SearchStateError(f"The storage {self.url} is closed.")
            try:
                return work()
            except SearchStateError:
                raise
            except Exception as error:
                converted = self._error(error)
                if converted is error:
                    raise
                raise converted from None

    # BaseStorage.

    @contextlib.contextmanager
    def transaction(self, project: str) -> Iterator[StorageTransaction]:
        with self._mutex:
            transaction = None
            try:
                self._guarded(self._begin_write)
                transaction = self._guarded(lambda: _Transaction(self, project))
                yield transaction
                self._guarded(transaction._finish)
                self._guarded(lambda: self._execute("COMMIT"))
            except BaseException:
                with contextlib.suppress(Exception):
                    self._execute("ROLLBACK")
                if transaction is not None:
                    # The spaces it cached may be rolled back: the next transaction forgets them.
                    self._cleared_seen.pop(transaction._project_id, None)
                raise

    def read(self, project: str, since: int = 0) -> Changes:
        def work() -> Changes:
            self._begin_read()
            try:
                rows = self._rows("SELECT id FROM e2etune_projects WHERE name = ?", (project,))
                if not rows:
                    return Changes(0, [], None)
                return _changes(self, rows[0][0], since)
            finally:
                self._execute("COMMIT")

        return self._guarded(work)

    def spaces(self, project: str) -> dict[int, bytes]:
        def work() -> dict[int, bytes]:
            rows = self._rows(
                "SELECT s.space_id, s.data FROM e2etune_spaces s JOIN e2etune_projects p "
                "ON p.id = s.project_id WHERE p.name = ?", (project,))
            return {key: bytes(data) for key, data in rows}

        return self._guarded(work)

    def renew_lease(self, project: str, worker: WorkerRecord, duration: float) -> None:
        def work() -> None:
            with self._write_transaction():
                rows = self._rows("SELECT id FROM e2etune_projects WHERE name = ?", (project,))
                if rows:
                    _put_worker(self, rows[0][0], worker, f"{self._NOW} + ?", duration)

        self._guarded(work)

    def projects(self) -> list[str]:
        return self._guarded(lambda: [r[0] for r in self._rows(
            "SELECT name FROM e2etune_projects ORDER BY id")])

    def close(self) -> None:
        with self._mutex:
            if self._connection is not None:
                with contextlib.suppress(Exception):
                    self._connection.close()
                self._connection = None

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.close()


def _put_worker(storage: SQLStorage, project_id: int, worker: WorkerRecord,
                expires_sql: str, *expires_params: Any) -> None:
    storage._execute(
        "INSERT INTO e2etune_workers (project_id, token, host, pid, started, expires) "
        f"VALUES (?, ?, ?, ?, ?, {expires_sql}) ON CONFLICT (project_id, token) DO UPDATE "
        "SET host = excluded.host, pid = excluded.pid, started = excluded.started, "
        "expires = excluded.expires",
        (project_id, worker.token, worker.host, worker.pid, worker.started, *expires_params))


def _changes(storage: SQLStorage, project_id: int, since: int) -> Changes:
    """What changed in a project after revision `since` (the caller holds a transaction)."""
    rows = storage._rows(
        "SELECT revision, state_revision, cleared_revision, state_space_id, state "
        "FROM e2etune_projects WHERE id = ?", (project_id,))
    revision, state_revision, cleared_revision, state_space_id, state = rows[0]
    cleared = 0 < since < cleared_revision
    if cleared:
        since = 0
    trials = [
        TrialRecord(trial_id, number, space_id, status, worker, bytes(data))
        for trial_id, number, space_id, status, worker, data in storage._rows(
            "SELECT trial_id, number, space_id, status, worker, data FROM e2etune_trials "
            "WHERE project_id = ? AND revision > ? ORDER BY number", (project_id, since))
    ]
    record = None
    if state is not None and state_revision > since:
        record = StateRecord(state_space_id, bytes(state))
    return Changes(revision, trials, record, cleared)


class _Transaction(StorageTransaction):
    """A write transaction on one project of an `SQLStorage` (see `StorageTransaction`)."""

    def __init__(self, storage: SQLStorage, project: str) -> None:
        self._storage = storage
        self._project_id, self._revision = self._lock(project)
        self._wrote = False
        self._state: StateRecord | None = None
        self._cleared = False

    def _lock(self, project: str) -> tuple[int, int]:
        storage = self._storage
        query = (f"SELECT id, revision, cleared_revision FROM e2etune_projects WHERE name = ?"
                 f"{storage._FOR_UPDATE}")
        rows = storage._rows(query, (project,))
        if not rows:
            storage._execute(
                "INSERT INTO e2etune_projects (name, revision, state_revision, cleared_revision) "
                "VALUES (?, 0, 0, 0) ON CONFLICT (name) DO NOTHING", (project,))
            rows = storage._rows(query, (project,))
        project_id, revision, cleared_revision = rows[0]
        if storage._project_ids.get(project) != project_id or (
                storage._cleared_seen.get(project_id) != cleared_revision):
            # New to this process, or cleared by another: the spaces it knew are gone.
            storage._project_ids[project] = project_id
            storage._cleared_seen[project_id] = cleared_revision
            storage._space_data[project_id] = {}
            storage._space_keys[project_id] = {}
        return project_id, revision

    @property
    def revision(self) -> int:
        return self._revision

    @property
    def next_revision(self) -> int:
        return self._revision + self._wrote

    def changes(self, since: int) -> Changes:
        if self._cleared:
            return Changes(self._revision, [], None, since > 0)
        if since == self._revision:  # nothing was written since: no need to look
            return Changes(self._revision, [], None)
        return _changes(self._storage, self._project_id, since)

    def space(self, space_id: int) -> bytes:
        known = self._storage._space_data[self._project_id]
        data = known.get(space_id)
        if data is None:
            rows = self._storage._rows(
                "SELECT data FROM e2etune_spaces WHERE project_id = ? AND space_id = ?",
                (self._project_id, space_id))
            if not rows:
                raise KeyError(f"search space {space_id} is missing")
            data = known[space_id] = bytes(rows[0][0])
            self._storage._space_keys[self._project_id].setdefault(data, space_id)
        return data

    def space_id(self, data: bytes) -> int:
        keys = self._storage._space_keys[self._project_id]
        space_id = keys.get(data)
        if space_id is not None:
            return space_id
        rows = self._storage._rows(
            "SELECT space_id FROM e2etune_spaces WHERE project_id = ? AND data = ?",
            (self._project_id, data))
        if rows:
            space_id = rows[0][0]
        else:
            space_id = self._storage._rows(
                "SELECT COALESCE(MAX(space_id), -1) + 1 FROM e2etune_spaces WHERE project_id = ?",
                (self._project_id,))[0][0]
            self._storage._execute("INSERT INTO e2etune_spaces (project_id, space_id, data) "
                                   "VALUES (?, ?, ?)", (self._project_id, space_id, data))
            self._wrote = True
        keys[data] = space_id
        self._storage._space_data[self._project_id][space_id] = data
        return space_id

    def put_trial(self, record: TrialRecord) -> None:
        self._storage._execute(
            "INSERT INTO e2etune_trials (project_id, trial_id, number, space_id, status, worker, "
            "revision, data) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (project_id, trial_id) "
            "DO UPDATE SET space_id = excluded.space_id, status = excluded.status, "
            "worker = excluded.worker, revision = excluded.revision, data = excluded.data",
            (self._project_id, record.trial_id, record.number, record.space_id, record.status,
             record.worker, self._revision + 1, record.data))
        self._wrote = True

    def put_state(self, record: StateRecord) -> None:
        self._state = record
        self._wrote = True

    def workers(self) -> dict[str, WorkerRecord]:
        return {row[0]: WorkerRecord(*row) for row in self._storage._rows(
            "SELECT token, host, pid, started, expires FROM e2etune_workers WHERE project_id = ?",
            (self._project_id,))}

    def put_worker(self, worker: WorkerRecord) -> None:
        _put_worker(self._storage, self._project_id, worker, "?", worker.expires)

    def remove_worker(self, token: str) -> None:
        self._storage._execute("DELETE FROM e2etune_workers WHERE project_id = ? AND token = ?",
                               (self._project_id, token))

    def now(self) -> float:
        return float(self._storage._rows(f"SELECT {self._storage._NOW}")[0][0])

    def clear(self) -> None:
        for table in ("e2etune_trials", "e2etune_spaces", "e2etune_workers"):
            self._storage._execute(f"DELETE FROM {table} WHERE project_id = ?", (self._project_id,))
        self._storage._space_data[self._project_id] = {}
        self._storage._space_keys[self._project_id] = {}
        self._storage._cleared_seen[self._project_id] = self._revision + 1
        self._state = None
        self._cleared = True
        self._wrote = True

    def _finish(self) -> None:
        """Gives the project its new revision, if anything was written."""
        if not self._wrote:
            return
        revision = self._revision + 1
        columns: dict[str, Any] = {"revision": revision}
        if self._cleared:
            columns.update(cleared_revision=revision, state=None, state_space_id=None,
                           state_revision=revision)
        if self._state is not None:
            columns.update(state=self._state.data, state_space_id=self._state.space_id,
                           state_revision=revision)
        assignments = ", ".join(f"{name} = ?" for name in columns)
        self._storage._execute(f"UPDATE e2etune_projects SET {assignments} WHERE id = ?",
                               (*columns.values(), self._project_id))

"""Storages: where searches live, shared by every process that works on them.

`storage=` on every tuner and oracle chooses one: a URL
(`"sqlite:///path/search.db"`, `"postgresql://user@host:5432/db"`) or a
`BaseStorage` object; without it the `E2ETUNE_STORAGE` environment
variable; without that, an SQLite file in the project folder
(`<directory>/<project_name>/search.db`). Several searches can share one
storage: each is kept apart by its project name.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import pathlib
from typing import Any

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
from e2etune.storage.sqlite import SQLiteStorage
from e2etune.storage.url import (
    POSTGRES_SCHEMES,
    SQLITE_SCHEMES,
    redact,
    scheme_of,
    sqlite_path,
)

__all__ = [
    "BaseStorage",
    "Changes",
    "PostgresStorage",
    "SQLiteStorage",
    "StateRecord",
    "StorageTransaction",
    "TrialRecord",
    "UnusableStorageError",
    "WorkerRecord",
    "from_url",
    "open_project_storage",
]

#: The environment variable naming the storage of tuners given no `storage=`.
STORAGE_VARIABLE = "E2ETUNE_STORAGE"
#: The default storage's file in a project folder.
DATABASE_NAME = "search.db"
_LOCK_NAME = "search.lock"
#: The state file of a KerasTuner search, which the oracle imports.
_KERASTUNER_STATE_FILE = "oracle.json"


def __getattr__(name: str) -> Any:
    if name == "PostgresStorage":
        from e2etune.storage.postgres import PostgresStorage

        return PostgresStorage
    raise AttributeError(f"module 'e2etune.storage' has no attribute {name!r}")


def from_url(url: str) -> BaseStorage:
    """Opens the storage a URL names.

    Raises:
        ValueError: for a URL of no known backend.
        SearchStateError: when the storage cannot be opened (see each backend).
    """
    scheme = scheme_of(url)
    if scheme in SQLITE_SCHEMES:
        return SQLiteStorage(sqlite_path(url))
    if scheme in POSTGRES_SCHEMES:
        from e2etune.storage.postgres import PostgresStorage

        return PostgresStorage(url)
    raise ValueError(
        f"Unknown storage {redact(url)!r}: use a URL such as 'sqlite:///path/search.db' or "
        "'postgresql://user:password@host:5432/database', or a `BaseStorage` object.")


def open_project_storage(storage: Any, project_dir: str | os.PathLike,
                         overwrite: bool) -> tuple[BaseStorage, bool]:
    """The storage of a search, and whether the caller opened it (and must close it).

    Args:
        storage: A `BaseStorage`, a URL, or None for `E2ETUNE_STORAGE` or the
            project folder's own SQLite file.
        project_dir: The project folder.
        overwrite: Whether the search will be started afresh: a damaged or
            incompatible default file is then replaced, never reported.

    Raises:
        TypeError: for a `storage` that is neither.
        SearchStateError: when the project folder holds a search e2etune cannot
            resume, or the storage cannot be opened.
    """
    if isinstance(storage, BaseStorage):
        return storage, False
    if storage is None:
        storage = os.environ.get(STORAGE_VARIABLE) or None
    if isinstance(storage, os.PathLike):
        storage = f"sqlite:///{os.fspath(storage)}"
    if isinstance(storage, str):
        return from_url(storage), True
    if storage is not None:
        raise TypeError(
            f"`storage` must be a URL or a `BaseStorage`; got {type(storage).__name__}.")
    return _project_file(pathlib.Path(project_dir), overwrite), True


def _project_file(project_dir: pathlib.Path, overwrite: bool) -> SQLiteStorage:
    """The project folder's own SQLite storage."""
    path = project_dir / DATABASE_NAME
    if not overwrite and not path.exists():
        _check_no_foreign_state(project_dir)
    try:
        return SQLiteStorage(path)
    except UnusableStorageError:
        if not overwrite:
            raise
    with _folder_lock(project_dir):
        for suffix in ("", "-wal", "-shm", "-journal"):
            pathlib.Path(f"{path}{suffix}").unlink(missing_ok=True)
        return SQLiteStorage(path)


def _check_no_foreign_state(project_dir: pathlib.Path) -> None:
    if (project_dir / _KERASTUNER_STATE_FILE).exists():
        return  # a KerasTuner search: the oracle carries it on
    if project_dir.is_dir() and any(p.is_dir() for p in project_dir.glob("trial_*")):
        raise SearchStateError(
            f"{project_dir} has trial folders but no search state ({DATABASE_NAME} is missing, "
            f"so the search cannot be resumed). {OVERWRITE_HINT}")


@contextlib.contextmanager
def _folder_lock(project_dir: pathlib.Path):
    """Keeps two processes from replacing a damaged database at once."""
    project_dir.mkdir(parents=True, exist_ok=True)
    with open(project_dir / _LOCK_NAME, "a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        yield

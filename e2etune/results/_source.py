"""Finding a saved search: a project folder, a storage URL and project name, or a tuner.

Everything here only reads. A project folder's SQLite file is opened
read-only (SQLite's `mode=ro`), so a reader can never change a search, even
by mistake, while workers run it.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import sqlite3
from typing import Any

from e2etune.errors import SearchStateError
from e2etune.storage import DATABASE_NAME, STORAGE_VARIABLE, BaseStorage, SQLiteStorage, from_url
from e2etune.storage.base import UnusableStorageError
from e2etune.storage.url import SQLITE_SCHEMES, redact, scheme_of, sqlite_path
from e2etune.results._errors import NoSearchError

#: How long a reader waits for a storage locked by another process, in seconds.
DEFAULT_TIMEOUT = 5.0

_ELSEWHERE_HINT = (
    "If the search was saved elsewhere (`storage=` or E2ETUNE_STORAGE), pass "
    "`--storage URL --project NAME` (in Python: `storage=..., project=...`).")


class EmptyStateError(NoSearchError):
    """A storage file without any table yet: its search is being created (or never was)."""


class ReadOnlySQLiteStorage(SQLiteStorage):
    """An e2etune SQLite file opened read-only: it must exist, and is never written.

    Args:
        path: The database file.
        timeout: How long a read waits for a lock held by another process, in seconds.
    """

    def __init__(self, path: str | os.PathLike, timeout: float = DEFAULT_TIMEOUT) -> None:
        path = pathlib.Path(path)
        if not path.is_file():
            raise NoSearchError(f"No search state at {path}: the file does not exist.")
        super().__init__(path, timeout=timeout)

    def _connect(self) -> sqlite3.Connection:
        uri = f"{self.path.resolve().as_uri()}?mode=ro"
        try:  # SQLite reads the journal mode (WAL) from the file: nothing to set
            return sqlite3.connect(uri, uri=True, isolation_level=None, timeout=self._timeout,
                                   check_same_thread=False)
        except sqlite3.Error as error:
            raise self._error(error) from None

    def _prepare(self) -> None:
        tables = self._tables()
        if not tables:
            raise EmptyStateError(
                f"{self.path} holds no search state yet: a search is starting there, or it "
                "never wrote one.")
        if "e2etune_meta" not in tables:
            raise UnusableStorageError(
                f"{self.path} is not an e2etune search state (it has no e2etune tables).")
        self._check_version()


@dataclasses.dataclass
class Located:
    """An open storage and the project in it that holds the search.

    Attributes:
        storage: The storage, open.
        project: The project's name in it.
        location: Where the search is, for messages (a folder or a URL without password).
        owned: Whether the storage was opened here (and is closed with the reader).
    """

    storage: BaseStorage
    project: str
    location: str
    owned: bool


def locate(source: Any = None, *, storage: Any = None, project: str | None = None,
           timeout: float = DEFAULT_TIMEOUT) -> Located:
    """Opens the storage of a saved search, read-only where the backend allows it.

    Args:
        source: A project folder (`<directory>/<project_name>`, holding
            `search.db`), or the `directory` above it, or a tuner or oracle;
            None with `storage`.
        storage: A storage URL or `BaseStorage` (None: `E2ETUNE_STORAGE` when
            `source` is None).
        project: The project's name in the storage (needed where it holds
            several); with a folder `source`, the project folder under it.
        timeout: How long to wait for a storage locked by another process.

    Raises:
        NoSearchError: when there is no search there, naming what was expected.
        SearchStateError: when the storage cannot be opened.
    """
    if source is not None and not isinstance(source, (str, os.PathLike)):
        return _of_tuner(source, project, timeout)
    if source is not None and storage is None:
        path, name = find_database(pathlib.Path(source), project)
        opened = ReadOnlySQLiteStorage(path, timeout=timeout)
        return _checked(Located(opened, name, str(path.parent), True), name_given=False)
    if storage is None:
        storage = os.environ.get(STORAGE_VARIABLE) or None
    if storage is None:
        raise NoSearchError(
            "No search given: name a project folder (`e2etune summary results/my_project`), "
            "or a storage and project (`--storage URL --project NAME`).")
    return _of_storage(storage, project, timeout)


def find_database(path: pathlib.Path, project: str | None = None) -> tuple[pathlib.Path, str]:
    """The SQLite file and project name of the search in a folder.

    The folder is a project folder (it holds `search.db`), or the `directory`
    of project folders (then the only one, or the one `project` names).
    """
    if not path.exists():
        raise NoSearchError(f"{path} does not exist: give the folder of a search "
                            f"(`<directory>/<project_name>`, which holds {DATABASE_NAME}).")
    if not path.is_dir():
        raise NoSearchError(f"{path} is not a folder: give the folder of a search "
                            f"(`<directory>/<project_name>`, which holds {DATABASE_NAME}).")
    if project is not None:
        for candidate in (path / project, path):
            if (candidate / DATABASE_NAME).is_file() and (candidate is not path or
                                                          path.name == project):
                return candidate / DATABASE_NAME, project
        raise NoSearchError(f"No search {project!r} in {path}: expected "
                            f"{path / project / DATABASE_NAME}. {_ELSEWHERE_HINT}")
    if (path / DATABASE_NAME).is_file():
        return path / DATABASE_NAME, path.name
    found = sorted(p for p in path.glob(f"*/{DATABASE_NAME}") if p.is_file())
    if len(found) == 1:
        return found[0], found[0].parent.name
    if found:
        names = ", ".join(p.parent.name for p in found)
        raise NoSearchError(f"{path} holds several searches ({names}): give one folder "
                            f"({path}/<project>) or `--project NAME`.")
    raise NoSearchError(
        f"No search in {path}: expected {path}/<project>/{DATABASE_NAME} (under a tuner's "
        f"`directory`) or {path}/{DATABASE_NAME} (in a project folder). {_ELSEWHERE_HINT}")


def _open_url(url: str, timeout: float) -> BaseStorage:
    if scheme_of(url) in SQLITE_SCHEMES:
        return ReadOnlySQLiteStorage(sqlite_path(url), timeout=timeout)
    return from_url(url)


def _of_storage(storage: Any, project: str | None, timeout: float) -> Located:
    if isinstance(storage, os.PathLike):
        storage = f"sqlite:///{os.fspath(storage)}"
    if isinstance(storage, BaseStorage):
        located = Located(storage, project or "", storage.url, False)
    elif isinstance(storage, str):
        located = Located(_open_url(storage, timeout), project or "", redact(storage), True)
    else:
        raise TypeError(f"`storage` must be a URL or a `BaseStorage`; got "
                        f"{type(storage).__name__}.")
    return _checked(located, name_given=project is not None)


def _checked(located: Located, name_given: bool) -> Located:
    """Checks that the project is in the storage (or picks the only one), else closes and raises."""
    try:
        projects = located.storage.projects()
    except BaseException:
        if located.owned:
            located.storage.close()
        raise
    if located.project in projects:
        return located
    if not name_given and len(projects) == 1:
        located.project = projects[0]
        return located
    if located.owned:
        located.storage.close()
    listed = ", ".join(repr(p) for p in projects) or "none"
    if located.project:
        what = f"no search {located.project!r}"
    else:
        what = "several searches; name one with `--project NAME` (`project=`)" if projects \
            else "no search"
    raise NoSearchError(f"{located.location} holds {what}. Its searches: {listed}.")


def _of_tuner(source: Any, project: str | None, timeout: float) -> Located:
    """The storage of a tuner or oracle: its open one, else the one it would open."""
    oracle = getattr(source, "oracle", source)
    project_dir = getattr(oracle, "project_dir", None)
    if project_dir is None and not hasattr(oracle, "storage"):
        raise TypeError(
            "Expected a project folder, a tuner or an oracle; got "
            f"{type(source).__name__}. Or pass `storage=` and `project=`.")
    name = project or getattr(oracle, "_project", None) or (
        os.path.basename(os.fspath(project_dir)) if project_dir else None)
    live = getattr(oracle, "_storage", None)
    if isinstance(live, BaseStorage):
        return _checked(Located(live, name or "", live.url, False), name_given=True)
    storage = getattr(oracle, "storage", None) or os.environ.get(STORAGE_VARIABLE) or None
    if storage is not None:
        return _of_storage(storage, name, timeout)
    if project_dir is None:
        raise NoSearchError("The oracle has no project yet: it is not part of a tuner's search.")
    return locate(project_dir, timeout=timeout)


def is_busy(error: SearchStateError) -> bool:
    """Whether a storage error is a lock held by another process (it passes)."""
    text = str(error).lower()
    return "locked" in text or "busy" in text

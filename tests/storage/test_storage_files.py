"""Storage that cannot be used, and how a search's storage is chosen: damaged, foreign and
incompatible databases, the project folder's checks, `E2ETUNE_STORAGE`, URLs and paths.
"""

from __future__ import annotations

import pathlib
import random
import sqlite3

import pytest
from storage_helpers import SecretURL, execute, ids, leaks, write

from e2etune.errors import SearchStateError
from e2etune.oracles import RandomSearchOracle
from e2etune.storage import Changes, SQLiteStorage, from_url, open_project_storage
from e2etune.storage._sql import FORMAT_VERSION
from e2etune.storage.url import redact


def _saved(path: pathlib.Path, trials: int = 200) -> None:
    """Saves a search of `trials` trials in the SQLite file `path`."""
    storage = SQLiteStorage(path)
    for i in range(trials):
        write(storage, "p", (str(i), i), state=b"%d" % i)
    storage.close()


def _damage(path: pathlib.Path, how: str) -> None:
    data = path.read_bytes()
    if how == "garbage":
        path.write_bytes(random.Random(0).randbytes(len(data)))
    elif how == "truncated":
        path.write_bytes(data[: len(data) // 2])
    elif how == "header":
        path.write_bytes(b"\0" * 100 + data[100:])
    else:  # the pages between the first and the last
        path.write_bytes(data[:4096] + b"\xff" * (len(data) - 8192) + data[-4096:])


@pytest.mark.parametrize("how", ["garbage", "truncated", "header", "middle"])
def test_a_damaged_sqlite_file_is_reported_and_left_as_it_is(tmp_path, how):
    path = tmp_path / "search.db"
    _saved(path)
    _damage(path, how)
    damaged = path.read_bytes()
    with pytest.raises(SearchStateError) as info:
        storage = SQLiteStorage(path)
        try:  # a file damaged past its first pages opens, and fails once read
            storage.read("p")
        finally:
            storage.close()
    assert str(path) in str(info.value) and "damaged" in str(info.value)
    assert "overwrite=True" in str(info.value)
    with pytest.raises(SearchStateError, match="overwrite=True"):
        storage, _ = open_project_storage(None, tmp_path, overwrite=False)
        try:
            storage.read("p")
        finally:
            storage.close()
    assert path.read_bytes() == damaged


def test_an_empty_file_is_an_empty_database(tmp_path):
    path = tmp_path / "search.db"
    path.write_bytes(b"")  # what SQLite leaves before the first commit
    storage = SQLiteStorage(path)
    assert storage.read("p") == Changes(0, [], None, False)
    storage.close()


def test_another_programs_sqlite_database_is_refused(tmp_path):
    path = tmp_path / "search.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE things (x)")
    connection.execute("INSERT INTO things VALUES (1)")
    connection.commit()
    connection.close()
    with pytest.raises(SearchStateError,
                       match=r"not an e2etune search state.*things.*overwrite=True"):
        SQLiteStorage(path)
    connection = sqlite3.connect(path)
    tables = connection.execute("SELECT name FROM sqlite_master WHERE type = 'table'").fetchall()
    assert tables == [("things",)]
    assert connection.execute("SELECT x FROM things").fetchall() == [(1,)]
    connection.close()


def test_postgres_shares_a_database_with_other_applications(postgres):
    url = SecretURL(postgres.new_database())
    execute(url, "CREATE TABLE things (x INTEGER)")
    execute(url, "INSERT INTO things VALUES (1)")
    storage = from_url(url)
    write(storage, "p", ("0", 0))
    storage.close()
    import psycopg

    with psycopg.connect(url, connect_timeout=10) as connection:
        assert connection.execute("SELECT x FROM things").fetchall() == [(1,)]


@pytest.mark.parametrize("offset, word", [(1, "newer"), (-1, "older")])
def test_a_database_of_another_format_version_is_refused(url, offset, word):
    storage = from_url(url)
    write(storage, "p", ("0", 0))
    storage.close()
    version = FORMAT_VERSION + offset
    execute(url, "UPDATE e2etune_meta SET value = ? WHERE key = 'format_version'", (str(version),))
    with pytest.raises(SearchStateError) as info:
        from_url(url)
    named = redact(url) in str(info.value)
    assert named, "the message does not name the storage"
    message = str(info.value).replace(redact(url), "<storage>")
    assert f"{word} e2etune" in message and "overwrite=True" in message
    assert f"format {version}" in message and f"reads format {FORMAT_VERSION}" in message
    if word == "newer":
        assert "Upgrade e2etune" in message


@pytest.mark.parametrize("value, match", [("two", "invalid format version 'two'"),
                                          (None, "no format version")])
def test_a_database_with_a_broken_format_version_is_called_damaged(url, value, match):
    from_url(url).close()
    if value is None:
        execute(url, "DELETE FROM e2etune_meta")
    else:
        execute(url, "UPDATE e2etune_meta SET value = ? WHERE key = 'format_version'", (value,))
    with pytest.raises(SearchStateError, match=f"{match}.*damaged.*overwrite=True"):
        from_url(url)


def test_the_format_1_layout_is_refused_as_older(tmp_path):
    path = tmp_path / "search.db"
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT)")
    connection.execute("INSERT INTO meta VALUES ('format_version', '1')")
    connection.execute("CREATE TABLE trials (trial_id TEXT, data BLOB)")
    connection.commit()
    connection.close()
    with pytest.raises(SearchStateError, match=r"older e2etune \(format 1\).*overwrite=True"):
        SQLiteStorage(path)
    with pytest.raises(SearchStateError, match="older"):
        open_project_storage(None, tmp_path, overwrite=False)
    storage, owned = open_project_storage(None, tmp_path, overwrite=True)
    assert owned and storage.read("p") == Changes(0, [], None, False)
    storage.close()


def _foreign(path: pathlib.Path) -> None:
    connection = sqlite3.connect(path)
    connection.execute("CREATE TABLE things (x)")
    connection.commit()
    connection.close()


def _newer(path: pathlib.Path) -> None:
    _saved(path, 2)
    connection = sqlite3.connect(path)
    connection.execute("UPDATE e2etune_meta SET value = '99' WHERE key = 'format_version'")
    connection.commit()
    connection.close()


@pytest.mark.parametrize("spoil", ["garbage", "header", "foreign", "newer"])
def test_overwrite_replaces_an_unusable_default_file(tmp_path, spoil):
    project = tmp_path / "project"
    path = project / "search.db"
    project.mkdir()
    if spoil == "foreign":
        _foreign(path)
    elif spoil == "newer":
        _newer(path)
    else:
        _saved(path)
        _damage(path, spoil)
    pathlib.Path(f"{path}-wal").write_bytes(random.Random(1).randbytes(5000))  # stale: must go
    (project / "trial_0").mkdir()
    with pytest.raises(SearchStateError, match="overwrite=True"):
        open_project_storage(None, project, overwrite=False)
    storage, owned = open_project_storage(None, project, overwrite=True)
    try:
        assert owned and isinstance(storage, SQLiteStorage) and storage.path == path
        assert storage.read("p") == Changes(0, [], None, False) and storage.projects() == []
        write(storage, "p", ("0", 0))
    finally:
        storage.close()
    reopened, _ = open_project_storage(None, project, overwrite=False)
    assert ids(reopened.read("p")) == ["0"]
    reopened.close()


def test_overwrite_keeps_a_good_default_file(tmp_path):
    _saved(tmp_path / "search.db", 3)
    storage, _ = open_project_storage(None, tmp_path, overwrite=True)
    assert len(storage.read("p").trials) == 3  # clearing the project is the oracle's job
    storage.close()


def test_a_keras_tuner_project_gets_a_storage_for_its_import(tmp_path):
    """The oracle imports a KerasTuner search (tests/engine/test_kerastuner_project.py);
    trial folders without either search state are still refused."""
    (tmp_path / "trial_00").mkdir()
    with pytest.raises(SearchStateError, match=r"trial folders but no search state"):
        open_project_storage(None, tmp_path, overwrite=False)
    (tmp_path / "oracle.json").write_text("{}")
    storage, _ = open_project_storage(None, tmp_path, overwrite=False)
    assert storage.path == tmp_path / "search.db"
    storage.close()
    storage, _ = open_project_storage(None, tmp_path, overwrite=False)  # now it has a state
    storage.close()


def test_trial_folders_without_a_state_are_refused(tmp_path):
    (tmp_path / "trial_file").write_text("a file is no trial folder")
    storage, _ = open_project_storage(None, tmp_path / "new", overwrite=False)
    storage.close()
    open_project_storage(None, tmp_path, overwrite=False)[0].close()
    (tmp_path / "search.db").unlink()
    (tmp_path / "trial_3").mkdir()
    with pytest.raises(SearchStateError, match="trial folders but no search state.*overwrite=True"):
        open_project_storage(None, tmp_path, overwrite=False)
    assert not (tmp_path / "search.db").exists()
    open_project_storage(None, tmp_path, overwrite=True)[0].close()


def test_the_storage_variable_is_used_when_no_storage_is_given(tmp_path, monkeypatch, url):
    monkeypatch.setenv("E2ETUNE_STORAGE", url)
    (tmp_path / "project" / "trial_0").mkdir(parents=True)  # not checked: the state is elsewhere
    storage, owned = open_project_storage(None, tmp_path / "project", overwrite=False)
    try:
        redacted = storage.url == redact(url)
        assert owned and redacted
        write(storage, "p", ("0", 0))
    finally:
        storage.close()
    assert not (tmp_path / "project" / "search.db").exists()
    explicit = f"sqlite:///{tmp_path / 'explicit.db'}"
    storage, _ = open_project_storage(explicit, tmp_path / "project", overwrite=False)
    assert storage.url == explicit and storage.projects() == []  # an argument wins
    storage.close()
    monkeypatch.setenv("E2ETUNE_STORAGE", "")  # empty: as if unset
    storage, _ = open_project_storage(None, tmp_path / "other", overwrite=False)
    assert storage.url == f"sqlite:///{tmp_path / 'other' / 'search.db'}"
    storage.close()


def test_sqlite_storage_by_url_or_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    cases = [
        ("sqlite:///relative/a.db", pathlib.Path("relative/a.db")),
        (f"sqlite:///{tmp_path / 'absolute' / 'b.db'}", tmp_path / "absolute" / "b.db"),
        (tmp_path / "path" / "c.db", tmp_path / "path" / "c.db"),
        (pathlib.Path("relative/d.db"), pathlib.Path("relative/d.db")),
    ]
    assert cases[1][0].startswith("sqlite:////")
    for storage_argument, path in cases:
        storage, owned = open_project_storage(storage_argument, tmp_path / "project", False)
        assert owned and isinstance(storage, SQLiteStorage) and storage.path == path
        write(storage, "p", ("0", 0))
        storage.close()
        assert (tmp_path / path).is_file()
    assert not (tmp_path / "project").exists()


def test_a_storage_object_is_used_as_it_is(tmp_path):
    storage = SQLiteStorage(tmp_path / "mine.db")
    assert open_project_storage(storage, tmp_path / "project", True) == (storage, False)
    storage.close()


def test_an_unknown_url_is_refused_with_the_accepted_forms(tmp_path):
    for bad in ("mysql://user:hunter2-secret@host/db", "host=h password=hunter2-secret",
                "search.db", "sqlite:/x.db"):
        with pytest.raises(ValueError) as info:
            open_project_storage(bad, tmp_path, overwrite=False)
        message = str(info.value)
        assert "sqlite:///path/search.db" in message and "postgresql://" in message
        assert "BaseStorage" in message
        leaked = leaks([message], "hunter2-secret")
        assert not leaked
    with pytest.raises(ValueError, match="no file"):
        from_url("sqlite://host/x.db")


@pytest.mark.parametrize("bad", [42, b"sqlite:///x.db", ["sqlite:///x.db"]])
def test_a_storage_that_is_no_url_is_a_type_error(tmp_path, bad):
    with pytest.raises(TypeError, match="URL or a `BaseStorage`"):
        open_project_storage(bad, tmp_path, overwrite=False)
    with pytest.raises(TypeError, match="`storage`"):
        RandomSearchOracle(storage=bad)

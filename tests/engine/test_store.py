"""The store: atomic commits, spaces stored once, damaged and foreign state, several processes."""

from __future__ import annotations

import os
import pathlib
import sqlite3
import subprocess
import sys
import textwrap

import pytest

from e2etune.engine import store as store_module
from e2etune.engine.store import ConcurrentWriterError, Store
from e2etune.errors import SearchStateError
from e2etune.protos import e2etune_pb2

ROOT = pathlib.Path(__file__).resolve().parents[2]


def space(*names: str) -> e2etune_pb2.HyperParameters:
    return e2etune_pb2.HyperParameters(space=[
        e2etune_pb2.HyperParameter(name=n, int_spec=e2etune_pb2.IntSpec(min_value=0, max_value=9))
        for n in names
    ])


def trial(trial_id: str, value: int = 1, names: tuple[str, ...] = ("a", "b")) -> e2etune_pb2.Trial:
    proto = e2etune_pb2.Trial(trial_id=trial_id, status=e2etune_pb2.COMPLETED, score=float(value))
    proto.hyperparameters.CopyFrom(space(*names))
    proto.hyperparameters.values["a"].int_value = value
    return proto


def state(seed_state: int = 0) -> e2etune_pb2.OracleState:
    return e2etune_pb2.OracleState(format_version=1, space=space("a", "b"), seed=1,
                                   seed_state=seed_state)


def test_a_new_project_has_no_state(tmp_path):
    store = Store(tmp_path / "p")
    assert store.load() == (None, [])
    assert store_module.exists(tmp_path / "p")
    store.close()


def test_commits_round_trip_in_creation_order(tmp_path):
    store = Store(tmp_path)
    store.commit([trial("1", 1), trial("0", 2)], state(1))
    store.commit([trial("1", 3)], state(2))  # an update keeps the trial's place
    store.close()
    loaded_state, trials = Store(tmp_path).load()
    assert loaded_state == state(2)
    assert [t.trial_id for t in trials] == ["1", "0"]
    assert trials[0] == trial("1", 3) and trials[1] == trial("0", 2)


def test_each_space_is_stored_once(tmp_path):
    store = Store(tmp_path)
    for i in range(20):
        store.commit([trial(str(i))], state(i))
    store.commit([trial("20", names=("a", "b", "c"))], state(21))
    count = store._connection.execute("SELECT COUNT(*) FROM spaces").fetchone()[0]
    assert count == 2
    store.close()
    reopened = Store(tmp_path)
    reopened.commit([trial("21")], state(22))  # the known space is found again
    assert reopened._connection.execute("SELECT COUNT(*) FROM spaces").fetchone()[0] == 2
    assert len(reopened.load()[1]) == 22
    reopened.close()


class _FailingConnection:
    """Passes statements through to a connection but fails the oracle state's insert."""

    def __init__(self, connection):
        self._connection = connection

    def execute(self, sql, *args):
        if sql.startswith("INSERT OR REPLACE INTO oracle"):
            raise sqlite3.OperationalError("disk I/O error (simulated)")
        return self._connection.execute(sql, *args)

    def __getattr__(self, name):
        return getattr(self._connection, name)


def test_a_commit_is_all_or_nothing(tmp_path):
    store = Store(tmp_path)
    store.commit([trial("0")], state(1))
    real = store._connection
    store._connection = _FailingConnection(real)
    with pytest.raises(SearchStateError, match="Could not save"):
        store.commit([trial("1", names=("a", "b", "z"))], state(2))
    store._connection = real
    loaded_state, trials = store.load()
    assert loaded_state.seed_state == 1 and [t.trial_id for t in trials] == ["0"]
    store.commit([trial("1", names=("a", "b", "z"))], state(2))  # the new space is written now
    assert len(store.load()[1]) == 2
    store.close()


# Damaged, foreign and incompatible state.


def _saved_project(path: pathlib.Path, trials: int = 300) -> None:
    store = Store(path)
    for i in range(trials):
        store.commit([trial(str(i), i % 10)], state(i))
    store.close()


@pytest.mark.parametrize("damage", ["garbage", "empty", "truncated", "header"])
def test_a_damaged_state_file_is_reported_not_replaced(tmp_path, damage):
    _saved_project(tmp_path)
    path = tmp_path / "search.db"
    data = path.read_bytes()
    if damage == "garbage":
        path.write_bytes(os.urandom(len(data)))
    elif damage == "empty":
        path.write_bytes(b"")
    elif damage == "truncated":
        path.write_bytes(data[: len(data) // 2])
    else:
        path.write_bytes(b"\0" * 100 + data[100:])
    with pytest.raises(SearchStateError) as info:
        Store(tmp_path).load()
    assert "overwrite=True" in str(info.value)
    assert path.read_bytes() != data or damage == "truncated"  # left as it was found
    store = Store(tmp_path, overwrite=True)
    assert store.load() == (None, [])
    store.close()


def test_a_damaged_message_is_reported(tmp_path):
    _saved_project(tmp_path, 3)
    connection = sqlite3.connect(tmp_path / "search.db")
    connection.execute("UPDATE trials SET data = ? WHERE trial_id = '1'", (b"\xff\xff\xff",))
    connection.commit()
    connection.close()
    with pytest.raises(SearchStateError, match="trial '1' is damaged.*overwrite=True"):
        Store(tmp_path).load()


@pytest.mark.parametrize("version, word",
                         [(store_module.FORMAT_VERSION + 1, "newer"), (0, "older")])
def test_a_state_of_another_format_version_is_refused(tmp_path, version, word):
    _saved_project(tmp_path, 2)
    connection = sqlite3.connect(tmp_path / "search.db")
    connection.execute("UPDATE meta SET value = ? WHERE key = 'format_version'", (str(version),))
    connection.commit()
    connection.close()
    with pytest.raises(SearchStateError, match=f"{word} e2etune.*overwrite=True"):
        Store(tmp_path)


def test_another_programs_database_is_refused(tmp_path):
    connection = sqlite3.connect(tmp_path / "search.db")
    connection.execute("CREATE TABLE things (x)")
    connection.commit()
    connection.close()
    with pytest.raises(SearchStateError, match="not an e2etune search state"):
        Store(tmp_path)


def test_a_keras_tuner_project_is_not_silently_replaced(tmp_path):
    (tmp_path / "oracle.json").write_text("{}")
    with pytest.raises(SearchStateError, match="KerasTuner.*overwrite=True"):
        Store(tmp_path)
    assert not (tmp_path / "search.db").exists()
    Store(tmp_path, overwrite=True).close()


def test_trial_folders_without_a_state_are_reported(tmp_path):
    (tmp_path / "trial_00").mkdir()
    with pytest.raises(SearchStateError, match="no search state"):
        Store(tmp_path)


def test_overwrite_deletes_the_state_and_the_trial_folders(tmp_path):
    _saved_project(tmp_path, 2)
    (tmp_path / "trial_0").mkdir()
    (tmp_path / "trial_0" / "checkpoint").write_text("x")
    (tmp_path / "notes.txt").write_text("mine")
    store = Store(tmp_path, overwrite=True)
    assert store.load() == (None, [])
    assert not (tmp_path / "trial_0").exists() and (tmp_path / "notes.txt").exists()
    store.close()


# Writers and readers.


def _holder(path: pathlib.Path, script: str) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    code = textwrap.dedent(f"""
        import sys
        from e2etune.engine.store import Store
        store = Store({str(path)!r})
        {script}
        print("ready", flush=True)
        sys.stdin.read()
    """)
    process = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True, env=env)
    assert process.stdout.readline().strip() == "ready"
    return process


def test_a_second_writing_process_gets_a_clear_error(tmp_path):
    process = _holder(tmp_path, "")
    try:
        with pytest.raises(ConcurrentWriterError, match=f"pid {process.pid}.*another"):
            Store(tmp_path)
        with pytest.raises(ConcurrentWriterError):
            Store(tmp_path, overwrite=True)  # refused before anything is deleted
        assert (tmp_path / "search.db").exists()
        reader = Store(tmp_path, writer=False)  # readers are always welcome
        assert reader.load() == (None, [])
        with pytest.raises(SearchStateError, match="read-only"):
            reader.commit([trial("0")], state())
        reader.close()
    finally:
        process.communicate("")
    Store(tmp_path).close()  # the lock went with the process


def test_readers_see_consistent_states_while_a_process_writes(tmp_path):
    script = textwrap.dedent("""
        from e2etune.protos import e2etune_pb2
        def message(i):
            t = e2etune_pb2.Trial(trial_id=str(i), status=e2etune_pb2.COMPLETED)
            t.hyperparameters.values["a"].int_value = i
            return t
        store.commit([message(0)], e2etune_pb2.OracleState(format_version=1, seed_state=1))
        import threading
        def write():
            for i in range(1, 400):
                state = e2etune_pb2.OracleState(format_version=1, seed_state=i + 1)
                store.commit([message(i)], state)
        threading.Thread(target=write, daemon=True).start()
    """).replace("\n", "\n        ")
    process = _holder(tmp_path, script)
    try:
        reader = Store(tmp_path, writer=False)
        counts = []
        for _ in range(100):
            loaded_state, trials = reader.load()
            assert loaded_state.seed_state == len(trials)  # state and trials of one commit
            counts.append(len(trials))
        assert counts == sorted(counts)
        reader.close()
    finally:
        process.communicate("")


def test_a_new_writer_in_the_same_process_takes_over(tmp_path):
    first = Store(tmp_path)
    first.commit([trial("0")], state(1))
    second = Store(tmp_path)
    with pytest.raises(SearchStateError, match="only the last one may write"):
        first.commit([trial("1")], state(2))
    second.commit([trial("1")], state(2))
    assert len(second.load()[1]) == 2
    second.close()
    first.close()

"""Reading a saved search: what the rows hold, where a search is found, read-only, busy storage."""

from __future__ import annotations

import sqlite3
import time

import pytest

from _search import OBJECTIVE, history, make_tuner, run_search
from e2etune.errors import SearchStateError
from e2etune.results import NoSearchError, StorageBusyError, UnknownNameError, read_results
from e2etune.results._reader import open_reader
from e2etune.results._source import ReadOnlySQLiteStorage


def test_rows_hold_what_the_oracle_saved(tmp_path):
    tuner = make_tuner(tmp_path, max_trials=12)
    tuner.search(verbose=0)
    results = read_results(tmp_path / "search")
    oracle_trials = tuner.oracle.trials
    assert [t.trial_id for t in results.trials] == list(oracle_trials)
    for row in results.trials:
        trial = oracle_trials[row.trial_id]
        assert row.status == trial.status and row.score == trial.score
        assert row.values == trial.hyperparameters.values
        assert list(row.values) == [n for n in results.hyperparameter_names() if n in row.values]
        if row.status == "COMPLETED":
            expected = history(row.values)
            assert row.best_step == 1
            assert row.metrics == {name: values[1] for name, values in expected.items()}
    assert results.objectives == [(OBJECTIVE, "min")] and results.direction == "min"
    assert results.oracle_class == "RandomSearchOracle"
    assert results.status_counts() == {"COMPLETED": 11, "FAILED": 1}
    best = results.best_trials(3)
    assert [t.trial_id for t in best] == [t.trial_id for t in tuner.oracle.get_best_trials(3)]
    assert results.hyperparameter_names() == ["lr", "units", "optimizer", "batchnorm", "momentum"]
    assert results.metric_names() == ["val_loss", "val_accuracy"]
    tuner.oracle.close()


def test_a_search_is_found_from_its_folder_its_directory_or_a_tuner(finished):
    by_folder = read_results(finished)
    assert by_folder.project == "search" and len(by_folder.trials) == 12
    assert len(read_results(finished.parent).trials) == 12
    assert len(read_results(finished.parent, project="search").trials) == 12
    url = f"sqlite:///{finished / 'search.db'}"
    assert len(read_results(storage=url, project="search").trials) == 12
    assert len(read_results(storage=url).trials) == 12  # the only project


def test_a_live_tuner_is_read_through_its_own_storage(tmp_path):
    tuner = make_tuner(tmp_path, max_trials=3)
    tuner.search(verbose=0)
    assert len(read_results(tuner).trials) == 3
    assert len(read_results(tuner.oracle).trials) == 3
    tuner.oracle.close()
    assert len(read_results(tuner).trials) == 3  # closed: its folder's file


def test_a_folder_without_a_search_names_what_was_expected(tmp_path):
    with pytest.raises(NoSearchError, match=r"expected .*/<project>/search\.db"):
        read_results(tmp_path)
    with pytest.raises(NoSearchError, match="does not exist"):
        read_results(tmp_path / "missing")
    with pytest.raises(NoSearchError, match=r"No search 'other'.*other/search\.db"):
        read_results(tmp_path, project="other")
    assert not list(tmp_path.iterdir())  # nothing was created


def test_several_searches_in_a_directory_must_be_named(tmp_path):
    run_search(tmp_path, "one", 2)
    run_search(tmp_path, "two", 2)
    with pytest.raises(NoSearchError, match=r"several searches \(one, two\).*--project"):
        read_results(tmp_path)
    assert read_results(tmp_path, project="two").project == "two"


def test_an_unknown_project_in_a_storage_lists_the_known_ones(finished):
    url = f"sqlite:///{finished / 'search.db'}"
    with pytest.raises(NoSearchError, match=r"no search 'nope'.*'search'"):
        read_results(storage=url, project="nope")


def test_unknown_names_list_the_known_ones(finished):
    results = read_results(finished)
    with pytest.raises(UnknownNameError, match=r"hyperparameter 'lrate'.*'lr', 'units'"):
        results.check_hyperparameters(["lrate"])
    with pytest.raises(UnknownNameError, match=r"metric 'acc'.*'val_loss', 'val_accuracy'"):
        results.check_metric("acc")


def test_the_reader_cannot_write(finished):
    storage = ReadOnlySQLiteStorage(finished / "search.db")
    with pytest.raises(SearchStateError, match="readonly"):
        with storage.transaction("a new project"):  # creating a project writes
            pass
    storage.close()


def test_a_file_of_another_program_is_refused_unchanged(tmp_path):
    path = tmp_path / "search.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE other (x)")
    before = path.read_bytes()
    with pytest.raises(SearchStateError, match="not an e2etune search state"):
        read_results(tmp_path)
    assert path.read_bytes() == before


def test_the_reader_reads_only_what_changed(tmp_path):
    tuner = make_tuner(tmp_path, max_trials=4)
    reader = open_reader(tmp_path / "search")
    assert reader.results().trials == []
    tuner.search(verbose=0)
    first = reader.results()
    assert len(first.trials) == 4 and first.revision > 0
    tuner.oracle.max_trials = 6
    tuner.search(verbose=0)
    assert [t.trial_id for t in reader.results().trials] == list(tuner.oracle.trials)
    assert len(tuner.oracle.trials) == 6
    reader.close()
    tuner.oracle.close()


def test_a_locked_storage_is_reported_after_a_short_wait(finished):
    # A connection in exclusive locking mode that wrote keeps every reader out (WAL included).
    holder = sqlite3.connect(finished / "search.db", isolation_level=None)
    holder.execute("PRAGMA locking_mode=EXCLUSIVE")
    holder.execute("BEGIN EXCLUSIVE")
    holder.execute("UPDATE e2etune_meta SET value = value")
    start = time.monotonic()
    try:
        with pytest.raises(StorageBusyError, match="locked by another process"):
            read_results(finished, timeout=0.5)
    finally:
        holder.execute("ROLLBACK")
        holder.close()
    assert time.monotonic() - start < 10
    assert len(read_results(finished).trials) == 12


def test_a_search_file_being_created_is_waited_for_then_reported(tmp_path):
    (tmp_path / "search.db").touch()
    start = time.monotonic()
    with pytest.raises(NoSearchError, match="no search state yet"):
        read_results(tmp_path, timeout=0.3)
    assert 0.3 <= time.monotonic() - start < 10
    assert (tmp_path / "search.db").stat().st_size == 0


def test_a_status_this_version_does_not_know_is_counted_under_its_own_name():
    from e2etune.protos import e2etune_pb2
    from e2etune.results._reader import decode_trial

    data = e2etune_pb2.Trial(trial_id="7", status=e2etune_pb2.COMPLETED).SerializeToString()
    assert decode_trial(data, 0, 99).status == "STATUS_99"
    assert decode_trial(data, 0, e2etune_pb2.FAILED).status == "FAILED"  # the row's status

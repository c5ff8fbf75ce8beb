"""Storage transactions on SQLite and PostgreSQL: round trips, revisions and changes,
all-or-nothing commits, spaces stored once, clearing, workers and leases, the clock,
lock-free reads, projects kept apart.

Each test runs on both backends (the `url` fixture): an SQLite file, or a fresh
PostgreSQL database.
"""

from __future__ import annotations

import time

import pytest
from storage_helpers import COMPLETED, RUNNING, ids, record, write

from e2etune.errors import SearchStateError
from e2etune.storage import Changes, StateRecord, TrialRecord, WorkerRecord

# Transactions.


def test_a_new_storage_is_empty(storage):
    assert storage.projects() == []
    assert storage.read("p") == Changes(0, [], None, False)
    assert storage.spaces("p") == {}
    assert storage.projects() == []  # reading creates nothing


def test_trials_state_and_spaces_round_trip(open_storage):
    first = open_storage()
    data = bytes(range(256)) * 3  # every byte value, NUL included
    with first.transaction("p") as transaction:
        space_id = transaction.space_id(b"\x00space\xff")
        transaction.put_trial(record("b", 0, space_id, RUNNING, "worker-1", data))
        transaction.put_trial(record("a", 1, space_id, COMPLETED, None, b""))
        transaction.put_state(StateRecord(space_id, b"\x00state"))
    first.close()
    second = open_storage()
    expected = [TrialRecord("b", 0, space_id, RUNNING, "worker-1", data),
                TrialRecord("a", 1, space_id, COMPLETED, None, b"")]
    read = second.read("p")
    assert (read.revision, read.trials, read.state, read.cleared) == (
        1, expected, StateRecord(space_id, b"\x00state"), False)
    assert all(type(r.data) is bytes for r in read.trials)
    assert second.spaces("p") == {space_id: b"\x00space\xff"}
    with second.transaction("p") as transaction:
        assert transaction.changes(0) == read
        assert transaction.space(space_id) == b"\x00space\xff"


def test_an_update_replaces_the_trial_and_keeps_its_place(storage):
    write(storage, "p", ("x", 0), ("y", 1))
    with storage.transaction("p") as transaction:
        space_id = transaction.space_id(b"other space")
        transaction.put_trial(record("x", 7, space_id, RUNNING, "w", b"new"))
    trials = storage.read("p").trials
    assert trials[0] == TrialRecord("x", 0, space_id, RUNNING, "w", b"new")
    assert ids(storage.read("p")) == ["x", "y"]


def test_changes_since_a_revision_are_what_was_written_after_it_in_creation_order(storage):
    first = write(storage, "p", ("c", 2), ("a", 0), state=b"s1")  # numbers, not insertion order
    assert first == 1
    second = write(storage, "p", ("b", 1), ("a", 0))
    third = write(storage, "p", ("d", 3), state=b"s3")
    assert (second, third) == (2, 3)
    with storage.transaction("p") as transaction:
        assert transaction.revision == 3
        assert ids(transaction.changes(0)) == ["a", "b", "c", "d"]
        assert ids(transaction.changes(first)) == ["a", "b", "d"]
        assert ids(transaction.changes(second)) == ["d"]
        assert transaction.changes(third) == Changes(3, [], None, False)
        assert transaction.changes(0).state.data == b"s3"
        assert transaction.changes(first).state.data == b"s3"
    assert ids(storage.read("p", first)) == ["a", "b", "d"]
    between = storage.read("p", 0)
    assert between.revision == 3 and ids(between) == ["a", "b", "c", "d"]
    write(storage, "p", ("e", 4))  # no state: readers since 3 get none
    assert storage.read("p", third).state is None
    assert storage.read("p", second).state.data == b"s3"


def test_next_revision_is_higher_only_after_a_write(storage):
    with storage.transaction("p") as transaction:
        assert (transaction.revision, transaction.next_revision) == (0, 0)
        space_id = transaction.space_id(b"space")  # a new space is a write
        assert transaction.next_revision == 1
        transaction.put_trial(record("0", 0, space_id))
        transaction.put_state(StateRecord(space_id, b"s"))
        assert transaction.next_revision == 1  # one transaction, one revision
    with storage.transaction("p") as transaction:
        assert (transaction.revision, transaction.next_revision) == (1, 1)
        transaction.space_id(b"space")  # a known space is no write
        transaction.changes(0)
        assert transaction.next_revision == 1
    assert storage.read("p").revision == 1
    with storage.transaction("p") as transaction:
        transaction.put_state(StateRecord(0, b"s2"))
        assert transaction.next_revision == 2
    assert storage.read("p").revision == 2


def test_a_transaction_that_raises_writes_nothing(open_storage):
    storage = open_storage()
    write(storage, "p", ("0", 0), state=b"before")
    before = storage.read("p")
    worker = WorkerRecord("w1", "host", 1, 0, 1e12)
    with pytest.raises(RuntimeError):
        with storage.transaction("p") as transaction:
            transaction.clear()
            raise RuntimeError("simulated")
    with pytest.raises(RuntimeError):
        with storage.transaction("new project") as transaction:
            transaction.put_trial(record("0", 0, transaction.space_id(b"space")))
            raise RuntimeError("simulated")
    with pytest.raises(RuntimeError, match="simulated"):
        with storage.transaction("p") as transaction:
            new_space = transaction.space_id(b"a new space")
            transaction.put_trial(record("1", 1, new_space))
            transaction.put_trial(record("0", 0, new_space, data=b"changed"))
            transaction.put_state(StateRecord(new_space, b"after"))
            transaction.put_worker(worker)
            raise RuntimeError("simulated")
    for reader in (storage, open_storage()):
        assert reader.read("p") == before
        assert reader.spaces("p") == {0: b"space"}
        assert reader.projects() == ["p"]
        with reader.transaction("p") as transaction:
            assert transaction.workers() == {}
    # The space of the failed transaction is stored when a later one uses it.
    with storage.transaction("p") as transaction:
        new_space = transaction.space_id(b"a new space")
        transaction.put_trial(record("1", 1, new_space))
    assert storage.spaces("p") == {0: b"space", new_space: b"a new space"}
    with open_storage().transaction("p") as transaction:
        assert transaction.space(transaction.changes(0).trials[1].space_id) == b"a new space"


def test_a_space_is_stored_once_and_found_by_content(open_storage):
    first = open_storage()
    keys = []
    for i in range(5):
        with first.transaction("p") as transaction:
            keys.append(transaction.space_id(b"space A"))
            keys.append(transaction.space_id(b"space B" if i >= 2 else b"space A"))
            transaction.put_trial(record(str(i), i, keys[-1]))
    assert len(set(keys)) == 2
    a, b = keys[0], keys[-1]
    second = open_storage()  # knows nothing yet: finds the spaces by their content
    with second.transaction("p") as transaction:
        assert transaction.space_id(b"space B") == b
        assert transaction.space_id(b"space A") == a
        assert transaction.next_revision == transaction.revision  # nothing stored again
        assert transaction.space(a) == b"space A" and transaction.space(b) == b"space B"
        with pytest.raises(KeyError, match="99"):
            transaction.space(99)
    assert second.spaces("p") == {a: b"space A", b: b"space B"}
    assert second.spaces("another project") == {}


def test_clear_deletes_a_project_and_another_connection_sees_it(open_storage):
    writer, reader = open_storage(), open_storage()
    with writer.transaction("p") as transaction:
        old_space = transaction.space_id(b"old space")
        transaction.put_trial(record("0", 0, old_space))
        transaction.put_trial(record("1", 1, old_space))
        transaction.put_state(StateRecord(old_space, b"old state"))
        transaction.put_worker(WorkerRecord("w", "host", 1, 0, 1e12))
    seen = reader.read("p")
    with reader.transaction("p") as transaction:  # caches the old space
        assert transaction.space(old_space) == b"old space"
    with writer.transaction("p") as transaction:
        transaction.clear()
        assert transaction.changes(seen.revision) == Changes(seen.revision, [], None, True)
        assert transaction.workers() == {}
        new_space = transaction.space_id(b"new space")
        transaction.put_trial(record("a", 0, new_space))
        cleared_at = transaction.next_revision
    assert cleared_at == seen.revision + 1
    assert writer.spaces("p") == {new_space: b"new space"}
    changes = reader.read("p", seen.revision)
    assert (changes.cleared, ids(changes), changes.state) == (True, ["a"], None)
    assert reader.read("p", cleared_at).cleared is False
    assert reader.read("p", 0).cleared is False  # a reader from scratch has nothing to forget
    with reader.transaction("p") as transaction:
        changes = transaction.changes(seen.revision)
        assert (changes.cleared, ids(changes), changes.state) == (True, ["a"], None)
        assert transaction.workers() == {}
        assert transaction.space(new_space) == b"new space"  # not what it cached before
        if new_space != old_space:
            with pytest.raises(KeyError):
                transaction.space(old_space)
        assert transaction.space_id(b"old space") not in (None, new_space)  # stored anew
    assert set(reader.spaces("p").values()) == {b"new space", b"old space"}


def test_clear_drops_the_state_put_before_it_in_the_same_transaction(storage):
    write(storage, "p", ("0", 0), state=b"old")
    with storage.transaction("p") as transaction:
        transaction.put_state(StateRecord(transaction.space_id(b"space"), b"newer"))
        transaction.clear()
    changes = storage.read("p")
    assert (changes.trials, changes.state) == ([], None)
    assert storage.spaces("p") == {}


def test_workers_are_put_renewed_and_removed(open_storage):
    storage = open_storage()
    one = WorkerRecord("token-1", "host-a/boot", 101, 5000, 1234.5)
    two = WorkerRecord("token-2", "host-b/boot", 202, 0, 99.25)
    with storage.transaction("p") as transaction:
        transaction.put_worker(one)
        transaction.put_worker(two)
        assert transaction.workers() == {"token-1": one, "token-2": two}
    moved = WorkerRecord("token-1", "host-c/boot", 303, 7, 4321.0)
    with storage.transaction("p") as transaction:
        transaction.put_worker(moved)  # replaces the whole record
        transaction.remove_worker("token-2")
        transaction.remove_worker("nobody")  # nothing happens
    with storage.transaction("p") as transaction:
        assert transaction.workers() == {"token-1": moved}
    other = open_storage()  # has not opened the project yet
    for renewing in (storage, other):
        with storage.transaction("p") as transaction:
            start = transaction.now()
        renewing.renew_lease("p", one, 30.0)
        renewing.renew_lease("p", two, 60.0)  # registers a worker that is not
        with storage.transaction("p") as transaction:
            end = transaction.now()
            workers = transaction.workers()
        assert set(workers) == {"token-1", "token-2"}
        assert start + 30.0 - 1 <= workers["token-1"].expires <= end + 30.0 + 1
        assert start + 60.0 - 1 <= workers["token-2"].expires <= end + 60.0 + 1
        assert workers["token-2"].host == "host-b/boot" and workers["token-2"].pid == 202
    other.renew_lease("unknown project", one, 30.0)
    assert "unknown project" not in storage.projects()
    with storage.transaction("q") as transaction:
        assert transaction.workers() == {}  # workers belong to their project


def test_now_is_the_storage_clock_in_seconds(storage):
    with storage.transaction("p") as transaction:
        first = transaction.now()
        assert isinstance(first, float)
        assert abs(first - time.time()) < 120  # the server runs on this host
        time.sleep(0.05)
        second = transaction.now()
    assert second > first
    with storage.transaction("p") as transaction:
        assert transaction.now() >= second


def test_read_takes_no_lock_and_sees_the_last_commit(open_storage):
    writer, reader = open_storage(), open_storage()
    write(writer, "p", ("0", 0), state=b"one")
    with writer.transaction("p") as transaction:
        transaction.put_trial(record("1", 1, transaction.space_id(b"space")))
        transaction.put_state(StateRecord(0, b"two"))
        started = time.monotonic()
        during = reader.read("p")
        since = reader.read("p", during.revision)
        elapsed = time.monotonic() - started
    assert (during.revision, ids(during), during.state.data) == (1, ["0"], b"one")
    assert since == Changes(1, [], None, False)
    assert elapsed < 20  # it did not wait for the writer (SQLite would wait 60 s)
    after = reader.read("p", during.revision)
    assert (after.revision, ids(after), after.state.data) == (2, ["1"], b"two")


def test_projects_in_one_database_are_kept_apart(storage):
    with storage.transaction("alpha") as transaction:
        alpha_space = transaction.space_id(b"alpha space")
        transaction.put_trial(record("0", 0, alpha_space, data=b"alpha 0"))
        transaction.put_state(StateRecord(alpha_space, b"alpha state"))
        transaction.put_worker(WorkerRecord("w", "h", 1, 0, 1.0))
    for i in range(3):
        with storage.transaction("beta") as transaction:
            beta_space = transaction.space_id(b"beta space")
            transaction.put_trial(record("0", 0, beta_space, data=b"beta %d" % i))
    alpha, beta = storage.read("alpha"), storage.read("beta")
    assert (alpha.revision, [r.data for r in alpha.trials]) == (1, [b"alpha 0"])
    assert (beta.revision, [r.data for r in beta.trials], beta.state) == (3, [b"beta 2"], None)
    assert storage.spaces("alpha") == {alpha_space: b"alpha space"}
    assert storage.spaces("beta") == {beta_space: b"beta space"}
    with storage.transaction("beta") as transaction:
        assert transaction.workers() == {}
        transaction.clear()
    assert storage.read("alpha") == alpha
    assert storage.spaces("alpha") == {alpha_space: b"alpha space"}
    with storage.transaction("alpha") as transaction:
        assert set(transaction.workers()) == {"w"}


def test_projects_lists_every_project_in_creation_order(open_storage):
    storage = open_storage()
    for name in ("b", "a", "c", "a"):
        with storage.transaction(name):
            pass
    storage.read("never written")
    assert storage.projects() == ["b", "a", "c"]
    assert open_storage().projects() == ["b", "a", "c"]


def test_a_closed_storage_refuses_to_work(storage):
    write(storage, "p", ("0", 0))
    storage.close()
    storage.close()  # twice is fine
    with pytest.raises(SearchStateError, match="closed"):
        storage.read("p")
    with pytest.raises(SearchStateError, match="closed"):
        with storage.transaction("p"):
            pass

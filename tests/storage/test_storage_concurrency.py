"""Several connections and processes on one storage: locks, lost updates, snapshots."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time

from storage_helpers import ROOT, SecretURL, ids, record, write

from e2etune.storage import BaseStorage, StateRecord, TrialRecord, from_url


def test_a_transaction_waits_until_the_one_holding_the_lock_commits(open_storage):
    first, second = open_storage(), open_storage()
    write(first, "p", ("0", 0))
    events: list[str] = []
    seen: list[list[str]] = []
    failures: list[BaseException] = []
    holding, trying = threading.Event(), threading.Event()

    def other() -> None:
        try:
            holding.wait(30)
            events.append("second tries")
            trying.set()
            with second.transaction("p") as transaction:
                events.append("second holds")
                seen.append(ids(transaction.changes(0)))
        except BaseException as error:  # reported below
            failures.append(error)

    thread = threading.Thread(target=other)
    thread.start()
    with first.transaction("p") as transaction:
        holding.set()
        assert trying.wait(30)
        time.sleep(0.5)  # ample time for the other to get in, were it not locked out
        transaction.put_trial(record("1", 1, transaction.space_id(b"space")))
        events.append("first commits")
    thread.join(60)
    assert not thread.is_alive() and failures == []
    assert events == ["second tries", "first commits", "second holds"]
    assert seen == [["0", "1"]]  # and it saw what the first committed


def test_concurrent_transactions_lose_no_update(open_storage):
    storages = [open_storage() for _ in range(3)]
    failures: list[BaseException] = []

    def count(storage: BaseStorage) -> None:
        try:
            for _ in range(20):
                with storage.transaction("p") as transaction:
                    state = transaction.changes(0).state
                    value = int(state.data) if state else 0
                    space_id = transaction.space_id(b"s")
                    transaction.put_state(StateRecord(space_id, b"%d" % (value + 1)))
        except BaseException as error:
            failures.append(error)

    threads = [threading.Thread(target=count, args=(s,)) for s in storages]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == []
    changes = storages[0].read("p")
    assert changes.state.data == b"60" and changes.revision == 60


def test_postgres_transactions_on_other_projects_do_not_wait(postgres):
    url = SecretURL(postgres.new_database())
    first, second = from_url(url), from_url(url)
    try:
        write(first, "other", ("0", 0))
        done = threading.Event()

        def other() -> None:
            write(second, "other", ("1", 1))
            done.set()

        with first.transaction("p") as transaction:
            transaction.put_trial(record("0", 0, transaction.space_id(b"space")))
            thread = threading.Thread(target=other)
            thread.start()
            assert done.wait(30), "a transaction on another project waited for this one"
        thread.join(30)
        assert ids(first.read("other")) == ["0", "1"]
    finally:
        first.close()
        second.close()


_WRITER = textwrap.dedent("""
    import sys, threading
    from e2etune.storage import StateRecord, TrialRecord, from_url

    storage = from_url(sys.stdin.readline().strip())
    stop = threading.Event()

    def commit(i):
        with storage.transaction("p") as transaction:
            space = transaction.space_id(b"space")
            if i:
                transaction.put_trial(TrialRecord(f"t{i}", i, space, 5, None, b"x" * 64))
            transaction.put_trial(TrialRecord("head", 0, space, 5, None, b"%d" % i))
            transaction.put_state(StateRecord(space, b"%d" % i))

    def run():
        i = 1
        while not stop.is_set() and i < 200000:
            commit(i)
            i += 1

    commit(0)
    thread = threading.Thread(target=run)
    thread.start()
    print("ready", flush=True)
    sys.stdin.read()
    stop.set()
    thread.join()
    storage.close()
""")


def test_readers_see_consistent_snapshots_while_another_process_writes(open_storage, url):
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    writer = subprocess.Popen([sys.executable, "-c", _WRITER], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        writer.stdin.write(url + "\n")
        writer.stdin.flush()
        assert writer.stdout.readline().strip() == "ready", writer.stderr.read()[-2000:]
        reader = open_storage()
        known: dict[str, TrialRecord] = {}
        revision, revisions, reads = 0, set(), 0
        deadline = time.monotonic() + 30
        while (len(revisions) < 8 or reads < 40) and time.monotonic() < deadline:
            assert writer.poll() is None, writer.stderr.read()[-2000:]
            whole = reader.read("p")  # one snapshot: state, head and trials of one commit
            count = len(whole.trials) - 1
            assert whole.state.data == b"%d" % count == whole.trials[0].data
            assert whole.revision >= revision
            changes = reader.read("p", revision)  # only what is new, of one later commit
            assert not changes.cleared and changes.revision >= whole.revision
            if changes.revision > revision:
                known.update((r.trial_id, r) for r in changes.trials)
                assert changes.state.data == b"%d" % (len(known) - 1) == known["head"].data
            revision = changes.revision
            revisions.add(revision)
            reads += 1
        assert len(revisions) >= 8, "the reads did not overlap the writes"
    finally:
        writer.communicate("", timeout=60)
    assert writer.returncode == 0

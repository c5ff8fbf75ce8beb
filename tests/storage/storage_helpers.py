"""Helpers of the storage tests: records, one-transaction writes, SQL behind a storage's back."""

from __future__ import annotations

import pathlib
import socket
import sqlite3

from e2etune.protos import e2etune_pb2
from e2etune.storage import BaseStorage, Changes, StateRecord, TrialRecord
from e2etune.storage.url import redact, sqlite_path

#: The repository's root, for the `PYTHONPATH` of subprocesses.
ROOT = pathlib.Path(__file__).resolve().parents[2]
COMPLETED = e2etune_pb2.COMPLETED
RUNNING = e2etune_pb2.RUNNING


class SecretURL(str):
    """A storage URL whose repr hides its password: pytest shows a failing test's arguments."""

    def __repr__(self) -> str:
        return repr(redact(str(self)))


def hide(text: str, *secrets: str) -> str:
    """`text` with each secret replaced by `***`, so that a failing assert can show it."""
    for secret in secrets:
        text = text.replace(secret, "***")
    return text


def record(trial_id: str, number: int, space_id: int, status: int = COMPLETED,
           worker: str | None = None, data: bytes | None = None) -> TrialRecord:
    return TrialRecord(trial_id, number, space_id, status, worker,
                       data if data is not None else f"trial {trial_id}".encode())


def ids(changes: Changes) -> list[str]:
    return [r.trial_id for r in changes.trials]


def write(storage: BaseStorage, project: str, *trials: tuple[str, int],
          state: bytes | None = None, space: bytes = b"space") -> int:
    """Commits trials `(id, number)` (and the state) in one transaction; the new revision."""
    with storage.transaction(project) as transaction:
        space_id = transaction.space_id(space)
        for trial_id, number in trials:
            transaction.put_trial(record(trial_id, number, space_id))
        if state is not None:
            transaction.put_state(StateRecord(space_id, state))
        return transaction.next_revision


def execute(url: str, query: str, params: tuple = ()) -> None:
    """Runs one statement on the database behind the storage's back (`?` placeholders)."""
    if url.startswith("sqlite"):
        connection = sqlite3.connect(sqlite_path(url))
        with connection:
            connection.execute(query, params)
        connection.close()
        return
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=10) as connection:
        connection.execute(query.replace("?", "%s"), params)


def free_port() -> int:
    """A TCP port of 127.0.0.1 where nothing listens (for now)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def leaks(texts: list[str], *secrets: str) -> bool:
    """Whether any secret appears in any text (a bare bool: a failing assert shows neither)."""
    return any(secret in text for secret in secrets for text in texts)

"""`PostgresStorage`: searches in a PostgreSQL database, shared by processes on many hosts."""

from __future__ import annotations

import contextlib
import functools
from typing import Any

from e2etune.errors import SearchStateError
from e2etune.storage._sql import SQLStorage
from e2etune.storage.url import PASSWORD_PARAMETER, credentials, describe, redact

#: Key of the advisory lock under which the tables are created.
_SCHEMA_LOCK = 0x6532_6554_756E_6501


class PostgresStorage(SQLStorage):
    """Searches saved in a PostgreSQL database (needs `pip install "e2etune[postgres]"`).

    Every worker of a search, on any host, connects to the same database;
    a transaction locks its project's row (`SELECT ... FOR UPDATE`), so the
    workers of one search take turns while other searches in the database
    go on undisturbed. Leases are measured on the server's clock, so hosts'
    clocks need not agree. The tables are named `e2etune_*` and may share a
    database with other applications.

    Args:
        url: A libpq URL, e.g. `"postgresql://user:password@host:5432/db"`.
            The password never appears in logs, errors or `repr`.
        connect_timeout: Seconds to wait for the server. Defaults to 10.

    Raises:
        SearchStateError: if psycopg is missing, the server cannot be reached
            or refuses the credentials (the message names the server and the
            cause), or the database was written by an incompatible version.
    """

    _BLOB = "BYTEA"
    _ID_TYPE = "BIGSERIAL PRIMARY KEY"
    _FOR_UPDATE = " FOR UPDATE"
    _NOW = "CAST(extract(epoch from clock_timestamp()) AS DOUBLE PRECISION)"

    def __init__(self, url: str, connect_timeout: float = 10.0) -> None:
        super().__init__()
        try:
            import psycopg
        except ImportError:
            raise SearchStateError(
                f"The storage {redact(url)} is a PostgreSQL database, which needs the psycopg "
                'driver: pip install "e2etune[postgres]".') from None
        self._psycopg = psycopg
        self._secret_url = url
        self.url = redact(url)
        self._timeout = connect_timeout
        self._open()

    def _connect(self) -> Any:
        try:
            return self._psycopg.connect(self._secret_url, autocommit=True,
                                         connect_timeout=max(1, round(self._timeout)))
        except Exception as error:
            raise self._error(error) from None

    def _sql(self, query: str) -> str:
        return _placeholders(query)

    def _begin_write(self) -> None:
        try:
            self._execute("BEGIN")
        except self._psycopg.OperationalError:
            # The server closed an idle connection (restart, failover): connect once more.
            # Should that fail too, the broken connection stays, and the next call tries again.
            broken, self._connection = self._connection, self._connect()
            with contextlib.suppress(Exception):
                broken.close()
            self._execute("BEGIN")

    def _begin_read(self) -> None:
        self._execute("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")

    def _lock_schema(self) -> None:
        self._execute("SELECT pg_advisory_xact_lock(?)", (_SCHEMA_LOCK,))

    def _tables(self) -> set[str]:
        return {row[0] for row in self._rows(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()")}

    def _error(self, error: Exception) -> Exception:
        if not isinstance(error, self._psycopg.Error):
            return error
        cause = " ".join(str(error).split())
        for password in _passwords(self._secret_url):
            cause = cause.replace(password, "***")
        if isinstance(error, self._psycopg.OperationalError):
            return SearchStateError(
                f"Could not use the PostgreSQL storage at {describe(self._secret_url)} ({cause}). "
                "Check that the server runs and accepts connections from this host, and the "
                "user name and password in the storage URL.")
        return SearchStateError(f"The PostgreSQL storage {self.url} refused a query ({cause}).")


@functools.lru_cache(maxsize=256)
def _placeholders(query: str) -> str:
    return query.replace("?", "%s")


def _passwords(url: str) -> list[str]:
    """The passwords a URL holds, as written and decoded, longest first (to hide them)."""
    from urllib.parse import unquote

    found = [credentials(url)[2] or ""]
    found += [match.group(2).strip("'") for match in PASSWORD_PARAMETER.finditer(url)]
    return sorted({p for raw in found for p in (raw, unquote(raw)) if p}, key=len, reverse=True)

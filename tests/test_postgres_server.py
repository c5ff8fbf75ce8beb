"""The throwaway PostgreSQL server of tests/postgres_server.py works as the backend tests need."""

from __future__ import annotations

import socket
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from postgres_server import PostgresServer

try:
    import psycopg
except ImportError:  # the `postgres` fixture skips (or fails in CI) first
    psycopg = None


def _connect(url: str, **kwargs: object) -> "psycopg.Connection":
    return psycopg.connect(url, connect_timeout=10, autocommit=True, **kwargs)


def test_url_connects_and_selects(postgres: PostgresServer) -> None:
    parts = urlsplit(postgres.url)
    assert (parts.scheme, parts.hostname, parts.port) == ("postgresql", "127.0.0.1", postgres.port)
    assert (parts.username, parts.password) == (postgres.user, postgres.password)
    with _connect(postgres.url) as conn:
        assert conn.execute("SELECT 1").fetchone() == (1,)
        assert conn.execute("SELECT current_user, current_database()").fetchone() == (
            "e2etune", "e2etune")


def test_new_database_is_fresh_and_writable(postgres: PostgresServer) -> None:
    first, second = postgres.new_database(), postgres.new_database()
    assert first != second
    with _connect(first) as conn:
        conn.execute("CREATE TABLE t (id SERIAL PRIMARY KEY, v TEXT NOT NULL)")
        conn.execute("INSERT INTO t (v) VALUES ('a'), ('b')")
        assert conn.execute("SELECT count(*) FROM t").fetchone() == (2,)
    with _connect(second) as conn:
        assert conn.execute("SELECT to_regclass('public.t')").fetchone() == (None,)


def test_new_database_by_name(postgres: PostgresServer) -> None:
    url = postgres.new_database("named_db")
    assert urlsplit(url).path == "/named_db"
    with _connect(url) as conn:
        assert conn.execute("SELECT current_database()").fetchone() == ("named_db",)
    with pytest.raises(ValueError):
        postgres.new_database("Bad-Name; DROP")


def test_wrong_or_missing_password_is_refused(
    postgres: PostgresServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        _connect(postgres.url.replace(postgres.password, "not-" + postgres.password))
    with pytest.raises(psycopg.OperationalError, match="password"):
        _connect(f"postgresql://{postgres.user}@{postgres.host}:{postgres.port}/{postgres.database}")
    assert "password authentication failed" in postgres.log_file.read_text()
    assert postgres.password not in postgres.log_file.read_text()


def _tcp_listeners(port: int) -> set[str]:
    """Local addresses of the sockets listening on `port`, from /proc/net."""
    found = set()
    for table, family in (("/proc/net/tcp", socket.AF_INET), ("/proc/net/tcp6", socket.AF_INET6)):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            local, _, state = row.split()[1:4]
            address, hex_port = local.split(":")
            if state != "0A" or int(hex_port, 16) != port:  # 0A: LISTEN
                continue
            raw = bytes.fromhex(address)
            # /proc prints each 32-bit word in host (little-endian) order.
            raw = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
            found.add(socket.inet_ntop(family, raw))
    return found


def test_listens_on_127_0_0_1_only(postgres: PostgresServer) -> None:
    with _connect(postgres.url) as conn:
        assert conn.execute("SHOW listen_addresses").fetchone() == ("127.0.0.1",)
    if Path("/proc/net/tcp").exists():
        assert _tcp_listeners(postgres.port) == {"127.0.0.1"}
    # Another loopback address (Linux routes all of 127/8 to lo) finds nobody.
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        try:
            s.connect(("127.0.0.2", postgres.port))
        except OSError:
            pass
        else:
            pytest.fail("the server accepted a connection on 127.0.0.2")


def test_repr_hides_password(postgres: PostgresServer) -> None:
    assert postgres.password not in repr(postgres)
    assert str(postgres.port) in repr(postgres)

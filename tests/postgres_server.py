"""A throwaway PostgreSQL server for the tests, and the session fixture `postgres`.

`PostgresServer.start()` runs `initdb` into a fresh temporary folder and starts
the cluster on a free port of 127.0.0.1 only (unix socket inside that folder),
with TCP logins by password (scram-sha-256) for a role `e2etune` whose random
password is made here. When the process runs as root, the server runs as the
`postgres` system user (PostgreSQL refuses root).

Run as a script, `python tests/postgres_server.py --check` exits 0 when the
server binaries are found (and prints their folder), 1 otherwise; `.ci/run`
uses it to decide whether to install them.
"""

from __future__ import annotations

import atexit
import dataclasses
import itertools
import os
import pwd
import re
import secrets
import shutil
import socket
import stat
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any, Iterator

import pytest

#: The commands the server needs; all three come from the same folder.
BINARIES = ("initdb", "pg_ctl", "postgres")
#: How to get them, for the skip/failure message.
INSTALL_HINT = "sudo apt-get install -y postgresql   (or: brew install postgresql)"
#: The role and database that the tests use.
ROLE = "e2etune"
#: The cluster's superuser, reachable only through the unix socket.
SUPERUSER = "postgres"
#: System user that runs the server when the tests run as root.
SYSTEM_USER = "postgres"
#: Created only when running as root and `SYSTEM_USER` does not exist.
FALLBACK_SYSTEM_USER = "e2etune-pg"

_SETTINGS = {
    "listen_addresses": "'127.0.0.1'",
    "unix_socket_permissions": "0700",
    "fsync": "off",
    "synchronous_commit": "off",
    "full_page_writes": "off",
    "wal_level": "minimal",
    "max_wal_senders": "0",
    "shared_buffers": "16MB",
    "max_connections": "100",
    "password_encryption": "'scram-sha-256'",
    "logging_collector": "off",
    "timezone": "'UTC'",
}
_HBA = (
    "# Written by tests/postgres_server.py.\n"
    "# The socket lives in a folder only the server's user can enter.\n"
    "local all all trust\n"
    "host all all 127.0.0.1/32 scram-sha-256\n"
)
_DB_NAME = re.compile(r"[a-z_][a-z0-9_]{0,62}\Z")
_SOCKET_PATH_MAX = 100  # sun_path holds 108 bytes on Linux, 104 on macOS


def in_ci() -> bool:
    """Whether the `CI` environment variable says this is a CI run."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def find_bindir() -> Path | None:
    """The folder holding `initdb`, `pg_ctl` and `postgres`, or None.

    PATH comes first, then the newest `/usr/lib/postgresql/<version>/bin`
    (where Debian's packages put them, off PATH).
    """
    initdb = shutil.which("initdb")
    if initdb:
        # Resolved, as initdb finds `postgres` next to its real self.
        folder = Path(initdb).resolve().parent
        if all(os.access(folder / name, os.X_OK) for name in BINARIES):
            return folder

    def version(path: Path) -> tuple[int, ...]:
        return tuple(int(part) for part in re.findall(r"\d+", path.parent.name)) or (0,)

    candidates = [
        d for d in Path("/usr/lib/postgresql").glob("*/bin")
        if all(os.access(d / name, os.X_OK) for name in BINARIES)
    ]
    return max(candidates, key=version, default=None)


@dataclasses.dataclass(frozen=True)
class _RunAs:
    """The OS account the server's commands run under."""

    name: str
    uid: int
    gid: int
    groups: tuple[int, ...]

    @classmethod
    def for_this_process(cls) -> _RunAs:
        """This process's own account, or a system account when it is root."""
        if os.geteuid() != 0:
            entry = pwd.getpwuid(os.geteuid())
            return cls(entry.pw_name, os.geteuid(), os.getegid(), ())
        for name in (SYSTEM_USER, FALLBACK_SYSTEM_USER):
            try:
                entry = pwd.getpwnam(name)
            except KeyError:
                continue
            if entry.pw_uid != 0:
                return cls._of(entry)
        # Last resort: a system account of our own, left in place for next time.
        useradd = shutil.which("useradd")
        if useradd is None:
            raise RuntimeError(
                f"running as root, no {SYSTEM_USER!r} user and no useradd to create one; "
                f"install PostgreSQL ({INSTALL_HINT}) or run the tests as another user"
            )
        subprocess.run(
            [useradd, "--system", "--user-group", "--no-create-home",
             "--home-dir", "/nonexistent", "--shell", "/usr/sbin/nologin",
             FALLBACK_SYSTEM_USER],
            check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=60,
        )
        return cls._of(pwd.getpwnam(FALLBACK_SYSTEM_USER))

    @classmethod
    def _of(cls, entry: pwd.struct_passwd) -> _RunAs:
        return cls(entry.pw_name, entry.pw_uid, entry.pw_gid,
                   tuple(os.getgrouplist(entry.pw_name, entry.pw_gid)))

    @property
    def switches(self) -> bool:
        """Whether commands must change user (we are root, it is not)."""
        return self.uid != os.geteuid()

    def can_enter(self, folder: Path) -> bool:
        """Whether this account may traverse `folder` and each folder above it."""
        for path in (folder, *folder.parents):
            st = path.stat()
            if st.st_uid == self.uid:
                bit = stat.S_IXUSR
            elif st.st_gid in (self.gid, *self.groups):
                bit = stat.S_IXGRP
            else:
                bit = stat.S_IXOTH
            if not st.st_mode & bit:
                return False
        return True


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _import_psycopg() -> Any:
    try:
        import psycopg
    except ImportError as exc:
        raise RuntimeError(
            'psycopg is missing: pip install -e ".[test]"  (or "psycopg[binary]>=3.1")'
        ) from exc
    return psycopg


class PostgresServer:
    """A running throwaway PostgreSQL cluster; `start()` makes one.

    Attributes:
        host: "127.0.0.1", the only address it listens on.
        port: Its TCP port.
        user: The role for the tests, "e2etune".
        password: That role's random password (never logged; hidden in repr).
        database: The role's default database, "e2etune".
        url: `postgresql://e2etune:<password>@127.0.0.1:<port>/e2etune`.
        socket_dir: Folder of its unix socket (superuser, no password).
    """

    host = "127.0.0.1"
    user = ROLE
    database = ROLE

    def __init__(self, bindir: Path, root: Path, run_as: _RunAs) -> None:
        """Use `start()`; this only records where things are."""
        self.bindir = bindir
        self.root = root
        self.data_dir = root / "data"
        self.socket_dir = root
        self.log_file = root / "server.log"
        self.port = 0
        self.password = secrets.token_urlsafe(24)  # URL-safe: no quoting needed
        self._run_as = run_as
        self._started = False
        self._stopped = False
        self._lock = threading.Lock()
        self._counter = itertools.count(1)

    # -- life cycle ---------------------------------------------------------

    @classmethod
    def start(cls, bindir: Path | None = None, timeout: float = 60.0) -> PostgresServer:
        """Create, start and set up a cluster in a new temporary folder.

        Args:
            bindir: Folder of the server binaries; `find_bindir()` by default.
            timeout: Seconds allowed for each server command.

        Raises:
            FileNotFoundError: if the binaries are not found.
            RuntimeError: if a command fails (its output and the server log
                are in the message; the password never is).
        """
        bindir = bindir or find_bindir()
        if bindir is None:
            raise FileNotFoundError(
                f"PostgreSQL server binaries ({', '.join(BINARIES)}) not found on PATH "
                f"nor under /usr/lib/postgresql/*/bin; install them: {INSTALL_HINT}"
            )
        psycopg = _import_psycopg()
        run_as = _RunAs.for_this_process()
        base = Path(tempfile.gettempdir()).resolve()
        if len(str(base)) > _SOCKET_PATH_MAX - 40 or (
            run_as.switches and not run_as.can_enter(base)
        ):
            base = Path("/tmp")
        root = Path(tempfile.mkdtemp(prefix="e2etune-pg-", dir=base))
        server = cls(bindir, root, run_as)
        atexit.register(server.stop)
        try:
            if run_as.switches:
                os.chown(root, run_as.uid, run_as.gid)
            server._initdb(timeout)
            server._start(timeout)
            server._bootstrap(psycopg)
        except BaseException:
            server.stop()
            raise
        return server

    def _run(self, *args: str, timeout: float) -> str:
        """Run a server binary as the server's user; its output, or RuntimeError."""
        cmd = [str(self.bindir / args[0]), *args[1:]]
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        extra: dict[str, Any] = {}
        if self._run_as.switches:
            # Same as `runuser -u postgres --`, without needing runuser.
            extra = dict(user=self._run_as.uid, group=self._run_as.gid,
                         extra_groups=list(self._run_as.groups))
            env.update(USER=self._run_as.name, LOGNAME=self._run_as.name, HOME=str(self.root))
        try:
            done = subprocess.run(
                cmd, cwd=self.root, env=env, stdin=subprocess.DEVNULL,
                stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                timeout=timeout, **extra,
            )
        except subprocess.TimeoutExpired as exc:
            raise RuntimeError(f"{args[0]} took more than {timeout:g}s{self._log_tail()}") from exc
        if done.returncode != 0:
            raise RuntimeError(
                f"{' '.join(cmd)} exited {done.returncode}:\n{done.stdout.strip()}{self._log_tail()}"
            )
        return done.stdout

    def _log_tail(self, lines: int = 20) -> str:
        try:
            text = self.log_file.read_text(errors="replace").splitlines()[-lines:]
        except OSError:
            return ""
        return "\nserver log (last lines):\n" + "\n".join(text) if text else ""

    def _initdb(self, timeout: float) -> None:
        self._run("initdb", "-D", str(self.data_dir), "-U", SUPERUSER, "-E", "UTF8",
                  "--no-locale", "--no-sync", "--auth-local=trust",
                  "--auth-host=scram-sha-256", timeout=timeout)
        settings = dict(_SETTINGS, unix_socket_directories=f"'{self.socket_dir}'")
        with open(self.data_dir / "postgresql.conf", "a") as conf:
            conf.write("\n# tests/postgres_server.py\n")
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())
        (self.data_dir / "pg_hba.conf").write_text(_HBA)

    def _start(self, timeout: float, tries: int = 3) -> None:
        for attempt in range(tries):
            self.port = _free_port()
            try:
                self._run("pg_ctl", "start", "-D", str(self.data_dir), "-l", str(self.log_file),
                          "-w", "-t", str(int(timeout)), "-o", f"-p {self.port}",
                          timeout=timeout + 10)
            except RuntimeError as exc:
                # Someone took the port between our check and the server's bind.
                if attempt + 1 < tries and "already in use" in str(exc):
                    continue
                raise
            self._started = True
            return

    def _admin(self, psycopg: Any) -> Any:
        """A superuser connection through the unix socket."""
        return psycopg.connect(host=str(self.socket_dir), port=self.port, user=SUPERUSER,
                               dbname="postgres", autocommit=True, connect_timeout=10)

    def _bootstrap(self, psycopg: Any) -> None:
        from psycopg import sql

        with self._admin(psycopg) as conn:
            # Hash the password here: the server never sees (nor logs) it.
            verifier = conn.pgconn.encrypt_password(
                self.password.encode(), ROLE.encode(), b"scram-sha-256").decode()
            conn.execute(sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                sql.Identifier(ROLE), sql.Literal(verifier)))
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(self.database), sql.Identifier(ROLE)))

    def stop(self) -> None:
        """Stop the server and remove its folder; safe to call more than once."""
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
        atexit.unregister(self.stop)
        try:
            if self._started:
                try:
                    self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "fast",
                              "-w", "-t", "30", timeout=40)
                except RuntimeError:
                    self._run("pg_ctl", "stop", "-D", str(self.data_dir), "-m", "immediate",
                              "-w", "-t", "30", timeout=40)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        """The server itself; it is stopped on leaving the block."""
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Stop the server."""
        self.stop()

    # -- what the tests use -------------------------------------------------

    def url_for(self, database: str) -> str:
        """The `postgresql://` URL of `database` for the `e2etune` role."""
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{database}"

    @property
    def url(self) -> str:
        """URL of the default database `e2etune` (contains the password)."""
        return self.url_for(self.database)

    def new_database(self, name: str | None = None) -> str:
        """Create an empty database owned by `e2etune` and return its URL.

        Args:
            name: Lower-case letters, digits and `_`, at most 63; a unique
                name by default.

        Raises:
            ValueError: if `name` is not such a name.
            psycopg.errors.DuplicateDatabase: if it exists already.
        """
        if name is None:
            name = f"e2etune_{next(self._counter)}_{secrets.token_hex(4)}"
        if not _DB_NAME.match(name):
            raise ValueError(f"bad database name {name!r}: want [a-z_][a-z0-9_]{{0,62}}")
        psycopg = _import_psycopg()
        from psycopg import sql

        with self._admin(psycopg) as conn:
            conn.execute(sql.SQL("CREATE DATABASE {} OWNER {}").format(
                sql.Identifier(name), sql.Identifier(ROLE)))
        return self.url_for(name)

    def __repr__(self) -> str:
        """Where it listens, without the password."""
        state = "stopped" if self._stopped else "running"
        return f"<PostgresServer {self.user}:***@{self.host}:{self.port} {state} in {self.root}>"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session, stopped and removed at its end.

    Without the server binaries (or psycopg) it skips the test, except in CI
    (`CI=true`) where it fails: CI must test the PostgreSQL backend.
    """
    missing = None
    try:
        server = PostgresServer.start()
    except FileNotFoundError as exc:
        missing = str(exc)
    except RuntimeError as exc:
        if "psycopg is missing" not in str(exc):
            raise
        missing = str(exc)
    if missing is not None:
        if in_ci():
            pytest.fail(f"CI is set, so this cannot be skipped: {missing}", pytrace=False)
        pytest.skip(missing)
    try:
        yield server
    finally:
        server.stop()


def _main(argv: list[str]) -> int:
    if argv != ["--check"]:
        print(__doc__.strip().splitlines()[0], "\nusage: postgres_server.py --check", file=sys.stderr)
        return 2
    bindir = find_bindir()
    if bindir is None:
        print("PostgreSQL server binaries not found", file=sys.stderr)
        return 1
    print(bindir)
    return 0


if __name__ == "__main__":
    sys.exit(_main(sys.argv[1:]))

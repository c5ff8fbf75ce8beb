"""Storage URLs: which backend a URL names, and how to show one without its password."""

from __future__ import annotations

import pathlib
import re
from urllib.parse import urlsplit

SQLITE_SCHEMES = ("sqlite",)
POSTGRES_SCHEMES = ("postgresql", "postgres")
#: A `password=...` parameter (of a URL's query, or of a `key=value` connection string).
PASSWORD_PARAMETER = re.compile(r"(?i)(\bpassword\s*=\s*)('(?:[^'\\]|\\.)*'?|[^&\s]*)")


def scheme_of(url: str) -> str:
    """The URL's scheme, lower case ("" when it has none)."""
    head, sep, _ = url.partition("://")
    return head.lower() if sep else ""


def sqlite_path(url: str) -> pathlib.Path:
    """The file of a `sqlite:///relative/path` or `sqlite:////absolute/path` URL.

    Raises:
        ValueError: for a URL with a host or without a path.
    """
    rest = url.partition("://")[2]
    if not rest.startswith("/") or len(rest) < 2:
        raise ValueError(
            f"The SQLite storage URL {url!r} has no file: write `sqlite:///relative/path.db` or "
            "`sqlite:////absolute/path.db`.")
    return pathlib.Path(rest[1:])


def credentials(url: str) -> tuple[str, str | None, str | None, str]:
    """A URL split as libpq reads it: scheme, user, password (None: none) and what follows '@'.

    The user information ends at the *last* '@', so a password may hold
    unescaped '#', '?', '/' or '@' (libpq accepts them) and still be found.
    """
    scheme, _, rest = url.partition("://")
    at = rest.rfind("@")
    if at < 0:
        return scheme, None, None, rest
    user, colon, password = rest[:at].partition(":")
    return scheme, user, password if colon else None, rest[at + 1:]


def redact(url: str) -> str:
    """`url` with its password (after the user, or as `password=`) shown as `***`: safe to print."""
    url = PASSWORD_PARAMETER.sub(r"\1***", url)
    scheme, user, password, server = credentials(url)
    if password is None:
        return url
    return f"{scheme}://{user}:***@{server}"


def describe(url: str) -> str:
    """The server of a database URL as `user@host:port/database`, for messages."""
    scheme, user, _, server = credentials(url)
    try:
        parts = urlsplit(f"{scheme}://{server}")
        port = parts.port or 5432
    except ValueError:
        return redact(url)
    user = f"{user}@" if user else ""
    database = parts.path.lstrip("/") or "(default database)"
    return f"{user}{parts.hostname or 'localhost'}:{port}/{database}"

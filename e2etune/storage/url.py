"""Storage URLs: which backend a URL names, and how to show one without its password."""

from __future__ import annotations

import pathlib
import re
from urllib.parse import urlsplit, urlunsplit

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


def redact(url: str) -> str:
    """`url` with its password (after the user, or as `password=`) shown as `***`: safe to print."""
    url = PASSWORD_PARAMETER.sub(r"\1***", url)
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
    except ValueError:
        return "<invalid storage URL>"
    user = parts.username or ""
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    try:
        port = f":{parts.port}" if parts.port is not None else ""
    except ValueError:
        port = ""
    return urlunsplit((parts.scheme, f"{user}:***@{host}{port}", parts.path, parts.query,
                       parts.fragment))


def describe(url: str) -> str:
    """The server of a database URL as `user@host:port/database`, for messages."""
    try:
        parts = urlsplit(url)
        port = parts.port or 5432
    except ValueError:
        return redact(url)
    user = f"{parts.username}@" if parts.username else ""
    database = parts.path.lstrip("/") or "(default database)"
    return f"{user}{parts.hostname or 'localhost'}:{port}/{database}"

"""Storage URLs: the backend a URL names, an SQLite URL's file, and URLs shown without passwords."""

from __future__ import annotations

import pathlib

import pytest

from e2etune.storage.url import describe, redact, scheme_of, sqlite_path


@pytest.mark.parametrize("url, scheme", [
    ("sqlite:///a.db", "sqlite"),
    ("SQLite:////tmp/a.db", "sqlite"),
    ("postgres://h/db", "postgres"),
    ("postgresql://u:p@h/db", "postgresql"),
    ("search.db", ""),
    ("sqlite:/a.db", ""),
])
def test_the_scheme_of_a_url(url, scheme):
    assert scheme_of(url) == scheme


@pytest.mark.parametrize("url, path", [
    ("sqlite:///search.db", pathlib.Path("search.db")),
    ("sqlite:///runs/a/search.db", pathlib.Path("runs/a/search.db")),
    ("sqlite:////tmp/a/search.db", pathlib.Path("/tmp/a/search.db")),
])
def test_an_sqlite_url_names_a_relative_or_absolute_file(url, path):
    assert sqlite_path(url) == path


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///", "sqlite://host/search.db"])
def test_an_sqlite_url_without_a_file_is_refused(url):
    with pytest.raises(ValueError, match=r"no file.*sqlite:///relative/path.db.*sqlite:////"):
        sqlite_path(url)


@pytest.mark.parametrize("url, shown", [
    ("postgresql://u:s3cret@h:5432/db", "postgresql://u:***@h:5432/db"),
    ("postgresql://u:s3%40cret@h/db", "postgresql://u:***@h/db"),
    ("postgresql://u:s3cret@[::1]:6000/db", "postgresql://u:***@[::1]:6000/db"),
    ("postgresql://u:s3cret@h:notaport/db", "postgresql://u:***@h:notaport/db"),
    # libpq ends the user information at the last '@': '#', '?', '/' may stand in a password.
    ("postgresql://u:s3#cret@h/db", "postgresql://u:***@h/db"),
    ("postgresql://u:s3/c?ret@h:5432/db", "postgresql://u:***@h:5432/db"),
    ("postgresql://:s3cret@h/db?sslmode=require", "postgresql://:***@h/db?sslmode=require"),
    ("postgresql://u@h/db?password=s3cret", "postgresql://u@h/db?password=***"),
    ("postgresql://u@h/db?sslmode=require&PASSWORD=s3cret&x=1",
     "postgresql://u@h/db?sslmode=require&PASSWORD=***&x=1"),
    ("host=h user=u password=s3cret dbname=db", "host=h user=u password=*** dbname=db"),
    ("host=h password = 's3 cret' dbname=db", "host=h password = *** dbname=db"),
    ("mysql://u:s3cret@h/db", "mysql://u:***@h/db"),
    ("postgresql://u:s3cret@[::1/db", "postgresql://u:***@[::1/db"),
])
def test_redact_hides_the_password(url, shown):
    redacted = redact(url)
    assert redacted == shown
    assert "s3" not in redacted and "cret" not in redacted


@pytest.mark.parametrize("url", ["postgresql://u@h:5432/db", "postgresql://h/db",
                                 "sqlite:////tmp/a b/search.db", "sqlite:///search.db"])
def test_redact_leaves_a_url_without_a_password_as_it_is(url):
    assert redact(url) == url


@pytest.mark.parametrize("url, described", [
    ("postgresql://u:s3cret@db.example:6543/search", "u@db.example:6543/search"),
    ("postgresql://u@db.example/search", "u@db.example:5432/search"),
    ("postgresql://db.example:6543/search", "db.example:6543/search"),
    ("postgresql://u@db.example", "u@db.example:5432/(default database)"),
    ("postgresql:///search", "localhost:5432/search"),
    ("postgresql://u:s3cret@h:notaport/db", "postgresql://u:***@h:notaport/db"),
    ("postgresql://u:s3#cr/et@db.example:6543/search", "u@db.example:6543/search"),
])
def test_describe_names_the_server_and_database_without_the_password(url, described):
    assert describe(url) == described

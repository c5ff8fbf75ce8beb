"""PostgreSQL storage that cannot connect, and its passwords: never in a message, a repr or
the log.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import time
import traceback

import pytest
from storage_helpers import ROOT, SecretURL, free_port, hide, leaks

from e2etune.errors import SearchStateError
from e2etune.oracles import RandomSearchOracle
from e2etune.storage import from_url


def test_a_server_that_is_not_there_is_reported_quickly():
    pytest.importorskip("psycopg")
    from e2etune.storage import PostgresStorage

    port = free_port()
    started = time.monotonic()
    with pytest.raises(SearchStateError) as info:
        PostgresStorage(f"postgresql://someone:not-a-secret@127.0.0.1:{port}/nodb",
                        connect_timeout=1)
    assert time.monotonic() - started < 20
    message = str(info.value)
    assert f"someone@127.0.0.1:{port}/nodb" in message and "refused" in message.lower()
    assert "not-a-secret" not in message


def test_a_wrong_password_is_named_without_the_password(postgres, caplog, monkeypatch, tmp_path):
    from e2etune.storage import PostgresStorage

    monkeypatch.delenv("PGPASSWORD", raising=False)
    monkeypatch.setenv("PGPASSFILE", str(tmp_path / "none"))
    caplog.set_level(logging.DEBUG)
    wrong = "wrong-password-4f1c9e"
    bad = SecretURL(postgres.new_database().replace(f":{postgres.password}@", f":{wrong}@"))
    replaced = wrong in bad
    assert replaced
    errors = []
    with pytest.raises(SearchStateError) as info:
        PostgresStorage(bad, connect_timeout=5)
    errors.append(info.value)
    oracle = RandomSearchOracle(objective="loss", seed=1)
    with pytest.raises(SearchStateError) as info:
        oracle._set_project_dir(tmp_path, "p", storage=bad)
    errors.append(info.value)
    logging.getLogger("e2etune").error("failed: %s", errors[-1])
    texts = [caplog.text]
    for error in errors:
        texts += [str(error), repr(error), "".join(traceback.format_exception(error))]
        message = hide(str(error), wrong, postgres.password)
        assert f"{postgres.user}@127.0.0.1:{postgres.port}/" in message
        assert "password authentication failed" in message
    leaked = leaks(texts, wrong, postgres.password)
    assert not leaked, "a password is in an error or the log"


def test_a_missing_database_is_named(postgres):
    with pytest.raises(SearchStateError) as info:
        from_url(SecretURL(postgres.url_for("no_such_database")))
    message = hide(str(info.value), postgres.password)
    assert f"127.0.0.1:{postgres.port}/no_such_database" in message
    assert "does not exist" in message


def test_a_storage_shows_no_password(postgres):
    url = SecretURL(postgres.new_database())
    database = url.rsplit("/", 1)[1]
    in_query = SecretURL(f"postgresql://{postgres.user}@{postgres.host}:{postgres.port}/"
                         f"{database}?password={postgres.password}")  # libpq takes this too
    expected = [f"postgresql://{postgres.user}:***@{postgres.host}:{postgres.port}/{database}",
                f"postgresql://{postgres.user}@{postgres.host}:{postgres.port}/{database}"
                "?password=***"]
    shown = []
    for given, url_shown in zip([url, in_query], expected):
        storage = from_url(given)
        try:
            texts = [storage.url, repr(storage), str(storage)]
        finally:
            storage.close()
        shown += texts
        texts = [hide(text, postgres.password) for text in texts]
        assert texts == [url_shown] + [f"PostgresStorage({url_shown!r})"] * 2
    leaked = leaks(shown, postgres.password)
    assert not leaked


@pytest.mark.parametrize("url", [
    "postgresql://u:a%40b%zzsecret@127.0.0.1:1/db",  # the driver quotes the bad password
    "postgresql://u@127.0.0.1:1/db?password=hidden%zzsecret",
    "postgresql://u@127.0.0.1:1/db?sslmode=disable&password=hiddensecret",
])
def test_a_password_is_hidden_however_the_url_holds_it(url):
    pytest.importorskip("psycopg")
    with pytest.raises(SearchStateError) as info:
        from_url(url)
    leaked = leaks([str(info.value), repr(info.value)], "secret")
    assert not leaked
    assert "127.0.0.1:1" in str(info.value)


def test_without_the_driver_the_message_says_what_to_install():
    code = textwrap.dedent("""
        import sys
        sys.modules["psycopg"] = None  # as if it were not installed
        import e2etune
        from e2etune.errors import SearchStateError
        from e2etune.storage import PostgresStorage, from_url
        try:
            from_url("postgresql://someone:fake-password@127.0.0.1:1/db")
        except SearchStateError as error:
            print(error)
    """)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                          timeout=60)
    assert done.returncode == 0, done.stderr[-2000:]
    assert 'pip install "e2etune[postgres]"' in done.stdout
    assert "postgresql://someone:***@127.0.0.1:1/db" in done.stdout
    assert "fake-password" not in done.stdout + done.stderr

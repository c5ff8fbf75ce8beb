"""Fixtures of the storage tests: a storage URL on each backend, and storages opened on it."""

from __future__ import annotations

import pytest
from storage_helpers import SecretURL

from e2etune.storage import BaseStorage, from_url


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path) -> str:
    """The URL of an empty storage: an SQLite file, or a fresh PostgreSQL database."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'db' / 'search.db'}"
    return SecretURL(request.getfixturevalue("postgres").new_database())


@pytest.fixture
def open_storage(url):
    """Opens another storage object (another connection) on `url`; all closed at the end."""
    opened: list[BaseStorage] = []

    def open_() -> BaseStorage:
        storage = from_url(url)
        opened.append(storage)
        return storage

    yield open_
    for storage in opened:
        storage.close()


@pytest.fixture
def storage(open_storage) -> BaseStorage:
    """A storage on `url`."""
    return open_storage()

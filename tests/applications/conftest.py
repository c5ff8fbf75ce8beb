"""Fixtures of the application hypermodel tests: seeded, and no download may happen."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def no_downloads_and_seeded(monkeypatch):
    """Seeds Keras and makes any attempt to download a file fail the test."""
    import keras
    from keras.src.utils import file_utils

    def refuse(*args, **kwargs):
        raise AssertionError(f"a download was attempted: {args} {kwargs}")

    monkeypatch.setattr(file_utils, "get_file", refuse)
    monkeypatch.setattr(keras.utils, "get_file", refuse)
    keras.utils.set_random_seed(0)
    keras.config.set_image_data_format("channels_last")
    yield

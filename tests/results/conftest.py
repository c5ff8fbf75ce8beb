"""The fixtures of the results tests, defined in `_fixtures.py` (shared with `test_cli.py`)."""

from _fixtures import chromium, finished, running  # noqa: F401

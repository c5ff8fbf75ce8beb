"""Fixtures shared by all the tests."""

from postgres_server import postgres  # noqa: F401  (session fixture: a throwaway PostgreSQL)

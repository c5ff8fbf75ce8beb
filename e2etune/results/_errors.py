"""The errors of the results tools: each names what was wrong and how to fix it."""

from __future__ import annotations

from typing import Iterable


class ResultsError(Exception):
    """A results tool could not do what was asked (the CLI prints it without a traceback)."""


class NoSearchError(ResultsError, FileNotFoundError):
    """No saved search where one was expected."""


class StorageBusyError(ResultsError):
    """The storage stayed locked by another process longer than the reader waits."""


class UnknownNameError(ResultsError, ValueError):
    """A hyperparameter or metric name that the search does not have."""

    def __init__(self, kind: str, name: str, known: Iterable[str]) -> None:
        known = list(known)
        listed = ", ".join(repr(k) for k in known) or "none yet"
        super().__init__(f"Unknown {kind} {name!r}; the search has: {listed}.")
        self.kind, self.name, self.known = kind, name, known


class MissingDependencyError(ResultsError, ImportError):
    """An optional package (matplotlib, pandas) is needed and not installed."""

    def __init__(self, package: str, what: str, extra: str | None = None) -> None:
        also = f" (or `pip install \"e2etune[{extra}]\"`)" if extra else ""
        super().__init__(
            f"{what} needs {package}, which is not installed: `pip install {package}`{also}.")
        self.package = package


class NotEnoughTrialsError(ResultsError, ValueError):
    """Too few scored trials for what was asked (an importance, a plot)."""


def require(module: str, what: str, extra: str | None = None):
    """Imports an optional package, or raises `MissingDependencyError` naming how to install it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as error:
        if error.name != module.split(".")[0]:
            raise
        raise MissingDependencyError(module.split(".")[0], what, extra) from None

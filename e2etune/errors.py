"""Errors that user code raises to steer the search, and errors e2etune raises.

Raise `FailedTrialError` from a trial to mark it failed without retrying it,
and `TrialPruned` to stop it early when `trial.should_prune()` says so.
Raise any `FatalError` to stop the whole search at once. Any other exception
is retried up to `max_retries_per_trial` times.
"""


class FailedTrialError(Exception):
    """Marks the current trial as failed; the search goes on without retrying it.

    Example:
        >>> def run_trial(self, trial, x, y):
        ...     if trial.hyperparameters.get("units") > 512:
        ...         raise e2etune.errors.FailedTrialError("model too large")
    """


class TrialPruned(Exception):
    """Ends the current trial as PRUNED: stopped early, its last reported value its score.

    Raise it from `run_trial` when `trial.should_prune()` says so; a pruned
    trial is not retried and does not count as a failure.

    Example:
        >>> trial.report(epoch, val_loss)
        >>> if trial.should_prune():
        ...     raise e2etune.errors.TrialPruned()
    """


class FatalError(Exception):
    """Stops the search at once; the error reaches the caller of `search()`."""


class FatalValueError(FatalError, ValueError):
    """A `FatalError` that is also a `ValueError`."""


class FatalTypeError(FatalError, TypeError):
    """A `FatalError` that is also a `TypeError`."""


class FatalRuntimeError(FatalError, RuntimeError):
    """A `FatalError` that is also a `RuntimeError`."""


class SearchStateError(FatalRuntimeError):
    """The saved state of a search cannot be used (damaged or incompatible).

    The message says what is wrong; `overwrite=True` starts a fresh search.
    """


class TooManyFailedTrialsError(FatalRuntimeError):
    """`max_consecutive_failed_trials` trials failed in a row."""

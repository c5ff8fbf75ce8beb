"""The arguments every oracle shares, declared once and added to each built-in oracle.

A built-in oracle's `__init__` declares only its own arguments and passes
`**kwargs` on to `Oracle.__init__`; `shared_arguments` gives it the full
signature (so `inspect.signature`, IDEs and positional calls see
KerasTuner's order: own arguments, then `seed`, `hyperparameters`, ...)
and appends the shared arguments' documentation to its docstring.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any, TypeVar

_P = inspect.Parameter
#: The shared arguments, in KerasTuner's order after each oracle's own ones.
SHARED_PARAMETERS = [
    _P("seed", _P.POSITIONAL_OR_KEYWORD, default=None, annotation="int | None"),
    _P("hyperparameters", _P.POSITIONAL_OR_KEYWORD, default=None,
       annotation="HyperParameters | None"),
    _P("allow_new_entries", _P.POSITIONAL_OR_KEYWORD, default=True, annotation="bool"),
    _P("tune_new_entries", _P.POSITIONAL_OR_KEYWORD, default=True, annotation="bool"),
    _P("max_retries_per_trial", _P.POSITIONAL_OR_KEYWORD, default=0, annotation="int"),
    _P("max_consecutive_failed_trials", _P.POSITIONAL_OR_KEYWORD, default=3, annotation="int"),
    _P("storage", _P.KEYWORD_ONLY, default=None, annotation="str | BaseStorage | None"),
    _P("heartbeat_interval", _P.KEYWORD_ONLY, default=10.0, annotation="float"),
    _P("lease_grace", _P.KEYWORD_ONLY, default=50.0, annotation="float"),
    _P("max_crashes_per_trial", _P.KEYWORD_ONLY, default=3, annotation="int"),
    _P("pruner", _P.KEYWORD_ONLY, default=None, annotation="BasePruner | None"),
]

SHARED_DOC = """
    Arguments every oracle takes:
        seed: Random seed of the algorithm (a non-negative integer); None
            picks one.
        hyperparameters: A `HyperParameters` whose hyperparameters override
            (or pre-declare) those of the model-building code.
        allow_new_entries: Whether the code may declare hyperparameters not in
            `hyperparameters`. Defaults to True.
        tune_new_entries: Whether such new hyperparameters are tuned (True,
            default) or fixed at their default.
        max_retries_per_trial: How many times a trial that raised an error
            (other than `FailedTrialError`) is run again. Defaults to 0.
        max_consecutive_failed_trials: After this many failed or invalid
            trials in a row the search stops with an error. Defaults to 3.
        storage: Where the search is saved: a URL (`"sqlite:///path.db"`,
            `"postgresql://user@host/db"`) or a `BaseStorage`; None means the
            `E2ETUNE_STORAGE` environment variable, else an SQLite file in
            the project folder. Keyword only.
        heartbeat_interval: Seconds between renewals of this worker's lease on
            its running trials. Defaults to 10. Keyword only.
        lease_grace: Seconds without a renewal after which a worker counts as
            gone and its trials run again elsewhere (at once, when its process
            on this host is dead). Defaults to 50. Keyword only.
        max_crashes_per_trial: A trial whose worker died this many times while
            running it ends FAILED. Defaults to 3. Keyword only.
        pruner: Stops unpromising trials early from the values they report
            (`e2etune.pruners.MedianPruner()`, `SuccessiveHalvingPruner()`);
            they end PRUNED. None (default) never prunes. Hyperband takes
            none. Keyword only.
"""

_C = TypeVar("_C", bound=type)


def shared_arguments(cls: _C) -> _C:
    """Gives `cls.__init__(self, <own arguments>, **kwargs)` the shared arguments' signature."""
    init = cls.__init__
    signature = inspect.signature(init)
    own = [p for p in signature.parameters.values() if p.kind is not _P.VAR_KEYWORD]
    names = {p.name for p in own}
    tail = [p for p in SHARED_PARAMETERS if p.name not in names]
    positional = [p.name for p in tail if p.kind is _P.POSITIONAL_OR_KEYWORD]
    own_count = len(own)

    @functools.wraps(init)
    def __init__(self: Any, *args: Any, **kwargs: Any) -> None:
        extra = args[own_count - 1:]
        if len(extra) > len(positional):
            raise TypeError(
                f"{cls.__name__}() takes at most {own_count - 1 + len(positional)} positional "
                f"arguments ({len(args)} given).")
        for name, value in zip(positional, extra):
            if name in kwargs:
                raise TypeError(f"{cls.__name__}() got multiple values for argument {name!r}.")
            kwargs[name] = value
        init(self, *args[:own_count - 1], **kwargs)

    __init__.__signature__ = signature.replace(parameters=own + tail)  # type: ignore[attr-defined]
    cls.__init__ = __init__
    cls.__doc__ = (cls.__doc__ or "").rstrip() + "\n" + SHARED_DOC
    return cls


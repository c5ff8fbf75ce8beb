"""`HyperModel`: model-building code with its hyperparameters, framework-free."""

from __future__ import annotations

import contextlib
from typing import Any, Callable, Iterator

from e2etune.engine.conditions import Parent, all_active
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.tuner_utils import ArgumentTypeError


class HyperModel:
    """Builds a model from hyperparameters and, optionally, trains it.

    Subclass it and override `build(hp)`; override `fit(hp, model, ...)` to
    tune the training too. `fit` reads the values `build` declared with
    `hp.get(name)` and may declare more.

    Args:
        name: Optional name of the hypermodel.
        tunable: Whether its hyperparameters are tuned. Defaults to True.

    Example:
        >>> class MyHyperModel(HyperModel):
        ...     def build(self, hp):
        ...         return make_model(units=hp.Int("units", 8, 64))
        ...     def fit(self, hp, model, x, y, **kwargs):
        ...         return model.fit(x, y, batch_size=hp.Choice("batch_size", [16, 32]), **kwargs)
    """

    def __init__(self, name: str | None = None, tunable: bool = True) -> None:
        self.name = name
        self.tunable = tunable

    def build(self, hp: HyperParameters) -> Any:
        """Returns a model built with the values of `hp`. Override it."""
        raise NotImplementedError(
            f"{type(self).__name__}.build(hp) is not implemented. Override `build` to return "
            "a model, or pass a build function as `hypermodel`."
        )

    def declare_hyperparameters(self, hp: HyperParameters) -> None:
        """Declares hyperparameters up front (optional; `build` declares them too)."""

    def fit(self, hp: HyperParameters, model: Any, *args: Any, **kwargs: Any) -> Any:
        """Trains `model`; the default calls `model.fit(*args, **kwargs)` and returns its result."""
        return model.fit(*args, **kwargs)


class DefaultHyperModel(HyperModel):
    """Wraps a plain `build(hp)` function as a `HyperModel`.

    Args:
        build: A function taking a `HyperParameters` and returning a model.
    """

    def __init__(self, build: Callable[[HyperParameters], Any], name: str | None = None,
                 tunable: bool = True) -> None:
        super().__init__(name=name, tunable=tunable)
        self._build = build

    def build(self, hp: HyperParameters) -> Any:
        """Calls the wrapped build function."""
        return self._build(hp)


def get_hypermodel(hypermodel: Any) -> HyperModel | None:
    """Returns `hypermodel` as a `HyperModel` (a function is wrapped), or None.

    Raises:
        TypeError: (also a `ValueError`) for anything else.
    """
    if hypermodel is None or isinstance(hypermodel, HyperModel):
        return hypermodel
    if callable(hypermodel):
        return DefaultHyperModel(hypermodel)
    raise ArgumentTypeError(
        f"The `hypermodel` argument should be either a `HyperModel` or a function `build(hp)` "
        f"returning a model; got {hypermodel!r} of type {type(hypermodel).__name__}."
    )


def _key(conditions: list[Parent]) -> tuple:
    return tuple((c.name, repr(c.values)) for c in conditions)


class _Branches:
    """Finds the conditional branches that the builds of a hypermodel have not entered yet.

    `watch(hp)` records each `hp.conditional_scope` a build opens, with the
    scopes around it, and whether its conditions held. `next_values()` then
    gives parent values that make one branch that never ran active (each
    branch is tried once), so that building again declares its
    hyperparameters.
    """

    def __init__(self) -> None:
        self._seen: dict[tuple, list[Parent]] = {}
        self._done: set[tuple] = set()

    @contextlib.contextmanager
    def watch(self, hp: HyperParameters) -> Iterator[None]:
        """Records the conditional scopes that code opens on `hp` inside this context."""
        stack: list[Parent] = []
        opened = hp.conditional_scope

        @contextlib.contextmanager
        def conditional_scope(parent_name: str, parent_values: Any) -> Iterator[None]:
            with opened(parent_name, parent_values):
                stack.append(Parent(hp.get_hyperparameter(parent_name).name, parent_values))
                key = _key(stack)
                self._seen.setdefault(key, list(stack))
                if all_active(stack, hp.values):
                    self._done.add(key)
                try:
                    yield
                finally:
                    stack.pop()

        hp.conditional_scope = conditional_scope
        try:
            yield
        finally:
            del hp.conditional_scope

    def next_values(self) -> dict[str, Any] | None:
        """Parent values that activate a branch not entered yet, or None when all were."""
        for key, conditions in self._seen.items():
            if key not in self._done:
                self._done.add(key)
                return {c.name: c.values[0] for c in conditions}
        return None

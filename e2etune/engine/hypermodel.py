"""`HyperModel`: model-building code with its hyperparameters, framework-free."""

from __future__ import annotations

from typing import Any, Callable

from e2etune.engine.hyperparameters import HyperParameters


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
    """Returns `hypermodel` as a `HyperModel` (a function is wrapped), or None."""
    if hypermodel is None or isinstance(hypermodel, HyperModel):
        return hypermodel
    if callable(hypermodel):
        return DefaultHyperModel(hypermodel)
    raise TypeError(
        f"`hypermodel` must be a `HyperModel` or a function `build(hp)` returning a model; "
        f"got {hypermodel!r} of type {type(hypermodel).__name__}."
    )

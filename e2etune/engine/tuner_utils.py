"""Helpers of the tuners: checking what trials return, reading signatures, Keras chores.

Nothing here imports Keras at module level: the Keras helpers import it when
they are called, so the framework-free `BaseTuner` can use this module too.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import gc
import inspect
import os
import sys
from typing import Any, Callable, Iterator

from e2etune import errors
from e2etune.engine.objective import DefaultObjective

_RESULT_KINDS = (
    "a number (the objective's value), a dict of metrics such as "
    "`model.evaluate(x_val, y_val, return_dict=True)`, the `History` of `model.fit(...)`, "
    "or a list of these (one per execution)"
)


class ArgumentTypeError(TypeError, ValueError):
    """An argument of the wrong type: a `TypeError`, and a `ValueError` as KerasTuner raises."""


_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__))) + os.sep


def in_package(filename: str) -> bool:
    """Whether a source file belongs to e2etune (for tracebacks and warnings)."""
    return filename.startswith(_PACKAGE_DIR)


def user_stacklevel() -> int:
    """The `stacklevel` for `warnings.warn` that points at the first caller outside e2etune."""
    level, frame = 1, sys._getframe(1)
    while frame is not None and in_package(frame.f_code.co_filename):
        frame, level = frame.f_back, level + 1
    return level


# What trials return.

def is_model(value: Any) -> bool:
    """Whether `value` looks like a model (it has both `fit` and `predict`)."""
    return callable(getattr(value, "fit", None)) and callable(getattr(value, "predict", None))


def validate_result(result: Any, source: str, objective: Any = None) -> None:
    """Raises a clear `FatalTypeError` for results no trial may return.

    Catches None, strings and models, and, when no objective was given (the
    default objective), dicts of metrics: which of them to optimize would be
    a guess. The other cases (numbers, dicts, histories and lists of these,
    or the rest) are left to `convert_to_metrics`, which names them.

    Args:
        result: What `source` returned.
        source: The function that returned it, for the message, e.g. "HyperModel.fit()".
        objective: The search's objective, when known.
    """
    if isinstance(result, (list, tuple)):
        for item in result:
            validate_result(item, source, objective)
        return
    expected = f"the tuner expects {source} to be one of: {_RESULT_KINDS}."
    if result is None:
        raise errors.FatalTypeError(
            f"{source} returned None. Did you forget to `return` the metrics? Note that "
            f"{expected} (Code that reports its metrics with `self.oracle.update_trial(...)` "
            "may still return None, a deprecated use, if those metrics include the objective.)"
        )
    if isinstance(result, (str, bytes)):
        raise errors.FatalTypeError(
            f"{source} returned the string {result!r}, but {expected} To optimize a metric by "
            "name, return the metrics and pass `objective=` naming it to the tuner."
        )
    if is_model(result):
        raise errors.FatalTypeError(
            f"{source} returned a model ({type(result).__name__}), not how good it is, but "
            f"{expected} The trained models come back after the search from "
            "`tuner.get_best_models()`."
        )
    if _is_unnamed_metrics(result, objective):
        raise errors.FatalTypeError(
            f"Expected {source} to be a single float when `objective` is left unspecified; it "
            f"returned the metrics {sorted(map(str, result))}. Pass `objective=` naming the one "
            "to optimize (e.g. `objective='val_loss'`), or return the value to minimize."
        )


def _is_unnamed_metrics(result: Any, objective: Any) -> bool:
    """Whether `result` is a dict of metrics (not a history) while no objective names one."""
    if not isinstance(objective, DefaultObjective) or not isinstance(result, dict):
        return False
    is_history = bool(result) and all(isinstance(v, (list, tuple)) for v in result.values())
    return not is_history and objective.name not in result


def all_none(result: Any) -> bool:
    """Whether `result` is None or a non-empty list of Nones."""
    if isinstance(result, (list, tuple)):
        return bool(result) and all(r is None for r in result)
    return result is None


# Signatures.

@functools.lru_cache(maxsize=256)
def _parameter_kinds(function: Callable) -> dict[str, Any] | None:
    """The kind of each parameter of `function` by name (None when it has no signature)."""
    try:
        return {p.name: p.kind for p in inspect.signature(function).parameters.values()}
    except (TypeError, ValueError):
        return None


def _kinds(function: Callable) -> dict[str, Any] | None:
    # A bound method is a new object at each access: look at its function, once.
    function = getattr(function, "__func__", function)
    try:
        return _parameter_kinds(function)
    except TypeError:  # not hashable
        return _parameter_kinds.__wrapped__(function)


def names_parameter(function: Callable, name: str) -> bool:
    """Whether `function` has a parameter called `name` that can be passed by keyword."""
    kinds = _kinds(function)
    return kinds is not None and kinds.get(name) in (
        inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)


def accepts_keyword(function: Callable, name: str) -> bool:
    """Whether `function` accepts the keyword `name` (by name or through `**kwargs`)."""
    kinds = _kinds(function)
    if kinds is None:
        return True
    return names_parameter(function, name) or inspect.Parameter.VAR_KEYWORD in kinds.values()


# Keras chores (Keras is imported when they run).

class SearchMemory:
    """Keeps a long search's memory flat and its clean-ups cheap (a context manager).

    - Objects that exist when the search starts (TensorFlow makes hundreds of
      thousands) are frozen out of the garbage collector's sight
      (`gc.freeze`), so that the full collection between trials, which frees
      the last trial's model, takes milliseconds instead of a quarter of a
      second. Objects made during the search are collected as usual. Nothing
      is frozen when the program froze objects itself.
    - TensorFlow never forgets the custom gradients (`tf.custom_gradient`,
      used by Keras layers) registered while a model's training function is
      traced, and through them it keeps every traced graph alive: about 5 MiB
      per model. `release()` drops those registered since the search began,
      once their trial is over, then clears the Keras session.
    """

    _PREFIX = "CustomGradient-"

    def __init__(self) -> None:
        self._froze = False
        self._known: set[str] | None = None

    def __enter__(self) -> "SearchMemory":
        if not gc.get_freeze_count():
            gc.freeze()
            self._froze = True
        registry = _gradient_registry()
        self._known = set(registry) if registry is not None else None
        return self

    def __exit__(self, *exc_info: Any) -> None:
        if self._froze:
            gc.unfreeze()
            self._froze = False

    def release(self) -> None:
        """Forgets the custom gradients of finished trials and clears the Keras session."""
        registry = _gradient_registry()
        if registry is not None and self._known is not None:
            for name in [n for n in registry if n.startswith(self._PREFIX) and n not in self._known]:
                registry.pop(name, None)
        clear_session()


def _gradient_registry() -> dict | None:
    """TensorFlow's registry of gradient functions, when TensorFlow is loaded and has one."""
    ops = sys.modules.get("tensorflow.python.framework.ops")
    registry = getattr(getattr(ops, "gradient_registry", None), "_registry", None)
    return registry if isinstance(registry, dict) else None


def keras_loaded() -> bool:
    """Whether Keras was imported (by the user's code or a hypermodel)."""
    return "keras" in sys.modules


def imports_keras(function: Callable) -> bool:
    """Whether `function`'s own code imports Keras or TensorFlow (`import keras` in its body)."""
    code = getattr(getattr(function, "__func__", function), "__code__", None)
    return code is not None and not {"keras", "tensorflow", "tf_keras"}.isdisjoint(code.co_names)


def clear_session() -> None:
    """Frees what Keras keeps between models (its global state, then a garbage collection).

    Does nothing while Keras is not imported: code that tunes no Keras model
    pays neither for importing it nor for clearing it.
    """
    if not keras_loaded():
        return
    import keras

    keras.backend.clear_session(free_memory=True)


@contextlib.contextmanager
def maybe_distribute(strategy: Any) -> Iterator[None]:
    """Enters `strategy.scope()` when a distribution strategy is given."""
    if strategy is None:
        yield
    else:
        with strategy.scope():
            yield


def _fresh(value: Any) -> Any:
    """A new object like `value` when it is a Keras object (an optimizer or a metric).

    Optimizers and metrics hold state, so each model gets its own.
    """
    if isinstance(value, (list, tuple)):
        return type(value)(_fresh(v) for v in value)
    if isinstance(value, dict):
        return {k: _fresh(v) for k, v in value.items()}
    if hasattr(value, "get_config") and hasattr(type(value), "from_config"):
        try:
            return type(value).from_config(value.get_config())
        except Exception:
            return copy.deepcopy(value)
    return value


def override_compile(model: Any, optimizer: Any = None, loss: Any = None,
                     metrics: Any = None) -> None:
    """Compiles `model` again with the tuner's `optimizer`, `loss` or `metrics` where given.

    What the tuner does not give keeps the model's own compile arguments.
    """
    if optimizer is None and loss is None and metrics is None:
        return
    own: dict[str, Any] = {}
    if getattr(model, "compiled", False):
        own.update(getattr(getattr(model, "_compile_config", None), "config", None) or {})
        own["optimizer"] = getattr(model, "optimizer", None)
        own.setdefault("loss", getattr(model, "loss", None))
    if optimizer is not None:
        own["optimizer"] = _fresh(optimizer)
    if loss is not None:
        own["loss"] = loss
    if metrics is not None:
        own["metrics"] = _fresh(metrics)
    if own.get("optimizer") is None:
        raise errors.FatalValueError(
            "The tuner got `loss` or `metrics` but the model is not compiled and no "
            "`optimizer` was given. Compile the model in `build`, or pass `optimizer=` too."
        )
    model.compile(**own)


def count_params(model: Any) -> int | None:
    """The number of parameters of a built model, or None when it cannot be counted yet."""
    try:
        return int(model.count_params())
    except Exception:
        return None

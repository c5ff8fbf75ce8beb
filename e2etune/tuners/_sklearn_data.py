"""Helpers of `SklearnTuner`: checking the data, splitting it, routing sample weights.

Imported only by `e2etune.tuners.sklearn_tuner`, after it has checked that
scikit-learn is installed. pandas is recognized without being imported.
"""

from __future__ import annotations

import functools
import warnings
from typing import Any, Callable, Iterable

import numpy as np
import scipy.sparse
from sklearn import pipeline
from sklearn.utils.validation import has_fit_parameter

from e2etune import errors
from e2etune.engine.tuner_utils import user_stacklevel

_DATA_TYPES = "numpy arrays, pandas DataFrames/Series or scipy sparse matrices"


class DataTypeError(errors.FatalTypeError, RuntimeError):
    """Data of a type `SklearnTuner` cannot split.

    A `TypeError`; also a `RuntimeError`, which is what KerasTuner raises
    (after three failed trials) for the same mistake.
    """


def _is_pandas(data: Any) -> bool:
    return type(data).__module__.split(".")[0] == "pandas" and hasattr(data, "iloc")


def check_data(data: Any, name: str) -> Any:
    """Returns `data` ready for row indexing, or raises `DataTypeError`.

    Args:
        data: A numpy array, a pandas DataFrame or Series, a scipy sparse
            matrix (returned as CSR), or None (returned as is).
        name: The argument's name, for the message.
    """
    if data is None or isinstance(data, np.ndarray) or _is_pandas(data):
        return data
    if scipy.sparse.issparse(data):
        return data.tocsr()
    raise DataTypeError(
        f"Expected the data to be {_DATA_TYPES}; got `{name}` of type {type(data).__name__}. "
        f"Convert it first, e.g. `{name} = numpy.asarray({name})`."
    )


def check_lengths(named: dict[str, Any]) -> None:
    """Raises `ValueError` unless all the given (not None) arrays have as many rows."""
    lengths = {name: _num_rows(data) for name, data in named.items() if data is not None}
    if len(set(lengths.values())) > 1:
        found = ", ".join(f"{name}: {length}" for name, length in lengths.items())
        raise ValueError(f"The data must have one row per sample in each argument; got {found}.")


def _num_rows(data: Any) -> int:
    shape = getattr(data, "shape", None)
    return int(shape[0]) if shape else len(data)


def take(data: Any, rows: np.ndarray) -> Any:
    """The given rows of `data` (None stays None)."""
    if data is None:
        return None
    if _is_pandas(data):
        return data.iloc[rows]
    return data[rows]


def check_cv(cv: Any) -> None:
    """Raises `TypeError` unless `cv` is a scikit-learn splitter."""
    if not callable(getattr(cv, "split", None)):
        raise TypeError(
            f"`cv` must be a scikit-learn splitter with a `split(X, y, groups)` method, such as "
            f"`sklearn.model_selection.KFold(5)`; got {cv!r} of type {type(cv).__name__}."
        )


def metric_names(metrics: Iterable[Callable]) -> dict[str, Callable]:
    """Names the metric functions (by `__name__`) and checks them.

    Raises:
        TypeError: for a metric that is not callable.
        ValueError: for two metrics of one name, or one named "score".
    """
    named: dict[str, Callable] = {}
    for metric in metrics:
        if not callable(metric):
            raise TypeError(
                f"Each of `metrics` must be a function metric(y_true, y_pred, sample_weight=None) "
                f"such as `sklearn.metrics.f1_score`; got {metric!r}."
            )
        name = _metric_name(metric)
        if name in named or name == "score":
            raise ValueError(
                f"Two metrics are named {name!r} ('score' is the scoring's). Give each metric "
                "function its own `__name__`."
            )
        named[name] = metric
    return named


def _metric_name(metric: Callable) -> str:
    while isinstance(metric, functools.partial):
        metric = metric.func
    return getattr(metric, "__name__", type(metric).__name__)


def check_estimator(model: Any, source: str, needs_score: bool, needs_predict: bool) -> None:
    """Raises `FatalTypeError` unless `model` is an estimator the tuner can fit and score.

    Args:
        model: What the hypermodel built.
        source: Where it came from, for the message.
        needs_score: Whether it must have `score` (no `scoring` was given).
        needs_predict: Whether it must have `predict` (`metrics` were given).
    """
    kind = f"{model!r} of type {type(model).__name__}"
    if not callable(getattr(model, "fit", None)):
        raise errors.FatalTypeError(
            f"{source} returned {kind}, not a scikit-learn estimator or Pipeline (an object "
            "with `fit`). Return one, e.g. `RandomForestClassifier(max_depth=hp.Int(...))`."
        )
    if needs_score and not callable(getattr(model, "score", None)):
        raise errors.FatalTypeError(
            f"{source} returned {kind}, which has no `score` method to rate it with. Pass "
            "`scoring=` (a scorer such as `sklearn.metrics.make_scorer(f1_score)`)."
        )
    if needs_predict and not callable(getattr(model, "predict", None)):
        raise errors.FatalTypeError(
            f"{source} returned {kind}, which has no `predict` method, so `metrics` cannot "
            "compare its predictions; remove `metrics` or return a predictor."
        )


def weight_params(model: Any, sample_weight: Any, warned: set[str]) -> dict[str, Any]:
    """The `fit` keyword arguments that give `sample_weight` to `model`.

    A Pipeline gets them as `<last step>__sample_weight`. An estimator whose
    `fit` takes no `sample_weight` trains unweighted, with a warning once per
    estimator class (the weights still weigh its score and metrics).

    Args:
        model: The estimator or Pipeline about to be fitted.
        sample_weight: Its training rows' weights, or None.
        warned: The estimator classes warned about so far; updated.
    """
    if sample_weight is None:
        return {}
    prefix, estimator = "", model
    if isinstance(model, pipeline.Pipeline):
        name, estimator = model.steps[-1]
        prefix = f"{name}__"
    if estimator not in (None, "passthrough") and has_fit_parameter(estimator, "sample_weight"):
        return {f"{prefix}sample_weight": sample_weight}
    kind = type(estimator).__name__
    if kind not in warned:
        warned.add(kind)
        warnings.warn(
            f"{kind}.fit takes no `sample_weight`: it trains unweighted, and the weights are "
            "used only to score it.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )
    return {}


def weight_kwargs(sample_weight: Any) -> dict[str, Any]:
    """`{"sample_weight": sample_weight}`, or nothing when there are no weights."""
    return {} if sample_weight is None else {"sample_weight": sample_weight}

"""Objectives: which metric a search optimizes, in which direction, and how results become metrics."""

from __future__ import annotations

import functools
import math
import numbers
import re
from typing import Any, Iterable, Mapping

from e2etune import errors

_MIN_NAMES = {
    "loss", "mae", "mse", "mape", "msle", "rmse", "mean_absolute_error",
    "mean_squared_error", "mean_absolute_percentage_error", "mean_squared_logarithmic_error",
    "root_mean_squared_error", "hinge", "squared_hinge", "categorical_hinge", "logcosh",
    "log_cosh", "kl_divergence", "kld", "kullback_leibler_divergence", "poisson",
    "binary_crossentropy", "categorical_crossentropy", "sparse_categorical_crossentropy",
    "binary_focal_crossentropy", "categorical_focal_crossentropy", "crossentropy", "huber",
    "error", "false_positives", "false_negatives", "ctc", "dice", "tversky",
}
_MAX_NAMES = {
    "accuracy", "acc", "binary_accuracy", "categorical_accuracy", "sparse_categorical_accuracy",
    "top_k_categorical_accuracy", "sparse_top_k_categorical_accuracy", "auc", "prc",
    "precision", "recall", "f1_score", "fbeta_score", "r2_score", "r2", "cosine_similarity",
    "iou", "mean_iou", "binary_iou", "one_hot_iou", "one_hot_mean_iou", "true_positives",
    "true_negatives", "specificity_at_sensitivity", "sensitivity_at_specificity",
    "precision_at_recall", "recall_at_precision",
}


@functools.lru_cache(maxsize=1024)
def infer_metric_direction(name: str) -> str | None:
    """Returns "min", "max" or None (unknown) for a Keras-style metric name.

    Prefixes `val_` and `weighted_` and Keras' numeric suffixes (`auc_1`) are
    ignored; any name ending in `loss` or `accuracy` is known.
    """
    base = name
    for prefix in ("val_", "weighted_"):
        if base.startswith(prefix):
            base = base[len(prefix):]
    base = re.sub(r"_\d+$", "", base)
    if base.startswith("neg_"):
        # scikit-learn's negated losses (`neg_log_loss`): greater is better.
        flipped = infer_metric_direction(base[len("neg_"):])
        return {"min": "max", "max": "min"}.get(flipped)
    if base in _MIN_NAMES or base.endswith("loss") or base.endswith("_error"):
        return "min"
    if base in _MAX_NAMES or base.endswith("accuracy"):
        return "max"
    for suffix_names, direction in ((_MIN_NAMES, "min"), (_MAX_NAMES, "max")):
        if any(base.endswith("_" + known) for known in suffix_names):
            return direction
    return None


class Objective:
    """A metric to optimize and its direction.

    Args:
        name: The metric's name as it appears in results (e.g. "val_accuracy").
        direction: "min" or "max".

    Example:
        >>> Objective("val_auc", direction="max").better_than(0.9, 0.8)
        True
    """

    def __init__(self, name: str, direction: str) -> None:
        if direction not in ("min", "max"):
            raise ValueError(
                f"Objective {name!r}: direction must be 'min' or 'max'; got {direction!r}."
            )
        self.name = name
        self.direction = direction

    def has_value(self, logs: Mapping[str, Any]) -> bool:
        """Whether `logs` holds this objective's metric."""
        return self.name in logs

    def get_value(self, logs: Mapping[str, Any]) -> float:
        """This objective's value in `logs`."""
        return float(logs[self.name])

    def better_than(self, a: float, b: float) -> bool:
        """Whether score `a` is strictly better than score `b`."""
        return a < b if self.direction == "min" else a > b

    def sign(self) -> float:
        """+1 for "min" and -1 for "max": `sign() * value` is always minimized."""
        return 1.0 if self.direction == "min" else -1.0

    def __eq__(self, other: object) -> bool:
        return (
            isinstance(other, Objective)
            and type(self) is type(other)
            and self.name == other.name
            and self.direction == other.direction
        )

    def __str__(self) -> str:
        return f'Objective(name="{self.name}", direction="{self.direction}")'

    __repr__ = __str__


class DefaultObjective(Objective):
    """Used when no objective is given: minimize the single value a trial returns."""

    def __init__(self) -> None:
        super().__init__("default_objective", "min")


class MultiObjective(Objective):
    """Several objectives optimized as one score: the sum of the minimized values.

    Args:
        objectives: The `Objective`s; maximized ones are subtracted.
    """

    def __init__(self, objectives: Iterable[Objective]) -> None:
        self.objectives = list(objectives)
        super().__init__("multi_objective", "min")

    def has_value(self, logs: Mapping[str, Any]) -> bool:
        return all(o.has_value(logs) for o in self.objectives)

    def get_value(self, logs: Mapping[str, Any]) -> float:
        return sum(o.sign() * o.get_value(logs) for o in self.objectives)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, MultiObjective) and self.objectives == other.objectives

    def __str__(self) -> str:
        return f"MultiObjective({', '.join(map(str, self.objectives))})"

    __repr__ = __str__


def create_objective(objective: Any) -> Objective:
    """Makes an `Objective` from None, a metric name, an `Objective`, or a list of these."""
    if objective is None:
        return DefaultObjective()
    if isinstance(objective, Objective):
        return objective
    if isinstance(objective, str):
        direction = infer_metric_direction(objective)
        if direction is None:
            raise ValueError(
                f"Could not infer optimization direction (whether to minimize or maximize) "
                f"for the objective {objective!r}. Pass "
                f"`objective=e2etune.Objective({objective!r}, direction='min')` (or 'max')."
            )
        return Objective(objective, direction)
    if isinstance(objective, (list, tuple)):
        if not objective:
            raise ValueError("The list of objectives is empty; give at least one objective.")
        if len(objective) == 1:
            return create_objective(objective[0])
        return MultiObjective([create_objective(o) for o in objective])
    raise TypeError(
        f"An objective is a metric name, an `Objective` or a list of these; got "
        f"{objective!r} of type {type(objective).__name__}."
    )


# Turning what a trial returns into metrics.

_DEFAULT_METRICS = ("val_loss", "loss")


def _number(value: Any) -> float | None:
    if hasattr(value, "numpy") and callable(value.numpy):
        value = value.numpy()
    if hasattr(value, "shape") and hasattr(value, "item"):
        if getattr(value, "size", 1) != 1:
            return None
        value = value.item()
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        return float(value)
    return None


def _is_history(result: Any) -> bool:
    return hasattr(result, "history") and isinstance(getattr(result, "history"), dict)


def _is_history_dict(result: Any) -> bool:
    return (
        isinstance(result, dict)
        and bool(result)
        and all(isinstance(v, (list, tuple)) for v in result.values())
    )


def _objective_metric(objective: Objective, names: Iterable[str]) -> Objective:
    """For the default objective, picks the metric it stands for among `names`."""
    names = list(names)
    if not isinstance(objective, DefaultObjective) or objective.name in names or not names:
        # With no metric at all, the caller reports the missing objective.
        return objective
    if len(names) == 1:
        return Objective(names[0], infer_metric_direction(names[0]) or "min")
    for name in _DEFAULT_METRICS:
        if name in names:
            return Objective(name, "min")
    raise errors.FatalValueError(
        f"The trial returned several metrics ({', '.join(sorted(names))}) and no objective "
        "was given. Pass `objective=` to the tuner, e.g. objective='val_accuracy'."
    )


def _missing_objective(objective: Objective, names: Iterable[str], kind: str) -> Exception:
    wanted = [o.name for o in getattr(objective, "objectives", [objective])]
    names = list(names)
    if names and any(w.startswith("val_") for w in wanted) and not any(
            n.startswith("val_") for n in names):
        return errors.FatalValueError(
            f"The objective {', '.join(map(repr, wanted))} is a validation metric, but no "
            f"validation data reached `fit`: the {kind} returned by the trial has only "
            f"{', '.join(map(repr, sorted(names)))}. Pass `validation_data=(x_val, y_val)` or "
            "`validation_split=` to `search()` (or to `fit` in your own `run_trial`), or choose "
            "an objective without the `val_` prefix."
        )
    return errors.FatalValueError(
        f"The {kind} returned by the trial has no metric {', '.join(map(repr, wanted))}; it has "
        f"{', '.join(map(repr, sorted(names))) or 'no metrics'}. Return the objective's metric, "
        "or pass `objective=` naming one of these (Keras names accuracy 'accuracy', so the "
        "validation metric is 'val_accuracy', not 'val_acc')."
    )


def _best_epoch(history: Mapping[str, list], objective: Objective) -> tuple[dict[str, list], int]:
    epochs = {name: list(values) for name, values in history.items() if len(values)}
    objective = _objective_metric(objective, epochs)
    if not objective.has_value(epochs):
        raise _missing_objective(objective, epochs, "history")
    length = min(len(v) for v in epochs.values())
    scores = [objective.get_value({n: v[i] for n, v in epochs.items()}) for i in range(length)]
    finite = [i for i, s in enumerate(scores) if not math.isnan(s)]
    if not finite:
        return epochs, length - 1
    return epochs, (min if objective.direction == "min" else max)(finite, key=scores.__getitem__)


def _from_history(history: Mapping[str, list], objective: Objective) -> dict[str, float]:
    epochs, best = _best_epoch(history, objective)
    return {name: float(values[best]) for name, values in epochs.items()}


def best_step_of(result: Any, objective: Objective) -> int:
    """The best epoch of a single `History` (or history dict) result; 0 for other results."""
    if _is_history(result):
        return _best_epoch(result.history, objective)[1]
    if _is_history_dict(result):
        return _best_epoch(result, objective)[1]
    return 0


def convert_to_metrics(result: Any, objective: Objective) -> dict[str, float]:
    """Turns what a trial returned into `{metric name: value}`.

    A number becomes the objective's value; a dict passes through; a Keras
    `History` (or a dict of per-epoch lists) gives the metrics of its best
    epoch by the objective; a list (one result per execution) is averaged
    metric by metric.

    Raises:
        FatalTypeError: for a result of an unsupported type.
        FatalValueError: when the result lacks the objective's metric.
    """
    if isinstance(result, (list, tuple)) and result:
        converted = [convert_to_metrics(r, objective) for r in result]
        common = [name for name in converted[0] if all(name in c for c in converted)]
        return {name: sum(c[name] for c in converted) / len(converted) for name in common}
    number = _number(result)
    if number is not None:
        if isinstance(objective, MultiObjective):
            raise _missing_objective(objective, [], "single number")
        return {objective.name: number}
    if _is_history(result):
        return _from_history(result.history, objective)
    if _is_history_dict(result):
        return _from_history(result, objective)
    if isinstance(result, dict):
        metrics = {}
        for name, value in result.items():
            value_number = _number(value)
            if value_number is None:
                raise errors.FatalTypeError(
                    f"Metric {name!r} in the trial's result is {value!r}; metric values must "
                    "be numbers."
                )
            metrics[str(name)] = value_number
        if not _objective_metric(objective, metrics).has_value(metrics):
            raise _missing_objective(objective, metrics, "dict")
        return metrics
    raise errors.FatalTypeError(
        f"A trial returned {result!r} of type {type(result).__name__}. Return a number (the "
        "objective's value), a dict of metrics, a Keras `History`, or a list of these (one per "
        "execution)."
    )


def score_of(metrics: Mapping[str, float], objective: Objective) -> float:
    """The objective's value in converted metrics.

    The default objective stands for the trial's single metric (else
    `val_loss`, else `loss`) and is minimized: a metric that is maximized
    (`accuracy`) scores as its negation.
    """
    resolved = _objective_metric(objective, metrics)
    if isinstance(objective, DefaultObjective) and resolved is not objective:
        return resolved.sign() * resolved.get_value(metrics)
    return resolved.get_value(metrics)

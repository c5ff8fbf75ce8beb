"""Objectives: direction inference, creation, and turning trial results into metrics."""

from __future__ import annotations

import numpy as np
import pytest

from e2etune import errors
from e2etune.engine.objective import (
    DefaultObjective,
    MultiObjective,
    Objective,
    convert_to_metrics,
    create_objective,
    infer_metric_direction,
    score_of,
)


@pytest.mark.parametrize(
    "name, direction",
    [
        ("loss", "min"), ("val_loss", "min"), ("generator_loss", "min"), ("val_total_loss", "min"),
        ("mae", "min"), ("val_mae", "min"), ("mse", "min"), ("mean_squared_error", "min"),
        ("binary_crossentropy", "min"), ("val_loss_1", "min"), ("weighted_mse", "min"),
        ("accuracy", "max"), ("val_accuracy", "max"), ("acc", "max"), ("val_acc", "max"),
        ("categorical_accuracy", "max"), ("auc", "max"), ("auc_1", "max"), ("val_auc_2", "max"),
        ("precision", "max"), ("val_precision_1", "max"), ("recall", "max"),
        ("weighted_accuracy", "max"), ("val_weighted_accuracy", "max"), ("f1_score", "max"),
        ("unknown_thing", None), ("val_custom", None), ("lossy", None),
        ("neg_mean_squared_error", "max"), ("neg_log_loss", "max"), ("val_neg_mae", "max"),
        ("neg_accuracy", "min"), ("neg_custom", None),
    ],
)
def test_direction_inference(name, direction):
    assert infer_metric_direction(name) == direction


def test_create_objective_from_names_objectives_and_lists():
    assert create_objective("val_accuracy") == Objective("val_accuracy", "max")
    assert create_objective("loss") == Objective("loss", "min")
    given = Objective("custom", "max")
    assert create_objective(given) is given
    assert isinstance(create_objective(None), DefaultObjective)
    multi = create_objective(["val_loss", Objective("val_auc", "max")])
    assert isinstance(multi, MultiObjective)
    assert multi.objectives == [Objective("val_loss", "min"), Objective("val_auc", "max")]
    assert multi.direction == "min" and multi.name == "multi_objective"


def test_unknown_objective_name_says_to_pass_an_objective():
    with pytest.raises(ValueError) as raised:
        create_objective("val_custom")
    message = str(raised.value)
    assert "'val_custom'" in message and "Objective(" in message and "direction" in message
    assert "Could not infer optimization direction" in message  # KerasTuner's phrase


@pytest.mark.parametrize("bad, error", [([], ValueError), (3, TypeError), ({"a": "min"}, TypeError)])
def test_bad_objectives(bad, error):
    with pytest.raises(error):
        create_objective(bad)


def test_objective_direction_is_checked():
    with pytest.raises(ValueError, match="'acc'.*'min' or 'max'.*'maximize'"):
        Objective("acc", "maximize")


def test_better_than_and_sign():
    assert Objective("loss", "min").better_than(0.1, 0.2)
    assert not Objective("loss", "min").better_than(0.2, 0.2)
    assert Objective("acc", "max").better_than(0.9, 0.8)
    assert Objective("acc", "max").sign() == -1.0 and Objective("loss", "min").sign() == 1.0
    assert Objective("a", "max") != Objective("a", "min")
    assert str(Objective("a", "max")) == 'Objective(name="a", direction="max")'


def test_multi_objective_score_is_the_sum_of_minimized_values():
    multi = create_objective(["val_loss", "val_accuracy"])
    metrics = {"val_loss": 0.5, "val_accuracy": 0.75, "other": 1.0}
    assert multi.has_value(metrics) and multi.get_value(metrics) == pytest.approx(-0.25)
    assert not multi.has_value({"val_loss": 0.5})


# convert_to_metrics.

class FakeHistory:
    def __init__(self, history):
        self.history = history


LOSS = Objective("val_loss", "min")
ACC = Objective("val_accuracy", "max")


def test_a_number_is_the_objective_value():
    assert convert_to_metrics(0.25, LOSS) == {"val_loss": 0.25}
    assert convert_to_metrics(3, LOSS) == {"val_loss": 3.0}
    for scalar in (np.float32(0.5), np.float64(0.5), np.int64(2), np.array(0.5)):
        result = convert_to_metrics(scalar, LOSS)
        assert result == {"val_loss": float(scalar)} and type(result["val_loss"]) is float


def test_a_dict_passes_through():
    assert convert_to_metrics({"val_loss": 0.1, "acc": np.float32(0.5)}, LOSS) == {"val_loss": 0.1, "acc": 0.5}


def test_a_history_gives_the_best_epoch_by_direction():
    epochs = {"val_loss": [0.9, 0.3, 0.5], "val_accuracy": [0.6, 0.7, 0.9]}
    assert convert_to_metrics(epochs, LOSS) == {"val_loss": 0.3, "val_accuracy": 0.7}
    assert convert_to_metrics(epochs, ACC) == {"val_loss": 0.5, "val_accuracy": 0.9}
    assert convert_to_metrics(FakeHistory(epochs), LOSS) == {"val_loss": 0.3, "val_accuracy": 0.7}
    assert convert_to_metrics(FakeHistory(epochs), ACC) == {"val_loss": 0.5, "val_accuracy": 0.9}


def test_nan_epochs_are_never_best():
    epochs = {"val_loss": [float("nan"), 0.4, float("nan")]}
    assert convert_to_metrics(epochs, LOSS) == {"val_loss": 0.4}


def test_a_list_of_results_is_averaged_per_metric():
    results = [{"val_loss": 0.2, "acc": 0.5}, {"val_loss": 0.4, "acc": 0.7}]
    assert convert_to_metrics(results, LOSS) == pytest.approx({"val_loss": 0.3, "acc": 0.6})
    assert convert_to_metrics([0.1, 0.3], LOSS) == pytest.approx({"val_loss": 0.2})
    mixed = [FakeHistory({"val_loss": [0.5, 0.1]}), {"val_loss": 0.3}]
    assert convert_to_metrics(mixed, LOSS) == pytest.approx({"val_loss": 0.2})


def test_the_default_objective():
    default = DefaultObjective()
    assert default.name == "default_objective" and default.direction == "min"
    assert convert_to_metrics(0.7, default) == {"default_objective": 0.7}
    assert convert_to_metrics({"score": 0.7}, default) == {"score": 0.7}
    assert score_of({"score": 0.7}, default) == 0.7
    two = {"loss": 0.2, "val_loss": 0.4, "accuracy": 0.9}
    assert score_of(convert_to_metrics(two, default), default) == 0.4  # val_loss first, then loss
    assert convert_to_metrics({"loss": [0.5, 0.2, 0.3], "accuracy": [0.1, 0.2, 0.9]}, default) == {
        "loss": 0.2, "accuracy": 0.2}
    with pytest.raises(errors.FatalValueError, match="accuracy.*auc.*objective="):
        convert_to_metrics({"accuracy": 0.9, "auc": 0.8}, default)


@pytest.mark.parametrize("result", [None, "0.5", object(), True, [], np.array([0.1, 0.2])],
                         ids=["None", "str", "object", "bool", "empty list", "array"])
def test_unsupported_results_are_fatal_type_errors(result):
    with pytest.raises(errors.FatalTypeError) as raised:
        convert_to_metrics(result, LOSS)
    assert type(result).__name__ in str(raised.value)
    assert isinstance(raised.value, TypeError)


def test_non_numeric_metric_in_a_dict_is_a_fatal_type_error():
    with pytest.raises(errors.FatalTypeError, match="'val_loss'.*'low'"):
        convert_to_metrics({"val_loss": "low"}, LOSS)


@pytest.mark.parametrize(
    "result",
    [{"loss": 0.1, "accuracy": 0.9}, {"loss": [0.2, 0.1], "accuracy": [0.5, 0.9]},
     FakeHistory({"loss": [0.1]}), [{"loss": 0.1}]],
    ids=["dict", "history dict", "history", "list"],
)
def test_missing_objective_lists_the_metrics_present(result):
    with pytest.raises(errors.FatalValueError) as raised:
        convert_to_metrics(result, LOSS)
    message = str(raised.value)
    assert "'val_loss'" in message and "'loss'" in message
    assert isinstance(raised.value, ValueError)


def test_empty_results_say_there_are_no_metrics():
    for result in ({}, FakeHistory({})):
        for objective in (LOSS, DefaultObjective()):
            with pytest.raises(errors.FatalValueError, match="no metrics"):
                convert_to_metrics(result, objective)


def test_a_multi_objective_needs_all_its_metrics():
    multi = create_objective(["val_loss", "val_accuracy"])
    metrics = convert_to_metrics({"val_loss": [0.5, 0.4], "val_accuracy": [0.9, 0.6]}, multi)
    assert metrics == {"val_loss": 0.5, "val_accuracy": 0.9}  # -0.4 beats 0.2
    with pytest.raises(errors.FatalValueError, match="'val_accuracy'"):
        convert_to_metrics({"val_loss": 0.5}, multi)
    with pytest.raises(errors.FatalValueError):
        convert_to_metrics(0.5, multi)

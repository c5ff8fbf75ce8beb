"""Metric histories: best values by direction, averaging of repeated steps, proto round trips."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2etune.engine.metrics import (
    MetricHistory,
    MetricObservation,
    MetricsTracker,
    infer_metric_direction,
)
from e2etune.protos import e2etune_pb2, parse

QUICK = settings(max_examples=60, deadline=None, derandomize=True, database=None)


def test_best_value_and_step_follow_the_direction():
    tracker = MetricsTracker()
    for step, (loss, accuracy) in enumerate([(0.9, 0.5), (0.4, 0.8), (0.6, 0.7)]):
        tracker.update("loss", loss, step=step)
        tracker.update("accuracy", accuracy, step=step)
    assert tracker.get_direction("loss") == "min" and tracker.get_direction("accuracy") == "max"
    assert tracker.get_best_value("loss") == 0.4 and tracker.get_best_step("loss") == 1
    assert tracker.get_best_value("accuracy") == 0.8 and tracker.get_best_step("accuracy") == 1
    assert tracker.get_last_value("loss") == 0.6


def test_direction_can_be_given_and_unknown_names_minimize():
    tracker = MetricsTracker(["val_auc", "custom"])
    tracker.register("score", direction="max")
    assert tracker.get_direction("val_auc") == "max"
    assert tracker.get_direction("custom") == "min"
    assert tracker.get_direction("score") == "max"
    with pytest.raises(ValueError, match="'score'"):
        tracker.register("score")
    with pytest.raises(ValueError, match="'up'"):
        MetricHistory("up")


def test_repeated_steps_are_averaged():
    tracker = MetricsTracker()
    tracker.update("loss", 1.0, step=0)
    tracker.update("loss", 2.0, step=0)
    tracker.update("loss", 1.6, step=1)
    assert tracker.get_history("loss") == [MetricObservation([1.0, 2.0], 0), MetricObservation(1.6, 1)]
    assert tracker.get_best_value("loss") == 1.5 and tracker.get_best_step("loss") == 0
    tracker.update("loss", [1.0, 1.0], step=1)  # two executions at once
    assert tracker.get_history("loss")[1].value == [1.6, 1.0, 1.0]
    assert tracker.get_best_value("loss") == pytest.approx(3.6 / 3)


def test_nan_is_never_best_and_empty_histories_have_no_best():
    history = MetricHistory("max")
    assert history.get_best_value() is None and history.get_best_step() is None
    assert history.get_last_value() is None and history.get_statistics() == {}
    history.update(float("nan"), 0)
    assert history.get_best_value() is None
    history.update(0.3, 1)
    assert history.get_best_value() == 0.3 and history.get_best_step() == 1


def test_values_are_converted_to_floats_and_checked():
    tracker = MetricsTracker()
    tracker.update("loss", np.float32(0.5))
    tracker.update("acc", np.array(0.25), step=1)
    assert tracker.get_history("loss")[0].value == [0.5]
    assert type(tracker.get_history("acc")[0].value[0]) is float
    with pytest.raises(TypeError, match="'loss'.*'high'"):
        tracker.update("loss", "high")


def test_unknown_metric_lists_the_recorded_ones():
    tracker = MetricsTracker()
    tracker.update("loss", 1.0)
    with pytest.raises(KeyError, match="'acc'.*'loss'"):
        tracker.get_best_value("acc")


def test_statistics():
    history = MetricHistory()
    for step, value in enumerate([1.0, 3.0, 2.0, 4.0]):
        history.update(value, step)
    stats = history.get_statistics()
    assert stats["min"] == 1.0 and stats["max"] == 4.0 and stats["mean"] == 2.5
    assert stats["median"] == 2.5 and stats["var"] == pytest.approx(1.25)
    assert stats["std"] == pytest.approx(math.sqrt(1.25))


def test_set_history_replaces_observations():
    tracker = MetricsTracker()
    tracker.update("loss", 5.0, step=3)
    tracker.set_history("loss", [MetricObservation(1.0, 0), MetricObservation(0.5, 1)])
    assert tracker.get_best_step("loss") == 1
    tracker.set_history("new", [MetricObservation(2.0, 4)])
    assert tracker.get_best_value("new") == 2.0


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


observations = st.lists(
    st.tuples(st.integers(0, 20), st.floats(allow_nan=False, allow_infinity=False, width=64)),
    min_size=1, max_size=30,
)


@QUICK
@given(observations, st.sampled_from(["min", "max"]))
def test_best_is_the_best_step_mean(updates, direction):
    history = MetricHistory(direction)
    by_step: dict[int, list[float]] = {}
    for step, value in updates:
        history.update(value, step)
        by_step.setdefault(step, []).append(value)
    means = {step: sum(v) / len(v) for step, v in by_step.items()}
    best = (min if direction == "min" else max)(means.values())
    assert history.get_best_value() == best
    assert means[history.get_best_step()] == best
    assert [o.step for o in history.get_history()] == sorted(by_step)


@QUICK
@given(st.dictionaries(st.text(min_size=1, max_size=8), observations, min_size=1, max_size=4))
def test_tracker_round_trips_through_proto_bytes_bit_for_bit(metrics):
    tracker = MetricsTracker()
    for name, updates in metrics.items():
        for step, value in updates:
            tracker.update(name, value, step=step)
    protos = tracker.to_proto()
    data = [p.SerializeToString() for p in protos]
    copy = MetricsTracker.from_proto(parse(e2etune_pb2.MetricHistory, d, "metric") for d in data)
    assert list(copy.metrics) == list(tracker.metrics)
    for name in metrics:
        assert copy.get_direction(name) == tracker.get_direction(name)
        original, restored = tracker.get_history(name), copy.get_history(name)
        assert [o.step for o in restored] == [o.step for o in original]
        assert [[bits(v) for v in o.value] for o in restored] == [[bits(v) for v in o.value] for o in original]
        assert bits(copy.get_best_value(name)) == bits(tracker.get_best_value(name))


def test_observations_are_64_bit():
    history = MetricHistory("max")
    history.update(1 / 3, 0)
    history.update(0.1 + 1e-12, 1)
    proto = e2etune_pb2.MetricHistory.FromString(history.to_proto("m").SerializeToString())
    restored = MetricHistory.from_proto(proto)
    assert restored.get_history()[0].value == [1 / 3]
    assert restored.get_best_value() == 1 / 3
    assert restored.get_history()[1].value == [0.1 + 1e-12]
    assert proto.direction == e2etune_pb2.MAX and proto.name == "m"


def _named(name, module=None):
    def fn(y_true, y_pred):
        return y_pred
    fn.__name__ = name
    fn.__module__ = module or __name__
    return fn


class _FakeMetric:
    def __init__(self, name):
        self.name = name


@pytest.mark.parametrize("metric, direction", [
    ("MAE", "min"), ("Val_Accuracy", "max"), ("ce", "min"), ("val_weighted_ce", "min"),
    ("weighted_acc", "max"), ("my_metric", None),
    (_named("categorical_accuracy"), "max"), (_named("my_metric_fn"), None),
    # Any function of Keras' losses module is minimized, whatever its name.
    (_named("my_metric_fn", "keras.src.losses.losses"), "min"),
    (_FakeMetric("precision"), "max"), (_FakeMetric("false_positives"), "min"),
    (_FakeMetric("my_metric"), None), (object(), None),
])
def test_direction_is_inferred_from_names_functions_and_metric_objects(metric, direction):
    assert infer_metric_direction(metric) == direction


def test_a_registered_metric_gets_the_inferred_direction_whatever_its_case():
    tracker = MetricsTracker(["Val_AUC", "MSE"])
    assert tracker.get_direction("Val_AUC") == "max" and tracker.get_direction("MSE") == "min"


def test_metrics_tracking_is_keras_tuners_name_for_the_metrics_module():
    from e2etune.engine import metrics, metrics_tracking

    for name in ("MetricObservation", "MetricHistory", "MetricsTracker", "infer_metric_direction"):
        assert getattr(metrics_tracking, name) is getattr(metrics, name)

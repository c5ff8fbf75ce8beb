"""HyperXception: its search space, the models it builds, and its argument errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from e2etune.applications import HyperXception
from e2etune.engine.hyperparameters import Choice, Float, HyperParameters, Int

SHAPE = (32, 32, 3)
#: The smallest network the space allows, to keep the builds fast.
SMALL = {"conv2d_num_filters": 32, "sep_num_filters": 128, "num_residual_blocks": 2}


def _build(include_top=True, **fixed):
    hp = HyperParameters()
    for name, value in {**SMALL, **fixed}.items():
        hp.Fixed(name, value)
    model = HyperXception(input_shape=SHAPE, classes=4, include_top=include_top).build(hp)
    return model, hp


def _layers(model, cls):
    return [layer for layer in model.layers if type(layer) is cls]


def test_search_space_is_kerastuners():
    hp = HyperParameters()
    HyperXception(input_shape=SHAPE, classes=4).build(hp)
    space = {h.name: h for h in hp.space}
    assert list(space) == ["activation", "conv2d_num_filters", "kernel_size", "initial_strides",
                           "sep_num_filters", "num_residual_blocks", "pooling",
                           "num_dense_layers", "dropout_rate", "dense_use_bn", "learning_rate"]
    choices = {"activation": (["relu", "selu"], "relu"),
               "conv2d_num_filters": ([32, 64, 128], 64), "kernel_size": ([3, 5], 3),
               "initial_strides": ([2], 2), "pooling": (["avg", "flatten", "max"], "avg"),
               "dense_use_bn": ([True, False], True),
               "learning_rate": ([1e-3, 1e-4, 1e-5], 1e-3)}
    for name, (values, default) in choices.items():
        assert isinstance(space[name], Choice), name
        assert list(space[name].values) == values and space[name].default == default, name
    ranges = {"sep_num_filters": (Int, 128, 768, 128, 256),
              "num_residual_blocks": (Int, 2, 8, None, 4),
              "num_dense_layers": (Int, 1, 3, None, 1),
              "dropout_rate": (Float, 0.0, 0.6, 0.1, 0.5)}
    for name, (cls, low, high, step, default) in ranges.items():
        h = space[name]
        assert isinstance(h, cls), name
        assert (h.min_value, h.max_value, h.default) == (low, high, default), name
        assert step is None or h.step == step, name


@pytest.mark.parametrize("activation,pooling", [("relu", "flatten"), ("selu", "max")])
def test_builds_and_trains_a_classifier(activation, pooling):
    model, _ = _build(activation=activation, pooling=pooling, num_dense_layers=2)
    assert model.name == "Xception" and model.output_shape == (None, 4)
    assert len(_layers(model, keras.layers.Dense)) == 3  # two hidden, one softmax
    has_bn = bool(_layers(model, keras.layers.BatchNormalization))
    assert has_bn == (activation == "relu")  # SELU networks are self-normalizing
    assert bool(_layers(model, keras.layers.Flatten)) == (pooling == "flatten")
    model.run_eagerly = True
    x, y = np.ones((2,) + SHAPE), np.eye(4)[[0, 1]]
    loss = model.train_on_batch(x, y)
    assert np.isfinite(np.asarray(loss)).all()
    assert model.predict(x, verbose=0).shape == (2, 4)


def test_residual_blocks_and_widths_follow_the_hyperparameters():
    model, _ = _build(num_residual_blocks=3, sep_num_filters=256)
    separable = _layers(model, keras.layers.SeparableConv2D)
    assert len(separable) == 2 * (3 + 1)  # two per block, plus the exit block
    assert [layer.filters for layer in separable[-2:]] == [512, 512]  # the exit block doubles


def test_include_top_false_gives_uncompiled_features():
    inputs = keras.Input(shape=SHAPE)
    hp = HyperParameters()
    for name, value in SMALL.items():
        hp.Fixed(name, value)
    model = HyperXception(input_tensor=inputs, include_top=False).build(hp)
    assert model.inputs == [inputs]
    assert model.output_shape == (None, 256)  # 2 x sep_num_filters, average pooled
    assert not getattr(model, "optimizer", None)
    assert "num_dense_layers" not in hp.values and "learning_rate" not in hp.values


def test_a_choice_declared_first_overrides_the_space():
    hp = HyperParameters()
    hp.Choice("num_dense_layers", [3])
    for name, value in SMALL.items():
        hp.Fixed(name, value)
    model = HyperXception(input_shape=SHAPE, classes=4).build(hp)
    assert hp.get("num_dense_layers") == 3
    assert len(_layers(model, keras.layers.Dense)) == 4


def test_errors_name_the_missing_argument():
    with pytest.raises(ValueError, match="classes"):
        HyperXception(input_shape=SHAPE)
    with pytest.raises(ValueError, match="input_shape.*input_tensor"):
        HyperXception(classes=4)
    hp = HyperParameters()
    hp.Fixed("activation", "tanh")
    with pytest.raises(ValueError, match="unknown activation 'tanh'"):
        HyperXception(input_shape=SHAPE, classes=4).build(hp)

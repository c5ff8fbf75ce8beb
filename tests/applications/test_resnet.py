"""HyperResNet: its search space, the models it builds, and its argument errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from e2etune.applications import HyperResNet
from e2etune.engine.hyperparameters import Choice, HyperParameters

SHAPE = (32, 32, 3)


def _build(**fixed):
    hp = HyperParameters()
    for name, value in fixed.items():
        hp.Fixed(name, value)
    model = HyperResNet(input_shape=SHAPE, classes=3).build(hp)
    return model, hp


def test_search_space_is_kerastuners():
    hp = HyperParameters()
    HyperResNet(input_shape=SHAPE, classes=3).build(hp)
    space = {h.name: h for h in hp.space}
    expected = {
        "version": (["v1", "v2", "next"], "v2"),
        "conv3_depth": ([4, 8], 4),
        "conv4_depth": ([6, 23, 36], 6),
        "pooling": (["avg", "max"], "avg"),
        "optimizer": (["adam", "rmsprop", "sgd"], "adam"),
        "learning_rate": ([0.1, 0.01, 0.001], 0.01),
    }
    assert list(space) == list(expected)
    for name, (values, default) in expected.items():
        assert isinstance(space[name], Choice), name
        assert list(space[name].values) == values and space[name].default == default, name


@pytest.mark.parametrize("version", ["v1", "v2", "next"])
def test_each_version_builds_a_classifier(version):
    model, _ = _build(version=version)
    assert model.name == "ResNet" and model.output_shape == (None, 3)
    assert model.count_params() > 20_000_000  # the default depths make a ResNet-50 size net
    out = model.predict(np.ones((2,) + SHAPE), verbose=0)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)  # softmax rows
    names = {layer.name for layer in model.layers}
    assert ("post_bn" in names) == (version == "v2")  # only v2 is pre-activation
    assert ("conv1_bn" in names) == (version != "v2")
    groups = model.get_layer("conv2_block1_2_conv").groups
    assert groups == (32 if version == "next" else 1)  # ResNeXt splits its 3x3 convolutions


def test_depth_hyperparameters_set_the_number_of_blocks():
    shallow, _ = _build(conv3_depth=4)
    deep, _ = _build(conv3_depth=8)
    blocks = lambda m: {l.name.split("_")[1] for l in m.layers if l.name.startswith("conv3_")}
    assert blocks(shallow) == {f"block{i}" for i in range(1, 5)}
    assert blocks(deep) == {f"block{i}" for i in range(1, 9)}


def test_optimizer_and_learning_rate_are_compiled_in():
    model, _ = _build(optimizer="rmsprop", learning_rate=0.001, pooling="max")
    assert isinstance(model.optimizer, keras.optimizers.RMSprop)
    assert float(model.optimizer.learning_rate) == pytest.approx(0.001)
    assert model.get_layer("max_pool") is not None


def test_include_top_false_gives_uncompiled_features():
    inputs = keras.Input(shape=SHAPE)
    hp = HyperParameters()
    model = HyperResNet(input_tensor=inputs, include_top=False).build(hp)
    assert model.inputs == [inputs]
    assert model.output_shape == (None, 2048)  # v2: 4 x 512 channels, pooled
    assert not getattr(model, "optimizer", None)
    assert "optimizer" not in hp.values and "learning_rate" not in hp.values


def test_errors_name_the_missing_argument():
    with pytest.raises(ValueError, match="classes"):
        HyperResNet(input_shape=SHAPE)
    with pytest.raises(ValueError, match="input_shape.*input_tensor"):
        HyperResNet(classes=3)
    with pytest.raises(ValueError, match="input_shape"):
        HyperResNet(input_shape=(32, 32), classes=3)
    with pytest.raises(ValueError, match="positive int"):
        HyperResNet(input_shape=SHAPE, classes=0)
    assert HyperResNet(input_shape=SHAPE, include_top=False).classes is None

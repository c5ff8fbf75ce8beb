"""HyperEfficientNet: its search space, augmentation, local weights and argument errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from e2etune.applications import HyperEfficientNet, HyperImageAugment, _efficientnet_weights
from e2etune.engine.hyperparameters import Choice, Float, HyperParameters

SHAPE = (32, 32, 3)


@pytest.fixture(scope="module")
def b0_weights(tmp_path_factory):
    """A B0 backbone with distinctive (random normal) weights, and the file holding them."""
    backbone = keras.applications.EfficientNetB0(include_top=False, weights=None,
                                                 input_shape=(224, 224, 3))
    rng = np.random.RandomState(1)
    backbone.set_weights([rng.normal(size=w.shape).astype("float32")
                          for w in backbone.get_weights()])
    path = tmp_path_factory.mktemp("weights") / "b0.weights.h5"
    backbone.save_weights(path)
    return backbone, str(path)


def test_search_space_and_model_with_a_hyper_augmentation():
    hp = HyperParameters()
    hm = HyperEfficientNet(input_shape=SHAPE, classes=5,
                           augmentation_model=HyperImageAugment(input_shape=SHAPE,
                                                                augment_layers=0))
    model = hm.build(hp)
    space = {h.name: h for h in hp.space}
    assert list(space)[-4:] == ["version", "pooling", "top_dropout_rate", "learning_rate"]
    assert "factor_rotate" in space  # the augmentation hypermodel's space joins in
    version, pooling, rate, lr = (space[n] for n in list(space)[-4:])
    assert isinstance(version, Choice) and version.values == [f"B{i}" for i in range(8)]
    assert version.default == "B0" and pooling.values == ["avg", "max"]
    assert isinstance(rate, Float) and (rate.min_value, rate.max_value, rate.step,
                                        rate.default) == (0.2, 0.8, 0.2, 0.2)
    assert lr.values == [0.1, 0.01, 0.001] and lr.default == 0.01
    assert model.name == "EfficientNet" and model.output_shape == (None, 5)
    assert model.layers[1].name == "image_augment"
    assert model.get_layer("resizing").output.shape[1:3] == (224, 224)
    assert isinstance(model.optimizer, keras.optimizers.SGD)
    model.run_eagerly = True
    x = np.random.RandomState(0).rand(2, *SHAPE).astype("float32") * 255
    loss = model.train_on_batch(x, np.eye(5)[[0, 1]])
    assert np.isfinite(np.asarray(loss)).all()


def test_keras_augmentation_model_and_compile_override():
    class AdamEfficientNet(HyperEfficientNet):
        def _compile(self, model, hp):
            model.compile(optimizer=keras.optimizers.Adam(hp.Choice("adam_lr", [1e-3])),
                          loss="categorical_crossentropy")

    augment = keras.Sequential([keras.layers.RandomFlip()], name="flip")
    inputs = keras.Input(shape=SHAPE)
    hp = HyperParameters()
    hp.Fixed("pooling", "max")
    model = AdamEfficientNet(input_tensor=inputs, classes=2,
                             augmentation_model=augment).build(hp)
    assert model.inputs == [inputs] and model.layers[1] is augment
    assert model.get_layer("max_pool") is not None
    assert "learning_rate" not in hp.values and hp.values["adam_lr"] == 1e-3
    assert isinstance(model.optimizer, keras.optimizers.Adam)


def test_local_weights_are_loaded_and_restrict_the_versions(b0_weights):
    source, path = b0_weights
    hp = HyperParameters()
    model = HyperEfficientNet(input_shape=SHAPE, classes=2, weights={"B0": path}).build(hp)
    assert {h.name: h for h in hp.space}["version"].values == ["B0"]
    names = {layer.name for layer in model.layers}
    compared = 0
    for saved_layer in source.layers:
        if saved_layer.weights and saved_layer.name in names:  # all but the auto-named ones
            for loaded, saved in zip(model.get_layer(saved_layer.name).get_weights(),
                                     saved_layer.get_weights()):
                np.testing.assert_array_equal(loaded, saved)
            compared += 1
    weighted = [layer for layer in source.layers if layer.weights]
    assert compared >= len(weighted) - 1 > 100  # all but the auto-named normalization


@pytest.mark.filterwarnings("ignore:Skipping nested container")
def test_weights_that_do_not_fit_are_refused(b0_weights, tmp_path):
    _, path = b0_weights
    hp = HyperParameters()
    hp.Fixed("version", "B1")
    with pytest.raises(ValueError, match="does not fit EfficientNetB1"):
        HyperEfficientNet(input_shape=SHAPE, classes=2, weights={"B1": path}).build(hp)


def test_weights_argument_is_checked_at_construction(tmp_path):
    make = lambda weights: HyperEfficientNet(input_shape=SHAPE, classes=2, weights=weights)
    with pytest.raises(ValueError, match="never downloads"):
        make("imagenet")
    with pytest.raises(FileNotFoundError, match="not found"):
        make({"B0": tmp_path / "missing.h5"})
    with pytest.raises(ValueError, match="maps versions"):
        make({"b9": tmp_path})
    with pytest.raises(FileNotFoundError, match="no weight file"):
        make(tmp_path)
    (tmp_path / "one.h5").write_bytes(b"")
    with pytest.raises(ValueError, match="does not say which version"):
        make(tmp_path / "one.h5")
    for version in ("B2", "B0"):
        (tmp_path / _efficientnet_weights.keras_file_name(version)).write_bytes(b"")
    assert list(make(tmp_path).weights) == ["B0", "B2"]  # version order, Keras's file names


def test_argument_errors():
    with pytest.raises(ValueError, match="augmentation_model"):
        HyperEfficientNet(input_shape=SHAPE, classes=2, augmentation_model=0)
    with pytest.raises(ValueError, match="classes"):
        HyperEfficientNet(input_shape=SHAPE)
    with pytest.raises(ValueError, match="input_shape.*input_tensor"):
        HyperEfficientNet(classes=2)

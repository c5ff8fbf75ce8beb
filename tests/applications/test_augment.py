"""HyperImageAugment: its transforms, both model kinds, their search spaces and errors."""

from __future__ import annotations

import keras
import numpy as np
import pytest

from e2etune.applications import HyperImageAugment
from e2etune.applications._augment_layers import RandomTransformChoice
from e2etune.engine.hyperparameters import Float, HyperParameters, Int

SHAPE = (16, 16, 3)


def _images(n=8):
    return np.random.RandomState(0).rand(n, *SHAPE).astype("float32")


def test_transform_ranges_from_numbers_pairs_and_none():
    assert HyperImageAugment(input_shape=SHAPE).transforms == [
        ("rotate", (0, 0.5)), ("translate_x", (0, 0.4)), ("translate_y", (0, 0.4)),
        ("contrast", (0, 0.3))]
    hm = HyperImageAugment(input_shape=SHAPE, rotate=None, translate_x=[0.1, 0.2],
                           translate_y=0, contrast=0.25)
    assert hm.transforms == [("translate_x", (0.1, 0.2)), ("contrast", (0, 0.25))]


@pytest.mark.parametrize("value,match", [
    ([0.1, 0.2, 0.3], "exceed 2"), ([0.1, "a"], "must be int or float"), ("0.3", "int or float"),
    ([0.4, 0.2], "min <= max"), (1.5, "<= 1"), ([0.5], "number or \\[min, max\\]")])
def test_bad_transform_ranges_are_refused_at_construction(value, match):
    with pytest.raises(ValueError, match=match):
        HyperImageAugment(input_shape=SHAPE, rotate=value)


@pytest.mark.parametrize("value,match", [(1.5, "must be int"), ([1, 2.5], "must be int"),
                                         ([3, 1], "min <= max"), (-1, "min <= max")])
def test_bad_augment_layers_are_refused_at_construction(value, match):
    with pytest.raises(ValueError, match=match):
        HyperImageAugment(input_shape=SHAPE, augment_layers=value)


def test_an_input_is_required():
    with pytest.raises(ValueError, match="must specify"):
        HyperImageAugment()


def test_fixed_augment_applies_each_nonzero_transform_in_turn():
    hp = HyperParameters()
    hp.Fixed("factor_rotate", 0.2)
    hp.Fixed("factor_translate_x", 0.3)
    hm = HyperImageAugment(input_shape=SHAPE, translate_y=[0.1, 0.3], augment_layers=0)
    model = hm.build(hp)
    assert model.name == "image_augment"
    space = {h.name: h for h in hp.space}
    tuned = [space["factor_translate_y"], space["factor_contrast"]]  # the others are Fixed
    assert all(isinstance(h, Float) and h.step == 0.05 for h in tuned)
    assert (space["factor_translate_y"].min_value, space["factor_translate_y"].max_value) == (
        0.1, 0.3)
    assert hp.get("factor_translate_y") == 0.1 and hp.get("factor_contrast") == 0  # minima
    kinds = [type(layer).__name__ for layer in model.layers[1:]]
    assert kinds == ["RandomRotation", "RandomTranslation", "RandomTranslation"]  # contrast 0
    rotation, shift_x, shift_y = model.layers[1:]
    assert rotation.factor == (-0.2, 0.2)
    assert (shift_x.height_factor, shift_x.width_factor) == (0.0, 0.3)  # horizontal
    assert (shift_y.height_factor, shift_y.width_factor) == (0.1, 0.0)  # vertical


def test_fixed_augment_changes_images_in_training_only():
    hp = HyperParameters()
    hp.Fixed("factor_rotate", 0.25)
    model = HyperImageAugment(input_shape=(None, None, 3), augment_layers=0).build(hp)
    x = _images()
    assert model.output_shape == (None, None, None, 3)
    np.testing.assert_array_equal(model.predict(x, verbose=0), x)
    assert np.abs(np.asarray(model(x, training=True)) - x).max() > 0.1


def test_rand_augment_space_and_layers():
    hp = HyperParameters()
    hp.Fixed("augment_layers", 2)
    hm = HyperImageAugment(input_shape=SHAPE, augment_layers=[1, 4], contrast=None)
    model = hm.build(hp)
    assert model.name == "image_rand_augment"
    space = {h.name: h for h in hp.space}
    assert "factor_contrast" not in space
    steps = HyperParameters()
    hm.build(steps)
    layers_hp = {h.name: h for h in steps.space}["augment_layers"]
    assert isinstance(layers_hp, Int)
    assert (layers_hp.min_value, layers_hp.max_value, layers_hp.default) == (1, 4, 1)
    assert all(space[f"factor_{n}"].step is None for n in ("rotate", "translate_x"))
    choices = [layer for layer in model.layers if isinstance(layer, RandomTransformChoice)]
    assert len(choices) == 2
    assert choices[0].transforms == ["rotate", "translate_x", "translate_y"]


def test_rand_augment_default_is_zero_steps_then_identity():
    hp = HyperParameters()
    model = HyperImageAugment(input_shape=SHAPE).build(hp)
    assert hp.get("augment_layers") == 0 and len(model.layers) == 1
    assert not any(name.startswith("factor_") for name in hp.values)


def test_rand_augment_transforms_images_in_training_and_trains_in_a_model():
    hp = HyperParameters()
    hp.Fixed("augment_layers", 1)
    hp.Fixed("factor_rotate", 0.3)
    hp.Fixed("factor_contrast", 0.5)
    augment = HyperImageAugment(input_shape=SHAPE, translate_x=None,
                                translate_y=None).build(hp)
    x = _images(16)
    np.testing.assert_array_equal(augment.predict(x, verbose=0), x)
    changed = np.abs(np.asarray(augment(x, training=True)) - x).reshape(16, -1).max(axis=1)
    assert (changed > 1e-3).sum() >= 12  # every image draws one of two active transforms
    classifier = keras.Sequential([keras.Input(SHAPE), augment, keras.layers.Flatten(),
                                   keras.layers.Dense(2, activation="softmax")])
    classifier.compile(optimizer="sgd", loss="categorical_crossentropy")
    history = classifier.fit(x, np.eye(2)[[0, 1] * 8], epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


def test_random_transform_choice_round_trips_its_config():
    layer = RandomTransformChoice(["rotate", "contrast"], [0.0, 0.2], seed=3)
    clone = RandomTransformChoice.from_config(layer.get_config())
    assert (clone.transforms, clone.factors, clone.seed) == (["rotate", "contrast"],
                                                             [0.0, 0.2], 3)
    assert [type(t).__name__ for t in clone.transform_layers] == ["RandomContrast"]
    with pytest.raises(ValueError, match="one factor per transform"):
        RandomTransformChoice(["rotate"], [0.1, 0.2])


def test_input_tensor_is_the_model_input():
    inputs = keras.Input(shape=SHAPE)
    model = HyperImageAugment(input_tensor=inputs, augment_layers=0).build(HyperParameters())
    assert model.inputs == [inputs]

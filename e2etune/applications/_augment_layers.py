"""Keras layers behind `HyperImageAugment`: the transforms and the per-image random choice.

Imported by `HyperImageAugment.build` only, so that importing e2etune does
not load Keras. All the layers change images in training only; at inference
they return their input unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
from keras import ops

#: The transforms, in the order `HyperImageAugment` registers them.
TRANSFORM_NAMES = ("rotate", "translate_x", "translate_y", "contrast")


def transform_layer(name: str, factor: float) -> Any:
    """Returns the Keras preprocessing layer for transform `name` at strength `factor`.

    `rotate`: up to `factor` of a full turn either way. `translate_x`: up to
    `factor` of the width sideways. `translate_y`: up to `factor` of the
    height up or down. `contrast`: contrast scaled by up to 1 +/- `factor`.
    """
    if name == "rotate":
        return keras.layers.RandomRotation(factor)
    if name == "translate_x":
        return keras.layers.RandomTranslation(height_factor=0.0, width_factor=factor)
    if name == "translate_y":
        return keras.layers.RandomTranslation(height_factor=factor, width_factor=0.0)
    if name == "contrast":
        return keras.layers.RandomContrast(factor)
    raise ValueError(f"Unknown transform {name!r}; use one of {list(TRANSFORM_NAMES)}.")


@keras.saving.register_keras_serializable(package="e2etune")
class RandomTransformChoice(keras.layers.Layer):
    """One RandAugment step: each image gets one transform drawn at random.

    In training, every image of the batch draws one of `transforms` uniformly
    and gets that transform at its `factors` strength (a transform of factor
    0 leaves the images that drew it unchanged). At inference it returns its
    input unchanged.

    Args:
        transforms: Names from `TRANSFORM_NAMES`.
        factors: One strength per transform.
        seed: Optional seed of the draws.
        **kwargs: `keras.layers.Layer` arguments.
    """

    def __init__(self, transforms: Sequence[str], factors: Sequence[float],
                 seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if len(transforms) != len(factors) or not transforms:
            raise ValueError(
                "RandomTransformChoice needs one factor per transform and at least one "
                f"transform; got transforms={list(transforms)}, factors={list(factors)}."
            )
        self.transforms = list(transforms)
        self.factors = [float(f) for f in factors]
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        active = [i for i, f in enumerate(self.factors) if f != 0]
        self.active_indices = active
        self.transform_layers = [transform_layer(self.transforms[i], self.factors[i])
                                 for i in active]

    def build(self, input_shape: Any) -> None:
        """Builds the transform layers for `input_shape`."""
        for layer in self.transform_layers:
            layer.build(input_shape)
        self.built = True

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        """Returns the batch with one random transform per image (training only)."""
        if not training or not self.transform_layers:
            return inputs
        batch_size = ops.shape(inputs)[0]
        drawn = keras.random.randint((batch_size, 1, 1, 1), 0, len(self.transforms),
                                     seed=self.seed_generator)
        outputs = inputs
        for index, layer in zip(self.active_indices, self.transform_layers):
            transformed = ops.cast(layer(inputs, training=True), inputs.dtype)
            outputs = ops.where(ops.equal(drawn, index), transformed, outputs)
        return outputs

    def compute_output_shape(self, input_shape: Any) -> Any:
        """The output has the input's shape."""
        return input_shape

    def get_config(self) -> dict:
        """Returns the layer's configuration."""
        config = super().get_config()
        config.update(transforms=self.transforms, factors=self.factors, seed=self.seed)
        return config

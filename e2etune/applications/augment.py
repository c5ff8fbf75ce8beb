"""`HyperImageAugment`: tunes how strongly, and how many, image augmentations apply."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

from e2etune.applications import _inputs
from e2etune.engine.hypermodel import HyperModel
from e2etune.engine.hyperparameters import HyperParameters


class HyperImageAugment(HyperModel):
    """An image augmentation hypermodel, as KerasTuner's.

    The model maps images `(height, width, channels)` to images of the same
    shape; it changes them in training only (at inference it is the
    identity), so it can sit in front of a classifier.

    Each transform (`rotate`, `translate_x`, `translate_y`, `contrast`) gets
    a strength range: a number `x` means `[0, x]`, a pair `[x, y]` means
    `[x, y]`, None (or 0) switches the transform off. Values lie in [0, 1].

    With `augment_layers=0`, every transform applies in turn, each at a
    strength `factor_<transform>` (Float over its range, step 0.05, default
    its minimum; a strength of 0 skips the transform). Otherwise a simple
    RandAugment (https://arxiv.org/abs/1909.13719) applies: `augment_layers`
    (Int over `[0, n]` for an int `n`, or `[min, max]` for a pair; default its
    minimum) steps, each giving every image one transform drawn at random, at
    strength `factor_<transform>` (Float over its range, default its minimum).

    Args:
        input_shape: Shape of one image, e.g. `(32, 32, 3)`; None allowed for
            height and width. One of `input_shape` or `input_tensor` is required.
        input_tensor: A Keras tensor (e.g. `keras.Input(...)`) to build on.
        rotate: Range of the rotation, in fractions of a full turn either way.
            Defaults to 0.5.
        translate_x: Range of the horizontal shift, in fractions of the width.
            Defaults to 0.4.
        translate_y: Range of the vertical shift, in fractions of the height.
            Defaults to 0.4.
        contrast: Range of the contrast change (a factor in `1 +/- x`).
            Defaults to 0.3.
        augment_layers: 0 (or None) for all transforms in turn; an int `n` or
            a pair `[min, max]` of ints for RandAugment. Defaults to 3.
        **kwargs: `HyperModel` arguments (`name`, `tunable`).

    Raises:
        ValueError: Neither `input_shape` nor `input_tensor` is given, a range
            has more than 2 values or a non-number, lies outside [0, 1] or is
            reversed, or `augment_layers` is not an int or a pair of ints.

    Note:
        KerasTuner 1.4 shifts images vertically for `translate_x` and
        horizontally for `translate_y`; here `translate_x` is horizontal and
        `translate_y` vertical, as its documentation says.

    Example:
        >>> augment = HyperImageAugment(input_shape=(32, 32, 3), augment_layers=0,
        ...                             rotate=[0.2, 0.3], translate_x=0.1,
        ...                             translate_y=None, contrast=None)
        >>> # searches factor_rotate in [0.2, 0.3] and factor_translate_x in [0, 0.1]
    """

    def __init__(self, input_shape: Sequence[int | None] | None = None, input_tensor: Any = None,
                 rotate: Any = 0.5, translate_x: Any = 0.4, translate_y: Any = 0.4,
                 contrast: Any = 0.3, augment_layers: Any = 3, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.input_shape = _inputs.check_image_input("HyperImageAugment", input_shape,
                                                     input_tensor)
        self.input_tensor = input_tensor
        #: The registered transforms, as `(name, (min_factor, max_factor))` in order.
        self.transforms: list[tuple[str, tuple[float, float]]] = []
        for name, value in (("rotate", rotate), ("translate_x", translate_x),
                            ("translate_y", translate_y), ("contrast", contrast)):
            factor_range = _factor_range(name, value)
            if factor_range is not None:
                self.transforms.append((name, factor_range))
        if augment_layers:
            self.model_name = "image_rand_augment"
            self.augment_layers_min, self.augment_layers_max = _layers_range(augment_layers)
        else:
            self.model_name = "image_augment"

    def build(self, hp: HyperParameters) -> Any:
        """Builds the augmentation model (named "image_augment" or "image_rand_augment")."""
        import keras

        inputs, x = _inputs.image_inputs(self.input_shape, self.input_tensor)
        if self.model_name == "image_rand_augment":
            x = self._rand_augment(x, hp)
        else:
            x = self._augment_all(x, hp)
        return keras.Model(inputs, x, name=self.model_name)

    def _augment_all(self, x: Any, hp: HyperParameters) -> Any:
        from e2etune.applications import _augment_layers

        for name, (low, high) in self.transforms:
            factor = hp.Float(f"factor_{name}", low, high, step=0.05, default=low)
            if factor:
                x = _augment_layers.transform_layer(name, factor)(x)
        return x

    def _rand_augment(self, x: Any, hp: HyperParameters) -> Any:
        from e2etune.applications import _augment_layers

        steps = hp.Int("augment_layers", self.augment_layers_min, self.augment_layers_max,
                       default=self.augment_layers_min)
        if not self.transforms:
            return x
        for _ in range(steps):
            factors = [hp.Float(f"factor_{name}", low, high, default=low)
                       for name, (low, high) in self.transforms]
            names = [name for name, _ in self.transforms]
            x = _augment_layers.RandomTransformChoice(names, factors)(x)
        return x


def _factor_range(name: str, value: Any) -> tuple[float, float] | None:
    """`value` as a `(min, max)` strength range, or None when the transform is off."""
    if value is None or value is False or (_is_number(value) and value == 0):
        return None
    if _is_number(value):
        low, high = 0, value
    elif isinstance(value, (list, tuple)):
        if len(value) > 2:
            raise ValueError(
                f"HyperImageAugment: the length of keyword argument `{name}` must not exceed 2 "
                f"(a max, or [min, max]); got {value!r}."
            )
        if len(value) != 2:
            raise ValueError(
                f"HyperImageAugment: `{name}` must be a number or [min, max]; got {value!r}."
            )
        low, high = value
    else:
        low, high = None, None
    if not (_is_number(low) and _is_number(high)):
        raise ValueError(
            f"HyperImageAugment: keyword argument `{name}` must be int or float (or a list of "
            f"two of them, or None), but received {value!r}."
        )
    if not 0 <= low <= high <= 1:
        raise ValueError(
            f"HyperImageAugment: `{name}` must satisfy 0 <= min <= max <= 1; got {value!r}."
        )
    return (low, high)


def _layers_range(augment_layers: Any) -> tuple[int, int]:
    """`augment_layers` as the `(min, max)` number of RandAugment steps."""
    if isinstance(augment_layers, (list, tuple)) and len(augment_layers) == 2:
        low, high = augment_layers
    else:
        low, high = 0, augment_layers
    if not (_is_int(low) and _is_int(high)):
        raise ValueError(
            "HyperImageAugment: keyword argument `augment_layers` must be int (or a list of two "
            f"ints [min, max]), but received {augment_layers!r}."
        )
    if not 0 <= low <= high:
        raise ValueError(
            "HyperImageAugment: `augment_layers` must satisfy 0 <= min <= max; "
            f"got {augment_layers!r}."
        )
    return low, high


def _is_number(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)

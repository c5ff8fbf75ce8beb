"""Checks and input plumbing shared by the application hypermodels.

The checks run in the constructors (no Keras needed); `image_inputs` runs in
`build` and imports Keras then.
"""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any


def check_image_input(owner: str, input_shape: Sequence[int | None] | None,
                      input_tensor: Any) -> tuple[int | None, ...] | None:
    """Raises unless exactly the image input a hypermodel needs was given.

    Args:
        owner: The class name, for the messages.
        input_shape: `(height, width, channels)` (or channels first), or None.
        input_tensor: A Keras tensor, or None.

    Returns:
        `input_shape` as a tuple (None stays None).
    """
    if input_shape is None and input_tensor is None:
        raise ValueError(
            f"{owner}: you must specify either `input_shape` or `input_tensor`; pass "
            "input_shape=(height, width, channels) or input_tensor=keras.Input(shape=...)."
        )
    if input_shape is None:
        return None
    try:
        shape = tuple(input_shape)
    except TypeError:
        raise ValueError(
            f"{owner}: `input_shape` must be a tuple such as (32, 32, 3); got {input_shape!r}."
        ) from None
    bad = [d for d in shape if d is not None and not _is_positive_int(d)]
    if len(shape) != 3 or bad:
        raise ValueError(
            f"{owner}: `input_shape` must be an image shape of 3 dimensions, each a positive "
            f"int or None, e.g. (32, 32, 3); got {input_shape!r}."
        )
    return shape


def check_classes(owner: str, classes: Any, needed: bool, why: str = "") -> None:
    """Raises unless `classes` is a positive int (or None where it is not `needed`).

    Args:
        owner: The class name, for the messages.
        classes: The number of classes the user gave.
        needed: Whether the hypermodel needs it in this configuration.
        why: When it is needed, e.g. "when `include_top=True`"; empty if always.
    """
    if classes is None:
        if needed:
            raise ValueError(
                f"{owner}: you must specify `classes` (the number of classes)"
                f"{' ' + why if why else ''}; pass classes=N."
            )
        return
    if not _is_positive_int(classes):
        raise ValueError(f"{owner}: `classes` must be a positive int; got {classes!r}.")


def image_inputs(input_shape: Sequence[int | None] | None, input_tensor: Any) -> tuple[Any, Any]:
    """Returns `(model_inputs, x)`: the model's inputs and the tensor to build on.

    With `input_tensor`, the model's inputs are that tensor's source inputs, so
    a tensor computed from an `Input` works too.
    """
    import keras

    if input_tensor is not None:
        return keras.utils.get_source_inputs(input_tensor), input_tensor
    inputs = keras.Input(shape=tuple(input_shape))
    return inputs, inputs


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and value > 0

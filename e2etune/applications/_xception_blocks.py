"""The building blocks of `HyperXception`, for a ReLU (with batch norm) or a SELU network.

Imported by `HyperXception.build` only, so that importing e2etune does not
load Keras. With "selu" the layers use LeCun-normal initialization and no
batch normalization (self-normalizing); with "relu" each convolution is
followed by batch normalization and a ReLU.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

ACTIVATIONS = ("relu", "selu")


def _check(activation: str) -> None:
    if activation not in ACTIVATIONS:
        raise ValueError(
            f"HyperXception: unknown activation {activation!r}; use one of {list(ACTIVATIONS)}."
        )


def _channel_axis() -> int:
    return -1 if keras.config.image_data_format() == "channels_last" else 1


def _bn_relu(x: Any) -> Any:
    x = layers.BatchNormalization(axis=_channel_axis())(x)
    return layers.Activation("relu")(x)


def conv(x: Any, filters: int, kernel_size: int, strides: int, activation: str) -> Any:
    """The entry convolution ("same" padding)."""
    _check(activation)
    if activation == "selu":
        return layers.Conv2D(filters, kernel_size, strides=strides, padding="same",
                             activation="selu", kernel_initializer="lecun_normal")(x)
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False)(x)
    return _bn_relu(x)


def separable_conv(x: Any, filters: int, activation: str, kernel_size: int = 3) -> Any:
    """A depthwise-separable convolution ("same" padding)."""
    _check(activation)
    if activation == "selu":
        return layers.SeparableConv2D(filters, kernel_size, padding="same", activation="selu",
                                      depthwise_initializer="lecun_normal",
                                      pointwise_initializer="lecun_normal")(x)
    x = layers.SeparableConv2D(filters, kernel_size, padding="same", use_bias=False)(x)
    return _bn_relu(x)


def residual(x: Any, filters: int, activation: str, downsample: bool) -> Any:
    """Two separable convolutions added to a shortcut.

    With `downsample`, the main path ends with a 3x3/2 max pooling and the
    shortcut is a 1x1/2 convolution; otherwise the shortcut is the input, or
    a 1x1 convolution where the channel count changes.
    """
    channels = x.shape[_channel_axis()]
    if downsample:
        shortcut = layers.Conv2D(filters, 1, strides=2, padding="same")(x)
    elif channels != filters:
        shortcut = layers.Conv2D(filters, 1, padding="same")(x)
    else:
        shortcut = x
    x = separable_conv(x, filters, activation)
    x = separable_conv(x, filters, activation)
    if downsample:
        x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    return layers.Add()([x, shortcut])


def dense(x: Any, units: int, activation: str, batchnorm: bool, dropout_rate: float) -> Any:
    """A hidden dense layer, batch-normalized (ReLU only, if `batchnorm`), then dropout."""
    _check(activation)
    if activation == "selu":
        x = layers.Dense(units, activation="selu", kernel_initializer="lecun_normal")(x)
    else:
        x = layers.Dense(units, activation="relu")(x)
        if batchnorm:
            x = layers.BatchNormalization()(x)
    return layers.Dropout(dropout_rate)(x) if dropout_rate else x


def pool(x: Any, pooling: str) -> Any:
    """Flattens or globally pools the feature map."""
    if pooling == "flatten":
        return layers.Flatten()(x)
    if pooling == "max":
        return layers.GlobalMaxPooling2D()(x)
    return layers.GlobalAveragePooling2D()(x)

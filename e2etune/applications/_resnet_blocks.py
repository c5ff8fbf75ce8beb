"""The residual stacks of `HyperResNet`: v1 (post-activation), v2 (pre-activation), next (ResNeXt).

Imported by `HyperResNet.build` only, so that importing e2etune does not
load Keras. Every stack takes the tensor, its bottleneck width, its number
of blocks and its stride, and names its layers `<name>_block<i>_...`.
"""

from __future__ import annotations

from typing import Any

import keras
from keras import layers

_EPSILON = 1.001e-5
_RESNEXT_GROUPS = 32


def _channel_axis() -> int:
    return -1 if keras.config.image_data_format() == "channels_last" else 1


def batch_norm(x: Any, name: str) -> Any:
    """Batch normalization over the channel axis, with ResNet's epsilon."""
    return layers.BatchNormalization(axis=_channel_axis(), epsilon=_EPSILON, name=name)(x)


def _conv_bn(x: Any, filters: int, kernel: int, name: str, strides: int = 1, relu: bool = True,
             use_bias: bool = True, groups: int = 1) -> Any:
    """Convolution ("same" padding), batch norm and, if `relu`, a ReLU."""
    x = layers.Conv2D(filters, kernel, strides=strides, padding="same", use_bias=use_bias,
                      groups=groups, name=f"{name}_conv")(x)
    x = batch_norm(x, f"{name}_bn")
    return layers.Activation("relu", name=f"{name}_relu")(x) if relu else x


def _post_activation_block(x: Any, filters: int, strides: int, projection: bool,
                           name: str) -> Any:
    """ResNet v1 bottleneck: 1x1 -> 3x3 -> 1x1 (4x wide), added to the shortcut, then ReLU."""
    shortcut = x
    if projection:
        shortcut = _conv_bn(x, 4 * filters, 1, f"{name}_0", strides=strides, relu=False)
    x = _conv_bn(x, filters, 1, f"{name}_1", strides=strides)
    x = _conv_bn(x, filters, 3, f"{name}_2")
    x = _conv_bn(x, 4 * filters, 1, f"{name}_3", relu=False)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def _pre_activation_block(x: Any, filters: int, strides: int, projection: bool,
                          name: str) -> Any:
    """ResNet v2 bottleneck: BN-ReLU first; the stride sits on the 3x3 convolution."""
    pre = batch_norm(x, f"{name}_preact_bn")
    pre = layers.Activation("relu", name=f"{name}_preact_relu")(pre)
    if projection:
        shortcut = layers.Conv2D(4 * filters, 1, strides=strides, name=f"{name}_0_conv")(pre)
    elif strides > 1:
        shortcut = layers.MaxPooling2D(1, strides=strides, name=f"{name}_0_pool")(x)
    else:
        shortcut = x
    y = _conv_bn(pre, filters, 1, f"{name}_1", use_bias=False)
    y = _conv_bn(y, filters, 3, f"{name}_2", strides=strides, use_bias=False)
    y = layers.Conv2D(4 * filters, 1, name=f"{name}_3_conv")(y)
    return layers.Add(name=f"{name}_out")([shortcut, y])


def _grouped_block(x: Any, filters: int, strides: int, projection: bool, name: str) -> Any:
    """ResNeXt bottleneck: the 3x3 convolution is split into 32 groups; 2x wide output."""
    width = 2 * filters
    shortcut = x
    if projection:
        shortcut = _conv_bn(x, width, 1, f"{name}_0", strides=strides, relu=False,
                            use_bias=False)
    x = _conv_bn(x, filters, 1, f"{name}_1", use_bias=False)
    x = _conv_bn(x, filters, 3, f"{name}_2", strides=strides, use_bias=False,
                 groups=_RESNEXT_GROUPS)
    x = _conv_bn(x, width, 1, f"{name}_3", relu=False, use_bias=False)
    x = layers.Add(name=f"{name}_add")([shortcut, x])
    return layers.Activation("relu", name=f"{name}_out")(x)


def stem(x: Any, version: str) -> Any:
    """7x7/2 convolution and 3x3/2 max pooling; v2 leaves the activation to its blocks."""
    x = layers.ZeroPadding2D(padding=((3, 3), (3, 3)), name="conv1_pad")(x)
    x = layers.Conv2D(64, 7, strides=2, use_bias=version != "next", name="conv1_conv")(x)
    if version != "v2":
        x = batch_norm(x, "conv1_bn")
        x = layers.Activation("relu", name="conv1_relu")(x)
    x = layers.ZeroPadding2D(padding=((1, 1), (1, 1)), name="pool1_pad")(x)
    return layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)


def post_activation(x: Any) -> Any:
    """The final BN-ReLU of the pre-activation (v2) network."""
    x = batch_norm(x, "post_bn")
    return layers.Activation("relu", name="post_relu")(x)


def stack_v1(x: Any, filters: int, blocks: int, strides: int = 2, name: str = "stack") -> Any:
    """`blocks` post-activation blocks; the first projects the shortcut and strides."""
    x = _post_activation_block(x, filters, strides, True, f"{name}_block1")
    for i in range(2, blocks + 1):
        x = _post_activation_block(x, filters, 1, False, f"{name}_block{i}")
    return x


def stack_v2(x: Any, filters: int, blocks: int, strides: int = 2, name: str = "stack") -> Any:
    """`blocks` pre-activation blocks; the first projects, the last strides."""
    for i in range(1, blocks + 1):
        x = _pre_activation_block(x, filters, strides if i == blocks else 1, i == 1,
                                  f"{name}_block{i}")
    return x


def stack_next(x: Any, filters: int, blocks: int, strides: int = 2, name: str = "stack") -> Any:
    """`blocks` grouped (ResNeXt) blocks; the first projects the shortcut and strides."""
    x = _grouped_block(x, filters, strides, True, f"{name}_block1")
    for i in range(2, blocks + 1):
        x = _grouped_block(x, filters, 1, False, f"{name}_block{i}")
    return x


STACKS = {"v1": stack_v1, "v2": stack_v2, "next": stack_next}

#: Bottleneck widths of the four stages, per version (conv2..conv5).
WIDTHS = {"v1": (64, 128, 256, 512), "v2": (64, 128, 256, 512), "next": (64, 256, 512, 1024)}

#: Strides of the four stages, per version: v1 strides on entry, v2 and next
#: as in KerasTuner's HyperResNet (the last stage keeps its resolution).
STRIDES = {"v1": (1, 2, 2, 2), "v2": (2, 2, 2, 1), "next": (2, 2, 2, 1)}

"""`HyperResNet`: a ResNet whose version, depth, pooling and optimizer are tuned."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from e2etune.applications import _inputs
from e2etune.engine.hypermodel import HyperModel
from e2etune.engine.hyperparameters import HyperParameters


class HyperResNet(HyperModel):
    """A ResNet hypermodel for image classification, as KerasTuner's.

    The models take images `(height, width, channels)` (channels first when
    Keras is set so) and, with `include_top=True`, output `classes` softmax
    probabilities, compiled with categorical cross-entropy and accuracy.

    Search space (name: values, default):
        - `version`: "v1", "v2" (pre-activation), "next" (ResNeXt); "v2".
        - `conv3_depth`: 4, 8; 4. Blocks of the third stage.
        - `conv4_depth`: 6, 23, 36; 6. Blocks of the fourth stage.
        - `pooling`: "avg", "max"; "avg".
        - with `include_top=True` only: `optimizer`: "adam", "rmsprop",
          "sgd"; "adam". `learning_rate`: 0.1, 0.01, 0.001; 0.01.

    Args:
        include_top: Whether to add the softmax classifier (and compile the
            model). Defaults to True. Without it, the model ends with the
            pooled features and is not compiled.
        input_shape: Shape of one image, e.g. `(256, 256, 3)`. One of
            `input_shape` or `input_tensor` is required.
        input_tensor: A Keras tensor (e.g. `keras.Input(...)`) to build on;
            the model's inputs are its source inputs.
        classes: Number of classes; required when `include_top=True`.
        **kwargs: `HyperModel` arguments (`name`, `tunable`).

    Raises:
        ValueError: `classes` is missing while `include_top=True`, or neither
            `input_shape` nor `input_tensor` is given.

    Example:
        >>> tuner = kt.RandomSearch(HyperResNet(input_shape=(32, 32, 3), classes=10),
        ...                         objective="val_accuracy", max_trials=5)
    """

    def __init__(self, include_top: bool = True, input_shape: Sequence[int | None] | None = None,
                 input_tensor: Any = None, classes: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _inputs.check_classes("HyperResNet", classes, include_top, "when `include_top=True`")
        self.input_shape = _inputs.check_image_input("HyperResNet", input_shape, input_tensor)
        self.include_top = include_top
        self.input_tensor = input_tensor
        self.classes = classes

    def build(self, hp: HyperParameters) -> Any:
        """Builds the ResNet the values of `hp` describe (compiled when `include_top`)."""
        import keras
        from keras import layers

        from e2etune.applications import _resnet_blocks as blocks

        version = hp.Choice("version", ["v1", "v2", "next"], default="v2")
        depths = (3, hp.Choice("conv3_depth", [4, 8]), hp.Choice("conv4_depth", [6, 23, 36]), 3)
        inputs, x = _inputs.image_inputs(self.input_shape, self.input_tensor)
        x = blocks.stem(x, version)
        stack = blocks.STACKS[version]
        for stage, (width, depth, strides) in enumerate(
                zip(blocks.WIDTHS[version], depths, blocks.STRIDES[version]), start=2):
            x = stack(x, width, depth, strides=strides, name=f"conv{stage}")
        if version == "v2":
            x = blocks.post_activation(x)
        x = _pool(x, hp.Choice("pooling", ["avg", "max"], default="avg"))
        if not self.include_top:
            return keras.Model(inputs, x, name="ResNet")
        outputs = layers.Dense(self.classes, activation="softmax", name="probs")(x)
        model = keras.Model(inputs, outputs, name="ResNet")
        self._compile(model, hp)
        return model

    def _compile(self, model: Any, hp: HyperParameters) -> None:
        """Compiles `model` with the tuned optimizer and learning rate.

        Override it in a subclass to compile differently.
        """
        import keras

        classes = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop,
                   "sgd": keras.optimizers.SGD}
        optimizer = hp.Choice("optimizer", list(classes), default="adam")
        learning_rate = hp.Choice("learning_rate", [0.1, 0.01, 0.001], default=0.01)
        model.compile(optimizer=classes[optimizer](learning_rate=learning_rate),
                      loss="categorical_crossentropy", metrics=["accuracy"])


def _pool(x: Any, pooling: str) -> Any:
    from keras import layers

    if pooling == "max":
        return layers.GlobalMaxPooling2D(name="max_pool")(x)
    return layers.GlobalAveragePooling2D(name="avg_pool")(x)

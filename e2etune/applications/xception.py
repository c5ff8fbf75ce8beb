"""`HyperXception`: an Xception-style network whose widths, depth and head are tuned."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from e2etune.applications import _inputs
from e2etune.engine.hypermodel import HyperModel
from e2etune.engine.hyperparameters import HyperParameters


class HyperXception(HyperModel):
    """An Xception hypermodel for image classification, as KerasTuner's.

    The network is an entry convolution, `num_residual_blocks` residual
    blocks of two separable convolutions, an exit block that doubles the
    width and halves the resolution, a pooling, and (with `include_top`)
    dense layers of `classes` units and a softmax, compiled with Adam,
    categorical cross-entropy and accuracy.

    Search space (name: values, default):
        - `activation`: "relu", "selu"; "relu".
        - `conv2d_num_filters`: 32, 64, 128; 64.
        - `kernel_size`: 3, 5; 3.
        - `initial_strides`: 2; 2.
        - `sep_num_filters`: Int 128..768 step 128; 256.
        - `num_residual_blocks`: Int 2..8; 4.
        - `pooling`: "avg", "flatten", "max"; "avg".
        - with `include_top=True` only: `num_dense_layers`: Int 1..3; 1.
          `dropout_rate`: Float 0.0..0.6 step 0.1; 0.5. `dense_use_bn`:
          True, False; True. `learning_rate`: 1e-3, 1e-4, 1e-5; 1e-3.

    Args:
        include_top: Whether to add the dense head (and compile the model).
            Defaults to True. Without it, the model ends with the pooled
            features and is not compiled.
        input_shape: Shape of one image, e.g. `(256, 256, 3)`. One of
            `input_shape` or `input_tensor` is required.
        input_tensor: A Keras tensor (e.g. `keras.Input(...)`) to build on;
            the model's inputs are its source inputs.
        classes: Number of classes; required when `include_top=True`.
        **kwargs: `HyperModel` arguments (`name`, `tunable`).

    Raises:
        ValueError: `classes` is missing while `include_top=True`, or neither
            `input_shape` nor `input_tensor` is given.
    """

    def __init__(self, include_top: bool = True, input_shape: Sequence[int | None] | None = None,
                 input_tensor: Any = None, classes: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _inputs.check_classes("HyperXception", classes, include_top, "when `include_top=True`")
        self.input_shape = _inputs.check_image_input("HyperXception", input_shape, input_tensor)
        self.include_top = include_top
        self.input_tensor = input_tensor
        self.classes = classes

    def build(self, hp: HyperParameters) -> Any:
        """Builds the network the values of `hp` describe (compiled when `include_top`)."""
        import keras
        from keras import layers

        from e2etune.applications import _xception_blocks as blocks

        activation = hp.Choice("activation", ["relu", "selu"])
        inputs, x = _inputs.image_inputs(self.input_shape, self.input_tensor)
        x = blocks.conv(x, hp.Choice("conv2d_num_filters", [32, 64, 128], default=64),
                        kernel_size=hp.Choice("kernel_size", [3, 5]),
                        strides=hp.Choice("initial_strides", [2]), activation=activation)
        width = hp.Int("sep_num_filters", 128, 768, step=128, default=256)
        for _ in range(hp.Int("num_residual_blocks", 2, 8, default=4)):
            x = blocks.residual(x, width, activation, downsample=False)
        x = blocks.residual(x, 2 * width, activation, downsample=True)
        x = blocks.pool(x, hp.Choice("pooling", ["avg", "flatten", "max"]))
        if not self.include_top:
            return keras.Model(inputs, x, name="Xception")
        num_dense_layers = hp.Int("num_dense_layers", 1, 3)
        dropout_rate = hp.Float("dropout_rate", 0.0, 0.6, step=0.1, default=0.5)
        dense_use_bn = hp.Choice("dense_use_bn", [True, False])
        for _ in range(num_dense_layers):
            x = blocks.dense(x, self.classes, activation, dense_use_bn, dropout_rate)
        outputs = layers.Dense(self.classes, activation="softmax")(x)
        model = keras.Model(inputs, outputs, name="Xception")
        self._compile(model, hp)
        return model

    def _compile(self, model: Any, hp: HyperParameters) -> None:
        """Compiles `model` with Adam at the tuned learning rate.

        Override it in a subclass to compile differently.
        """
        import keras

        learning_rate = hp.Choice("learning_rate", [1e-3, 1e-4, 1e-5])
        model.compile(optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
                      loss="categorical_crossentropy", metrics=["accuracy"])

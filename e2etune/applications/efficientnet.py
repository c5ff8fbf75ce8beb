"""`HyperEfficientNet`: an EfficientNet backbone with a tuned version and classifier head."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from e2etune.applications import _efficientnet_weights as weights_lib
from e2etune.applications import _inputs
from e2etune.engine.hypermodel import HyperModel
from e2etune.engine.hyperparameters import HyperParameters


class HyperEfficientNet(HyperModel):
    """An EfficientNet hypermodel for image classification, as KerasTuner's.

    The model runs the optional augmentation, resizes the images to the
    chosen version's size (224 for B0 up to 600 for B7), applies the Keras
    EfficientNet backbone without its top, then pooling, dropout and a
    `classes`-way softmax; it is compiled by `_compile` (SGD with momentum
    0.1, categorical cross-entropy, accuracy), which a subclass may override.

    Search space (name: values, default):
        - the augmentation hypermodel's, if `augmentation_model` is one.
        - `version`: "B0" .. "B7"; "B0" (only the versions with weights, when
          `weights` is given).
        - `pooling`: "avg", "max"; "avg".
        - `top_dropout_rate`: Float 0.2..0.8 step 0.2; 0.2.
        - `learning_rate`: 0.1, 0.01, 0.001; 0.01 (declared by `_compile`).

    Args:
        input_shape: Shape of one image, e.g. `(256, 256, 3)`. One of
            `input_shape` or `input_tensor` is required.
        input_tensor: A Keras tensor (e.g. `keras.Input(...)`) to build on;
            the model's inputs are its source inputs.
        classes: Number of classes (required).
        augmentation_model: Optional `keras.Model` or `HyperModel` (built with
            the same `hp`) applied to the images first.
        weights: Local pretrained weights of the backbones: None (default,
            random initialization), a dict `{"B0": path, ...}` of weight files
            (Keras's `efficientnetb0_notop.h5` and so on, or files saved with
            `save_weights` from `keras.applications.EfficientNetB0(
            include_top=False)`), or a directory holding files named as Keras
            names them. Nothing is ever downloaded; KerasTuner downloads the
            ImageNet weights instead.
        **kwargs: `HyperModel` arguments (`name`, `tunable`).

    Note:
        Keras adds an ImageNet rescaling layer to the backbone only when it
        downloads the weights itself (`weights="imagenet"`); with local
        files, as here, it does not, so inputs are normalized by the
        file's normalization layer alone.

    Raises:
        ValueError: `augmentation_model` is neither a `HyperModel`, a Keras
            `Model` nor None; `classes` is missing; neither `input_shape` nor
            `input_tensor` is given; `weights` is not a local file set.
        TypeError: `weights` is neither None, a dict nor a path.
        FileNotFoundError: A weight file in `weights` does not exist.
    """

    def __init__(self, input_shape: Sequence[int | None] | None = None, input_tensor: Any = None,
                 classes: int | None = None, augmentation_model: Any = None,
                 weights: Mapping[str, str | os.PathLike] | str | os.PathLike | None = None,
                 **kwargs: Any) -> None:
        super().__init__(**kwargs)
        _check_augmentation_model(augmentation_model)
        _inputs.check_classes("HyperEfficientNet", classes, needed=True)
        self.input_shape = _inputs.check_image_input("HyperEfficientNet", input_shape,
                                                     input_tensor)
        self.input_tensor = input_tensor
        self.classes = classes
        self.augmentation_model = augmentation_model
        self.weights = weights_lib.resolve(weights)

    def build(self, hp: HyperParameters) -> Any:
        """Builds the classifier the values of `hp` describe, compiled by `_compile`."""
        import keras
        from keras import layers

        inputs, x = _inputs.image_inputs(self.input_shape, self.input_tensor)
        if self.augmentation_model is not None:
            augment = self.augmentation_model
            x = (augment.build(hp) if isinstance(augment, HyperModel) else augment)(x)
        versions = list(self.weights or weights_lib.VERSIONS)
        version = hp.Choice("version", versions, default="B0" if "B0" in versions else None)
        size = weights_lib.IMAGE_SIZES[version]
        x = layers.Resizing(size, size, interpolation="bilinear")(x)
        builder = getattr(keras.applications, f"EfficientNet{version}")
        backbone = builder(include_top=False, weights=None, input_tensor=x)
        if self.weights:
            weights_lib.load_into(backbone, version, self.weights[version], tuple(x.shape[1:]))
        x = backbone.output
        if hp.Choice("pooling", ["avg", "max"], default="avg") == "max":
            x = layers.GlobalMaxPooling2D(name="max_pool")(x)
        else:
            x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
        rate = hp.Float("top_dropout_rate", min_value=0.2, max_value=0.8, step=0.2, default=0.2)
        x = layers.Dropout(rate, name="top_dropout")(x)
        outputs = layers.Dense(self.classes, activation="softmax", name="probs")(x)
        model = keras.Model(inputs, outputs, name="EfficientNet")
        self._compile(model, hp)
        return model

    def _compile(self, model: Any, hp: HyperParameters) -> None:
        """Compiles `model`: SGD (momentum 0.1) at the tuned `learning_rate`.

        Override it in a subclass to compile differently (its hyperparameters
        then replace `learning_rate` in the space).
        """
        import keras

        learning_rate = hp.Choice("learning_rate", [0.1, 0.01, 0.001], default=0.01)
        model.compile(optimizer=keras.optimizers.SGD(momentum=0.1, learning_rate=learning_rate),
                      loss="categorical_crossentropy", metrics=["accuracy"])


def _check_augmentation_model(augmentation_model: Any) -> None:
    if augmentation_model is None or isinstance(augmentation_model, HyperModel):
        return
    import keras  # only for something other than a HyperModel or None

    if not isinstance(augmentation_model, keras.Model):
        raise ValueError(  # noqa: TRY004 (KerasTuner raises ValueError here)
            "HyperEfficientNet: keyword `augmentation_model` should be a `HyperModel`, a Keras "
            f"`Model` or None; received {augmentation_model!r}."
        )

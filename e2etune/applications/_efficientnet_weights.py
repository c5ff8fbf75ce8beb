"""Local pretrained weights for `HyperEfficientNet`'s backbones; nothing is ever downloaded."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

VERSIONS = ("B0", "B1", "B2", "B3", "B4", "B5", "B6", "B7")

#: The image side each version is designed for; inputs are resized to it.
IMAGE_SIZES = {"B0": 224, "B1": 240, "B2": 260, "B3": 300, "B4": 380, "B5": 456, "B6": 528,
               "B7": 600}


def keras_file_name(version: str) -> str:
    """The name Keras gives the file of a version's ImageNet weights without the top."""
    return f"efficientnet{version.lower()}_notop.h5"


def resolve(weights: Any) -> dict[str, str] | None:
    """Checks `weights` and returns `{version: path}` (in version order), or None.

    Args:
        weights: None; a mapping from versions ("B0".."B7") to local weight
            files; or a local directory holding files named as Keras names
            them (`efficientnetb0_notop.h5`, ...).

    Raises:
        TypeError: `weights` is neither None, a mapping nor a path.
        ValueError: `weights` asks for a download, names an unknown version,
            or is a single file (which does not say which version it fits).
        FileNotFoundError: A named file or directory does not exist, or the
            directory holds no weight file.
    """
    if weights is None:
        return None
    if isinstance(weights, Mapping):
        return _from_mapping(weights)
    if not isinstance(weights, (str, os.PathLike)):
        raise TypeError(
            "HyperEfficientNet: `weights` must be None, a dict {version: path} or a directory; "
            f"got {weights!r}."
        )
    path = os.fspath(weights)
    if path == "imagenet":
        raise ValueError(
            "HyperEfficientNet never downloads weights. Download the files yourself and pass "
            "weights={'B0': '/path/efficientnetb0_notop.h5', ...} or the directory holding them."
        )
    if os.path.isdir(path):
        return _from_directory(path)
    if os.path.isfile(path):
        raise ValueError(
            f"HyperEfficientNet: the file {path!r} does not say which version it fits; pass "
            "weights={'B0': path} (one entry per version to search)."
        )
    raise FileNotFoundError(f"HyperEfficientNet: `weights` {path!r} does not exist.")


def _from_mapping(weights: Mapping[str, Any]) -> dict[str, str]:
    unknown = [v for v in weights if v not in VERSIONS]
    if unknown or not weights:
        raise ValueError(
            f"HyperEfficientNet: `weights` maps versions {list(VERSIONS)} to files; got keys "
            f"{list(weights)}."
        )
    resolved = {v: os.fspath(weights[v]) for v in VERSIONS if v in weights}
    missing = [p for p in resolved.values() if not os.path.isfile(p)]
    if missing:
        raise FileNotFoundError(f"HyperEfficientNet: weight files not found: {missing}.")
    return resolved


def _from_directory(directory: str) -> dict[str, str]:
    resolved = {v: os.path.join(directory, keras_file_name(v)) for v in VERSIONS}
    resolved = {v: p for v, p in resolved.items() if os.path.isfile(p)}
    if not resolved:
        raise FileNotFoundError(
            f"HyperEfficientNet: no weight file in {directory!r}; expected names such as "
            f"{keras_file_name('B0')!r}."
        )
    return resolved


def load_into(backbone: Any, version: str, path: str, image_shape: tuple[int, ...]) -> None:
    """Loads the weights file `path` of `version` into `backbone`.

    `backbone` is the model Keras builds on a tensor of the outer model, so
    its first layers are the outer model's (input, augmentation, resizing).
    A stand-alone copy of the backbone, built for `image_shape`, reads the
    file; its layers' weights then go, in order, to the last layers of
    `backbone`, which Keras made the same way.

    Raises:
        ValueError: The file does not fit EfficientNet `version` without its top.
    """
    import keras

    builder = getattr(keras.applications, f"EfficientNet{version}")
    reference = builder(include_top=False, weights=None, input_shape=tuple(image_shape))
    try:
        reference.load_weights(path)
    except Exception as error:  # Keras raises several types for a file that does not fit.
        raise ValueError(
            f"HyperEfficientNet: the weights file {path!r} does not fit EfficientNet{version} "
            f"without its top, for images {tuple(image_shape)} "
            f"({type(error).__name__}: {error})."
        ) from error
    sources = reference.layers[1:]
    targets = backbone.layers[-len(sources):]
    if [type(t) for t in targets] != [type(s) for s in sources]:
        raise RuntimeError(
            f"HyperEfficientNet: the layers of EfficientNet{version} came out in an unexpected "
            "order; the weights were not loaded. Please report this with your Keras version."
        )
    for target, source in zip(targets, sources):
        target.set_weights(source.get_weights())

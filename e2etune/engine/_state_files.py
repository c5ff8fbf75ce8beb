"""How a trial's training state is written: atomic files, arrays with their dtypes, and
results, values and logs as JSON data (see `training_state`)."""

from __future__ import annotations

import contextlib
import os
import uuid
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np


@dataclass
class EpochArrays:
    """What an epoch's end leaves to restore: the model's variables and the optimizer's,
    and how to build the model when it is not built yet (Keras' build config)."""

    weights: list[np.ndarray]
    optimizer: list[np.ndarray] | None = None
    build_config: dict[str, Any] | None = None


def write_atomically(path: str, write: Any) -> None:
    """Writes a file with `write(file)` to a temporary name, syncs it and renames it to `path`."""
    partial = f"{path}.{os.getpid()}-{uuid.uuid4().hex[:8]}.partial"
    with open(partial, "wb") as file:
        write(file)
        file.flush()
        os.fsync(file.fileno())
    os.replace(partial, path)
    with contextlib.suppress(OSError):  # the rename itself reaches the disk
        directory = os.open(os.path.dirname(path), os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)


def _plain(value: Any) -> Any:
    """`value` with numpy scalars and tensors made Python numbers, for JSON."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if hasattr(value, "__float__"):
        return float(value)
    raise TypeError(f"cannot save {value!r} of type {type(value).__name__}")


def encode_result(result: Any) -> Any:
    """A finished execution's result (number, dict of metrics, `History`, or a list of
    these) as JSON-ready data; raises TypeError for anything else."""
    if hasattr(result, "history") and isinstance(result.history, dict):
        return {"history": _plain(result.history), "epoch": _plain(getattr(result, "epoch", []))}
    if isinstance(result, Mapping):
        return {"metrics": _plain(result)}
    if isinstance(result, (list, tuple)):
        return {"list": [encode_result(r) for r in result]}
    return {"value": _plain(result)}


def decode_result(data: Mapping[str, Any]) -> Any:
    """The result `encode_result` saved; a `History` comes back as a Keras `History`."""
    if "history" in data:
        import keras

        history = keras.callbacks.History()
        history.history = {k: list(v) for k, v in data["history"].items()}
        history.epoch = list(data["epoch"])
        return history
    if "metrics" in data:
        return dict(data["metrics"])
    if "list" in data:
        return [decode_result(r) for r in data["list"]]
    return data["value"]


def load_arrays(path: str) -> EpochArrays:
    """The arrays `save_arrays` wrote in `path` (no pickle is ever loaded)."""
    with np.load(path, allow_pickle=False) as data:
        dtypes = [str(d) for d in data["dtypes"]]
        arrays = [_typed(data[f"a{i}"], dtype) for i, dtype in enumerate(dtypes)]
        count = int(data["weights"])
        has_optimizer = bool(data["has_optimizer"])
    return EpochArrays(arrays[:count], arrays[count:] if has_optimizer else None)


def save_arrays(file: Any, arrays: EpochArrays) -> None:
    """Writes `arrays` to the open `file` as an `.npz`, with each array's dtype."""
    every = list(arrays.weights) + list(arrays.optimizer or [])
    named, dtypes = {}, []
    for index, array in enumerate(every):
        array = np.asarray(array)
        dtypes.append(str(array.dtype))
        if array.dtype.type.__module__ != "numpy":  # bfloat16 and the like: saved as raw bits
            array = array.view(f"u{array.dtype.itemsize}")
        named[f"a{index}"] = array
    np.savez(file, weights=np.int64(len(arrays.weights)),
             has_optimizer=np.bool_(arrays.optimizer is not None),
             dtypes=np.array(dtypes, dtype=str), **named)


def _typed(array: np.ndarray, dtype: str) -> np.ndarray:
    """An array as saved, viewed back as its dtype (`bfloat16` comes from `ml_dtypes`)."""
    if str(array.dtype) == dtype:
        return array
    import ml_dtypes

    return array.view(getattr(ml_dtypes, dtype))


def number(value: Any) -> float | None:
    """`value` as a float, or None when it is not a number."""
    with contextlib.suppress(TypeError, ValueError):
        return float(value)
    return None


def plain_or_none(value: Any) -> Any:
    """`value` as JSON data, or None when it cannot be."""
    try:
        return _plain(value)
    except TypeError:
        return None


def plain_values(values: Mapping[str, Any] | None) -> dict[str, Any]:
    """Hyperparameter values as JSON data (those that are not plain are left out)."""
    plain = {}
    for name, value in (values or {}).items():
        with contextlib.suppress(TypeError):
            plain[str(name)] = _plain(value)
    return plain


def loggable(logs: Mapping[str, Any] | None) -> dict[str, float]:
    """The numeric entries of an epoch's logs, as floats."""
    found = {}
    for key, value in (logs or {}).items():
        with contextlib.suppress(TypeError, ValueError):
            found[str(key)] = float(value)
    return found

"""Loading the model a trial saved: the whole model, or weights into a rebuilt one.

The checkpoint callback (`e2etune.engine.callbacks`) leaves in each trial's
folder either `checkpoint.keras` (the whole model at the best epoch) or,
for models Keras cannot serialize, `checkpoint.weights.h5` plus
`build_config.json`. `load_trial_model` turns either back into a model.
"""

from __future__ import annotations

import json
import os
import warnings
import zipfile
from typing import Any, Callable

from e2etune.engine.callbacks import BUILD_CONFIG_FILE, MODEL_FILE, WEIGHTS_FILE


def checkpoint_path(trial_dir: str) -> str:
    """The checkpoint file of a trial: its weights when only they were saved, else the model."""
    weights = os.path.join(trial_dir, WEIGHTS_FILE)
    return weights if os.path.exists(weights) else os.path.join(trial_dir, MODEL_FILE)


def load_trial_model(trial_dir: str, trial_id: str, build: Callable[[], Any] | None,
                     rebuild_first: bool) -> Any:
    """The model saved in `trial_dir`, ready to predict.

    Args:
        trial_dir: The trial's folder.
        trial_id: The trial's id, for messages.
        build: Builds the trial's model afresh (with its hyperparameters), or
            None when there is no hypermodel.
        rebuild_first: Whether to build the model and load the saved weights
            into it before trying to load the whole saved model (as KerasTuner
            does: no `custom_objects` needed). Either way, the other way is
            tried when the first fails.

    Raises:
        FileNotFoundError: when the trial saved no model.
        RuntimeError: when the saved model cannot be loaded.
    """
    whole = os.path.join(trial_dir, MODEL_FILE)
    weights = os.path.join(trial_dir, WEIGHTS_FILE)
    if os.path.exists(whole):
        return _load_whole(whole, trial_id, build, rebuild_first)
    if os.path.exists(weights):
        if build is None:
            raise RuntimeError(
                f"Only the weights of trial {trial_id} were saved ({weights}): its model could "
                "not be serialized. Give the tuner a `hypermodel` that builds the same model "
                "to load them, or make the model serializable.")
        return rebuild(build, weights)
    raise FileNotFoundError(
        f"Trial {trial_id} saved no model in {trial_dir}. In `run_trial`, pass the `callbacks` "
        "it receives to `model.fit(...)` (`model.fit(x, y, **kwargs)` or "
        "`callbacks=kwargs['callbacks']`) so that the best epoch is saved, or call "
        "`self.save_model(trial.trial_id, model)` in `run_trial`; or retrain with "
        "`get_best_hyperparameters()`."
    )


def _load_whole(path: str, trial_id: str, build: Callable[[], Any] | None,
                rebuild_first: bool) -> Any:
    import keras

    if build is not None and rebuild_first:
        try:
            return rebuild(build, path)
        except Exception:
            pass
    try:
        return keras.saving.load_model(path)
    except Exception as error:
        if build is not None and not rebuild_first:
            try:
                return rebuild(build, path)
            except Exception:
                pass
        raise RuntimeError(
            f"The model of trial {trial_id} ({path}) could not be loaded: {error}. Register "
            "custom layers and functions with `@keras.saving.register_keras_serializable()`, "
            "or give the tuner a `hypermodel` that builds the same model."
        ) from error


def _saved_build_config(path: str) -> dict | None:
    """How the saved model was built (its input shapes): from `build_config.json` beside a
    weights file, or from the configuration inside a whole `.keras` model."""
    config_path = os.path.join(os.path.dirname(path), BUILD_CONFIG_FILE)
    try:
        if path.endswith(".keras"):
            with zipfile.ZipFile(path) as archive:
                return json.loads(archive.read("config.json")).get("build_config")
        if os.path.exists(config_path):
            with open(config_path) as file:
                return json.load(file)
    except (OSError, KeyError, ValueError, zipfile.BadZipFile):
        pass
    return None


def _build_like_saved(model: Any, build_config: dict) -> None:
    """Builds `model` for the inputs of the saved one (calling it on zeros if Keras cannot)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # Keras warns when it cannot build the model itself.
        model.build_from_config(build_config)
    shape = build_config.get("input_shape")
    is_shape = isinstance(shape, (list, tuple)) and all(
        d is None or isinstance(d, int) for d in shape)
    if not model.built and is_shape and shape:
        import numpy as np

        dtype = getattr(model, "input_dtype", None) or "float32"
        model(np.zeros([1 if d is None else d for d in shape], dtype=dtype))


def rebuild(build: Callable[[], Any], path: str) -> Any:
    """Builds a model with `build()` and loads the weights saved in `path` into it.

    A model that is not built yet (a subclassed model, say) is first built
    with the input shapes of the saved one.
    """
    model = build()
    if not getattr(model, "built", True):
        build_config = _saved_build_config(path)
        if build_config:
            _build_like_saved(model, build_config)
    with warnings.catch_warnings():
        # A fresh model's optimizer has no variables yet; predictions need only the weights.
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model.load_weights(path)
    return model

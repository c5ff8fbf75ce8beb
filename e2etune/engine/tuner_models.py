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
        "it receives to `model.fit(...)` (e.g. `model.fit(x, y, **kwargs)` or "
        "`callbacks=kwargs['callbacks']`) so that the best epoch is saved; or retrain with "
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


def rebuild(build: Callable[[], Any], path: str) -> Any:
    """Builds a model with `build()` and loads the weights saved in `path` into it."""
    model = build()
    config_path = os.path.join(os.path.dirname(path), BUILD_CONFIG_FILE)
    if not getattr(model, "built", True) and os.path.exists(config_path):
        with open(config_path) as file:
            build_config = json.load(file)
        if build_config:
            model.build_from_config(build_config)
    with warnings.catch_warnings():
        # A fresh model's optimizer has no variables yet; predictions need only the weights.
        warnings.filterwarnings("ignore", message="Skipping variable loading for optimizer")
        model.load_weights(path)
    return model

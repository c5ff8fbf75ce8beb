"""Reading a project folder written by KerasTuner 1.4, so that e2etune carries its search on.

KerasTuner keeps a search in `<project>/oracle.json` (the space and the
trials' order) and one `<project>/trial_<id>/trial.json` per trial (values,
metrics, score, status), with the best epoch's weights beside it
(`checkpoint.weights.h5`). Those files are only read, never changed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os

from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.trial import Trial, TrialStatus
from e2etune.errors import SearchStateError

#: The file that marks a project folder as KerasTuner's.
ORACLE_FILE = "oracle.json"
#: The statuses of the trials that are carried over; running ones run again.
_ENDED = (TrialStatus.COMPLETED, TrialStatus.FAILED, TrialStatus.INVALID)


@dataclasses.dataclass
class KerasTunerProject:
    """What a KerasTuner project folder holds: its search space and its ended trials."""

    space: HyperParameters
    #: The trials that ended, in the order they started.
    trials: list[Trial]


def is_kerastuner_project(project_dir: str | os.PathLike) -> bool:
    """Whether `project_dir` holds a search saved by KerasTuner."""
    return os.path.isfile(os.path.join(project_dir, ORACLE_FILE))


def read_kerastuner_project(project_dir: str | os.PathLike) -> KerasTunerProject:
    """Reads the search KerasTuner saved in `project_dir`.

    Raises:
        SearchStateError: naming the file and what is wrong with it, when the
            folder cannot be read as a KerasTuner 1.4 search.
    """
    path = os.path.join(project_dir, ORACLE_FILE)
    state = _load(path)
    try:
        space = HyperParameters.from_config(state["hyperparameters"])
        order = [str(t) for t in state.get("start_order", [])]
    except (KeyError, TypeError, ValueError) as error:
        raise _unreadable(path, error) from None
    trials = []
    for trial_id in order:
        trial_path = os.path.join(project_dir, f"trial_{trial_id}", "trial.json")
        if not os.path.exists(trial_path):
            continue  # started but never saved: it runs again
        trial = _trial(trial_path, _load(trial_path))
        if trial.status in _ENDED:
            trials.append(trial)
    return KerasTunerProject(space, trials)


def _load(path: str) -> dict:
    try:
        with open(path) as file:
            data = json.load(file)
    except (OSError, ValueError) as error:
        raise _unreadable(path, error) from None
    if not isinstance(data, dict):
        raise _unreadable(path, TypeError(f"a JSON object was expected, not {type(data).__name__}"))
    return data


def _trial(path: str, state: dict) -> Trial:
    try:
        trial = Trial(HyperParameters.from_config(state["hyperparameters"]),
                      trial_id=str(state["trial_id"]), status=state["status"],
                      message=state.get("message"))
        for name, history in state.get("metrics", {}).get("metrics", {}).items():
            trial.metrics.register(name, history.get("direction"))
            for observation in history.get("observations", []):
                trial.metrics.update(name, observation["value"], step=observation.get("step", 0))
        score = state.get("score")
        trial.score = None if score is None else float(score)
        trial.best_step = int(state.get("best_step") or 0)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        raise _unreadable(path, error) from None
    if trial.status == TrialStatus.COMPLETED and (trial.score is None or math.isnan(trial.score)):
        trial.status = TrialStatus.INVALID
    return trial


def _unreadable(path: str, error: BaseException) -> SearchStateError:
    return SearchStateError(
        f"{path} cannot be read as a search saved by KerasTuner 1.4 ({type(error).__name__}: "
        f"{error}), so the search cannot be carried on. Pass `overwrite=True` to start afresh "
        "(KerasTuner's files are then left as they are), or choose another `project_name`.")

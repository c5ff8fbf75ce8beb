"""Carrying on a search that KerasTuner 1.4 saved: its trials count, its best model loads."""

import hashlib
import json
import pathlib
import shutil
import subprocess
import sys

import keras
import numpy as np
import pytest

import e2etune as kt
from e2etune import errors
from e2etune.engine.trial import TrialStatus

FIXTURE = pathlib.Path(__file__).parent / "data" / "kerastuner_project"

# The script that wrote the fixture (and writes a fresh one when keras-tuner is installed).
KERASTUNER_SCRIPT = """
import sys
import keras, numpy as np
import keras_tuner as kt

def build(hp):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(hp.Int("units", 2, 8, step=2)),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(hp.Choice("lr", [0.01, 0.001])), loss="mse")
    return model

tuner = kt.RandomSearch(build, objective="val_loss", max_trials=3, directory=sys.argv[1],
                        project_name="p", seed=1)
x = np.random.default_rng(0).random((32, 4)).astype("float32")
tuner.search(x, x.sum(1, keepdims=True), epochs=2, validation_split=0.25, verbose=0)
"""


def build(hp):
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(hp.Int("units", 2, 8, step=2)),
                              keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(hp.Choice("lr", [0.01, 0.001])), loss="mse")
    return model


def _kerastuner_installed() -> bool:
    out = subprocess.run([sys.executable, "-c", "import keras_tuner"], capture_output=True)
    return out.returncode == 0


@pytest.fixture(params=["committed", "fresh"])
def kerastuner_dir(request, tmp_path):
    """A directory holding project "p" written by KerasTuner: the committed copy, and one
    KerasTuner writes now when it is installed."""
    if request.param == "committed":
        shutil.copytree(FIXTURE, tmp_path / "p")
    else:
        if not _kerastuner_installed():
            pytest.skip("keras-tuner is not installed: the committed folder is tested instead")
        out = subprocess.run([sys.executable, "-c", KERASTUNER_SCRIPT, str(tmp_path)],
                             capture_output=True, text=True, timeout=600)
        assert out.returncode == 0, out.stderr[-3000:]
    return tmp_path


def _digests(folder: pathlib.Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_kerastuner_search_is_carried_on(kerastuner_dir):
    project = kerastuner_dir / "p"
    before = _digests(project)
    scores = {}
    for trial_dir in project.glob("trial_*"):
        state = json.loads((trial_dir / "trial.json").read_text())
        scores[state["trial_id"]] = state["score"]

    tuner = kt.RandomSearch(build, objective="val_loss", max_trials=5, seed=2,
                            directory=kerastuner_dir, project_name="p")
    imported = dict(tuner.oracle.trials)
    assert {t: imported[t].score for t in imported} == pytest.approx(scores)
    assert tuner.remaining_trials == 5 - len(scores)

    x = np.random.default_rng(1).random((32, 4)).astype("float32")
    tuner.search(x, x.sum(1, keepdims=True), epochs=1, validation_split=0.25, verbose=0)
    trials = tuner.oracle.trials
    assert len(trials) == 5 and all(t.status == TrialStatus.COMPLETED for t in trials.values())
    best = tuner.oracle.get_best_trials(1)[0]
    assert best.trial_id in scores or best.score < min(scores.values())
    model = tuner.get_best_models()[0]
    assert model.predict(x[:2], verbose=0).shape == (2, 1)

    # The best KerasTuner trial's weights load as KerasTuner saved them.
    kt_best = min(scores, key=scores.get)
    loaded = tuner.load_model(tuner.oracle.get_trial(kt_best))
    assert loaded.count_params() > 0
    # KerasTuner's files are left as they were.
    after = _digests(project)
    assert {k: v for k, v in after.items() if k in before} == before

    # Resumed again, nothing is imported twice or run again.
    again = kt.RandomSearch(build, objective="val_loss", max_trials=5, seed=2,
                            directory=kerastuner_dir, project_name="p")
    assert len(again.oracle.trials) == 5 and again.remaining_trials == 0


def test_an_unreadable_kerastuner_folder_is_refused_with_the_reason(tmp_path):
    shutil.copytree(FIXTURE, tmp_path / "p")
    (tmp_path / "p" / "trial_1" / "trial.json").write_text("{not json")
    with pytest.raises(errors.SearchStateError, match=r"trial_1.*trial\.json.*KerasTuner 1\.4"):
        kt.RandomSearch(build, objective="val_loss", max_trials=5, directory=tmp_path,
                        project_name="p")

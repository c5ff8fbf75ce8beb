"""The saved training progress of a trial (`training_state`), without Keras."""

from __future__ import annotations

import json
import math
import os

import numpy as np
import pytest

from e2etune.engine import training_state
from e2etune.engine.training_state import EpochArrays, TrialProgress


def arrays(value: float) -> EpochArrays:
    return EpochArrays([np.full((2, 3), value), np.full(3, -value)], [np.array(value)])


def save(progress: TrialProgress, epoch: int, logs: dict, best_is_this: bool = False,
         best_value: float | None = None) -> None:
    progress.save_epoch(epoch, logs, arrays(float(epoch)), best_value=best_value,
                        run_best=logs.get("loss"), best_is_this=best_is_this)


def files(trial_dir) -> set[str]:
    return set(os.listdir(trial_dir / training_state.STATE_DIR))


def test_a_saved_epoch_comes_back_with_its_arrays_history_and_best(tmp_path):
    progress = TrialProgress.open(str(tmp_path), attempt=1)
    assert not progress.resuming
    progress.begin_execution(0)
    assert progress.begin_fit() is None
    save(progress, 0, {"loss": 3.0}, best_is_this=True)
    save(progress, 1, {"loss": 4.0, "val_loss": 5.0})
    assert files(tmp_path) == {"state.json", "0-0-0.npz", "0-0-1.npz"}

    resumed = TrialProgress.open(str(tmp_path), attempt=1)
    assert resumed.resuming
    resumed.begin_execution(0)
    point = resumed.begin_fit()
    assert (point.epoch, point.initial_epoch, point.epochs) == (1, 2, [0, 1])
    assert point.history["loss"] == [3.0, 4.0]
    assert math.isnan(point.history["val_loss"][0]) and point.history["val_loss"][1] == 5.0
    np.testing.assert_array_equal(point.arrays.weights[0], np.full((2, 3), 1.0))
    np.testing.assert_array_equal(point.arrays.optimizer[0], np.array(1.0))
    np.testing.assert_array_equal(point.run_best_weights[0], np.full((2, 3), 0.0))
    assert point.run_best == 4.0
    # A later `fit` of the same execution starts from scratch.
    assert resumed.begin_fit() is None


def test_only_the_last_and_the_best_epochs_arrays_are_kept(tmp_path):
    progress = TrialProgress(str(tmp_path), attempt=1)
    progress.begin_execution(0)
    progress.begin_fit()
    for epoch in range(6):
        save(progress, epoch, {"loss": 1.0}, best_is_this=epoch == 2)
    assert files(tmp_path) == {"state.json", "0-0-2.npz", "0-0-5.npz"}


def test_finished_executions_come_back_and_are_not_resumed(tmp_path):
    progress = TrialProgress(str(tmp_path), attempt=2)
    progress.begin_execution(0)
    progress.begin_fit()
    save(progress, 0, {"loss": 1.0})
    progress.end_execution({"loss": 0.5}, best_value=0.5)
    progress.begin_execution(1)
    progress.begin_fit()
    save(progress, 0, {"loss": 2.0}, best_value=0.5)

    resumed = TrialProgress.open(str(tmp_path), attempt=2)
    assert resumed.result_of(0) == (True, {"loss": 0.5})
    assert resumed.result_of(1) == (False, None)
    assert resumed.best_value == 0.5
    resumed.begin_execution(1)
    assert resumed.begin_fit().initial_epoch == 1
    assert files(tmp_path) == {"state.json", "1-0-0.npz"}


def test_results_are_saved_as_plain_data():
    encoded = training_state.encode_result([1, np.float32(2.5), {"acc": np.float64(0.5)}])
    assert json.loads(json.dumps(encoded)) == encoded
    assert training_state.decode_result(encoded) == [1, 2.5, {"acc": 0.5}]
    with pytest.raises(TypeError):
        training_state.encode_result(object())


def test_an_other_attempts_state_is_deleted(tmp_path):
    progress = TrialProgress(str(tmp_path), attempt=1)
    progress.begin_execution(0)
    progress.begin_fit()
    save(progress, 0, {"loss": 1.0})
    retry = TrialProgress.open(str(tmp_path), attempt=2)  # a retry after an error
    assert not retry.resuming
    assert not (tmp_path / training_state.STATE_DIR).exists()


def test_an_unreadable_state_starts_afresh_with_a_warning(tmp_path, caplog):
    folder = tmp_path / training_state.STATE_DIR
    folder.mkdir()
    (folder / "state.json").write_text('{"format": 1, "attempt": 1, "fini')
    progress = TrialProgress.open(str(tmp_path), attempt=1)
    assert not progress.resuming and not folder.exists()
    assert "cannot be read" in caplog.text


def test_a_missing_array_file_resumes_nothing(tmp_path, caplog):
    progress = TrialProgress(str(tmp_path), attempt=1)
    progress.begin_execution(0)
    progress.begin_fit()
    save(progress, 0, {"loss": 1.0})
    os.remove(tmp_path / training_state.STATE_DIR / "0-0-0.npz")
    resumed = TrialProgress.open(str(tmp_path), attempt=1)
    resumed.begin_execution(0)
    assert resumed.begin_fit() is None
    assert "cannot be read" in caplog.text


def test_a_fit_that_goes_back_starts_its_history_over(tmp_path):
    progress = TrialProgress(str(tmp_path), attempt=1)
    progress.begin_execution(0)
    progress.begin_fit()
    save(progress, 0, {"loss": 1.0})
    save(progress, 1, {"loss": 1.0})
    save(progress, 0, {"loss": 9.0})  # a custom loop that started again at epoch 0
    resumed = TrialProgress.open(str(tmp_path), attempt=1)
    point = resumed.resume_point()
    assert point.epochs == [0] and point.history["loss"] == [9.0]


def test_discard_removes_the_folder(tmp_path):
    progress = TrialProgress(str(tmp_path), attempt=1)
    progress.begin_execution(0)
    progress.begin_fit()
    save(progress, 0, {"loss": 1.0})
    training_state.discard(str(tmp_path))
    assert not (tmp_path / training_state.STATE_DIR).exists()
    training_state.discard(str(tmp_path))  # nothing there: no error


def test_a_trial_of_another_search_is_not_resumed(tmp_path):
    progress = TrialProgress.open(str(tmp_path), attempt=1, values={"units": 8, "lr": 0.1})
    progress.begin_execution(0)
    progress.begin_fit()
    save(progress, 0, {"loss": 1.0})
    # The same trial, with a value `run_trial` declared since: it resumes.
    assert TrialProgress.open(str(tmp_path), 1, {"units": 8, "lr": 0.1, "extra": 2}).resuming
    # Trial 0 of a new search in the same folder, with other values: afresh.
    assert not TrialProgress.open(str(tmp_path), 1, {"units": 16, "lr": 0.1}).resuming
    assert not (tmp_path / training_state.STATE_DIR).exists()


def test_bfloat16_arrays_come_back_with_their_dtype(tmp_path):
    ml_dtypes = pytest.importorskip("ml_dtypes")
    progress = TrialProgress(str(tmp_path), attempt=1)
    progress.begin_execution(0)
    progress.begin_fit()
    weights = [np.array([1.5, -2.0], dtype=ml_dtypes.bfloat16), np.arange(3, dtype=np.int64)]
    progress.save_epoch(0, {}, EpochArrays(weights, None), None, None, False)
    point = TrialProgress.open(str(tmp_path), 1).resume_point()
    assert point.arrays.optimizer is None
    assert point.arrays.weights[0].dtype == ml_dtypes.bfloat16
    np.testing.assert_array_equal(point.arrays.weights[0].astype(np.float32), [1.5, -2.0])
    np.testing.assert_array_equal(point.arrays.weights[1], [0, 1, 2])


def test_an_ended_fit_comes_back_as_its_history_and_an_earlier_fit_saves_nothing(tmp_path):
    progress = TrialProgress(str(tmp_path), attempt=1)
    progress.begin_execution(0)
    progress.begin_fit()
    save(progress, 0, {"loss": 2.0})
    progress.end_fit([0], {"loss": [2.0]})
    progress.begin_fit()
    save(progress, 1, {"loss": 1.0})

    resumed = TrialProgress.open(str(tmp_path), attempt=1)
    resumed.begin_execution(0)
    ended = resumed.begin_fit()
    assert ended.arrays is None and ended.epochs == [0] and ended.history == {"loss": [2.0]}
    save(resumed, 0, {"loss": 5.0})  # the first fit training again would not overwrite
    point = resumed.begin_fit()
    assert point.initial_epoch == 2 and point.history == {"loss": [1.0]}


def test_unsaved_progress_writes_nothing(tmp_path):
    progress = TrialProgress.unsaved(str(tmp_path), attempt=1)
    progress.begin_execution(0)
    progress.begin_fit()
    save(progress, 0, {"loss": 1.0})
    progress.end_execution(1.0, best_value=None)
    assert not (tmp_path / training_state.STATE_DIR).exists()


def test_a_worker_whose_trial_was_taken_over_stops_writing(tmp_path, caplog):
    stale = TrialProgress(str(tmp_path), attempt=1)
    stale.begin_execution(0)
    stale.begin_fit()
    save(stale, 0, {"loss": 1.0})
    # Another worker takes the trial over (the folder is shared) and saves an epoch.
    holder = TrialProgress.open(str(tmp_path), attempt=1)
    holder.begin_execution(0)
    holder.begin_fit()
    save(holder, 1, {"loss": 0.5})
    save(stale, 1, {"loss": 9.0})  # refused
    stale.discard()  # refused too
    assert "stops saving" in caplog.text
    saved = json.loads((tmp_path / training_state.STATE_DIR / "state.json").read_text())
    assert saved["epochs"] == [0, 1] and saved["history"]["loss"] == [1.0, 0.5]
    holder.discard()
    assert not (tmp_path / training_state.STATE_DIR).exists()

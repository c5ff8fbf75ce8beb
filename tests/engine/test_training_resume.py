"""Trials interrupted in the middle of their training continue from their last saved epoch.

The first tests kill a real Keras search with SIGKILL in the middle of an
epoch and resume it in a new process: the trial goes on from the epoch
after its last saved one with its optimizer's state, trains no epoch
twice, and ends with the same metrics as an uninterrupted run (the runs
train the same batches in the same order). The others interrupt a search
in the process (Ctrl-C, as the search sees it) for each workflow: a
hypermodel with its own `fit`, `run_trial` overrides, custom training
loops, retries, pruning, and a model that changed.
"""

from __future__ import annotations

import json
import math
import os
import pathlib
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
import tensorflow as tf

import e2etune as kt
from e2etune.engine import training_state
from e2etune.engine.trial import TrialStatus
from e2etune.pruners import MedianPruner

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parents[1]
HELPER = HERE / "_resume_search.py"
EPOCHS, STEPS = 6, 8


def run_helper(directory, log, executions, pause=None) -> subprocess.Popen:
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    args = [sys.executable, str(HELPER), str(directory), str(log), str(executions)]
    return subprocess.Popen(args + ([pause] if pause else []), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)


def results_of(process: subprocess.Popen) -> dict:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err[-3000:]
    line = next(line for line in out.splitlines() if line.startswith("RESULTS "))
    return json.loads(line[len("RESULTS "):])


def read_log(path) -> list[dict]:
    return [json.loads(line) for line in pathlib.Path(path).read_text().splitlines()]


def kill_when_paused(process: subprocess.Popen, log: pathlib.Path) -> None:
    deadline = time.monotonic() + 240
    while not (log.exists() and "paused" in log.read_text()):
        assert process.poll() is None, process.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "the search never reached the pause"
        time.sleep(0.2)
    process.send_signal(signal.SIGKILL)
    process.wait()


def assert_same_results(resumed: dict, reference: dict) -> None:
    assert resumed.keys() == reference.keys()
    for trial_id, expected in reference.items():
        got = resumed[trial_id]
        assert got["status"] == expected["status"] == TrialStatus.COMPLETED
        assert got["best_step"] == expected["best_step"]
        assert got["metrics"].keys() == expected["metrics"].keys()
        for name, value in expected["metrics"].items():
            assert math.isclose(got["metrics"][name], value, rel_tol=1e-4), (trial_id, name)


def split_by_process(entries: list[dict], trial_id: str) -> tuple[list[dict], list[dict]]:
    first_pid = entries[0]["pid"]
    mine = [e for e in entries if e.get("trial") == trial_id]
    return ([e for e in mine if e["pid"] == first_pid], [e for e in mine if e["pid"] != first_pid])


def test_sigkill_mid_epoch_resumes_the_trial_where_it_stopped(tmp_path):
    reference = run_helper(tmp_path / "reference", tmp_path / "reference.log", 1)
    expected = results_of(reference)
    curve = {e["epoch"]: e["loss"] for e in read_log(tmp_path / "reference.log")
             if e["trial"] == "0"}

    log = tmp_path / "search.log"
    kill_when_paused(run_helper(tmp_path / "search", log, 1, pause="0:0:3"), log)
    state_dir = tmp_path / "search" / "resume" / "trial_0" / training_state.STATE_DIR
    assert state_dir.is_dir()
    resumed = results_of(run_helper(tmp_path / "search", log, 1))

    before, after = split_by_process([e for e in read_log(log) if "paused" not in e], "0")
    assert [e["epoch"] for e in before] == [0, 1, 2]
    # It goes on at the epoch it was killed in, with the optimizer's state (its step count,
    # and the momentum that makes the losses those of the uninterrupted run).
    assert [e["epoch"] for e in after] == [3, 4, 5]
    assert after[0]["iterations"] == 4 * STEPS
    assert math.isclose(after[0]["loss"], curve[3], rel_tol=1e-4)
    assert after[0]["loss"] < curve[0] / 5
    assert_same_results(resumed, expected)
    assert not state_dir.exists()  # the trial ended: its saved state is gone


def test_sigkill_in_the_second_execution_keeps_the_first(tmp_path):
    expected = results_of(run_helper(tmp_path / "reference", tmp_path / "reference.log", 2))
    log = tmp_path / "search.log"
    kill_when_paused(run_helper(tmp_path / "search", log, 2, pause="0:1:2"), log)
    resumed = results_of(run_helper(tmp_path / "search", log, 2))

    before, after = split_by_process([e for e in read_log(log) if "paused" not in e], "0")
    assert [(e["model"], e["epoch"]) for e in before] == (
        [(0, epoch) for epoch in range(EPOCHS)] + [(1, 0), (1, 1)])
    # The first execution does not run again; the second goes on at epoch 2.
    assert [e["epoch"] for e in after] == [2, 3, 4, 5]
    assert after[0]["iterations"] == 3 * STEPS
    assert len(before) + len(after) <= 2 * EPOCHS + 1
    assert_same_results(resumed, expected)


# In-process interruptions, one per workflow.

@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x @ np.array([1.0, -1.0, 2.0, 0.5], dtype="float32"))[:, None]
    return x, y


def make_model(units: int = 4) -> keras.Model:
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(units), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


class Interrupt(keras.callbacks.Callback):
    """Stops the search (as Ctrl-C does) when the `run`-th training run (from 0; None: any)
    of the test begins epoch `at`, once per test."""

    fired = False
    runs = 0

    def __init__(self, at: int, run: int | None = 0) -> None:
        super().__init__()
        self.at, self.run = at, run

    def on_train_begin(self, logs=None):
        Interrupt.runs += 1

    def on_epoch_begin(self, epoch, logs=None):
        run_matches = self.run is None or Interrupt.runs == self.run + 1
        if epoch == self.at and run_matches and not Interrupt.fired:
            Interrupt.fired = True
            raise KeyboardInterrupt


class Epochs(keras.callbacks.Callback):
    """Records (epoch, optimizer steps) of every epoch that ends, in `Epochs.seen`."""

    seen: list = []

    def on_epoch_end(self, epoch, logs=None):
        Epochs.seen.append((epoch, int(self.model.optimizer.iterations.numpy())))


@pytest.fixture(autouse=True)
def _reset_recorders():
    Interrupt.fired, Interrupt.runs, Epochs.seen = False, 0, []


def interrupted_then_resumed(make_tuner, x, y, at=3, run=0, **fit):
    """Runs a search interrupted at epoch `at` of its `run`-th training run, then resumes it
    with a new tuner."""
    fit = {"epochs": 5, "batch_size": 16, "verbose": 0, **fit}
    with pytest.raises(KeyboardInterrupt):
        make_tuner().search(x, y, callbacks=[Interrupt(at, run), Epochs()], **fit)
    seen_before = list(Epochs.seen)
    Epochs.seen = []
    tuner = make_tuner()
    tuner.search(x, y, callbacks=[Interrupt(at, run), Epochs()], **fit)
    assert [t.status for t in tuner.oracle.trials.values()] == [TrialStatus.COMPLETED]
    return tuner, seen_before, list(Epochs.seen)


class FitHyperModel(kt.HyperModel):
    def build(self, hp):
        return make_model(hp.Int("units", 2, 6, step=2))

    def fit(self, hp, model, x, y, **kwargs):
        return model.fit(x, y, **kwargs)


def test_a_hypermodel_with_its_own_fit_resumes(tmp_path, data):
    x, y = data

    def make_tuner():
        return kt.RandomSearch(FitHyperModel(), objective="loss", max_trials=1,
                               directory=tmp_path, project_name="p")

    tuner, before, after = interrupted_then_resumed(make_tuner, x, y)
    assert before == [(0, 4), (1, 8), (2, 12)]
    assert after == [(3, 16), (4, 20)]
    trial = tuner.oracle.trials["0"]
    assert trial.status == TrialStatus.COMPLETED
    assert tuner.get_best_models()[0] is not None


class ForwardingTuner(kt.Tuner):
    """Passes everything it got (so `callbacks`) on to `fit`, and checks the history."""

    histories: list = []

    def run_trial(self, trial, x, y, **kwargs):
        model = make_model(trial.hyperparameters.Int("units", 2, 6, step=2))
        history = model.fit(x, y, **kwargs)
        ForwardingTuner.histories.append(list(history.epoch))
        return history


def test_a_run_trial_forwarding_its_kwargs_resumes_with_the_whole_history(tmp_path, data):
    x, y = data
    ForwardingTuner.histories = []

    def make_tuner():
        return ForwardingTuner(objective="loss", max_trials=1, directory=tmp_path,
                               project_name="p")

    tuner, before, after = interrupted_then_resumed(make_tuner, x, y)
    assert [e for e, _ in before] == [0, 1, 2] and [e for e, _ in after] == [3, 4]
    assert after[0][1] == 16
    # The History that `fit` returned holds every epoch once: the earlier ones come first.
    assert ForwardingTuner.histories == [[0, 1, 2, 3, 4]]
    trial = tuner.oracle.trials["0"]
    assert trial.best_step in range(5)


def test_an_override_with_two_executions_keeps_the_finished_one(tmp_path, data):
    x, y = data
    ForwardingTuner.histories = []

    def make_tuner():
        return ForwardingTuner(objective="loss", max_trials=1, executions_per_trial=2,
                               directory=tmp_path, project_name="p")

    tuner, before, after = interrupted_then_resumed(make_tuner, x, y, at=2, run=1)
    assert [e for e, _ in before] == [0, 1, 2, 3, 4, 0, 1]
    assert after == [(2, 12), (3, 16), (4, 20)]  # the first execution did not run again
    assert ForwardingTuner.histories == [[0, 1, 2, 3, 4], [0, 1, 2, 3, 4]]
    assert tuner.oracle.trials["0"].status == TrialStatus.COMPLETED


class OwnEpochsTuner(kt.Tuner):
    """Passes only the callbacks to `fit`, with epochs of its own (no `initial_epoch`)."""

    def run_trial(self, trial, x, y, callbacks=None, **kwargs):
        model = make_model()
        return model.fit(x, y, epochs=5, batch_size=16, verbose=0, callbacks=callbacks)


def test_a_run_trial_passing_only_callbacks_resumes(tmp_path, data):
    x, y = data

    def make_tuner():
        return OwnEpochsTuner(objective="loss", max_trials=1, directory=tmp_path,
                              project_name="p")

    with pytest.raises(KeyboardInterrupt):
        make_tuner().search(x, y, callbacks=[Interrupt(2), Epochs()])
    assert [e for e, _ in Epochs.seen] == [0, 1]
    Epochs.seen = []
    tuner = make_tuner()
    tuner.search(x, y, callbacks=[Epochs()])
    assert Epochs.seen == [(2, 12), (3, 16), (4, 20)]
    assert tuner.oracle.trials["0"].status == TrialStatus.COMPLETED


class CustomLoopTuner(kt.Tuner):
    """A custom training loop that resumes by hand: restore_training, then save_training."""

    steps: list = []

    def run_trial(self, trial, x, y, epochs=4, **kwargs):
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        optimizer = keras.optimizers.Adam(0.05)
        start = trial.restore_training(model, optimizer)
        loss = None
        for epoch in range(start, epochs):
            if epoch == 2 and not Interrupt.fired:
                Interrupt.fired = True
                raise KeyboardInterrupt
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean((model(x) - y) ** 2)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply(grads, model.trainable_variables)
            CustomLoopTuner.steps.append((epoch, int(optimizer.iterations.numpy())))
            trial.save_training(model, epoch, {"loss": float(loss)})
        return float(loss)


def test_a_custom_training_loop_resumes_by_hand(tmp_path, data):
    x, y = data
    CustomLoopTuner.steps = []

    def make_tuner():
        return CustomLoopTuner(max_trials=1, directory=tmp_path, project_name="p")

    with pytest.raises(KeyboardInterrupt):
        make_tuner().search(x, y)
    assert CustomLoopTuner.steps == [(0, 1), (1, 2)]
    tuner = make_tuner()
    tuner.search(x, y)
    assert CustomLoopTuner.steps == [(0, 1), (1, 2), (2, 3), (3, 4)]
    assert tuner.oracle.trials["0"].status == TrialStatus.COMPLETED


class CallbackLoopTuner(kt.Tuner):
    """A custom loop that saves through the tuner's callbacks (`on_epoch_end`)."""

    starts: list = []

    def run_trial(self, trial, x, y, callbacks=(), epochs=4, **kwargs):
        model = make_model()
        model.build((None, 4))
        model.optimizer.build(model.trainable_variables)
        start = trial.restore_training(model)
        CallbackLoopTuner.starts.append((start, int(model.optimizer.iterations.numpy())))
        for callback in callbacks:
            callback.model = model
        for epoch in range(start, epochs):
            if epoch == 3 and not Interrupt.fired:
                Interrupt.fired = True
                raise KeyboardInterrupt
            logs = model.train_on_batch(x, y, return_dict=True)
            for callback in callbacks:
                callback.on_epoch_end(epoch, logs=logs)
        return logs


def test_a_custom_loop_calling_the_callbacks_resumes(tmp_path, data):
    x, y = data
    CallbackLoopTuner.starts = []

    def make_tuner():
        return CallbackLoopTuner(objective="loss", max_trials=1, directory=tmp_path,
                                 project_name="p")

    with pytest.raises(KeyboardInterrupt):
        make_tuner().search(x, y)
    tuner = make_tuner()
    tuner.search(x, y)
    assert CallbackLoopTuner.starts == [(0, 0), (3, 3)]
    assert tuner.get_best_models()[0] is not None


class FlakyTuner(kt.Tuner):
    """Fails at epoch 2 on its first attempt: the retry must train afresh."""

    def run_trial(self, trial, x, y, **kwargs):
        class Fail(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                if epoch == 2 and trial.attempts == 1:
                    raise RuntimeError("flaky")

        model = make_model()
        kwargs["callbacks"] = kwargs["callbacks"] + [Fail()]
        return model.fit(x, y, **kwargs)


def test_a_retry_after_an_error_starts_afresh(tmp_path, data):
    x, y = data
    tuner = FlakyTuner(objective="loss", max_trials=1, max_retries_per_trial=1,
                       directory=tmp_path, project_name="p")
    tuner.search(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[Epochs()])
    assert [e for e, _ in Epochs.seen] == [0, 1, 0, 1, 2]
    assert Epochs.seen[2] == (0, 4)
    assert tuner.oracle.trials["0"].status == TrialStatus.COMPLETED


def test_a_pruned_search_resumes_with_every_report_once(tmp_path, data):
    x, y = data

    def make_tuner():
        return kt.RandomSearch(FitHyperModel(), objective="loss", max_trials=1,
                               pruner=MedianPruner(warmup_steps=0, min_trials=1),
                               directory=tmp_path, project_name="p")

    tuner, before, after = interrupted_then_resumed(make_tuner, x, y, at=3)
    assert [e for e, _ in after] == [3, 4]
    history = tuner.oracle.trials["0"].metrics.get_history("loss")
    assert [observation.step for observation in history] == [0, 1, 2, 3, 4]


def test_a_model_that_changed_trains_from_scratch(tmp_path, data, caplog):
    x, y = data
    units = {"value": 4}

    def build(hp):
        hp.Int("units", 2, 6, step=2)
        return make_model(units["value"])

    def make_tuner():
        return kt.RandomSearch(build, objective="loss", max_trials=1, directory=tmp_path,
                               project_name="p")

    with pytest.raises(KeyboardInterrupt):
        make_tuner().search(x, y, epochs=4, batch_size=16, verbose=0,
                            callbacks=[Interrupt(2), Epochs()])
    units["value"] = 8
    Epochs.seen = []
    make_tuner().search(x, y, epochs=4, batch_size=16, verbose=0, callbacks=[Epochs()])
    assert Epochs.seen == [(0, 4), (1, 8), (2, 12), (3, 16)]
    assert "does not fit its model" in caplog.text


def test_saved_state_files_are_replaced_not_accumulated(tmp_path, data):
    x, y = data
    tuner = kt.RandomSearch(FitHyperModel(), objective="loss", max_trials=1,
                            directory=tmp_path, project_name="p")
    with pytest.raises(KeyboardInterrupt):
        tuner.search(x, y, epochs=6, batch_size=16, verbose=0, callbacks=[Interrupt(5)])
    files = sorted(os.listdir(tmp_path / "p" / "trial_0" / training_state.STATE_DIR))
    # The state, the last epoch's arrays and (when older) the run's best epoch's arrays.
    assert "state.json" in files and "0-0-4.npz" in files and len(files) <= 3


class CallbackListHyperModel(kt.HyperModel):
    """`HyperModel.fit` with a loop of its own driving a `CallbackList`, resuming by hand."""

    starts: list = []

    def build(self, hp):
        return keras.Sequential([keras.Input((4,)), keras.layers.Dense(hp.Int("units", 2, 4))])

    def fit(self, hp, model, x, y, trial, callbacks=None, epochs=4, **kwargs):
        optimizer = keras.optimizers.SGD(0.01, momentum=0.9)
        start = trial.restore_training(model, optimizer)
        CallbackListHyperModel.starts.append((start, int(optimizer.iterations.numpy())))
        callback_list = keras.callbacks.CallbackList(callbacks, model=model)
        callback_list.on_train_begin()
        for epoch in range(start, epochs):
            callback_list.on_epoch_begin(epoch)
            if epoch == 2 and not Interrupt.fired:
                Interrupt.fired = True
                raise KeyboardInterrupt
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean((model(x) - y) ** 2)
            optimizer.apply(tape.gradient(loss, model.trainable_variables),
                            model.trainable_variables)
            callback_list.on_epoch_end(epoch, logs={"loss": float(loss)})
        callback_list.on_train_end()
        return float(loss)


def test_a_hypermodel_loop_driving_the_callbacks_resumes_by_hand(tmp_path, data):
    x, y = data
    CallbackListHyperModel.starts = []

    def make_tuner():
        return kt.RandomSearch(CallbackListHyperModel(), objective="loss", max_trials=1,
                               directory=tmp_path, project_name="p")

    with pytest.raises(KeyboardInterrupt):
        make_tuner().search(x, y)
    tuner = make_tuner()
    tuner.search(x, y)
    # The second run starts at epoch 2 with the optimizer's 2 steps and momentum.
    assert CallbackListHyperModel.starts == [(0, 0), (2, 2)]
    assert tuner.oracle.trials["0"].status == TrialStatus.COMPLETED


def test_restore_training_outside_a_tuner_is_a_clear_error():
    trial = kt.engine.trial.Trial(kt.HyperParameters(), trial_id="7")
    with pytest.raises(RuntimeError, match="no Keras `e2etune.Tuner` is running it"):
        trial.restore_training(make_model())


def test_a_promoted_hyperband_trial_resumes_within_its_schedule(tmp_path, data):
    x, y = data

    def make_tuner(name):
        return kt.Hyperband(FitHyperModel(), objective="loss", max_epochs=4, factor=2, seed=1,
                            directory=tmp_path, project_name=name)

    fit = {"batch_size": 16, "verbose": 0}
    reference = make_tuner("reference")
    reference.search(x, y, callbacks=[Epochs()], **fit)
    budget = len(Epochs.seen)
    Epochs.seen = []
    with pytest.raises(KeyboardInterrupt):
        make_tuner("p").search(x, y, callbacks=[Interrupt(3, run=None), Epochs()], **fit)
    before = len(Epochs.seen)
    Epochs.seen = []
    tuner = make_tuner("p")
    tuner.search(x, y, callbacks=[Epochs()], **fit)
    # The interrupted trial goes on at epoch 3 (it started at 2, from its parent's model).
    assert Epochs.seen[0][0] == 3
    assert before + len(Epochs.seen) == budget
    assert len(tuner.oracle.trials) == len(reference.oracle.trials)
    assert all(t.status == TrialStatus.COMPLETED for t in tuner.oracle.trials.values())


class InterruptAtEnd(keras.callbacks.Callback):
    """Stops the search when the `run`-th training run ends, after its last epoch was saved."""

    def __init__(self, run: int = 0) -> None:
        super().__init__()
        self.run = run

    def on_train_end(self, logs=None):
        Interrupt.runs += 1
        if Interrupt.runs == self.run + 1 and not Interrupt.fired:
            Interrupt.fired = True
            raise KeyboardInterrupt


@pytest.mark.parametrize("executions", [1, 2])
def test_a_kill_after_the_last_epoch_trains_nothing_again(tmp_path, data, executions):
    x, y = data
    ForwardingTuner.histories = []

    def make_tuner():
        return ForwardingTuner(objective="loss", max_trials=1, executions_per_trial=executions,
                               directory=tmp_path, project_name="p")

    fit = {"epochs": 3, "batch_size": 16, "verbose": 0}
    with pytest.raises(KeyboardInterrupt):
        make_tuner().search(x, y, callbacks=[InterruptAtEnd(executions - 1), Epochs()], **fit)
    Epochs.seen = []
    tuner = make_tuner()
    tuner.search(x, y, callbacks=[Epochs()], **fit)
    assert Epochs.seen == []
    assert ForwardingTuner.histories[-1] == [0, 1, 2]
    trial = tuner.oracle.trials["0"]
    assert trial.status == TrialStatus.COMPLETED and trial.best_step in range(3)
    assert tuner.get_best_models()[0] is not None


def test_a_model_without_input_is_built_to_resume(tmp_path, data):
    x, y = data

    def build(hp):
        model = keras.Sequential([keras.layers.Dense(hp.Int("units", 2, 4)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
        return model

    def make_tuner():
        return kt.RandomSearch(build, objective="loss", max_trials=1, directory=tmp_path,
                               project_name="p")

    tuner, before, after = interrupted_then_resumed(make_tuner, x, y)
    assert [e for e, _ in before] == [0, 1, 2] and after == [(3, 16), (4, 20)]


def test_a_bfloat16_model_resumes(tmp_path, data):
    x, y = data
    policy = keras.config.dtype_policy()
    keras.config.set_dtype_policy("bfloat16")
    try:
        def make_tuner():
            return kt.RandomSearch(FitHyperModel(), objective="loss", max_trials=1,
                                   directory=tmp_path, project_name="p")

        tuner, before, after = interrupted_then_resumed(make_tuner, x, y)
    finally:
        keras.config.set_dtype_policy(policy)
    assert after == [(3, 16), (4, 20)]


class TwoFitsTuner(kt.Tuner):
    """Trains the head, then the whole model: two `fit` calls in one execution."""

    histories: list = []

    def run_trial(self, trial, x, y, callbacks=None, **kwargs):
        model = make_model()
        first = model.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=callbacks)
        model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="mse")
        second = model.fit(x, y, initial_epoch=3, epochs=6, batch_size=16, verbose=0,
                           callbacks=callbacks)
        TwoFitsTuner.histories.append((list(first.epoch), list(second.epoch)))
        return second


def test_a_second_fit_resumes_and_the_first_returns_its_history(tmp_path, data):
    x, y = data
    TwoFitsTuner.histories = []

    def make_tuner():
        return TwoFitsTuner(objective="loss", max_trials=1, directory=tmp_path, project_name="p")

    with pytest.raises(KeyboardInterrupt):
        make_tuner().search(x, y, callbacks=[Interrupt(5, run=1), Epochs()])
    assert [e for e, _ in Epochs.seen] == [0, 1, 2, 3, 4]
    Epochs.seen = []
    tuner = make_tuner()
    tuner.search(x, y, callbacks=[Epochs()])
    assert Epochs.seen == [(5, 12)]  # the second optimizer's 2 steps, then its third epoch
    assert TwoFitsTuner.histories == [([0, 1, 2], [3, 4, 5])]
    assert tuner.oracle.trials["0"].status == TrialStatus.COMPLETED


def seeded_dropout_build(hp):
    keras.utils.set_random_seed(hp.Int("seed", 0, 9))
    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8),
                              keras.layers.Dropout(0.5), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    return model


def test_a_resumed_dropout_model_ends_as_an_uninterrupted_one(tmp_path, data):
    x, y = data
    fit = {"epochs": 5, "batch_size": 16, "verbose": 0, "shuffle": False}

    def make_tuner(name):
        return kt.RandomSearch(seeded_dropout_build, objective="loss", max_trials=1, seed=3,
                               directory=tmp_path, project_name=name)

    reference = make_tuner("reference")
    reference.search(x, y, **fit)
    with pytest.raises(KeyboardInterrupt):
        make_tuner("p").search(x, y, callbacks=[Interrupt(3)], **fit)
    tuner = make_tuner("p")
    tuner.search(x, y, **fit)
    expected = reference.oracle.trials["0"].metrics.get_last_value("loss")
    got = tuner.oracle.trials["0"].metrics.get_last_value("loss")
    assert got == pytest.approx(expected, rel=1e-5)

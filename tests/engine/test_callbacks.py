"""The tuner's Keras callbacks: best-epoch checkpoints, hooks, copies, TensorBoard."""

import copy
import math
import os

import keras
import numpy as np
import pytest

import e2etune as kt
from e2etune import errors
from e2etune.engine import callbacks
from e2etune.engine.objective import DefaultObjective, MultiObjective, Objective
from e2etune.engine.trial import TrialStatus


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


def small_model():
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    model.compile(optimizer="sgd", loss="mse")
    return model


def set_bias(model, value):
    kernel, _ = model.get_weights()
    model.set_weights([kernel, np.array([value], dtype="float32")])


def saved_bias(trial_dir):
    model = keras.saving.load_model(os.path.join(trial_dir, callbacks.MODEL_FILE))
    return float(model.get_weights()[1][0])


def train_run(checkpoint, model, epochs):
    """Drives the checkpoint like `fit` would: one (bias, logs) pair per epoch."""
    checkpoint.set_model(model)
    checkpoint.on_train_begin()
    for epoch, (bias, logs) in enumerate(epochs):
        set_bias(model, bias)
        checkpoint.on_epoch_end(epoch, logs)
    checkpoint.on_train_end()


# Which value ranks the epochs.

def test_objective_value_reads_the_objective():
    assert callbacks.objective_value(Objective("val_auc", "max"), {"val_auc": 0.75}) == 0.75
    assert callbacks.objective_value(Objective("val_auc", "max"), {"auc": 0.75}) is None
    assert callbacks.objective_value(Objective("loss", "min"), {"loss": math.nan}) is None
    assert callbacks.objective_value(Objective("loss", "min"), None) is None


def test_default_objective_ranks_by_val_loss_else_loss():
    default = DefaultObjective()
    assert callbacks.objective_value(default, {"loss": 2.0, "val_loss": 3.0}) == 3.0
    assert callbacks.objective_value(default, {"loss": 2.0}) == 2.0
    assert callbacks.objective_value(default, {"accuracy": 1.0}) is None


def test_multi_objective_value():
    objective = MultiObjective([Objective("loss", "min"), Objective("accuracy", "max")])
    assert callbacks.objective_value(objective, {"loss": 1.0, "accuracy": 0.25}) == 0.75


# The checkpoint.

def test_checkpoint_keeps_the_best_epoch_and_restores_the_last(tmp_path):
    checkpoint = callbacks.make_checkpoint(Objective("val_loss", "min"), str(tmp_path))
    model = small_model()
    train_run(checkpoint, model, [(1.0, {"val_loss": 0.5}), (2.0, {"val_loss": 0.3}),
                                  (3.0, {"val_loss": 0.4})])
    assert saved_bias(tmp_path) == 2.0
    assert float(model.get_weights()[1][0]) == 3.0  # training's own result is untouched
    assert os.listdir(tmp_path) == [callbacks.MODEL_FILE]


def test_checkpoint_keeps_the_best_execution(tmp_path):
    checkpoint = callbacks.make_checkpoint(Objective("val_accuracy", "max"), str(tmp_path))
    train_run(checkpoint, small_model(), [(1.0, {"val_accuracy": 0.6}), (2.0, {"val_accuracy": 0.8})])
    train_run(checkpoint, small_model(), [(3.0, {"val_accuracy": 0.7})])
    assert saved_bias(tmp_path) == 2.0
    train_run(checkpoint, small_model(), [(4.0, {"val_accuracy": 0.9})])
    assert saved_bias(tmp_path) == 4.0
    assert checkpoint.best_value == 0.9


def test_checkpoint_without_the_objective_in_logs_keeps_the_last_epoch(tmp_path):
    checkpoint = callbacks.make_checkpoint(Objective("test_score", "max"), str(tmp_path))
    train_run(checkpoint, small_model(), [(1.0, {"loss": 0.1}), (2.0, {"loss": 0.5})])
    assert saved_bias(tmp_path) == 2.0
    train_run(checkpoint, small_model(), [(5.0, {"loss": 0.9})])
    assert saved_bias(tmp_path) == 5.0


def test_tuner_callbacks_are_shared_not_copied(tmp_path):
    checkpoint = callbacks.make_checkpoint(DefaultObjective(), str(tmp_path))
    hooks = callbacks.make_tuner_hooks(object(), object())
    assert copy.deepcopy([checkpoint, hooks]) == [checkpoint, hooks]
    assert callbacks.is_builtin(checkpoint) and callbacks.is_builtin(hooks)
    assert not callbacks.is_builtin(keras.callbacks.History())


class Scale(keras.layers.Layer):
    """A layer Keras cannot serialize: an array argument and no get_config."""

    def __init__(self, factor):
        super().__init__()
        self.factor = factor

    def call(self, inputs):
        return inputs * self.factor


def test_unserializable_models_fall_back_to_weights(tmp_path):
    x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")
    y = x.sum(axis=1)

    def build(hp):
        model = keras.Sequential([keras.Input((3,)), Scale(np.ones(3, "float32")),
                                  keras.layers.Dense(hp.Int("units", 1, 2)),
                                  keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse")
        return model

    tuner = kt.RandomSearch(build, max_trials=1, overwrite=True, directory=tmp_path)
    with pytest.warns(UserWarning, match="could not be saved whole.*get_config"):
        tuner.search(x, y, epochs=1, verbose=0)
    trial_dir = tuner.get_trial_dir("0")
    assert sorted(os.listdir(trial_dir)) == [callbacks.BUILD_CONFIG_FILE, callbacks.WEIGHTS_FILE]
    assert tuner.get_best_models()[0].predict(x[:2], verbose=0).shape == (2, 1)

    tuner.hypermodel = None
    with pytest.raises(RuntimeError, match="Only the weights of trial 0 were saved"):
        tuner.get_best_models()


# The user's callbacks.

class EpochCounter(keras.callbacks.Callback):
    def __init__(self):
        super().__init__()
        self.epochs = 0
        self.log = []

    def on_epoch_end(self, epoch, logs=None):
        self.epochs += 1
        self.log.append(self)


def test_user_callbacks_are_copied_for_each_execution(tmp_path):
    seen = []

    class Tuner(kt.Tuner):
        def run_trial(self, trial, x, y, callbacks, **kwargs):
            seen.append(callbacks[0])
            trial.hyperparameters.Int("units", 1, 3)
            model = small_model()
            return model.fit(x, y, callbacks=callbacks, verbose=0, **kwargs)

    counter = EpochCounter()
    x = np.zeros((8, 3), "float32")
    tuner = Tuner(max_trials=1, executions_per_trial=2, overwrite=True, directory=tmp_path)
    tuner.search(x, np.zeros(8, "float32"), epochs=2, callbacks=[counter])
    assert counter.epochs == 0
    assert [c.epochs for c in seen] == [2, 2] and seen[0] is not seen[1]


def test_copy_callbacks_names_the_culprit():
    class Unpicklable(keras.callbacks.Callback):
        def __deepcopy__(self, memo):
            raise TypeError("cannot copy a socket")

    with pytest.raises(errors.FatalValueError, match="Unpicklable cannot be copied.*socket"
                                                     r".*should be deep-copyable"):
        callbacks.copy_callbacks([keras.callbacks.History(), Unpicklable()])


def test_tensorboard_log_dir_per_trial_and_execution(tmp_path):
    seen = []

    class Capture(kt.Tuner):
        def run_trial(self, trial, callbacks, **kwargs):
            seen.append(callbacks[0].log_dir)
            return float(trial.hyperparameters.Int("n", 0, 9))

    board = keras.callbacks.TensorBoard(log_dir=str(tmp_path / "logs"))
    tuner = Capture(max_trials=2, executions_per_trial=2, overwrite=True, directory=tmp_path)
    tuner.search(callbacks=[board], verbose=0)
    expected = [str(tmp_path / "logs" / trial / f"execution{e}") for trial in "01" for e in (0, 1)]
    assert seen == expected
    assert board.log_dir == str(tmp_path / "logs")


def test_tensorboard_writes_logs_during_search(tmp_path):
    pytest.importorskip("tensorboard")
    x = np.random.default_rng(0).normal(size=(16, 3)).astype("float32")

    def build(hp):
        hp.Int("units", 1, 2)
        return small_model()

    log_dir = tmp_path / "logs"
    tuner = kt.RandomSearch(build, max_trials=1, overwrite=True, directory=tmp_path / "project")
    tuner.search(x, x.sum(axis=1), epochs=1, verbose=0,
                 callbacks=[keras.callbacks.TensorBoard(log_dir=str(log_dir))])
    assert tuner.oracle.trials["0"].status == TrialStatus.COMPLETED
    assert os.listdir(log_dir / "0" / "execution0")


def test_tensorboard_hparams_show_each_trials_values_and_best_epoch_metrics(tmp_path):
    pytest.importorskip("tensorboard")
    import tensorflow as tf
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
    from tensorboard.plugins.hparams import plugin_data_pb2

    x = np.random.default_rng(0).normal(size=(32, 3)).astype("float32")

    class Workflow(kt.Tuner):
        def run_trial(self, trial, x, y, callbacks=None, **kwargs):
            hp = trial.hyperparameters
            hp.Int("units", 1, 4)
            model = small_model()
            return model.fit(x, y, validation_split=0.25, callbacks=callbacks, **kwargs)

    log_dir = tmp_path / "logs"
    tuner = Workflow(objective="val_loss", max_trials=2, seed=1, overwrite=True,
                     directory=tmp_path / "project")
    tuner.search(x, x.sum(axis=1), epochs=3, verbose=0,
                 callbacks=[keras.callbacks.TensorBoard(log_dir=str(log_dir))])
    for trial in tuner.oracle.trials.values():
        run = log_dir / trial.trial_id / "execution0"
        start = EventAccumulator(str(run), size_guidance={"tensors": 0}).Reload()
        content = start.PluginTagToContent("hparams")["_hparams_/session_start_info"]
        info = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info
        assert info.hparams["units"].number_value == trial.hyperparameters["units"]
        best = EventAccumulator(str(run / "best"), size_guidance={"tensors": 0}).Reload()
        value = float(tf.make_ndarray(best.Tensors("best_val_loss")[0].tensor_proto))
        assert value == pytest.approx(trial.score, rel=1e-5)

"""The Keras `Hyperband` tuner: budget, weight continuation, and the run_trial workflow."""

import numpy as np
import pytest

keras = pytest.importorskip("keras")

import e2etune as kt  # noqa: E402

EPOCHS_SEEN: list[int] = []


class EpochCounter(keras.callbacks.Callback):
    """Counts every epoch trained, across the copies the tuner makes."""

    def on_epoch_end(self, epoch, logs=None):
        EPOCHS_SEEN.append(epoch)


def _data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 3.0], dtype="float32"))[:, None]
    return x, y


class LinearModel(kt.HyperModel):
    def __init__(self):
        super().__init__()
        self.losses: dict[str, list[float]] = {}

    def build(self, hp):
        keras.utils.set_random_seed(1)
        model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        lr = hp.Float("learning_rate", 0.005, 0.03)
        model.compile(optimizer=keras.optimizers.SGD(lr), loss="mse")
        return model

    def fit(self, hp, model, *args, trial_id=None, **kwargs):
        history = model.fit(*args, **kwargs)
        self.losses[trial_id] = history.history["loss"]
        return history


def test_hyperband_trains_exactly_the_schedule_budget_and_continues_parents(tmp_path):
    EPOCHS_SEEN.clear()
    hypermodel = LinearModel()
    tuner = kt.Hyperband(hypermodel, objective="loss", max_epochs=3, factor=3, seed=0,
                         directory=tmp_path, project_name="hb")
    x, y = _data()
    tuner.search(x, y, batch_size=16, verbose=0, callbacks=[EpochCounter()])
    oracle = tuner.oracle
    budget = sum(b.budget for b in oracle.brackets)
    assert len(EPOCHS_SEEN) == budget
    assert sum(len(v) for v in hypermodel.losses.values()) == budget
    promoted = [t for t in oracle.trials.values() if "tuner/trial_id" in t.hyperparameters.values]
    assert promoted
    for child in promoted:
        values = child.hyperparameters.values
        parent_losses = hypermodel.losses[values["tuner/trial_id"]]
        child_losses = hypermodel.losses[child.trial_id]
        assert len(child_losses) == values["tuner/epochs"] - values["tuner/initial_epoch"]
        # Training continues the parent's curve instead of starting over.
        assert child_losses[0] < parent_losses[0]
        assert child_losses[0] <= parent_losses[-1] * 1.05
    best = tuner.get_best_models()[0]
    assert best.predict(x[:2], verbose=0).shape == (2, 1)


def test_run_trial_workflow_reads_the_schedule(tmp_path):
    seen = []

    class MyTuner(kt.Hyperband):
        def run_trial(self, trial, x, y, **kwargs):
            hp = trial.hyperparameters
            seen.append((hp.get("tuner/epochs"), hp.get("tuner/initial_epoch"),
                         hp.get("tuner/bracket"), hp.get("tuner/round")))
            shift = hp.Float("shift", 0.0, 10.0)
            return (shift - 5.0) ** 2 / hp.get("tuner/epochs")

    tuner = MyTuner(max_epochs=9, factor=3, seed=3, directory=tmp_path, project_name="rt")
    tuner.search(None, None, verbose=0)
    assert len(seen) == sum(r.trials for b in tuner.oracle.brackets for r in b.rounds)
    assert all(epochs > initial for epochs, initial, _, _ in seen)
    assert {bracket for _, _, bracket, _ in seen} == {2, 1, 0}
    assert tuner.get_best_hyperparameters()[0].get("tuner/epochs") == 9

"""Workflows written for KerasTuner that must run unchanged: custom loops, saved models,
`**kwargs` forwarded elsewhere, all trials failing, retraining from the best values."""

import ast
import subprocess
import sys

import keras
import numpy as np
import pytest

import e2etune as kt
from e2etune import errors
from e2etune.engine.trial import TrialStatus


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(64, 4)).astype("float32")
    y = (x[:, 0] > 0).astype("float32")
    return x, y


def make_model(units=4):
    model = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(units, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss="binary_crossentropy")
    return model


def test_a_custom_loop_that_only_calls_on_epoch_end_keeps_the_best_epoch(tmp_path, data):
    x, y = data
    seen = {}

    class LoopModel(kt.HyperModel):
        def build(self, hp):
            return make_model(hp.Int("units", 2, 4, step=2))

        def fit(self, hp, model, x, y, callbacks=None, **kwargs):
            loss_fn = keras.losses.BinaryCrossentropy()
            for callback in callbacks:
                callback.model = model  # as keras.io's custom loop guide writes it
            # Epoch values chosen so that the best epoch (1) is not the last one.
            for epoch, value in enumerate([0.5, 0.1, 0.3]):
                model.layers[-1].bias.assign([float(epoch)])
                for callback in callbacks:
                    callback.on_epoch_end(epoch, logs={"my_metric": value})
                if epoch == 1:
                    seen[hp.get("units")] = model.get_weights()
            return float(loss_fn(y, model(x)))

    tuner = kt.RandomSearch(LoopModel(), objective=kt.Objective("my_metric", "min"),
                            max_trials=1, directory=tmp_path, overwrite=True)
    tuner.search(x, y)
    best = tuner.get_best_models()[0]
    units = tuner.get_best_hyperparameters()[0]["units"]
    for got, expected in zip(best.get_weights(), seen[units]):
        np.testing.assert_allclose(got, expected)


def test_run_trial_reporting_itself_and_saving_with_save_model(tmp_path, data):
    """KerasTuner's older workflow: `oracle.update_trial` then `save_model`, no return."""
    x, y = data
    kept = {}

    class OldStyle(kt.Tuner):
        def run_trial(self, trial, x, y):
            model = make_model(trial.hyperparameters.Int("units", 2, 8, step=2))
            history = model.fit(x, y, epochs=2, verbose=0)
            self.oracle.update_trial(trial.trial_id, {"loss": history.history["loss"][-1]})
            self.save_model(trial.trial_id, model)
            kept[trial.trial_id] = model.predict(x[:4], verbose=0)

    tuner = OldStyle(oracle=kt.oracles.RandomSearchOracle(objective="loss", max_trials=2),
                     directory=tmp_path, overwrite=True)
    with pytest.warns(DeprecationWarning, match="returned None"):
        tuner.search(x, y)
    best_trial = tuner.oracle.get_best_trials(1)[0]
    model = tuner.get_best_models()[0]
    np.testing.assert_allclose(model.predict(x[:4], verbose=0), kept[best_trial.trial_id],
                               rtol=1e-5)


def test_kwargs_forwarded_to_a_function_without_callbacks_run_as_in_kerastuner(tmp_path, data):
    x, y = data
    calls = []

    def train_and_score(units, epochs=1, verbose=0):
        calls.append(units)
        model = make_model(units)
        return model.fit(x, y, epochs=epochs, verbose=verbose).history["loss"][-1]

    class Forwarding(kt.Tuner):
        def run_trial(self, trial, **kwargs):
            return train_and_score(trial.hyperparameters.Int("units", 2, 8, step=2), **kwargs)

    tuner = Forwarding(max_trials=3, directory=tmp_path, overwrite=True)
    tuner.search(epochs=1, verbose=0)
    statuses = [t.status for t in tuner.oracle.trials.values()]
    assert statuses == [TrialStatus.COMPLETED] * 3
    # One training per trial: the refusal of `callbacks` came before any work, and only once.
    assert len(calls) == 3


def test_kwargs_forwarded_to_fit_get_the_tuners_checkpoint(tmp_path, data):
    x, y = data

    class ToFit(kt.Tuner):
        def run_trial(self, trial, x, y, **kwargs):
            model = make_model(trial.hyperparameters.Int("units", 2, 8, step=2))
            return model.fit(x, y, validation_split=0.25, verbose=0, **kwargs)

    tuner = ToFit(max_trials=2, directory=tmp_path, overwrite=True)
    tuner.search(x, y, epochs=2)
    assert tuner.get_best_models()[0].predict(x[:2], verbose=0).shape == (2, 1)


def test_a_run_trial_that_imports_keras_itself_saves_its_first_trial(tmp_path):
    code = f"""
import sys
import numpy as np
import e2etune as kt

class Lazy(kt.Tuner):
    def run_trial(self, trial, **kwargs):
        import keras
        model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        model.compile(loss="mse")
        x = np.ones((8, 2), "float32")
        return model.fit(x, x[:, :1], epochs=1, verbose=0, **kwargs)

assert "keras" not in sys.modules
tuner = Lazy(max_trials=1, directory={str(tmp_path)!r}, overwrite=True)
tuner.search()
print(tuner.get_best_models()[0].count_params())
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    assert out.stdout.strip().splitlines()[-1] == "3"


def test_when_every_trial_fails_the_best_values_still_name_a_trial(tmp_path, capsys):
    class Failing(kt.engine.base_tuner.BaseTuner):
        def run_trial(self, trial, **kwargs):
            trial.hyperparameters.Int("units", 2, 8)
            raise errors.FailedTrialError("too big")

    tuner = Failing(oracle=kt.oracles.RandomSearchOracle(objective="loss", max_trials=2,
                                                         max_consecutive_failed_trials=5),
                    directory=tmp_path, overwrite=True)
    with pytest.warns(UserWarning, match="No trial of the search completed"):
        tuner.search(verbose=0)
    best = tuner.get_best_hyperparameters()
    assert len(best) == 1 and "units" in best[0]
    assert len(tuner.oracle.get_best_trials(10)) == 2
    with pytest.raises(ValueError, match="No trial of this search completed"):
        tuner.get_best_models()


def test_results_summary_shows_failed_trials_after_completed_ones(tmp_path, capsys):
    class Mixed(kt.engine.base_tuner.BaseTuner):
        def run_trial(self, trial, **kwargs):
            x = trial.hyperparameters.Int("x", 0, 100)
            if trial.trial_id == "1":
                raise errors.FailedTrialError("no luck")
            return float(x)

    tuner = Mixed(oracle=kt.oracles.RandomSearchOracle(objective="loss", max_trials=3, seed=3),
                  directory=tmp_path, overwrite=True)
    tuner.search(verbose=0)
    capsys.readouterr()
    tuner.results_summary()
    out = capsys.readouterr().out
    assert out.count("Trial 1 summary") == 1
    ranked = [t.trial_id for t in tuner.oracle.get_best_trials(3)]
    assert ranked[-1] == "1" and tuner.oracle.get_trial("1").status == TrialStatus.FAILED


def test_best_hyperparameters_unpack_into_a_retraining_function(tmp_path):
    class Scored(kt.engine.base_tuner.BaseTuner):
        def run_trial(self, trial, **kwargs):
            hp = trial.hyperparameters
            return retrain(**hp)

    def retrain(units, model="mlp", depth=None):
        return float(units) + (depth or 0)

    def declare(hp):
        hp.Int("units", 1, 5)
        model = hp.Choice("model", ["mlp", "cnn"])
        with hp.conditional_scope("model", ["cnn"]):
            hp.Int("depth", 1, 3)
        return model

    class WithSpace(Scored):
        pass

    hp = kt.HyperParameters()
    declare(hp)
    tuner = WithSpace(oracle=kt.oracles.RandomSearchOracle(objective="loss", max_trials=4,
                                                           hyperparameters=hp, seed=1),
                      directory=tmp_path, overwrite=True)
    tuner.search(verbose=0)
    best = tuner.get_best_hyperparameters()[0]
    assert retrain(**best) == tuner.oracle.get_best_trials(1)[0].score
    assert set(dict(best)) == set(best.values) and len(best) == len(best.values)


def test_a_reported_metric_keeps_its_direction_without_an_objective():
    """Metrics reported with `update_trial` under the default objective: one known metric
    keeps its direction (`accuracy` is maximized); the tuner refuses a returned dict."""
    oracle = kt.oracles.RandomSearchOracle(max_trials=6, seed=0)
    oracle.hyperparameters.Float("a", 0.0, 1.0)
    values = []
    for _ in range(6):
        trial = oracle.create_trial("t")
        values.append(trial.hyperparameters["a"])
        oracle.update_trial(trial.trial_id, {"accuracy": trial.hyperparameters["a"]})
        oracle.end_trial(trial.trial_id)
    assert oracle.get_best_trials(1)[0].hyperparameters["a"] == max(values)


def test_a_validation_objective_without_validation_data_says_so(tmp_path, data):
    x, y = data
    tuner = kt.RandomSearch(lambda hp: make_model(), objective="val_loss", max_trials=1,
                            directory=tmp_path, overwrite=True)
    with pytest.raises(errors.FatalError, match="no validation data reached `fit`"):
        tuner.search(x, y, epochs=1, verbose=0)


def test_a_model_built_in_an_early_trial_still_trains_after_later_trials(tmp_path, data):
    """The tuner drops TensorFlow's custom gradients of finished trials: a model kept from an
    early trial must still train (its gradients are traced again when needed)."""
    x, y = data
    kept = []

    class Keeping(kt.Tuner):
        def run_trial(self, trial, x, y, **kwargs):
            model = make_model(trial.hyperparameters.Int("units", 2, 8, step=2))
            history = model.fit(x, y, verbose=0, **kwargs)
            kept.append(model)
            return history

    tuner = Keeping(max_trials=3, directory=tmp_path, overwrite=True)
    tuner.search(x, y, epochs=1)
    first = kept[0]
    before = first.evaluate(x, y, verbose=0)
    history = first.fit(x, y, epochs=5, verbose=0)
    assert np.isfinite(history.history["loss"]).all()
    assert first.evaluate(x, y, verbose=0) < before


def test_a_tailored_space_runs_each_of_its_points_once(tmp_path):
    class Untuned(kt.engine.base_tuner.BaseTuner):
        def run_trial(self, trial, **kwargs):
            hp = trial.hyperparameters
            hp.Int("units", 2, 8, step=2)  # not tuned: `tune_new_entries=False`
            return hp["learning_rate"]

    hp = kt.HyperParameters()
    hp.Choice("learning_rate", [1e-2, 1e-3])
    tuner = Untuned(oracle=kt.oracles.RandomSearchOracle(
        objective="loss", max_trials=5, hyperparameters=hp, tune_new_entries=False, seed=0),
        directory=tmp_path, overwrite=True)
    tuner.search(verbose=0)
    ran = [t.hyperparameters.values for t in tuner.oracle.trials.values()]
    assert sorted(v["learning_rate"] for v in ran) == [1e-3, 1e-2]
    assert all(v["units"] == 2 for v in ran)


def test_the_space_summary_shows_kerastuners_configs(tmp_path, capsys):
    class Summary(kt.engine.base_tuner.BaseTuner):
        def run_trial(self, trial, **kwargs):
            return 0.0

    hp = kt.HyperParameters()
    hp.Int("a", 1, 9)
    model = hp.Choice("model", ["mlp", "cnn"])
    with hp.conditional_scope("model", ["cnn"]):
        hp.Int("depth", 1, 3)
    tuner = Summary(oracle=kt.oracles.RandomSearchOracle(objective="loss", max_trials=1,
                                                         hyperparameters=hp),
                    directory=tmp_path, overwrite=True)
    assert model == "mlp"
    tuner.search_space_summary()
    lines = capsys.readouterr().out.splitlines()
    config = ast.literal_eval(lines[lines.index("a (Int)") + 1])
    assert config["step"] == 1 and config["conditions"] == []
    depth = ast.literal_eval(lines[lines.index("depth (Int)") + 1])
    assert depth["conditions"][0]["config"] == {"name": "model", "values": ["cnn"]}

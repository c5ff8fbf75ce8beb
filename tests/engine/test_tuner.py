"""End-to-end tests of the two Keras workflows: run_trial overrides and hypermodels."""

import gc
import os

import keras
import numpy as np
import pytest

import e2etune as kt
from e2etune import errors
from e2etune.engine import tuner_utils
from e2etune.engine.trial import TrialStatus


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(0)


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 4)).astype("float32")
    y = (x[:, 0] + x[:, 1] > 0).astype("float32")
    return x, y


def make_model(units=4, learning_rate=0.01):
    model = keras.Sequential([
        keras.Input((4,)),
        keras.layers.Dense(units, activation="relu"),
        keras.layers.Dense(1, activation="sigmoid"),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="binary_crossentropy",
                  metrics=["accuracy"])
    return model


def build(hp):
    return make_model(hp.Int("units", 2, 8, step=2))


class MyTuner(kt.Tuner):
    """The Tuner workflow: everything in run_trial, the tuner's callbacks passed to fit."""

    def run_trial(self, trial, x, y, **kwargs):
        hp = trial.hyperparameters
        model = make_model(hp.Int("units", 2, 8, step=2), hp.Choice("lr", [0.01, 0.03]))
        return model.fit(x, y, validation_split=0.25, verbose=0, **kwargs)


def test_run_trial_workflow_end_to_end(tmp_path, data):
    x, y = data
    tuner = MyTuner(max_trials=3, executions_per_trial=2, overwrite=True,
                    directory=tmp_path, project_name="e2e")
    tuner.search(x, y, epochs=2)

    trials = list(tuner.oracle.trials.values())
    assert [t.status for t in trials] == [TrialStatus.COMPLETED] * 3
    best_model = tuner.get_best_models()[0]
    predictions = best_model.predict(x[:5], verbose=0)
    assert predictions.shape == (5, 1)
    best = tuner.oracle.get_best_trials(1)[0]
    # Only the best epoch of the best execution is kept, as a whole model.
    assert os.listdir(tuner.get_trial_dir(best.trial_id)) == ["checkpoint.keras"]
    loss = best_model.evaluate(x[72:], y[72:], verbose=0, return_dict=True)["loss"]
    assert loss <= best.score + 1e-4  # the best execution beats the executions' average
    assert tuner.get_best_hyperparameters()[0].values == best.hyperparameters.values
    assert tuner.remaining_trials == 0


def test_hypermodel_workflow_end_to_end(tmp_path, data):
    x, y = data
    seen, histories = [], []

    class Model(kt.HyperModel):
        def build(self, hp):
            return make_model(hp.Int("units", 2, 8, step=2))

        def fit(self, hp, model, x, y, trial_id=None, **kwargs):
            seen.append((trial_id, hp.get("units"), id(model), sorted(kwargs)))
            history = model.fit(x, y, batch_size=hp.Choice("batch_size", [16, 32]), **kwargs)
            histories.append(history.history)
            return history

    tuner = kt.RandomSearch(Model(), objective="val_accuracy", max_trials=2,
                            executions_per_trial=2, seed=1, overwrite=True,
                            directory=tmp_path, project_name="hm")
    tuner.search(x, y, epochs=2, validation_split=0.25, verbose=0)

    assert tuner.oracle.objective.direction == "max"
    assert [s[0] for s in seen] == ["0", "0", "1", "1"]
    assert len({s[2] for s in seen}) == 4  # a freshly built model per execution
    assert seen[0][3] == ["callbacks", "epochs", "validation_split", "verbose"]
    # The score averages the executions' best epochs.
    for trial_id, pair in (("0", histories[:2]), ("1", histories[2:])):
        expected = np.mean([max(h["val_accuracy"]) for h in pair])
        assert tuner.oracle.trials[trial_id].score == pytest.approx(expected)
    assert "batch_size" in tuner.oracle.get_space()
    best = tuner.get_best_models(2)
    assert len(best) == 2 and best[0].predict(x[:2], verbose=0).shape == (2, 1)
    trial = tuner.oracle.get_best_trials(1)[0]
    accuracy = tuner.load_model(trial).evaluate(x[72:], y[72:], verbose=0, return_dict=True)
    assert accuracy["accuracy"] >= trial.score - 1e-6


def test_build_function_and_verbose_reaching_fit(tmp_path, data, capsys):
    x, y = data
    fits = []

    class Recorder(keras.callbacks.Callback):
        def on_train_begin(self, logs=None):
            fits.append(self.params["verbose"])

    tuner = kt.RandomSearch(build, max_trials=2, seed=0, overwrite=True,
                            directory=tmp_path, project_name="fn")
    tuner.search(x, y, epochs=1, verbose=0, callbacks=[Recorder()])
    assert fits == [0, 0]
    assert capsys.readouterr().out == ""
    assert tuner.get_best_models()[0].predict(x[:1], verbose=0).shape == (1, 1)

    tuner.search_space_summary()
    tuner.results_summary(num_trials=1)
    out = capsys.readouterr().out
    assert "units (Int)" in out and "Showing 1 best trials" in out


def test_display_shows_a_line_per_trial(tmp_path, capsys):
    class Quick(kt.Tuner):
        def run_trial(self, trial, **kwargs):
            return trial.hyperparameters.Float("x", 0, 1)

    tuner = Quick(max_trials=2, seed=0, overwrite=True, directory=tmp_path, project_name="d")
    tuner.search()
    out = capsys.readouterr().out
    assert "Trial 1 of 2 (id 0)" in out and "Trial 2 of 2 (id 1): x=" in out
    # The end line names the trial as the start line does, and the objective with its direction.
    assert "Trial 2 (id 1): score (min) = " in out and "s\n" in out
    assert "Search: 1 of 2 trials done | best score (min) = " in out
    assert "elapsed, about " in out and "Search: 2 of 2 trials done" in out
    assert "Search done: 2 of 2 trials completed" in out


# Results of every type.

class ReturnTuner(kt.Tuner):
    """Returns whatever `result(execution)` gives, without training anything."""

    def __init__(self, result, **kwargs):
        self.result = result
        self.calls = 0
        super().__init__(**kwargs)

    def run_trial(self, trial, **kwargs):
        trial.hyperparameters.Int("n", 0, 100)
        self.calls += 1
        return self.result(self.calls)


def run_returning(tmp_path, result, objective=None, executions=1, trials=1):
    tuner = ReturnTuner(result, objective=objective, max_trials=trials, executions_per_trial=executions,
                        overwrite=True, directory=tmp_path, project_name="r")
    tuner.search(verbose=0)
    return tuner, tuner.oracle.trials["0"]


def test_float_and_numpy_results_are_minimized(tmp_path):
    tuner, trial = run_returning(tmp_path, lambda n: np.float32(0.5) if n == 1 else 0.25, trials=2)
    assert trial.score == 0.5
    assert tuner.oracle.objective.direction == "min"
    assert tuner.oracle.get_best_trials(1)[0].score == 0.25


def test_dict_result_with_objective(tmp_path):
    _, trial = run_returning(tmp_path, lambda n: {"val_accuracy": 0.75, "val_loss": 0.4},
                             objective="val_accuracy")
    assert trial.score == 0.75
    assert trial.metrics.get_last_value("val_loss") == pytest.approx(0.4)


def test_metrics_dict_without_objective_is_refused(tmp_path):
    # Which metric to optimize would be a guess (KerasTuner refuses it too).
    for result in ({"my_error": 3.0}, [{"loss": 1.0}]):
        with pytest.raises(errors.FatalTypeError, match=r"ReturnTuner.run_trial\(\) to be a "
                                                        "single float when `objective` is left "
                                                        r"unspecified; it returned the metrics "
                                                        r"\['(loss|my_error)'\]"):
            run_returning(tmp_path, lambda n: result)
    _, trial = run_returning(tmp_path, lambda n: {"default_objective": 3.0, "loss": 1.0})
    assert trial.score == 3.0


def test_history_like_dict_uses_the_best_epoch(tmp_path):
    history = {"loss": [0.9, 0.5, 0.7], "val_loss": [1.0, 0.6, 0.8], "val_auc": [0.6, 0.8, 0.7]}
    _, trial = run_returning(tmp_path, lambda n: history, objective="val_auc")
    assert trial.score == pytest.approx(0.8)
    assert trial.best_step == 1
    _, trial = run_returning(tmp_path, lambda n: history)  # default objective: val_loss
    assert trial.score == pytest.approx(0.6)


def test_history_object_result(tmp_path):
    history = keras.callbacks.History()
    history.history = {"loss": [0.5, 0.3], "val_loss": [0.4, 0.45]}
    _, trial = run_returning(tmp_path, lambda n: history)
    assert trial.score == pytest.approx(0.4)


def test_list_result_is_averaged(tmp_path):
    _, trial = run_returning(tmp_path, lambda n: [{"loss": 1.0}, {"loss": 3.0}], objective="loss")
    assert trial.score == pytest.approx(2.0)


def test_executions_per_trial_repeat_run_trial_and_average(tmp_path):
    tuner, trial = run_returning(tmp_path, lambda n: {"val_loss": float(n)}, executions=3,
                                 objective="val_loss")
    assert tuner.calls == 3
    assert trial.score == pytest.approx(2.0)


def test_results_reported_through_update_trial_are_kept(tmp_path):
    class Reporting(kt.Tuner):
        def run_trial(self, trial, **kwargs):
            self.oracle.update_trial(trial.trial_id, {"val_loss": 0.125})

    tuner = Reporting(objective="val_loss", max_trials=1, overwrite=True,
                      directory=tmp_path, project_name="u")
    with pytest.deprecated_call(match="Please remove the call"):
        tuner.search(verbose=0)
    assert tuner.oracle.trials["0"].score == 0.125


def test_objective_inference_for_metric_names(tmp_path):
    for name, direction in [("val_accuracy", "max"), ("val_loss", "min"), ("auc", "max"),
                            ("val_mean_absolute_error", "min")]:
        tuner = ReturnTuner(lambda n: 0.0, objective=name, max_trials=1, overwrite=True,
                            directory=tmp_path, project_name=name)
        assert tuner.oracle.objective.direction == direction


# Arguments reaching user code.

def test_run_trial_gets_search_arguments_callbacks_and_trial_id(tmp_path):
    seen = {}
    user_callback = keras.callbacks.EarlyStopping(patience=1)

    class Spy(kt.Tuner):
        def run_trial(self, trial, a, b=None, *, trial_id, callbacks, **kwargs):
            seen.update(a=a, b=b, trial_id=trial_id, callbacks=callbacks, kwargs=kwargs)
            return 1.0

    tuner = Spy(max_trials=1, overwrite=True, directory=tmp_path, project_name="s")
    tuner.search(1, b=2, extra=3, callbacks=[user_callback], verbose=0)
    assert (seen["a"], seen["b"], seen["trial_id"]) == (1, 2, "0")
    assert seen["kwargs"] == {"extra": 3, "verbose": 0}
    types = [type(c).__name__ for c in seen["callbacks"]]
    assert types == ["EarlyStopping", "TunerCallback", "SaveBestEpoch", "SaveTrainingState"]
    assert seen["callbacks"][0] is not user_callback


def test_run_trial_without_callbacks_parameter_gets_none(tmp_path):
    class Plain(kt.Tuner):
        def run_trial(self, trial, x):
            return float(x)

    tuner = Plain(max_trials=1, overwrite=True, directory=tmp_path, project_name="p")
    tuner.search(2.0)
    assert tuner.oracle.trials["0"].score == 2.0
    with pytest.raises(FileNotFoundError, match="pass the `callbacks` it receives"):
        tuner.get_best_models()


def test_run_trial_passing_its_own_callbacks_still_runs(tmp_path, data):
    x, y = data

    class OwnCallbacks(kt.Tuner):
        def run_trial(self, trial, x, y, **kwargs):
            model = make_model()
            history = model.fit(x, y, callbacks=[keras.callbacks.History()], verbose=0, **kwargs)
            return history.history["loss"][-1]

    tuner = OwnCallbacks(max_trials=1, overwrite=True, directory=tmp_path, project_name="o")
    with pytest.warns(UserWarning, match="passes its own `callbacks=`"):
        tuner.search(x, y, epochs=1)
    assert tuner.oracle.trials["0"].status == TrialStatus.COMPLETED


def test_override_calling_super_run_trial_runs_executions_once(tmp_path, data):
    x, y = data
    builds = []

    def counting_build(hp):
        builds.append(1)
        return build(hp)

    class BatchTuner(kt.Tuner):
        def run_trial(self, trial, *args, **kwargs):
            kwargs["batch_size"] = trial.hyperparameters.Choice("batch_size", [16, 32])
            return super().run_trial(trial, *args, **kwargs)

    tuner = BatchTuner(hypermodel=counting_build, max_trials=1, executions_per_trial=2,
                       overwrite=True, directory=tmp_path, project_name="super")
    builds.clear()
    tuner.search(x, y, epochs=1, validation_split=0.25, verbose=0)
    assert len(builds) == 2
    assert tuner.oracle.trials["0"].hyperparameters.values["batch_size"] in (16, 32)
    assert tuner.get_best_models()[0].predict(x[:1], verbose=0).shape == (1, 1)


def test_keras_session_is_cleared_between_trials(tmp_path, monkeypatch):
    cleared = []
    monkeypatch.setattr(tuner_utils, "clear_session", lambda: cleared.append(1))
    tuner, _ = run_returning(tmp_path, lambda n: 1.0 * n, executions=2, trials=3)
    assert len(cleared) == 3 * 2 + 1  # before each execution, and once at the end


def test_search_leaves_no_graphs_of_its_models_behind(tmp_path, data):
    from tensorflow.python.framework import ops

    x, y = data
    before = set(ops.gradient_registry._registry)
    tuner = kt.RandomSearch(build, max_trials=2, overwrite=True, directory=tmp_path)
    tuner.search(x, y, epochs=1, verbose=0)
    assert set(ops.gradient_registry._registry) == before
    assert gc.get_freeze_count() == 0


def test_hooks_are_called_with_trial_and_model(tmp_path, data):
    x, y = data
    events = []

    class Hooked(MyTuner):
        def on_epoch_begin(self, trial, model, epoch, logs=None):
            events.append(("epoch_begin", trial.trial_id, epoch))

        def on_epoch_end(self, trial, model, epoch, logs=None):
            events.append(("epoch_end", trial.trial_id, epoch, "val_loss" in logs))

        def on_batch_end(self, trial, model, batch, logs=None):
            events.append(("batch_end", isinstance(model, keras.Model)))

    tuner = Hooked(max_trials=1, overwrite=True, directory=tmp_path, project_name="h")
    tuner.search(x, y, epochs=2, batch_size=72)
    assert events == [("epoch_begin", "0", 0), ("batch_end", True), ("epoch_end", "0", 0, True),
                      ("epoch_begin", "0", 1), ("batch_end", True), ("epoch_end", "0", 1, True)]


def test_max_model_size_fails_large_models(tmp_path, data):
    x, y = data
    tuner = kt.RandomSearch(build, max_trials=1, max_model_size=5, overwrite=True,
                            directory=tmp_path, project_name="size")
    with pytest.warns(UserWarning, match="No trial of the search completed"):
        tuner.search(x, y, epochs=1, verbose=0)
    trial = tuner.oracle.trials["0"]
    assert trial.status == TrialStatus.FAILED
    assert "max_model_size=5" in trial.message and "Oversized model" in trial.message


def test_compile_overrides_of_the_tuner(tmp_path, data):
    x, y = data
    tuner = kt.RandomSearch(build, max_trials=1, loss="mse", metrics=["mae"],
                            optimizer=keras.optimizers.SGD(0.1), objective="val_mae",
                            overwrite=True, directory=tmp_path, project_name="compile")
    tuner.search(x, y, epochs=1, validation_split=0.25, verbose=0)
    trial = tuner.oracle.trials["0"]
    assert trial.status == TrialStatus.COMPLETED and trial.metrics.exists("val_mae")


def test_reload_resumes_and_loads_best_models(tmp_path, data):
    x, y = data
    tuner = kt.RandomSearch(build, max_trials=1, seed=3, directory=tmp_path, project_name="re")
    tuner.search(x, y, epochs=1, validation_split=0.25, verbose=0)
    tuner.save()
    score = tuner.oracle.get_best_trials(1)[0].score
    tuner.oracle.close()

    resumed = kt.RandomSearch(build, max_trials=2, seed=3, directory=tmp_path, project_name="re")
    assert resumed.oracle.get_best_trials(1)[0].score == score
    assert resumed.remaining_trials == 1
    assert resumed.get_best_models()[0].predict(x[:1], verbose=0).shape == (1, 1)
    resumed.reload()
    assert len(resumed.oracle.trials) == 1


def test_best_subclassed_model_loads_without_its_class_registered(tmp_path, data):
    x, y = data

    def build_subclassed(hp):
        class Local(keras.Model):  # unknown to Keras' deserialization
            def __init__(self):
                super().__init__()
                self.dense = keras.layers.Dense(1, activation="sigmoid")

            def call(self, inputs):
                return self.dense(inputs * hp.Float("scale", 0.5, 2.0))

        model = Local()
        model.compile(optimizer="adam", loss="binary_crossentropy", metrics=["accuracy"])
        return model

    tuner = kt.RandomSearch(build_subclassed, objective="val_accuracy", max_trials=1,
                            overwrite=True, directory=tmp_path, project_name="subclassed")
    tuner.search(x, y, epochs=2, validation_split=0.25, verbose=0)
    trial = tuner.oracle.get_best_trials(1)[0]
    model = tuner.get_best_models(1)[0]  # rebuilt unbuilt, built from the saved input shape
    accuracy = model.evaluate(x[72:], y[72:], verbose=0, return_dict=True)["accuracy"]
    assert accuracy == pytest.approx(trial.score)

"""Bad input to the Keras tuner: each error names the problem and the fix."""

import threading
import traceback

import keras
import numpy as np
import pytest

import e2etune as kt
from e2etune import errors
from e2etune.engine.trial import TrialStatus


class Returning(kt.Tuner):
    def __init__(self, result, **kwargs):
        self.result = result
        super().__init__(**kwargs)

    def run_trial(self, trial, **kwargs):
        return self.result


def search_returning(tmp_path, result, **kwargs):
    tuner = Returning(result, max_trials=1, overwrite=True, directory=tmp_path,
                      project_name="bad", **kwargs)
    tuner.search(verbose=0)
    return tuner


@pytest.mark.parametrize("result, message", [
    (None, r"Returning.run_trial\(\) returned None. Did you forget to `return`"),
    ("0.5", r"returned the string '0.5', but the tuner expects Returning.run_trial\(\) to be "
            "one of"),
    ([1.0, None], "returned None"),
])
def test_unsupported_results(tmp_path, result, message):
    with pytest.raises(errors.FatalTypeError, match=message):
        search_returning(tmp_path, result)


def test_model_result(tmp_path):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    with pytest.raises(errors.FatalTypeError, match=r"returned a model \(Sequential\).*"
                                                    r"get_best_models"):
        search_returning(tmp_path, model)


def test_other_result_types_are_named(tmp_path):
    with pytest.raises(errors.FatalTypeError, match="of type set"):
        search_returning(tmp_path, {1.0})


def test_dict_without_the_objective_lists_its_metrics(tmp_path):
    with pytest.raises(errors.FatalValueError) as info:
        search_returning(tmp_path, {"val_acc": 0.9, "loss": 0.1}, objective="val_accuracy")
    message = str(info.value)
    assert "'val_accuracy'" in message and "'val_acc'" in message and "'loss'" in message


def test_history_without_the_objective_lists_its_metrics(tmp_path):
    history = keras.callbacks.History()
    history.history = {"loss": [0.5], "val_acc": [0.7]}
    with pytest.raises(errors.FatalValueError, match="'val_acc'"):
        search_returning(tmp_path, history, objective="val_accuracy")


def test_hypermodel_fit_returning_none_names_fit(tmp_path):
    class NoResult(kt.HyperModel):
        def build(self, hp):
            model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
            model.compile(loss="mse")
            return model

        def fit(self, hp, model, *args, **kwargs):
            model.predict(*args, verbose=0)

    tuner = kt.RandomSearch(NoResult(), max_trials=1, overwrite=True, directory=tmp_path)
    with pytest.raises(errors.FatalTypeError, match=r"NoResult.fit\(\) returned None"):
        tuner.search(np.zeros((1, 2)))


def test_build_returning_none(tmp_path):
    class Forgetful(kt.HyperModel):
        def build(self, hp):
            keras.Sequential([keras.Input((2,)), keras.layers.Dense(hp.Int("units", 1, 4))])

    tuner = kt.RandomSearch(Forgetful(), directory=tmp_path)  # builds only to find the space
    with pytest.raises(errors.FatalTypeError, match=r"Forgetful.build\(hp\) to return a compiled "
                                                    "Keras model; it returned None.*return model"):
        tuner.search(verbose=0)


def test_build_function_returning_something_else(tmp_path):
    def build_model(hp):
        return {"units": hp.Int("units", 1, 4)}

    tuner = kt.RandomSearch(build_model, directory=tmp_path)
    with pytest.raises(errors.FatalTypeError, match=r"function build_model\(hp\) to return a Keras "
                                                    "model; it returned .* of type dict"):
        tuner.search(verbose=0)


def test_neither_run_trial_nor_hypermodel(tmp_path):
    with pytest.raises(ValueError, match="override `run_trial"):
        kt.Tuner(directory=tmp_path)
    with pytest.raises(ValueError, match="hypermodel"):
        kt.RandomSearch(directory=tmp_path)


def test_super_run_trial_without_hypermodel(tmp_path):
    class Lost(kt.Tuner):
        def run_trial(self, trial, *args, **kwargs):
            return super().run_trial(trial, *args, **kwargs)

    tuner = Lost(max_trials=1, overwrite=True, directory=tmp_path)
    with pytest.raises(errors.FatalValueError, match="got no `hypermodel`"):
        tuner.search(verbose=0)


def test_callbacks_that_cannot_be_copied(tmp_path):
    class Locked(keras.callbacks.Callback):
        def __init__(self):
            super().__init__()
            self.lock = threading.Lock()

    tuner = Returning(1.0, max_trials=1, overwrite=True, directory=tmp_path)
    with pytest.raises(errors.FatalValueError, match=r"The callback Locked cannot be copied.*"
                                                     "deepcopy"):
        tuner.search(callbacks=[Locked()])
    assert not tuner.oracle.trials  # refused before the first trial


def test_callbacks_that_are_not_a_list(tmp_path):
    tuner = Returning(1.0, max_trials=1, overwrite=True, directory=tmp_path)
    with pytest.raises(errors.FatalTypeError, match="must be a list"):
        tuner.search(callbacks=keras.callbacks.History())


def test_bad_executions_per_trial(tmp_path):
    with pytest.raises(ValueError, match="executions_per_trial"):
        Returning(1.0, executions_per_trial=0, directory=tmp_path)


def helper_that_fails(units):
    raise ValueError(f"units={units} is not supported")


def test_user_errors_keep_their_traceback(tmp_path):
    class Failing(kt.Tuner):
        def run_trial(self, trial, **kwargs):
            return helper_that_fails(trial.hyperparameters.Int("units", 1, 9))

    tuner = Failing(max_trials=3, max_consecutive_failed_trials=2, overwrite=True,
                    directory=tmp_path)
    with pytest.raises(errors.TooManyFailedTrialsError) as info:
        tuner.search(verbose=0)
    message = tuner.oracle.trials["0"].message
    assert message.startswith("Traceback (most recent call last):")
    assert "in run_trial" in message and "in helper_that_fails" in message
    assert "ValueError: units=1 is not supported" in message
    assert "in helper_that_fails" in str(info.value)
    assert tuner.oracle.trials["0"].status == TrialStatus.FAILED


def test_fatal_user_errors_reach_the_caller_with_their_traceback(tmp_path):
    class Fatal(kt.Tuner):
        def run_trial(self, trial, **kwargs):
            raise errors.FatalValueError("stop everything")

    tuner = Fatal(max_trials=2, overwrite=True, directory=tmp_path)
    with pytest.raises(errors.FatalValueError, match="stop everything") as info:
        tuner.search(verbose=0)
    frames = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert frames[-1] == "run_trial"


def test_failed_trial_is_shown_with_its_error(tmp_path, capsys):
    class Failing(kt.Tuner):
        def run_trial(self, trial, **kwargs):
            helper_that_fails(trial.hyperparameters.Int("units", 1, 9))

    tuner = Failing(max_trials=1, overwrite=True, directory=tmp_path)
    with pytest.warns(UserWarning, match="No trial of the search completed.*units=1"):
        tuner.search()
    out = capsys.readouterr().out
    assert "Trial 1 (id 0): failed |" in out and "in helper_that_fails" in out


def test_fit_returning_metrics_without_an_objective(tmp_path):
    class Evaluating(kt.HyperModel):
        def build(self, hp):
            return keras.Sequential([keras.Input((2,)), keras.layers.Dense(hp.Int("units", 1, 4))])

        def fit(self, hp, model, *args, **kwargs):
            return {"val_loss": 0.5, "val_auc": 0.7}

    tuner = kt.RandomSearch(Evaluating(), max_trials=1, overwrite=True, directory=tmp_path)
    with pytest.raises(errors.FatalTypeError, match=r"Evaluating.fit\(\) to be a single float "
                                                    "when `objective` is left unspecified"):
        tuner.search(verbose=0)

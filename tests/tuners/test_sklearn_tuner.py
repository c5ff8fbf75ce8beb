"""`SklearnTuner`: cross-validation, scoring, metrics, saved models, resume and errors."""

import functools
import importlib
import os
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip("sklearn")

from sklearn import (
    base,
    linear_model,
    metrics,
    model_selection,
    neighbors,
    pipeline,
    preprocessing,
)

import e2etune as kt
from e2etune.oracles import GridSearchOracle, HyperbandOracle, RandomSearchOracle
from e2etune.tuners.sklearn_tuner import SklearnTuner

SCORE = kt.Objective("score", "max")


def oracle(max_trials=3, seed=1, **kwargs):
    return RandomSearchOracle(objective=kwargs.pop("objective", SCORE), max_trials=max_trials,
                              seed=seed, **kwargs)


def build_ridge(hp):
    return linear_model.Ridge(alpha=hp.Float("alpha", 1e-3, 10.0, sampling="log"))


def build_classifier(hp):
    return linear_model.RidgeClassifier(alpha=hp.Float("alpha", 1e-3, 10.0, sampling="log"))


def regression_data(n=60):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4))
    return x, x @ np.array([1.0, -2.0, 0.5, 0.0]) + rng.normal(scale=0.5, size=n)


def classification_data(n=60):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 4))
    return x, (x[:, 0] + 0.5 * rng.normal(size=n) > 0).astype(int)


class Recorder(base.ClassifierMixin, base.BaseEstimator):
    """Remembers the rows and weights it was fitted and scored with (column 0 is the row id)."""

    def __init__(self, c=1.0):
        self.c = c

    def fit(self, X, y, sample_weight=None):
        self.classes_ = np.unique(y)
        self.train_rows_ = X[:, 0].astype(int)
        self.fit_weight_ = sample_weight
        return self

    def predict(self, X):
        return np.zeros(len(X), dtype=int)

    def score(self, X, y, sample_weight=None):
        return float(np.sum(sample_weight))


def recording_build(built):
    def build(hp):
        model = Recorder(c=hp.Float("c", 0.1, 1.0))
        built.append(model)
        return model
    return build


def weight_sum(y_true, y_pred, sample_weight=None):
    return float(np.sum(sample_weight))


def fitted(models):
    return [m for m in models if hasattr(m, "train_rows_")]


def test_default_cv_and_score_are_kerastuners(tmp_path):
    x, y = regression_data()
    tuner = SklearnTuner(oracle(), build_ridge, directory=tmp_path)
    tuner.search(x, y)
    assert len(tuner.oracle.trials) == 3
    cv = model_selection.KFold(5, shuffle=True, random_state=1)
    for trial in tuner.oracle.trials.values():
        model = linear_model.Ridge(alpha=trial.hyperparameters.get("alpha"))
        expected = model_selection.cross_val_score(model, x, y, cv=cv).mean()
        assert trial.status == "COMPLETED" and trial.best_step == 0
        assert trial.metrics.get_last_value("score") == pytest.approx(expected)
        assert trial.score == pytest.approx(expected)


def test_groups_reach_the_splitter_and_weights_the_estimator(tmp_path):
    x = np.column_stack([np.arange(50), np.zeros(50)])
    y = np.arange(50) % 2
    groups = np.arange(50) // 10
    weights = np.linspace(0.1, 1.0, 50)
    built = []
    tuner = SklearnTuner(oracle(max_trials=1), recording_build(built), metrics=weight_sum,
                         cv=model_selection.GroupKFold(5), directory=tmp_path)
    tuner.search(x, y, sample_weight=weights, groups=groups)
    models = fitted(built)
    assert len(models) == 5
    for model in models:
        assert len(set(groups[model.train_rows_])) == 4  # One group held out per fold.
        np.testing.assert_allclose(model.fit_weight_, weights[model.train_rows_])
    trial = tuner.oracle.get_best_trials()[0]
    # Recorder.score sums the test weights: the folds' mean is a fifth of all the weights.
    assert trial.score == pytest.approx(weights.sum() / 5)
    assert trial.metrics.get_last_value("weight_sum") == pytest.approx(weights.sum() / 5)


def test_custom_scoring_and_metrics_are_recorded(tmp_path):
    x, y = classification_data()
    cv = model_selection.StratifiedKFold(4)
    f1_macro = functools.partial(metrics.f1_score, average="macro")
    tuner = SklearnTuner(oracle(), build_classifier,
                         scoring=metrics.make_scorer(metrics.balanced_accuracy_score),
                         metrics=[metrics.accuracy_score, f1_macro], cv=cv,
                         directory=tmp_path)
    tuner.search(x, y)
    for trial in tuner.oracle.trials.values():
        model = linear_model.RidgeClassifier(alpha=trial.hyperparameters.get("alpha"))
        results = model_selection.cross_validate(
            model, x, y, cv=cv,
            scoring={"score": "balanced_accuracy", "accuracy_score": "accuracy",
                     "f1_score": "f1_macro"})
        for name in ("score", "accuracy_score", "f1_score"):
            assert trial.metrics.get_last_value(name) == pytest.approx(
                results[f"test_{name}"].mean())


def test_scoring_by_name_and_objective_on_a_metric(tmp_path):
    x, y = classification_data()
    tuner = SklearnTuner(oracle(objective=kt.Objective("recall_score", "max")),
                         build_classifier, scoring="accuracy", metrics=metrics.recall_score,
                         directory=tmp_path)
    tuner.search(x, y)
    best = tuner.oracle.get_best_trials()[0]
    assert best.score == best.metrics.get_last_value("recall_score")
    assert best.metrics.exists("score")


def test_pipeline_gets_the_weights_at_its_last_step(tmp_path):
    x = np.column_stack([np.arange(40), np.ones(40)])
    y = np.arange(40) % 2
    weights = np.linspace(1.0, 2.0, 40)

    def build(hp):
        return pipeline.Pipeline([("scale", preprocessing.FunctionTransformer()),
                                  ("clf", Recorder(c=hp.Float("c", 0.1, 1.0)))])

    tuner = SklearnTuner(oracle(max_trials=2), build, directory=tmp_path)
    tuner.search(x, y, sample_weight=weights)
    best = tuner.get_best_models()[0]
    assert isinstance(best, pipeline.Pipeline)
    clf = best.named_steps["clf"]
    np.testing.assert_allclose(clf.fit_weight_, weights[clf.train_rows_])


def test_estimator_without_weights_trains_unweighted_with_a_warning(tmp_path):
    x, y = classification_data()
    tuner = SklearnTuner(
        oracle(max_trials=2),
        lambda hp: neighbors.KNeighborsClassifier(hp.Int("n_neighbors", 1, 9)),
        directory=tmp_path)
    with pytest.warns(UserWarning, match="KNeighborsClassifier.fit takes no `sample_weight`"):
        tuner.search(x, y, sample_weight=np.ones(len(y)))
    assert all(t.status == "COMPLETED" for t in tuner.oracle.trials.values())


def test_best_models_are_loaded_from_the_trial_folders(tmp_path):
    x, y = regression_data()
    tuner = SklearnTuner(GridSearchOracle(objective=SCORE),
                         lambda hp: linear_model.Ridge(alpha=hp.Choice("alpha", [0.1, 100.0])),
                         directory=tmp_path)
    tuner.search(x, y)
    best_trials = tuner.oracle.get_best_trials(2)
    models = tuner.get_best_models(2)
    assert [m.alpha for m in models] == [t.hyperparameters.get("alpha") for t in best_trials]
    assert best_trials[0].score > best_trials[1].score
    assert os.path.exists(os.path.join(tuner.get_trial_dir(best_trials[0].trial_id),
                                       "model.pickle"))
    assert models[0].predict(x).shape == y.shape  # Fitted.


def test_a_trial_without_a_model_says_so(tmp_path):
    x, y = regression_data()
    tuner = SklearnTuner(oracle(max_trials=1), build_ridge, directory=tmp_path)
    tuner.search(x, y)
    trial = tuner.oracle.get_best_trials()[0]
    os.remove(os.path.join(tuner.get_trial_dir(trial.trial_id), "model.pickle"))
    with pytest.raises(FileNotFoundError, match=f"Trial {trial.trial_id} has no saved model"):
        tuner.load_model(trial)


class RecordingTuner(SklearnTuner):
    def on_trial_begin(self, trial):
        self.ran = getattr(self, "ran", []) + [trial.trial_id]
        super().on_trial_begin(trial)


def test_resume_runs_only_the_new_trials(tmp_path):
    x, y = regression_data()
    first = RecordingTuner(oracle(max_trials=2), build_ridge, directory=tmp_path,
                           project_name="p")
    first.search(x, y)
    second = RecordingTuner(oracle(max_trials=4), build_ridge, directory=tmp_path,
                            project_name="p")
    second.search(x, y)
    assert len(first.ran) == 2 and len(second.ran) == 2
    assert not set(first.ran) & set(second.ran)
    assert len(second.oracle.trials) == 4
    for trial_id in first.ran:
        assert second.oracle.get_trial(trial_id).status == "COMPLETED"
    assert len(second.get_best_models(4)) == 4


def test_hypermodel_must_build_an_estimator(tmp_path):
    with pytest.raises(TypeError, match="not a scikit-learn estimator or Pipeline"):
        SklearnTuner(oracle(), lambda hp: hp.Int("n", 1, 3), directory=tmp_path)
    with pytest.raises(TypeError, match="no `score` method.*Pass `scoring=`"):
        SklearnTuner(oracle(), lambda hp: preprocessing.StandardScaler(), directory=tmp_path)
    with pytest.raises(TypeError, match="no `predict` method"):
        SklearnTuner(oracle(), lambda hp: preprocessing.StandardScaler(),
                     scoring=lambda model, X, y: 0.0, metrics=metrics.r2_score,
                     directory=tmp_path)


def test_a_non_estimator_built_during_the_search_stops_it(tmp_path):
    x, y = regression_data()

    def build(hp):
        return None if hp.Choice("broken", [False, True]) else linear_model.Ridge()

    tuner = SklearnTuner(GridSearchOracle(objective=SCORE), build, directory=tmp_path)
    with pytest.raises(kt.errors.FatalTypeError, match="of trial .* returned None"):
        tuner.search(x, y)


@pytest.mark.parametrize("bad_oracle", [None, "random", build_ridge])
def test_oracle_must_be_an_oracle(tmp_path, bad_oracle):
    with pytest.raises(TypeError, match="SklearnTuner needs an e2etune Oracle"):
        SklearnTuner(bad_oracle, build_ridge, directory=tmp_path)
    assert not os.listdir(tmp_path)  # Raised before anything was written.


def test_objective_must_name_a_recorded_metric(tmp_path):
    with pytest.raises(ValueError, match="has no objective"):
        SklearnTuner(RandomSearchOracle(max_trials=2), build_ridge, directory=tmp_path)
    with pytest.raises(ValueError, match=r"names \['val_loss'\].*records \['score'\]"):
        SklearnTuner(oracle(objective="val_loss"), build_ridge, directory=tmp_path)


def test_hyperband_oracle_gets_a_warning(tmp_path):
    with pytest.warns(UserWarning, match="budgets training epochs"):
        SklearnTuner(HyperbandOracle(objective=SCORE, max_epochs=3), build_ridge,
                     directory=tmp_path)


@pytest.mark.parametrize("kwargs, error, match", [
    ({"cv": 5}, TypeError, "must be a scikit-learn splitter"),
    ({"scoring": "no_such_scorer"}, ValueError, "Unknown `scoring`"),
    ({"scoring": 3}, TypeError, "`scoring` must be"),
    ({"metrics": ["accuracy"]}, TypeError, "must be a function"),
    ({"metrics": [metrics.r2_score, metrics.r2_score]}, ValueError, "Two metrics are named"),
])
def test_bad_arguments_are_rejected(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        SklearnTuner(oracle(), build_ridge, directory=tmp_path, **kwargs)


def test_bad_data_is_rejected_before_any_trial(tmp_path):
    x, y = regression_data()
    tuner = SklearnTuner(oracle(), build_ridge, cv=model_selection.GroupKFold(3),
                         directory=tmp_path)
    with pytest.raises(TypeError, match="Expected the data to be numpy") as raised:
        tuner.search(x.tolist(), y)
    assert isinstance(raised.value, RuntimeError)  # What KerasTuner raises.
    with pytest.raises(ValueError, match="one row per sample.*X: 60, y: 59"):
        tuner.search(x, y[:-1])
    with pytest.raises(ValueError, match="groups"):
        tuner.search(x, y)  # GroupKFold without groups.
    assert not tuner.oracle.trials


def test_exported_lazily_under_kerastuner_names():
    import e2etune.tuners

    assert kt.SklearnTuner is SklearnTuner and e2etune.tuners.SklearnTuner is SklearnTuner
    assert "SklearnTuner" in kt.__all__ and "SklearnTuner" in e2etune.tuners.__all__


def test_importing_it_does_not_import_tensorflow():
    code = ("import sys, e2etune.tuners.sklearn_tuner; "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'tensorflow', 'keras'}))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_missing_sklearn_names_the_extra(monkeypatch):
    for name in [m for m in sys.modules if m == "sklearn" or m.startswith("sklearn.")]:
        monkeypatch.setitem(sys.modules, name, None)
    monkeypatch.delitem(sys.modules, "e2etune.tuners.sklearn_tuner")
    monkeypatch.delitem(sys.modules, "e2etune.tuners._sklearn_data", raising=False)
    with pytest.raises(ImportError, match=r'pip install "e2etune\[sklearn\]"'):
        importlib.import_module("e2etune.tuners.sklearn_tuner")

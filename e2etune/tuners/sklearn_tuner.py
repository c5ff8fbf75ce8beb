"""`SklearnTuner`: tunes scikit-learn estimators and pipelines by cross-validation.

Needs scikit-learn (`pip install "e2etune[sklearn]"`); does not import
TensorFlow or Keras.

The search state lives in the project's storage like any other search's.
The one file written with `pickle` is each trial's fitted estimator,
`trial_<id>/model.pickle`, which this tuner writes itself and which
`load_model` reads back. Unpickling runs code from the file: only load
project folders that you, or a tuner you trust, wrote.
"""

from __future__ import annotations

import collections
import os
import pickle
import warnings
from typing import Any, Callable, Iterable

try:
    from sklearn import metrics as sklearn_metrics
    from sklearn import model_selection
except ImportError as error:
    raise ImportError(
        'Please install sklearn to use `SklearnTuner`: pip install "e2etune[sklearn]" '
        f"(importing scikit-learn failed: {error})."
    ) from error

import numpy as np

from e2etune.engine.base_tuner import BaseTuner, builds_hypermodel
from e2etune.engine.objective import DefaultObjective
from e2etune.engine.oracle import Oracle
from e2etune.engine.trial import Trial
from e2etune.engine.tuner_utils import user_stacklevel
from e2etune.tuners import _sklearn_data as data_utils

__all__ = ["SklearnTuner"]

_MODEL_FILE = "model.pickle"
_OBJECTIVE_HELP = "e.g. `oracle=BayesianOptimizationOracle(objective=Objective('score', 'max'))`"


class SklearnTuner(BaseTuner):
    """Tunes a scikit-learn estimator or Pipeline, scoring each trial by cross-validation.

    Each trial builds the hypermodel once per fold, fits it on the fold's
    training rows and scores it on the others; the trial's metrics are the
    means over the folds: `score` (from `scoring`) and one per function of
    `metrics`. The model of the last fold is saved in the trial's folder
    and comes back from `load_model` and `get_best_models` (as in
    KerasTuner; refit `get_best_hyperparameters()` on all the data for the
    final model). The folds are computed once per `search()` call, so all
    its trials are compared on the same rows.

    Args:
        oracle: The search algorithm; its objective must name a recorded
            metric, usually `Objective("score", "max")`. Oracles that budget
            epochs, such as Hyperband's, gain nothing here.
        hypermodel: A `HyperModel` or a `build(hp)` function returning an
            unfitted estimator or `Pipeline`.
        scoring: How to rate a fitted model on held-out rows: a scorer
            `scoring(estimator, X, y, sample_weight=None)`, e.g.
            `sklearn.metrics.make_scorer(f1_score)`, or a scorer's name such
            as "f1". None (default) uses the estimator's own `score`.
        metrics: Extra metric functions `metric(y_true, y_pred,
            sample_weight=None)`, or one of them, recorded per trial under
            their `__name__`. Defaults to none.
        cv: A scikit-learn splitter. Defaults to
            `KFold(5, shuffle=True, random_state=1)`, as in KerasTuner.
        **kwargs: The other `BaseTuner` arguments (`directory`,
            `project_name`, `overwrite`, `tuner_id`, `logger`, `storage`, ...),
            passed on as given.

    Raises:
        TypeError: for a missing or wrong `oracle`, a `cv` without `split`,
            a non-callable metric or scoring, or a hypermodel that does not
            build an estimator.
        ValueError: for an objective naming no recorded metric, or an
            unknown scorer name.

    Example:
        >>> def build(hp):
        ...     return RandomForestClassifier(max_depth=hp.Int("max_depth", 2, 10))
        >>> tuner = SklearnTuner(
        ...     oracle=kt.oracles.BayesianOptimizationOracle(
        ...         objective=kt.Objective("score", "max"), max_trials=10),
        ...     hypermodel=build,
        ...     cv=sklearn.model_selection.StratifiedKFold(5),
        ...     directory="results")
        >>> tuner.search(X, y)
        >>> model = tuner.get_best_models()[0]
    """

    def __init__(
        self,
        oracle: Oracle,
        hypermodel: Any,
        scoring: Callable | str | None = None,
        metrics: Callable | Iterable[Callable] | None = None,
        cv: Any = None,
        **kwargs: Any,
    ) -> None:
        self.scoring = scoring
        self.metrics = _as_list(metrics)
        self.cv = cv if cv is not None else model_selection.KFold(5, shuffle=True, random_state=1)
        self._scorer = _resolve_scoring(scoring)
        self._metric_fns = data_utils.metric_names(self.metrics)
        data_utils.check_cv(self.cv)
        _check_oracle(oracle, ["score", *self._metric_fns])
        self._search_folds: tuple[Any, Any, list] | None = None
        self._warned: set[str] = set()
        super().__init__(oracle=oracle, hypermodel=hypermodel, **kwargs)
        self._build(self.oracle.get_space(), "The hypermodel")

    # The search.

    def search(self, X: Any, y: Any, sample_weight: Any = None, groups: Any = None,
               max_time: float | None = None) -> None:
        """Runs the search, cross-validating each trial on `X`, `y`.

        Args:
            X: The features: a numpy array, a pandas DataFrame or a scipy
                sparse matrix, one row per sample.
            y: The targets: a numpy array or a pandas Series/DataFrame.
            sample_weight: Optional weights, one per sample, given to `fit`
                (a Pipeline's last step gets them) and to the scoring and metrics.
            groups: Optional group labels, one per sample, for splitters
                such as `GroupKFold`.
            max_time: A time budget in seconds for this call (see `BaseTuner.search`):
                no trial starts once it is spent. Defaults to None (no limit).

        Raises:
            TypeError: (also a `RuntimeError`, as in KerasTuner) for data of
                another type, such as a list.
            ValueError: when the arguments have different numbers of rows,
                or the splitter rejects them.
        """
        X = data_utils.check_data(X, "X")
        y = data_utils.check_data(y, "y")
        sample_weight = data_utils.check_data(sample_weight, "sample_weight")
        data_utils.check_lengths(
            {"X": X, "y": y, "sample_weight": sample_weight, "groups": groups})
        folds = list(self.cv.split(X, y, groups))
        if not folds:
            raise ValueError(f"`cv` {self.cv!r} split the data into no folds; give it more rows.")
        self._search_folds = (X, groups, folds)
        self._warned = set()
        try:
            super().search(X, y, sample_weight=sample_weight, groups=groups, max_time=max_time)
        finally:
            self._search_folds = None

    @builds_hypermodel
    def run_trial(
        self, trial: Trial, X: Any, y: Any, sample_weight: Any = None, groups: Any = None,
    ) -> dict[str, float]:
        """Cross-validates the trial's model, saves the last fold's model, returns the metrics.

        Returns:
            `{"score": mean score, <metric name>: mean value, ...}`. (KerasTuner
            reports these itself and returns None; an override that calls
            this method should return its result.)
        """
        hp = trial.hyperparameters
        values: dict[str, list[float]] = collections.defaultdict(list)
        model = None
        for train, test in self._folds(X, y, groups):
            model = self._build(hp, f"The hypermodel of trial {trial.trial_id}")
            weights = data_utils.take(sample_weight, train)
            model.fit(data_utils.take(X, train), data_utils.take(y, train),
                      **data_utils.weight_params(model, weights, self._warned))
            fold = self._evaluate(model, data_utils.take(X, test), data_utils.take(y, test),
                                  data_utils.take(sample_weight, test))
            for name, value in fold.items():
                values[name].append(value)
        self.save_model(trial.trial_id, model)
        return {name: float(np.mean(fold_values)) for name, fold_values in values.items()}

    def _folds(self, X: Any, y: Any, groups: Any) -> list:
        """The (train, test) row indices: those `search()` computed, or new ones."""
        if self._search_folds is not None:
            searched_X, searched_groups, folds = self._search_folds
            if searched_X is X and searched_groups is groups:
                return folds
        return list(self.cv.split(X, y, groups))

    def _build(self, hp: Any, source: str) -> Any:
        model = self.hypermodel.build(hp)
        data_utils.check_estimator(model, source, needs_score=self._scorer is None,
                                   needs_predict=bool(self._metric_fns))
        return model

    def _evaluate(self, model: Any, X: Any, y: Any, sample_weight: Any) -> dict[str, float]:
        """The score and the metrics of a fitted model on held-out rows."""
        weights = data_utils.weight_kwargs(sample_weight)
        if self._scorer is None:
            results = {"score": model.score(X, y, **weights)}
        else:
            results = {"score": self._scorer(model, X, y, **weights)}
        if self._metric_fns:
            predictions = model.predict(X)
            for name, metric in self._metric_fns.items():
                results[name] = metric(y, predictions, **weights)
        return results

    # Models.

    def save_model(self, trial_id: str, model: Any, step: int = 0) -> None:
        """Pickles a fitted model into the trial's folder (`model.pickle`).

        The file is written whole, then renamed, so a kill never leaves half of it.

        Args:
            trial_id: The trial's id.
            model: The fitted estimator.
            step: Unused; kept for KerasTuner compatibility.
        """
        path = os.path.join(self.get_trial_dir(trial_id), _MODEL_FILE)
        partial = f"{path}.partial"
        with open(partial, "wb") as file:
            pickle.dump(model, file, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(partial, path)

    def load_model(self, trial: Trial) -> Any:
        """The fitted model that this tuner saved for `trial` (the last fold's).

        It is unpickled: load only project folders that you trust.

        Raises:
            FileNotFoundError: when the trial saved no model (it did not complete).
        """
        path = os.path.join(self.get_trial_dir(trial.trial_id), _MODEL_FILE)
        if not os.path.exists(path):
            raise FileNotFoundError(
                f"Trial {trial.trial_id} has no saved model ({path} is missing); only completed "
                "trials have one. Pick one from `tuner.oracle.get_best_trials()`."
            )
        with open(path, "rb") as file:
            return pickle.load(file)


def _as_list(metrics: Any) -> list:
    if metrics is None:
        return []
    if isinstance(metrics, (list, tuple)):
        return list(metrics)
    return [metrics]


def _resolve_scoring(scoring: Any) -> Callable | None:
    """The scorer to call: None (the estimator's `score`), a named scorer, or `scoring` itself."""
    if scoring is None or (callable(scoring) and not isinstance(scoring, str)):
        return scoring
    if isinstance(scoring, str):
        try:
            return sklearn_metrics.get_scorer(scoring)
        except ValueError:
            raise ValueError(
                f"Unknown `scoring` {scoring!r}; use a name from "
                "`sklearn.metrics.get_scorer_names()` or a scorer from `make_scorer`."
            ) from None
    raise TypeError(
        f"`scoring` must be None, a scorer's name or a scorer callable "
        f"`scoring(estimator, X, y)`; got {scoring!r} of type {type(scoring).__name__}."
    )


def _check_oracle(oracle: Any, recorded: list[str]) -> None:
    """Raises unless `oracle` is an Oracle whose objective names recorded metrics."""
    if not isinstance(oracle, Oracle):
        raise TypeError(
            f"SklearnTuner needs an e2etune Oracle as `oracle`, {_OBJECTIVE_HELP}; got "
            f"{oracle!r} of type {type(oracle).__name__}."
        )
    objective = oracle.objective
    if isinstance(objective, DefaultObjective):
        raise ValueError(
            "The oracle has no objective; SklearnTuner records 'score' (higher is better). "
            f"Give the oracle one, {_OBJECTIVE_HELP}."
        )
    wanted = [o.name for o in getattr(objective, "objectives", [objective])]
    missing = [name for name in wanted if name not in recorded]
    if missing:
        raise ValueError(
            f"The oracle's objective names {missing}, which SklearnTuner does not record; it "
            f"records {recorded}. Use one of these, {_OBJECTIVE_HELP}."
        )
    if _is_hyperband(oracle):
        warnings.warn(
            f"{type(oracle).__name__} budgets training epochs, which scikit-learn estimators "
            "ignore: its rounds refit the same models. A random, grid or Bayesian oracle "
            "fits SklearnTuner.",
            UserWarning,
            stacklevel=user_stacklevel(),
        )


def _is_hyperband(oracle: Oracle) -> bool:
    from e2etune.oracles import HyperbandOracle

    return isinstance(oracle, HyperbandOracle)

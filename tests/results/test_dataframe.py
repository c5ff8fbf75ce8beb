"""The trials as a pandas DataFrame."""

from __future__ import annotations

import math
import sys

import pytest

pandas = pytest.importorskip("pandas")

from e2etune.results import MissingDependencyError, read_results, trials_dataframe  # noqa: E402


def test_one_row_per_trial_with_its_values_and_metrics(finished):
    frame = trials_dataframe(finished)
    results = read_results(finished)
    assert list(frame.columns) == [
        "trial_id", "number", "status", "score", "best_step", "hp/lr", "hp/units",
        "hp/optimizer", "hp/batchnorm", "hp/momentum", "metric/val_loss", "metric/val_accuracy"]
    assert len(frame) == len(results.trials) == 12
    for (_, row), trial in zip(frame.iterrows(), results.trials):
        assert row.trial_id == trial.trial_id and row.status == trial.status
        if trial.score is None:
            assert math.isnan(row.score)
        else:
            assert row.score == trial.score
        for name in results.hyperparameter_names():
            value = row[f"hp/{name}"]
            if name in trial.values:
                assert value == trial.values[name]
            else:
                assert value is None or (isinstance(value, float) and math.isnan(value))
        if "val_loss" in trial.metrics:
            assert row["metric/val_loss"] == trial.metrics["val_loss"]
        else:
            assert math.isnan(row["metric/val_loss"])
    assert frame.score.dtype == "float64"
    best = frame.sort_values("score").iloc[0]
    assert best.trial_id == results.best_trials(1)[0].trial_id


def test_storage_and_project_arguments(finished):
    url = f"sqlite:///{finished / 'search.db'}"
    assert len(trials_dataframe(storage=url, project="search")) == 12


def test_without_pandas_the_error_says_how_to_install_it(finished, monkeypatch):
    monkeypatch.setitem(sys.modules, "pandas", None)
    with pytest.raises(MissingDependencyError, match="pip install pandas"):
        trials_dataframe(finished)

"""Every example runs, in small versions, from here."""

import importlib.util
import pathlib

import pytest

from e2etune.engine.trial import TrialStatus

EXAMPLES = pathlib.Path(__file__).resolve().parents[2] / "examples"


def load(name):
    spec = importlib.util.spec_from_file_location(f"example_{name}", EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def completed(tuner):
    return [t for t in tuner.oracle.trials.values() if t.status == TrialStatus.COMPLETED]


def test_every_example_has_a_test():
    tested = {"quickstart", "tuner_workflow", "tune_existing_function", "hypermodel_workflow",
              "text_tokenization", "custom_training_loop", "fine_tuning"}
    assert {path.stem for path in EXAMPLES.glob("*.py")} == tested


def test_quickstart_as_in_the_readme(tmp_path, capsys):
    tuner = load("quickstart").main(directory=tmp_path)
    assert len(completed(tuner)) == 3 and tuner.executions_per_trial == 2
    assert "Predictions of the best model" in capsys.readouterr().out


def test_tuner_workflow(tmp_path):
    tuner = load("tuner_workflow").main(directory=tmp_path, max_trials=3, epochs=2, verbose=0)
    values = tuner.get_best_hyperparameters()[0].values
    assert {"units", "shuffle", "positive_weight", "use_feature_0"} <= set(values)
    assert completed(tuner)


def test_tune_existing_function(tmp_path):
    tuner, final_loss = load("tune_existing_function").main(
        directory=tmp_path, max_trials=2, epochs=2, verbose=0)
    assert len(completed(tuner)) == 2 and final_loss > 0


def test_hypermodel_workflow(tmp_path):
    tuner, retrained = load("hypermodel_workflow").main(
        directory=tmp_path, max_trials=2, epochs=2, verbose=0)
    assert len(completed(tuner)) == 2
    assert (tmp_path / "second_best.keras").exists()
    assert "batch_size" in tuner.get_best_hyperparameters()[0].values


def test_text_tokenization(tmp_path):
    tuner = load("text_tokenization").main(directory=tmp_path, max_trials=2, epochs=2, verbose=0)
    assert len(completed(tuner)) == 2


def test_custom_training_loop(tmp_path):
    tuner, mse = load("custom_training_loop").main(
        directory=tmp_path, max_trials=2, epochs=2, verbose=0)
    best = tuner.oracle.get_best_trials(1)[0]
    # The checkpoint kept the epoch with the lowest validation loss, which is the score.
    assert mse == pytest.approx(best.score, rel=1e-4)


def test_fine_tuning(tmp_path):
    tuner, accuracy = load("fine_tuning").main(
        directory=tmp_path, max_trials=2, epochs=2, verbose=0)
    assert (tmp_path / "pretrained_base.keras").exists()
    assert 0 <= accuracy <= 1 and len(completed(tuner)) == 2

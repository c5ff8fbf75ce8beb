"""Pruning through the engine: `trial.report` / `should_prune`, PRUNED trials, the Keras
callback, several processes, and the errors for bad input."""

from __future__ import annotations

import inspect
import json
import math
import os
import pathlib
import subprocess
import sys
import textwrap
import time

import pytest

import e2etune as kt
from e2etune import errors
from e2etune.engine.base_tuner import BaseTuner
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.trial import Trial, TrialStatus
from e2etune.oracles import (
    BayesianOptimizationOracle,
    GridSearchOracle,
    HyperbandOracle,
    RandomSearchOracle,
)
from e2etune.pruners import MedianPruner, SuccessiveHalvingPruner

ROOT = pathlib.Path(__file__).resolve().parents[2]


def space() -> HyperParameters:
    hp = HyperParameters()
    hp.Choice("level", [1.0, 2.0, 3.0, 4.0, 5.0, 6.0], ordered=True)
    return hp


class CurveTuner(BaseTuner):
    """A custom loop: the curve of a trial is `level + 1 / (step + 1)` over 6 steps."""

    mode = "raise"

    def run_trial(self, trial, **kwargs):
        level = trial.hyperparameters.get("level")
        for step in range(6):
            value = level + 1 / (step + 1)
            trial.report(step, value)
            if trial.should_prune():
                if self.mode == "raise":
                    raise errors.TrialPruned(f"level {level} pruned at step {step}")
                return value  # returning after a yes prunes the trial too
        return value


def grid_tuner(tmp_path, pruner, **kwargs) -> CurveTuner:
    oracle = GridSearchOracle(hyperparameters=space(), pruner=pruner, **kwargs)
    return CurveTuner(oracle=oracle, directory=tmp_path, project_name="curves", overwrite=True)


# A custom loop with report / should_prune.

@pytest.mark.parametrize("mode", ["raise", "return"])
def test_custom_loop_prunes_worse_trials(tmp_path, mode):
    tuner = grid_tuner(tmp_path, MedianPruner(warmup_steps=1, min_trials=2))
    tuner.mode = mode
    tuner.search(verbose=0)
    trials = tuner.oracle.trials
    statuses = {t.hyperparameters.get("level"): t.status for t in trials.values()}
    # The grid runs levels 1..6 in order; levels 1 and 2 have fewer than 2 others.
    assert statuses == {1.0: "COMPLETED", 2.0: "COMPLETED", 3.0: "PRUNED", 4.0: "PRUNED",
                        5.0: "PRUNED", 6.0: "PRUNED"}
    by_level = {t.hyperparameters.get("level"): t for t in trials.values()}
    pruned = by_level[3.0]
    assert pruned.best_step == 1  # pruned at the end of the warmup
    assert pruned.score == pytest.approx(3.5)  # its last reported value
    assert [o.step for o in pruned.metrics.get_history("default_objective")] == [0, 1]
    assert "pruned" in pruned.message.lower()
    completed = by_level[1.0]
    assert completed.score == pytest.approx(1 + 1 / 6)
    assert len(completed.metrics.get_history("default_objective")) == 6


def test_pruned_trials_count_toward_max_trials_and_are_not_failures(tmp_path):
    oracle = RandomSearchOracle(hyperparameters=space(), max_trials=5, seed=1,
                                max_retries_per_trial=2, max_consecutive_failed_trials=1,
                                pruner=MedianPruner(min_trials=1))

    class AlwaysPruned(BaseTuner):
        def run_trial(self, trial, **kwargs):
            trial.report(0, 1.0)
            raise errors.TrialPruned()

    tuner = AlwaysPruned(oracle=oracle, directory=tmp_path, project_name="p", overwrite=True)
    tuner.search(verbose=0)  # no TooManyFailedTrialsError
    assert len(oracle.trials) == 5
    assert all(t.status == TrialStatus.PRUNED for t in oracle.trials.values())
    assert all(t.attempts == 1 for t in oracle.trials.values())  # never retried
    assert oracle.remaining_trials() == 0


def test_best_trials_rank_completed_before_pruned(tmp_path):
    oracle = RandomSearchOracle(objective=kt.Objective("loss", "min"), max_trials=3,
                                hyperparameters=space(), seed=0)
    oracle._set_project_dir(tmp_path, "rank", overwrite=True)
    pruned, worse, better = (oracle.create_trial(f"w{i}") for i in range(3))
    pruned.report(0, 0.01)  # the best value of all, but pruned
    pruned.status = TrialStatus.PRUNED
    oracle.end_trial(pruned)
    for trial, value in ((worse, 0.9), (better, 0.5)):
        oracle.update_trial(trial.trial_id, {"loss": value})
        oracle.end_trial(trial)
    assert oracle.get_trial(pruned.trial_id).score == pytest.approx(0.01)
    assert [t.trial_id for t in oracle.get_best_trials(3)] == [
        better.trial_id, worse.trial_id, pruned.trial_id]
    assert oracle.best_trial_so_far().trial_id == better.trial_id


def test_pruned_status_survives_the_storage(tmp_path):
    oracle = RandomSearchOracle(hyperparameters=space(), max_trials=2, seed=0)
    oracle._set_project_dir(tmp_path, "saved", overwrite=True)
    trial = oracle.create_trial("w")
    trial.report(0, 3.0)
    trial.report(2, 2.0)
    oracle.end_trial(trial.trial_id, TrialStatus.PRUNED)
    oracle.close()
    again = RandomSearchOracle(hyperparameters=space(), max_trials=2, seed=0)
    again._set_project_dir(tmp_path, "saved")
    saved = again.get_trial(trial.trial_id)
    assert (saved.status, saved.score, saved.best_step) == (TrialStatus.PRUNED, 2.0, 2)
    assert Trial.from_proto(saved.to_proto()).status == TrialStatus.PRUNED
    again.close()


def test_hyperband_promotions_ignore_pruned_trials():
    oracle = HyperbandOracle(max_epochs=9, hyperparameters=space(), seed=0)
    trials = []
    for status, score in ((TrialStatus.PRUNED, 0.0), (TrialStatus.COMPLETED, 1.0)):
        trial = Trial(space(), trial_id=f"t{len(trials)}", status=status)
        trial.score = score
        trials.append(trial)
    assert oracle._best_of(trials, 2) == [trials[1]]


def test_successive_halving_in_a_search(tmp_path):
    tuner = grid_tuner(tmp_path, SuccessiveHalvingPruner(min_resource=1, reduction_factor=2))
    tuner.search(verbose=0)
    statuses = [t.status for t in tuner.oracle.trials.values()]
    assert statuses[0] == TrialStatus.COMPLETED
    assert statuses.count(TrialStatus.PRUNED) >= 3


# Bad input.

def running_trial(tmp_path, pruner=None) -> Trial:
    oracle = RandomSearchOracle(hyperparameters=space(), max_trials=3, seed=0, pruner=pruner)
    oracle._set_project_dir(tmp_path, "bad", overwrite=True)
    return oracle.create_trial("w")


def test_report_refuses_a_step_that_goes_backwards(tmp_path):
    trial = running_trial(tmp_path)
    trial.report(3, 1.0)
    with pytest.raises(ValueError, match="step 2 goes backwards"):
        trial.report(2, 1.0)
    with pytest.raises(ValueError, match="reported step 3 already"):
        trial.report(3, 1.0)
    with pytest.raises(ValueError, match=">= 0"):
        running_trial(tmp_path / "n").report(-1, 1.0)


@pytest.mark.parametrize("value", [math.inf, -math.inf])
def test_report_refuses_an_infinite_value(tmp_path, value):
    with pytest.raises(ValueError, match="finite number"):
        running_trial(tmp_path).report(0, value)


@pytest.mark.parametrize("step, value", [(1.5, 1.0), (True, 1.0), ("1", 1.0), (0, "x"),
                                         (0, None), (0, True)])
def test_report_refuses_wrong_types(tmp_path, step, value):
    with pytest.raises(TypeError, match="must be"):
        running_trial(tmp_path).report(step, value)


def test_report_needs_a_running_trial_of_an_oracle(tmp_path):
    with pytest.raises(RuntimeError, match="not given by an oracle"):
        Trial(space()).report(0, 1.0)
    with pytest.raises(RuntimeError, match="not given by an oracle"):
        Trial(space()).should_prune()
    trial = running_trial(tmp_path)
    trial.report(0, 1.0)
    trial.oracle_end = trial._oracle.end_trial(trial)
    with pytest.raises(RuntimeError, match="COMPLETED, not RUNNING"):
        trial.report(1, 1.0)


@pytest.mark.parametrize("status", [TrialStatus.COMPLETED, TrialStatus.PRUNED])
def test_a_nan_report_makes_the_trial_invalid(tmp_path, status):
    trial = running_trial(tmp_path, MedianPruner(min_trials=1))
    trial.report(0, math.nan)
    assert trial.should_prune()  # a diverged trial is pruned, whatever the others
    trial.status = status
    trial._oracle.end_trial(trial)
    ended = trial._oracle.get_trial(trial.trial_id)
    assert ended.status == TrialStatus.INVALID
    assert "NaN" in ended.message


def test_should_prune_is_false_without_a_pruner(tmp_path):
    trial = running_trial(tmp_path)
    trial.report(0, 1e9)
    assert trial.should_prune() is False


def test_hyperband_refuses_a_pruner(tmp_path):
    with pytest.raises(ValueError, match="Hyperband .* takes no `pruner`"):
        HyperbandOracle(max_epochs=9, pruner=MedianPruner())
    with pytest.raises(ValueError, match="takes no `pruner`"):
        kt.Hyperband(lambda hp: None, objective="val_loss", max_epochs=9,
                     pruner=MedianPruner(), directory=tmp_path)


def test_a_wrong_pruner_is_refused():
    with pytest.raises(TypeError, match="`pruner` must be a pruner"):
        RandomSearchOracle(pruner="median")


@pytest.mark.parametrize("oracle_class", [RandomSearchOracle, GridSearchOracle,
                                          BayesianOptimizationOracle, HyperbandOracle])
def test_every_oracle_has_the_pruner_argument(oracle_class):
    parameter = inspect.signature(oracle_class).parameters["pruner"]
    assert parameter.default is None and parameter.kind is parameter.KEYWORD_ONLY
    assert "pruner:" in oracle_class.__doc__
    if oracle_class is not HyperbandOracle:
        pruner = MedianPruner()
        assert oracle_class(hyperparameters=space(), pruner=pruner).pruner is pruner


@pytest.mark.parametrize("tuner_class", ["RandomSearch", "GridSearch", "BayesianOptimization"])
def test_every_tuner_passes_the_pruner_on(tmp_path, tuner_class):
    pruner = SuccessiveHalvingPruner()

    class Loop(getattr(kt, tuner_class)):
        def run_trial(self, trial, **kwargs):
            return 1.0

    tuner = Loop(hyperparameters=space(), pruner=pruner, directory=tmp_path, project_name="t")
    assert tuner.oracle.pruner is pruner
    assert "pruner" in getattr(kt, tuner_class).__doc__


# Several processes.

WORKER = textwrap.dedent("""
    import json, os, sys, time
    from e2etune.engine.base_tuner import BaseTuner
    from e2etune.engine.hyperparameters import HyperParameters
    from e2etune.oracles import RandomSearchOracle
    from e2etune.pruners import MedianPruner

    config = json.loads(sys.argv[1])

    class Good(BaseTuner):
        def run_trial(self, trial, **kwargs):
            for step in range(4):
                trial.report(step, 1.0 / (step + 1))  # a good curve
                assert not trial.should_prune()
            open(config["reported"], "w").close()
            deadline = time.time() + 120
            while not os.path.exists(config["go_on"]) and time.time() < deadline:
                time.sleep(0.05)
            return 0.25

    hp = HyperParameters()
    hp.Float("x", 0.0, 1.0)
    oracle = RandomSearchOracle(hyperparameters=hp, max_trials=1, seed=1,
                                pruner=MedianPruner(min_trials=1))
    tuner = Good(oracle=oracle, directory=config["directory"], project_name="shared")
    tuner.search(verbose=0)
    tuner.oracle.close()
""")


def test_pruning_across_processes(tmp_path):
    config = {"directory": str(tmp_path / "search"), "reported": str(tmp_path / "reported"),
              "go_on": str(tmp_path / "go_on")}
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    process = subprocess.Popen([sys.executable, str(script), json.dumps(config)], env=env,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not os.path.exists(config["reported"]):
            assert process.poll() is None, process.communicate()[1]
            assert time.time() < deadline, "the worker never reported"
            time.sleep(0.05)
        hp = HyperParameters()
        hp.Float("x", 0.0, 1.0)
        oracle = RandomSearchOracle(hyperparameters=hp, max_trials=2, seed=1,
                                    pruner=MedianPruner(min_trials=1))
        oracle._set_project_dir(config["directory"], "shared")
        trial = oracle.create_trial("main")
        other = [t for t in oracle.trials.values() if t.trial_id != trial.trial_id]
        assert [t.status for t in other] == [TrialStatus.RUNNING]  # still training there
        trial.report(0, 0.5)  # better than the other's 1.0 at step 0
        assert not trial.should_prune()
        trial.report(1, 0.6)  # best so far 0.5, equal to the other's 0.5 at step 1: kept
        assert not trial.should_prune()
        trial.report(2, 0.6)  # best so far 0.5, worse than the other's 1/3 at step 2
        assert trial.should_prune()
        oracle.end_trial(trial.trial_id, TrialStatus.PRUNED)
        oracle.close()
    finally:
        pathlib.Path(config["go_on"]).touch()
    _, err = process.communicate(timeout=120)
    assert process.returncode == 0, err


DISTRIBUTED_NODE = textwrap.dedent("""
    import sys
    from e2etune import errors
    from e2etune.engine.base_tuner import BaseTuner
    from e2etune.engine.hyperparameters import HyperParameters
    from e2etune.oracles import GridSearchOracle
    from e2etune.pruners import MedianPruner

    class Curves(BaseTuner):
        def run_trial(self, trial, **kwargs):
            level = trial.hyperparameters.get("level")
            for step in range(4):
                value = level + 1 / (step + 1)
                trial.report(step, value)
                if trial.should_prune():
                    raise errors.TrialPruned()
            return value

    hp = HyperParameters()
    hp.Choice("level", [1.0, 2.0, 3.0], ordered=True)
    oracle = GridSearchOracle(hyperparameters=hp, pruner=MedianPruner(min_trials=1),
                              heartbeat_interval=0.3, lease_grace=3.0)
    tuner = Curves(oracle=oracle, directory=sys.argv[1], project_name="shared")
    tuner.search(verbose=0)
    tuner.oracle.close()
""")


def test_pruning_in_a_distributed_search(tmp_path):
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    script = tmp_path / "node.py"
    script.write_text(DISTRIBUTED_NODE)
    processes = []
    for tuner_id in ("chief", "tuner0"):
        env = {k: v for k, v in os.environ.items() if not k.startswith(("KERASTUNER_", "E2ETUNE_"))}
        env.update(PYTHONPATH=str(ROOT), KERASTUNER_TUNER_ID=tuner_id, E2ETUNE_CHIEF_WAIT="60",
                   KERASTUNER_ORACLE_IP="127.0.0.1", KERASTUNER_ORACLE_PORT=str(port))
        processes.append(subprocess.Popen(
            [sys.executable, str(script), str(tmp_path / tuner_id)], env=env,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        for process in reversed(processes):
            _, err = process.communicate(timeout=120)
            assert process.returncode == 0, err
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
    hp = HyperParameters()
    hp.Choice("level", [1.0, 2.0, 3.0], ordered=True)
    saved = GridSearchOracle(hyperparameters=hp)
    saved._set_project_dir(str(tmp_path / "chief"), "shared")
    ended = {t.hyperparameters.get("level"): (t.status, t.best_step) for t in saved.trials.values()}
    saved.close()
    # The worker reports through the chief and reads the other trials from it.
    assert ended == {1.0: ("COMPLETED", 3), 2.0: ("PRUNED", 0), 3.0: ("PRUNED", 0)}


# The Keras tuner.

def keras_data():
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 4)).astype("float32")
    y = (x @ np.array([1.0, -2.0, 0.5, 1.5], dtype="float32"))[:, None]
    return x, y


def build_regression(hp):
    import keras

    model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(hp.Choice("lr", [0.1, 0.0])), loss="mse")
    return model


class CountingSearch(kt.GridSearch):
    """Counts the epochs each trial trained, through the tuner's epoch hook."""

    def on_epoch_end(self, trial, model, epoch, logs=None):
        self.epochs[trial.trial_id] = self.epochs.get(trial.trial_id, 0) + 1


def test_keras_search_prunes_with_the_callback(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    x, y = keras_data()
    tuner = CountingSearch(build_regression, objective="val_loss",
                           pruner=MedianPruner(warmup_steps=1, min_trials=1),
                           directory=tmp_path, project_name="keras", overwrite=True)
    tuner.epochs = {}
    tuner.search(x, y, epochs=6, validation_split=0.25, verbose=0)
    good, bad = tuner.oracle.trials.values()
    assert (good.hyperparameters.get("lr"), good.status) == (0.1, TrialStatus.COMPLETED)
    assert (bad.hyperparameters.get("lr"), bad.status) == (0.0, TrialStatus.PRUNED)
    # The second is pruned at the end of the warmup (steps 0 and 1).
    assert tuner.epochs == {good.trial_id: 6, bad.trial_id: 2}
    assert [o.step for o in bad.metrics.get_history("val_loss")] == [0, 1]
    assert bad.score == pytest.approx(bad.metrics.get_last_value("val_loss"))
    assert tuner.get_best_hyperparameters()[0].get("lr") == 0.1
    assert len(tuner.get_best_models(2)) == 1  # pruned trials are never best models


def test_keras_run_trial_override_gets_the_pruning_callback(tmp_path):
    import keras

    keras.utils.set_random_seed(0)
    x, y = keras_data()

    class Override(kt.Tuner):
        def run_trial(self, trial, x, y, **kwargs):
            model = build_regression(trial.hyperparameters)
            history = model.fit(x, y, validation_split=0.25, verbose=0, **kwargs)
            self.lengths[trial.trial_id] = len(history.history["val_loss"])
            return history

    oracle = GridSearchOracle(objective="val_loss", pruner=MedianPruner(min_trials=1))
    tuner = Override(oracle=oracle, directory=tmp_path, project_name="override", overwrite=True)
    tuner.lengths = {}
    tuner.search(x, y, epochs=5)
    assert list(tuner.lengths.values()) == [5, 1]
    assert [t.status for t in tuner.oracle.trials.values()] == ["COMPLETED", "PRUNED"]


def test_pruning_needs_one_execution_per_trial(tmp_path):
    with pytest.raises(ValueError, match="executions_per_trial=1"):
        kt.RandomSearch(build_regression, objective="val_loss", executions_per_trial=2,
                        pruner=MedianPruner(), directory=tmp_path)

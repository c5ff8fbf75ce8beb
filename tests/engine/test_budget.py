"""`search(max_time=...)`: a time budget per `search()` call."""

from __future__ import annotations

import logging
import math
import time

import pytest

from e2etune.engine.base_tuner import BaseTuner
from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.trial import TrialStatus
from e2etune.oracles import RandomSearchOracle

BUDGET_LINE = "Search stopped: the time budget of max_time="


def space() -> HyperParameters:
    hp = HyperParameters()
    hp.Float("x", -1.0, 1.0)
    return hp


class SleepingTuner(BaseTuner):
    """Each trial sleeps `sleep` seconds; records when each trial started and ended."""

    def __init__(self, sleep: float, **kwargs) -> None:
        self.sleep = sleep
        self.starts: list[float] = []
        self.ends: list[float] = []
        self.kwargs_seen: list[dict] = []
        self.search_began: float | None = None
        super().__init__(**kwargs)

    def on_search_begin(self) -> None:
        self.search_began = time.monotonic()

    def run_trial(self, trial, *args, **kwargs):
        self.starts.append(time.monotonic())
        self.kwargs_seen.append(dict(kwargs))
        time.sleep(self.sleep)
        self.ends.append(time.monotonic())
        return trial.hyperparameters["x"] ** 2


def make_tuner(tmp_path, sleep: float = 0.0, max_trials: int | None = 100,
               oracle=None) -> SleepingTuner:
    oracle = oracle or RandomSearchOracle(hyperparameters=space(), max_trials=max_trials, seed=1)
    return SleepingTuner(sleep, oracle=oracle, directory=tmp_path, project_name="budget")


def test_the_search_stops_when_its_time_is_up_and_says_why(tmp_path, capsys, caplog):
    tuner = make_tuner(tmp_path, sleep=0.3)
    with caplog.at_level(logging.INFO, logger="e2etune"):
        tuner.search(verbose=1, max_time=1)
    returned = time.monotonic()
    deadline = tuner.search_began + 1.0
    assert 2 <= len(tuner.starts) <= 4
    assert all(start < deadline + 0.01 for start in tuner.starts)  # none after the deadline
    assert returned >= deadline  # it did not stop early
    assert returned < deadline + 0.3 + 0.5  # only the running trial finished after it
    assert len(tuner.ends) == len(tuner.starts)  # the running trial was allowed to finish
    assert [t.status for t in tuner.oracle.trials.values()] == [TrialStatus.COMPLETED] * len(
        tuner.starts)
    out = capsys.readouterr().out
    assert out.count(BUDGET_LINE) == 1
    assert any(BUDGET_LINE in r.getMessage() for r in caplog.records)
    assert all("max_time" not in kwargs for kwargs in tuner.kwargs_seen)
    tuner.oracle.close()


def test_without_max_trials_the_search_runs_until_the_time_is_up(tmp_path, capsys):
    tuner = make_tuner(tmp_path, sleep=0.05, max_trials=None)
    tuner.search(verbose=0, max_time=0.5)
    assert len(tuner.starts) >= 3
    assert time.monotonic() - tuner.search_began < 0.5 + 0.5
    assert BUDGET_LINE not in capsys.readouterr().out  # verbose=0 prints nothing
    tuner.oracle.close()


def test_the_budget_is_per_call(tmp_path):
    tuner = make_tuner(tmp_path, sleep=0.1)
    tuner.search(verbose=0, max_time=0.25)
    first = len(tuner.starts)
    tuner.search(verbose=0, max_time=0.25)  # a fresh budget: more trials run
    assert 1 <= first < len(tuner.starts)
    tuner.oracle.close()


class _WaitingOracle(RandomSearchOracle):
    """Always asks the worker to wait (as while other workers finish a round)."""

    def populate_space(self, trial_id):
        return {"status": TrialStatus.IDLE}


def test_waiting_for_a_trial_does_not_overshoot_the_deadline(tmp_path):
    oracle = _WaitingOracle(hyperparameters=space(), max_trials=10, seed=1)
    tuner = make_tuner(tmp_path, oracle=oracle)
    tuner.search(verbose=0, max_time=0.3)
    # Without the clip, the doubling waits (0.02, 0.04, ... up to 1 s) end at 0.62 s or later.
    assert time.monotonic() - tuner.search_began < 0.3 + 0.15
    assert tuner.starts == []
    oracle.close()


class _SlowOracle(RandomSearchOracle):
    """Takes 0.4 s to propose a trial."""

    def populate_space(self, trial_id):
        time.sleep(0.4)
        return super().populate_space(trial_id)


def test_a_trial_proposed_after_the_deadline_is_given_back_not_run(tmp_path):
    oracle = _SlowOracle(hyperparameters=space(), max_trials=10, seed=1)
    tuner = make_tuner(tmp_path, oracle=oracle)
    tuner.search(verbose=0, max_time=0.2)
    assert tuner.starts == []
    (trial,) = oracle.trials.values()
    assert trial.status == TrialStatus.IDLE and trial.attempts == 0
    values = dict(trial.hyperparameters.values)
    tuner.sleep = 0.0
    tuner.search(verbose=0, max_time=0.5)  # the given-back trial runs first, under its id
    assert oracle.trials[trial.trial_id].status == TrialStatus.COMPLETED
    assert oracle.trials[trial.trial_id].hyperparameters.values == values
    oracle.close()


@pytest.mark.parametrize("max_time, error", [
    (-1, ValueError), (0, ValueError), (0.0, ValueError), (math.nan, ValueError),
    ("60", TypeError), (True, TypeError), ([1], TypeError),
])
def test_a_bad_max_time_is_refused_before_any_trial(tmp_path, max_time, error):
    tuner = make_tuner(tmp_path)
    with pytest.raises(error, match="`max_time` must be"):
        tuner.search(verbose=0, max_time=max_time)
    assert tuner.starts == [] and not tuner.oracle.trials
    tuner.oracle.close()


def test_an_infinite_budget_means_no_limit(tmp_path):
    tuner = make_tuner(tmp_path, max_trials=3)
    tuner.search(verbose=0, max_time=math.inf)
    assert len(tuner.starts) == 3
    tuner.oracle.close()


def test_the_keras_tuner_takes_max_time_out_of_the_fit_arguments(tmp_path):
    keras = pytest.importorskip("keras")
    import numpy as np

    import e2etune as kt

    seen = []

    class Model(kt.HyperModel):
        def build(self, hp):
            model = keras.Sequential([keras.Input((2,)),
                                      keras.layers.Dense(hp.Int("units", 1, 4))])
            model.compile(optimizer="sgd", loss="mse")
            return model

        def fit(self, hp, model, *args, **kwargs):
            seen.append(sorted(kwargs))
            return model.fit(*args, **kwargs)  # keras' fit refuses unknown arguments

    x = np.zeros((8, 2), "float32")
    tuner = kt.RandomSearch(Model(), objective="loss", max_trials=2, seed=0,
                            directory=tmp_path, project_name="keras")
    tuner.search(x, x[:, :1], epochs=1, verbose=0, max_time=600)
    assert seen and all("max_time" not in kwargs for kwargs in seen)
    assert [t.status for t in tuner.oracle.trials.values()] == [TrialStatus.COMPLETED] * 2

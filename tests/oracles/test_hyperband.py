"""Hyperband oracle: the schedule, promotions, budget, small spaces and resume."""

import math

import pytest

from e2etune.engine.base_tuner import BaseTuner
from e2etune.engine.trial import TrialStatus
from e2etune.oracles.hyperband import HyperbandOracle
from e2etune.oracles.hyperband_schedule import schedule


class CountingTuner(BaseTuner):
    """Trains nothing: the 'loss' of x after e epochs is (x - 0.3)^2 + 1/e."""

    crash_at: int | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.epochs_trained = 0
        self.runs = 0

    def run_trial(self, trial):
        hp = trial.hyperparameters
        x = hp.Float("x", 0.0, 1.0)
        hp.Choice("kind", ["a", "b", "c"])
        if self.crash_at is not None and self.runs == self.crash_at:
            raise KeyboardInterrupt("simulated crash")
        self.runs += 1
        self.epochs_trained += hp.values["tuner/epochs"] - hp.values["tuner/initial_epoch"]
        return (x - 0.3) ** 2 + 1.0 / hp.values["tuner/epochs"]


@pytest.mark.parametrize("max_epochs,factor", [(9, 3), (27, 3), (100, 3), (10, 2), (16, 4), (1, 3)])
def test_schedule_matches_the_formula(max_epochs, factor):
    s_max = int(math.floor(math.log(max_epochs) / math.log(factor) + 1e-9))
    brackets = schedule(max_epochs, factor)
    assert [b.s for b in brackets] == list(range(s_max, -1, -1))
    for bracket in brackets:
        s = bracket.s
        n = math.ceil((s_max + 1) * factor**s / (s + 1))
        assert [r.trials for r in bracket.rounds] == [n // factor**i for i in range(s + 1)]
        assert bracket.rounds[-1].epochs == max_epochs
        for i, r in enumerate(bracket.rounds):
            assert r.epochs == max(1, min(max_epochs, round(max_epochs * factor ** (i - s)))) or (
                i and r.epochs == bracket.rounds[i - 1].epochs + 1
            )
            assert r.initial_epoch == (bracket.rounds[i - 1].epochs if i else 0)


@pytest.mark.parametrize("bad", [{"max_epochs": 0}, {"factor": 1}, {"max_epochs": 2.5},
                                 {"hyperband_iterations": 0}])
def test_bad_arguments_are_rejected_when_made(bad):
    with pytest.raises(ValueError):
        HyperbandOracle(**bad)


def _search(tmp_path, name="hb", **kwargs):
    oracle = HyperbandOracle(max_epochs=9, factor=3, seed=7, **kwargs)
    tuner = CountingTuner(oracle=oracle, directory=tmp_path, project_name=name)
    tuner.search()
    return tuner


def test_search_follows_the_schedule_exactly(tmp_path):
    tuner = _search(tmp_path)
    oracle = tuner.oracle
    brackets = oracle.brackets
    assert tuner.epochs_trained == sum(b.budget for b in brackets)
    assert len(oracle.trials) == sum(r.trials for b in brackets for r in b.rounds)
    for trial in oracle.trials.values():
        values = trial.hyperparameters.values
        bracket = next(b for b in brackets if b.s == values["tuner/bracket"])
        planned = bracket.rounds[values["tuner/round"]]
        assert values["tuner/epochs"] == planned.epochs
        assert values["tuner/initial_epoch"] == planned.initial_epoch
        if values["tuner/round"] > 0:
            parent = oracle.get_trial(values["tuner/trial_id"])
            assert parent.hyperparameters.values["tuner/bracket"] == values["tuner/bracket"]
            assert parent.hyperparameters.values["tuner/round"] == values["tuner/round"] - 1
            assert parent.hyperparameters.values["x"] == values["x"]


def test_each_round_promotes_the_best_of_the_previous_one(tmp_path):
    oracle = _search(tmp_path).oracle
    by_round = {}
    for trial in oracle.trials.values():
        values = trial.hyperparameters.values
        by_round.setdefault((values["tuner/bracket"], values["tuner/round"]), []).append(trial)
    for (bracket, round_index), trials in by_round.items():
        if round_index == 0:
            continue
        previous = sorted(by_round[(bracket, round_index - 1)], key=lambda t: t.score)
        parents = {t.hyperparameters.values["tuner/trial_id"] for t in trials}
        assert parents == {t.trial_id for t in previous[: len(trials)]}


def test_failed_trials_do_not_stall_a_bracket(tmp_path):
    class Flaky(CountingTuner):
        def run_trial(self, trial):
            result = super().run_trial(trial)
            if int(trial.trial_id) % 4 == 1:
                from e2etune.errors import FailedTrialError

                raise FailedTrialError("unlucky")
            return result

    oracle = HyperbandOracle(max_epochs=9, factor=3, seed=1, max_consecutive_failed_trials=None)
    tuner = Flaky(oracle=oracle, directory=tmp_path, project_name="flaky")
    tuner.search()
    statuses = [t.status for t in oracle.trials.values()]
    assert TrialStatus.FAILED in statuses
    assert all(s in TrialStatus.ENDED for s in statuses)
    promoted = [t for t in oracle.trials.values() if "tuner/trial_id" in t.hyperparameters.values]
    assert promoted
    assert all(oracle.get_trial(t.hyperparameters.values["tuner/trial_id"]).status
               == TrialStatus.COMPLETED for t in promoted)


def test_small_space_ends_cleanly(tmp_path):
    class Tiny(BaseTuner):
        def run_trial(self, trial):
            hp = trial.hyperparameters
            return {"a": 0.5, "b": 0.1}[hp.Choice("v", ["a", "b"])] / hp.values["tuner/epochs"]

    oracle = HyperbandOracle(max_epochs=27, factor=3, seed=0)
    tuner = Tiny(oracle=oracle, directory=tmp_path, project_name="tiny")
    tuner.search()
    new_configs = [t for t in oracle.trials.values() if t.hyperparameters.values["tuner/round"] == 0]
    assert {t.hyperparameters.values["v"] for t in new_configs} == {"a", "b"}
    longest = max(t.hyperparameters.values["tuner/epochs"] for t in oracle.trials.values())
    assert longest == 27
    assert oracle.get_best_trials()[0].hyperparameters.values["v"] == "b"


def _signature(oracle):
    return sorted(
        (t.trial_id, tuple(sorted(t.hyperparameters.values.items())), t.status, t.score)
        for t in oracle.trials.values()
    )


@pytest.mark.parametrize("crash_at", [4, 10, 13, 20])
def test_resume_mid_bracket_ends_with_the_same_trials(tmp_path, crash_at):
    reference = _search(tmp_path, name="reference")
    oracle = HyperbandOracle(max_epochs=9, factor=3, seed=7)
    crashing = CountingTuner(oracle=oracle, directory=tmp_path, project_name="crashed")
    crashing.crash_at = crash_at
    with pytest.raises(KeyboardInterrupt):
        crashing.search()
    oracle.close()
    resumed = CountingTuner(
        oracle=HyperbandOracle(max_epochs=9, factor=3, seed=7),
        directory=tmp_path,
        project_name="crashed",
    )
    resumed.search()
    assert _signature(resumed.oracle) == _signature(reference.oracle)
    assert crashing.epochs_trained + resumed.epochs_trained == reference.epochs_trained


@pytest.mark.parametrize("changed", [{"max_epochs": 27}, {"factor": 2}])
def test_resuming_with_another_schedule_is_refused_with_both_named(tmp_path, changed):
    from e2etune import errors

    arguments = dict(objective="loss", max_epochs=9, factor=3, seed=1)
    tuner = CountingTuner(oracle=HyperbandOracle(**arguments),
                          directory=tmp_path, project_name="p")
    tuner.search()
    with pytest.raises(errors.SearchStateError, match="max_epochs=9 and factor=3") as caught:
        CountingTuner(oracle=HyperbandOracle(**{**arguments, **changed}),
                      directory=tmp_path, project_name="p")
    assert "overwrite=True" in str(caught.value)

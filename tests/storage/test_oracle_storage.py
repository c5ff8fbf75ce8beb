"""Oracles on a storage URL: a search resumes, searches in one database stay apart, and a
project is never shared by another oracle or objective (unless overwritten).
"""

from __future__ import annotations

import pathlib

import pytest
from storage_helpers import COMPLETED, ids

from e2etune.engine.hyperparameters import HyperParameters
from e2etune.engine.objective import Objective
from e2etune.engine.trial import TrialStatus
from e2etune.errors import SearchStateError
from e2etune.oracles import GridSearchOracle, RandomSearchOracle
from e2etune.storage import from_url


def space() -> HyperParameters:
    hp = HyperParameters()
    hp.Int("x", 0, 1000)
    hp.Choice("act", ["relu", "tanh"])
    return hp


def open_oracle(url, project: str, directory: pathlib.Path, cls=RandomSearchOracle,
                objective: Objective | None = None, overwrite: bool = False):
    oracle = cls(objective=objective or Objective("score", "min"), max_trials=20,
                 hyperparameters=space(), seed=5)
    oracle._set_project_dir(directory, project, overwrite=overwrite, storage=url)
    return oracle


def run(oracle, count: int, first_score: float = 0.0) -> list[str]:
    ran = []
    for i in range(count):
        trial = oracle.create_trial("tuner0")
        assert trial.status == TrialStatus.RUNNING
        oracle.update_trial(trial.trial_id, {oracle.objective.name: first_score + i})
        trial.status = TrialStatus.COMPLETED
        oracle.end_trial(trial)
        ran.append(trial.trial_id)
    return ran


def summary(oracle) -> dict[str, tuple]:
    return {t.trial_id: (t.status, t.score, dict(t.hyperparameters.values))
            for t in oracle.trials.values()}


def test_an_oracle_resumes_the_search_in_a_storage(url, tmp_path):
    first = open_oracle(url, "search", tmp_path)
    assert run(first, 3) == ["00", "01", "02"]
    saved = summary(first)
    first.close()
    second = open_oracle(url, "search", tmp_path)
    try:
        assert summary(second) == saved
        assert all(status == TrialStatus.COMPLETED for status, _, _ in saved.values())
        assert second.get_best_trials(1)[0].trial_id == "00"
        assert run(second, 2, first_score=10.0) == ["03", "04"]
        resumed = summary(second)
    finally:
        second.close()
    reference = open_oracle(url, "reference", tmp_path)  # the same search, never interrupted
    run(reference, 5)
    reference.close()
    assert [v for _, _, v in resumed.values()] == [v for _, _, v in summary(reference).values()]
    assert len({tuple(sorted(v.items())) for _, _, v in resumed.values()}) == 5
    storage = from_url(url)
    changes = storage.read("search")
    storage.close()
    assert ids(changes) == ["00", "01", "02", "03", "04"]
    assert [r.trial_id for r in changes.trials] == list(resumed)
    assert {r.status for r in changes.trials} == {COMPLETED} and changes.state is not None
    assert not (tmp_path / "search" / "search.db").exists()


def test_an_oracle_leaves_a_storage_object_open(url, tmp_path):
    storage = from_url(url)
    try:
        oracle = open_oracle(storage, "search", tmp_path)
        run(oracle, 2)
        oracle.close()
        assert ids(storage.read("search")) == ["00", "01"]  # still usable
    finally:
        storage.close()


def test_two_searches_in_one_database_do_not_mix(url, tmp_path):
    alpha = open_oracle(url, "alpha", tmp_path)
    beta = open_oracle(url, "beta", tmp_path)
    try:
        run(alpha, 2, first_score=100.0)
        run(beta, 3)
        run(alpha, 1, first_score=200.0)
        saved = summary(alpha), summary(beta)
    finally:
        alpha.close()
        beta.close()
    assert sorted(s[1] for s in saved[0].values()) == [100.0, 101.0, 200.0]
    assert sorted(s[1] for s in saved[1].values()) == [0.0, 1.0, 2.0]
    storage = from_url(url)
    assert sorted(storage.projects()) == ["alpha", "beta"]
    storage.close()
    alpha, beta = open_oracle(url, "alpha", tmp_path), open_oracle(url, "beta", tmp_path)
    try:
        assert (summary(alpha), summary(beta)) == saved
    finally:
        alpha.close()
        beta.close()


def test_another_oracle_or_objective_is_refused_and_overwrite_starts_afresh(url, tmp_path):
    first = open_oracle(url, "search", tmp_path)
    run(first, 2)
    first.close()
    with pytest.raises(SearchStateError, match="RandomSearchOracle, not GridSearchOracle"):
        open_oracle(url, "search", tmp_path, cls=GridSearchOracle)
    with pytest.raises(SearchStateError, match="optimizes score .min., not accuracy .max."):
        open_oracle(url, "search", tmp_path, objective=Objective("accuracy", "max"))
    resumed = open_oracle(url, "search", tmp_path)  # what was refused changed nothing
    assert len(resumed.trials) == 2
    resumed.close()
    fresh = open_oracle(url, "search", tmp_path, cls=GridSearchOracle, overwrite=True)
    try:
        assert fresh.trials == {}
        assert run(fresh, 1) == ["00"]
    finally:
        fresh.close()
    with pytest.raises(SearchStateError, match="GridSearchOracle, not RandomSearchOracle"):
        open_oracle(url, "search", tmp_path)
    storage = from_url(url)
    assert len(storage.read("search").trials) == 1
    storage.close()


def test_an_oracle_without_storage_uses_the_storage_variable(url, tmp_path, monkeypatch):
    monkeypatch.setenv("E2ETUNE_STORAGE", url)
    oracle = open_oracle(None, "search", tmp_path)
    try:
        run(oracle, 2)
    finally:
        oracle.close()
    assert not (tmp_path / "search" / "search.db").exists()
    storage = from_url(url)
    assert ids(storage.read("search")) == ["00", "01"]
    storage.close()


def test_an_algorithm_may_ask_for_the_best_trials_while_it_decides(url, tmp_path):
    class Greedy(RandomSearchOracle):
        def populate_space(self, trial_id):
            self.seen = self.get_best_trials(1)  # inside the oracle's own transaction
            return super().populate_space(trial_id)

    hps = HyperParameters()
    hps.Float("x", 0.0, 1.0)
    oracle = Greedy(max_trials=3, seed=1, hyperparameters=hps, storage=url)
    oracle._set_project_dir(tmp_path, "greedy")
    first = oracle.create_trial("t")
    oracle.update_trial(first.trial_id, {"default_objective": 0.5})
    first.status = TrialStatus.COMPLETED
    oracle.end_trial(first)
    oracle.create_trial("t")
    assert oracle.seen == [first]
    oracle.close()

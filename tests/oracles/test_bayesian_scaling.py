"""Long Bayesian searches: the bounded-cost model beyond 500 trials and its math.

The sizes of the long-search model are shrunk (monkeypatched) so that its
code paths run on a few dozen trials; no test here measures time.
"""

from __future__ import annotations

import numpy as np
import pytest

from e2etune.engine.trial import TrialStatus
from e2etune.oracles import BayesianOptimizationOracle, _kernel, _long_search
from e2etune.oracles.gaussian_process import Dimension, GaussianProcess

from test_bayesian import branin, branin_space, mixed_loss, mixed_space, run


@pytest.fixture
def small_long_search(monkeypatch):
    """The long-search model from 30 scored trials on, with subsets of 12 and 20 trials."""
    monkeypatch.setattr(_long_search, "FULL_MODEL_POINTS", 30)
    monkeypatch.setattr(_long_search, "FIT_POINTS", 12)
    monkeypatch.setattr(_long_search, "FIT_BEST", 4)
    monkeypatch.setattr(_long_search, "CONDITION_POINTS", 20)
    monkeypatch.setattr(_long_search, "CONDITION_BEST", 6)
    monkeypatch.setattr(_long_search, "CONDITION_RECENT", 4)
    monkeypatch.setattr(_long_search, "REFIT_DIVISOR", 10)
    monkeypatch.setattr(_long_search, "LONG_CANDIDATES", 128)


def _spd(n: int, seed: int = 0) -> np.ndarray:
    a = np.random.default_rng(seed).normal(size=(n, n))
    return a @ a.T + n * np.eye(n)


@pytest.mark.parametrize("k", [1, 3])
def test_a_cholesky_append_equals_the_full_factorization(k):
    matrix = _spd(12)
    n = 12 - k
    grown = _kernel.cholesky_append(np.linalg.cholesky(matrix[:n, :n]), matrix[:n, n:],
                                    matrix[n:, n:])
    np.testing.assert_allclose(grown, np.linalg.cholesky(matrix), rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(np.triu(grown, 1), 0.0)


def test_a_cholesky_append_adds_the_jitter_and_refuses_an_indefinite_block():
    matrix = _spd(6)
    jittered = matrix + 1e-3 * np.eye(6)
    old = np.linalg.cholesky(jittered[:4, :4])
    grown = _kernel.cholesky_append(old, matrix[:4, 4:], matrix[4:, 4:], jitter=1e-3)
    np.testing.assert_allclose(grown @ grown.T, jittered, rtol=1e-12)
    duplicate = np.vstack([np.hstack([matrix[:4, :4], matrix[:4, :1]]),
                           np.hstack([matrix[:1, :4], matrix[:1, :1]])])
    assert _kernel.cholesky_append(old, duplicate[:4, 4:], duplicate[4:, 4:] - 1.0) is None


def _data(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.random(n), rng.integers(0, 3, n).astype(float)])
    return x, np.sin(6.0 * x[:, 0]) + 0.3 * x[:, 1] + 0.01 * rng.normal(size=n)


def _dims() -> list[Dimension]:
    return [Dimension("continuous"), Dimension("categorical", n_choices=3)]


def test_conditioning_on_more_rows_grows_the_factor_to_the_fresh_one():
    x, y = _data(40)
    grown = GaussianProcess(_dims(), seed=0).fit(x[:30], y[:30])
    fresh = GaussianProcess(_dims(), seed=0)
    fresh.set_state(grown.get_state())
    fresh.fit(x[:30], y[:30], max_iterations=0)
    for size in (35, 40):  # appended rows, then appended again
        grown.condition(x[:size], y[:size])
        fresh._factored = None  # forces a full factorization
        fresh.condition(x[:size], y[:size])
        np.testing.assert_allclose(grown._factor, fresh._factor, rtol=1e-9, atol=1e-12)
    probe = np.column_stack([np.linspace(0, 1, 7), np.arange(7) % 3.0])
    for a, b in zip(grown.predict(probe), fresh.predict(probe)):
        np.testing.assert_allclose(a, b, rtol=1e-8, atol=1e-10)


def test_rows_that_differ_from_the_last_factorization_are_factorized_again():
    x, y = _data(30)
    gp = GaussianProcess(_dims(), seed=0).fit(x, y)
    changed = x.copy()
    changed[10, 0] = 1.0 - changed[10, 0]
    gp.condition(changed, y)
    covariance, _ = _kernel.kernel_matrix(gp._theta, gp._encoding.raw(changed), gp._encoding.owner)
    np.testing.assert_allclose(gp._factor @ gp._factor.T, covariance, rtol=1e-9, atol=1e-12)


def test_a_fit_on_every_row_as_subset_equals_a_plain_fit():
    x, y = _data(25)
    plain = GaussianProcess(_dims(), seed=0).fit(x, y)
    subset = GaussianProcess(_dims(), seed=0).fit(x, y, subset=np.arange(25))
    assert plain.get_state() == subset.get_state()


def test_the_subset_keeps_the_best_and_the_latest_and_spreads_the_rest():
    y = np.random.default_rng(3).normal(size=200)
    chosen = _long_search.spread_subset(y, 50, 20)
    assert chosen.size == np.unique(chosen).size == 50
    assert np.all(np.diff(chosen) > 0)
    assert set(np.argsort(y)[:20]) <= set(chosen.tolist())
    assert 199 in chosen
    rest = np.setdiff1d(chosen, np.argsort(y)[:20])
    assert np.max(np.diff(rest)) <= 2 * 200 / 30  # evenly spread over the search
    np.testing.assert_array_equal(_long_search.spread_subset(y[:40], 50, 20), np.arange(40))
    with_recent = _long_search.spread_subset(y, 50, 20, 10)
    assert with_recent.size == 50 and set(range(190, 200)) <= set(with_recent.tolist())
    assert set(np.argsort(y)[:20]) <= set(with_recent.tolist())


def test_the_kernel_is_refitted_every_fiftieth_of_the_trials():
    assert _long_search.refit_due(501, None)
    assert not _long_search.refit_due(505, 501)
    assert _long_search.refit_due(511, 501)
    assert not _long_search.refit_due(2030, 2000) and _long_search.refit_due(2040, 2000)
    assert _long_search.refit_due(400, 600)  # fewer scored trials than at the last fit


def test_small_searches_keep_the_full_acquisition_budget():
    assert _long_search.acquisition_budget(500) == {}
    assert _long_search.acquisition_budget(501)["n_restarts"] < 8


def test_a_long_search_uses_the_bounded_model_keeps_the_best_and_never_repeats(small_long_search):
    oracle = BayesianOptimizationOracle(max_trials=70, seed=0, hyperparameters=branin_space(),
                                        num_initial_points=5)
    values = run(oracle, branin, 70)
    keys = {(v["x1"], v["x2"]) for v in values}
    assert len(keys) == len(values) == 70
    assert min(branin(v) for v in values) < 0.45  # the minimum is 0.3979
    model = oracle._long[1]
    assert 20 <= len(model._members) <= 20 + 70 // 10
    best = min(oracle.trials.values(), key=lambda t: t.score)
    assert best.trial_id in model._members
    assert oracle._fitted_at is not None and 70 - oracle._fitted_at < 70 // 10
    # The grown factor is the factor of the members' covariance under the current kernel.
    gp = model._gp
    covariance, _ = _kernel.kernel_matrix(gp._theta, gp._encoding.raw(gp.x_train),
                                          gp._encoding.owner)
    np.testing.assert_allclose(gp._factor @ gp._factor.T, covariance, rtol=1e-8, atol=1e-10)


def test_a_long_search_saves_when_it_last_fitted_the_kernel(small_long_search):
    oracle = BayesianOptimizationOracle(max_trials=40, seed=0, hyperparameters=mixed_space(),
                                        num_initial_points=5)
    run(oracle, mixed_loss, 40)
    state = oracle.get_state()
    assert isinstance(state["fitted_at"], int) and state["gp"]
    other = BayesianOptimizationOracle(max_trials=40, seed=0, hyperparameters=mixed_space())
    other.set_state(state)
    assert other.get_state() == state
    other.set_state({"gp": state["gp"], "fitted_at": "junk"})
    assert other._fitted_at is None


@pytest.mark.parametrize("long", [False, True])
def test_eight_pending_trials_get_eight_distinct_proposals(long, request):
    if long:
        request.getfixturevalue("small_long_search")
    oracle = BayesianOptimizationOracle(max_trials=60, seed=0, hyperparameters=branin_space(),
                                        num_initial_points=4)
    run(oracle, branin, 40 if long else 10)
    assert (oracle._long is not None) == long
    pending = [oracle.create_trial(f"worker-{i}") for i in range(8)]
    assert all(t.status == TrialStatus.RUNNING for t in pending)
    points = np.array([[t.hyperparameters["x1"], t.hyperparameters["x2"]] for t in pending])
    assert len({tuple(p) for p in points}) == 8
    gaps = np.linalg.norm((points[:, None] - points[None]) / 15.0, axis=-1)
    assert np.min(gaps[np.triu_indices(8, 1)]) > 1e-9  # the acquisition's duplicate tolerance
    done = {(v["x1"], v["x2"]) for v in (t.hyperparameters.values for t in oracle.trials.values()
                                         if t.status == TrialStatus.COMPLETED)}
    assert not done & {tuple(p) for p in points}

import numpy as np
import pytest
from scipy.stats import norm, qmc

from e2etune.oracles._acquisition import (
    _Acquisition,
    log_expected_improvement,
    log_expected_improvement_with_grad,
    optimize_acquisition,
)
from e2etune.oracles.gaussian_process import Dimension, GaussianProcess

GRID = np.linspace(0.0, 1.0, 7)
MIXED = [
    Dimension("continuous"),
    Dimension("discrete", grid=GRID),
    Dimension("categorical", n_choices=3),
]


def mixed_gp(n=20, seed=0):
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.random(n), rng.choice(GRID, n), rng.integers(0, 3, n)])
    y = (x[:, 0] - 0.3) ** 2 + (x[:, 1] - 0.6) ** 2 + 0.5 * (x[:, 2] != 2)
    return GaussianProcess(MIXED).fit(x, y), x, y


def branin(u):
    x1, x2 = 15.0 * u[..., 0] - 5.0, 15.0 * u[..., 1]
    b, c, t = 5.1 / (4.0 * np.pi**2), 5.0 / np.pi, 1.0 / (8.0 * np.pi)
    return (x2 - b * x1**2 + c * x1 - 6.0) ** 2 + 10.0 * (1.0 - t) * np.cos(x1) + 10.0


def test_log_ei_matches_the_closed_form_where_it_is_representable():
    # Down to z = -25 the closed form still loses no more than 1e-12 to cancellation.
    mean = np.concatenate([np.linspace(-3.0, 8.0, 45), [6.0, 11.0, 16.0, 21.0, 26.0]])
    std = np.concatenate([np.linspace(0.2, 2.0, 45), np.ones(5)])
    z = (1.0 - mean) / std
    expected = np.log(std * (z * norm.cdf(z) + norm.pdf(z)))
    np.testing.assert_allclose(log_expected_improvement(mean, std, 1.0), expected, rtol=1e-9)


def test_log_ei_is_finite_and_very_negative_far_from_the_data():
    z = -np.array([10.0, 40.0, 1e3, 1e6, 1e8, 1e12])
    values = log_expected_improvement(-z, np.ones_like(z), 0.0)
    assert np.all(np.isfinite(values))
    assert np.all(np.diff(values) < 0)
    # Asymptotically log h(z) = -z^2/2 - log(2 pi)/2 - 2 log|z|.
    asymptote = -0.5 * z**2 - 0.5 * np.log(2 * np.pi) - 2 * np.log(-z)
    np.testing.assert_allclose(values[1:], asymptote[1:], rtol=1e-3)
    degenerate = log_expected_improvement(np.array(5.0), np.array(0.0), 0.0)
    assert degenerate.shape == () and np.isfinite(degenerate) and degenerate < -1e250


@pytest.mark.parametrize("z0", [-1.0, -1.0 / np.sqrt(np.finfo(float).eps)])
def test_log_ei_is_continuous_across_branches(z0):
    z = z0 * (1.0 + np.array([-1e-9, 0.0, 1e-9]))
    values = log_expected_improvement(-z, np.ones(3), 0.0)
    assert np.ptp(values) <= 1e-6 * abs(values[1]) + 1e-8


def test_log_ei_gradient_matches_finite_differences():
    mean = np.array([-2.0, 0.0, 0.9, 1.5, 4.0, 30.0, 300.0])
    std = np.array([0.5, 1.0, 0.1, 2.0, 0.7, 1.0, 3.0])
    values, d_mean, d_std = log_expected_improvement_with_grad(mean, std, 1.0)
    np.testing.assert_array_equal(values, log_expected_improvement(mean, std, 1.0))
    eps = 1e-6
    numeric_mean = (
        log_expected_improvement(mean + eps, std, 1.0)
        - log_expected_improvement(mean - eps, std, 1.0)
    ) / (2 * eps)
    numeric_std = (
        log_expected_improvement(mean, std + eps, 1.0)
        - log_expected_improvement(mean, std - eps, 1.0)
    ) / (2 * eps)
    np.testing.assert_allclose(d_mean, numeric_mean, rtol=1e-5, atol=1e-8)
    np.testing.assert_allclose(d_std, numeric_std, rtol=1e-5, atol=1e-8)
    # Far from the data: d/dmean ~ -|z|/std, d/dstd ~ z^2/std.
    far = log_expected_improvement_with_grad(np.array([1e4]), np.array([1.0]), 0.0)
    assert far[1][0] == pytest.approx(-1e4, rel=1e-3) and far[2][0] == pytest.approx(1e8, rel=1e-3)
    assert np.all(d_mean < 0)


@pytest.mark.parametrize("exploration", [1.0, 2.0])
def test_acquisition_gradient_matches_finite_differences(exploration):
    gp, _, y = mixed_gp()
    acquisition = _Acquisition(gp, y.min(), exploration)
    x = np.column_stack([np.linspace(0.05, 0.95, 6), GRID[[0, 2, 3, 4, 5, 6]], [0, 1, 2, 0, 1, 2]])
    values, grad = acquisition.with_grad(x)
    np.testing.assert_allclose(values, acquisition(x))
    for column in (0, 1):
        step = np.zeros_like(x)
        step[:, column] = 1e-6
        numeric = (acquisition(x + step) - acquisition(x - step)) / 2e-6
        np.testing.assert_allclose(grad[:, column], numeric, rtol=1e-4, atol=1e-6)
    assert np.all(grad[:, 2] == 0.0) and np.all(np.isfinite(values))


def test_exploration_widens_the_standard_deviation():
    gp, x, y = mixed_gp()
    test = x[:4] + np.array([0.05, 0.0, 0.0])
    mean, std = gp.predict(test)
    np.testing.assert_allclose(
        _Acquisition(gp, y.min(), 3.0)(test), log_expected_improvement(mean, 3.0 * std, y.min())
    )


def test_optimize_acquisition_is_reproducible_and_lands_on_the_grid():
    gp, x, y = mixed_gp()
    first = optimize_acquisition(gp, y.min(), np.random.default_rng(7), exclude=x)
    second = optimize_acquisition(gp, y.min(), np.random.default_rng(7), exclude=x)
    np.testing.assert_array_equal(first, second)
    assert first.shape == (3,)
    assert 0.0 <= first[0] <= 1.0
    points = [
        optimize_acquisition(gp, y.min(), np.random.default_rng(s), n_candidates=64)
        for s in range(5)
    ]
    for point in [first, *points]:
        assert point[1] in GRID
        assert point[2] in (0.0, 1.0, 2.0)


@pytest.mark.parametrize("offset", [0.0, 0.5])
def test_optimize_acquisition_matches_a_dense_search(offset):
    gp, x, y = mixed_gp(40)
    best = y.min() - offset
    point = optimize_acquisition(gp, best, np.random.default_rng(0))
    dense = np.array(
        [[a, b, c] for a in np.linspace(0.0, 1.0, 401) for b in GRID for c in (0.0, 1.0, 2.0)]
    )
    mean, std = gp.predict(dense)
    found_mean, found_std = gp.predict(point[None, :])
    found = log_expected_improvement(found_mean, found_std, best)[0]
    assert found >= log_expected_improvement(mean, std, best).max() - 1e-6


def test_long_grids_and_large_finite_spaces_are_searched_on_their_grids():
    grid = np.linspace(0.0, 1.0, 50)
    dims = [
        Dimension("discrete", grid=grid),
        Dimension("discrete", grid=grid),
        Dimension("categorical", n_choices=4),
    ]
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.choice(grid, 30), rng.choice(grid, 30), rng.integers(0, 4, 30)])
    y = (x[:, 0] - 0.7) ** 2 + (x[:, 1] - 0.2) ** 2 + 0.1 * x[:, 2]
    gp = GaussianProcess(dims).fit(x, y)
    point = optimize_acquisition(gp, y.min(), rng, n_candidates=256, exclude=x)
    assert point[0] in grid and point[1] in grid and point[2] in (0.0, 1.0, 2.0, 3.0)
    assert not np.any(np.all(x == point, axis=1))


def test_exclude_is_honoured_in_continuous_spaces():
    x = qmc.Sobol(2, seed=0).random(8)
    gp = GaussianProcess([Dimension("continuous")] * 2).fit(x, branin(x))
    first = optimize_acquisition(gp, branin(x).min(), np.random.default_rng(3))
    second = optimize_acquisition(
        gp, branin(x).min(), np.random.default_rng(3), exclude=np.vstack([x, first])
    )
    assert not np.allclose(first, second, atol=1e-9, rtol=0.0)


def test_small_finite_spaces_are_enumerated_until_exhausted():
    dims = [Dimension("discrete", grid=[0.0, 0.5, 1.0]), Dimension("categorical", n_choices=2)]
    every = np.array([[a, b] for a in (0.0, 0.5, 1.0) for b in (0.0, 1.0)])
    gp = GaussianProcess(dims).fit(every[:3], [3.0, 1.0, 2.0])
    seen = every[:3]
    for _ in range(3):
        point = optimize_acquisition(gp, 1.0, np.random.default_rng(0), exclude=seen)
        assert point is not None and any(np.array_equal(point, row) for row in every)
        assert not any(np.array_equal(point, row) for row in seen)
        seen = np.vstack([seen, point])
    assert optimize_acquisition(gp, 1.0, np.random.default_rng(0), exclude=seen) is None


def test_optimize_acquisition_validates_its_arguments():
    gp = GaussianProcess([Dimension("continuous")])
    with pytest.raises(RuntimeError, match="fitted"):
        optimize_acquisition(gp, 0.0, np.random.default_rng(0))
    gp.fit(np.array([[0.1], [0.9]]), np.array([1.0, 2.0]))
    with pytest.raises(ValueError, match="exclude"):
        optimize_acquisition(gp, 0.0, np.random.default_rng(0), exclude=np.zeros((2, 3)))
    with pytest.raises(ValueError, match="exploration"):
        optimize_acquisition(gp, 0.0, np.random.default_rng(0), exploration=0.0)
    with pytest.raises(ValueError, match="best"):
        optimize_acquisition(gp, np.nan, np.random.default_rng(0))
    with pytest.raises(ValueError, match="n_candidates"):
        optimize_acquisition(gp, 0.0, np.random.default_rng(0), n_candidates=0)
    assert optimize_acquisition(gp, 0.0, np.random.default_rng(0), n_restarts=0).shape == (1,)


def test_projection_scores_and_returns_the_points_configurations_stand_for():
    # Column 1 only matters when the category in column 2 is 1; elsewhere it is pinned to 0.
    def project(x):
        x = np.array(x, dtype=float)
        pinned = np.zeros(x.shape, dtype=bool)
        pinned[:, 1] = x[:, 2] != 1.0
        x[pinned[:, 1], 1] = 0.0
        return x, pinned

    gp, x, y = mixed_gp(30)
    x, _ = project(x)
    gp.fit(x, y)
    for seed in range(3):
        point = optimize_acquisition(gp, y.min(), np.random.default_rng(seed), project=project)
        np.testing.assert_array_equal(point, project(point[None, :])[0][0])
    acquisition = _Acquisition(gp, y.min(), project=project)
    moved = x[:5].copy()
    moved[:, 1] = 0.5
    expected = np.where(x[:5, 2] == 1.0, acquisition(moved), acquisition(x[:5]))
    np.testing.assert_allclose(acquisition(moved), expected)
    grad = acquisition.with_grad(moved)[1]
    assert np.all(grad[x[:5, 2] != 1.0, 1] == 0.0)


def test_a_projected_finite_space_is_enumerated_once_per_configuration():
    dims = [Dimension("categorical", n_choices=2), Dimension("discrete", grid=[0.0, 0.5, 1.0])]

    def project(x):
        x = np.array(x, dtype=float)
        pinned = np.zeros(x.shape, dtype=bool)
        pinned[:, 1] = x[:, 0] == 0.0
        x[pinned[:, 1], 1] = 0.5
        return x, pinned

    gp = GaussianProcess(dims).fit(np.array([[0.0, 0.5], [1.0, 0.0]]), np.array([1.0, 2.0]))
    seen = np.array([[0.0, 0.5], [1.0, 0.0]])
    for _ in range(2):
        point = optimize_acquisition(gp, 1.0, np.random.default_rng(0), exclude=seen,
                                     project=project)
        seen = np.vstack([seen, point])
    assert {tuple(p) for p in seen} == {(0.0, 0.5), (1.0, 0.0), (1.0, 0.5), (1.0, 1.0)}
    assert optimize_acquisition(gp, 1.0, np.random.default_rng(0), exclude=seen,
                                project=project) is None

import json

import numpy as np
import pytest
from scipy.stats import qmc

from e2etune.oracles import _kernel
from e2etune.oracles.gaussian_process import Dimension, GaussianProcess

GRID = np.linspace(0.0, 1.0, 5)
MIXED = [
    Dimension("continuous"),
    Dimension("discrete", grid=GRID),
    Dimension("categorical", n_choices=3),
    Dimension("continuous"),
]


def mixed_data(n, seed=0):
    rng = np.random.default_rng(seed)
    x = np.column_stack([rng.random(n), rng.choice(GRID, n), rng.integers(0, 3, n), rng.random(n)])
    y = np.sin(5.0 * x[:, 0]) + x[:, 1] + (x[:, 2] == 1) - x[:, 3] ** 2 + rng.normal(0.0, 0.05, n)
    return x, y


def smooth(x):
    return np.sin(2.0 * np.pi * x[:, 0]) * np.cos(np.pi * x[:, 1])


def central_differences(fn, point, eps=1e-6):
    grad = np.zeros_like(point)
    for i in range(point.size):
        step = np.zeros_like(point)
        step[i] = eps
        grad[i] = (fn(point + step) - fn(point - step)) / (2.0 * eps)
    return grad


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"kind": "integer"}, "kind must be one of"),
        ({"kind": "discrete"}, "needs a grid"),
        ({"kind": "discrete", "grid": []}, "non-empty"),
        ({"kind": "discrete", "grid": [[0.0, 1.0]]}, "1-d"),
        ({"kind": "discrete", "grid": [0.5, 0.2]}, "strictly increasing"),
        ({"kind": "discrete", "grid": [0.5, 0.5]}, "strictly increasing"),
        ({"kind": "discrete", "grid": [0.0, 1.5]}, r"in \[0, 1\]"),
        ({"kind": "discrete", "grid": [np.nan]}, r"in \[0, 1\]"),
        ({"kind": "categorical"}, "n_choices >= 1"),
        ({"kind": "categorical", "n_choices": 0}, "n_choices >= 1"),
        ({"kind": "categorical", "n_choices": 2.0}, "n_choices >= 1"),
        ({"kind": "categorical", "n_choices": True}, "n_choices >= 1"),
        ({"kind": "continuous", "grid": [0.0]}, "Only a 'discrete'"),
        ({"kind": "continuous", "n_choices": 2}, "Only a 'categorical'"),
    ],
)
def test_dimension_rejects_invalid_fields(kwargs, message):
    with pytest.raises(ValueError, match=message):
        Dimension(**kwargs)


def test_dimension_stores_a_read_only_float_grid_and_compares_by_value():
    dim = Dimension("discrete", grid=[0, 0.5, 1])
    assert dim.grid.dtype == float
    assert not dim.grid.flags.writeable
    assert dim == Dimension("discrete", grid=np.array([0.0, 0.5, 1.0]))
    assert hash(dim) == hash(Dimension("discrete", grid=[0.0, 0.5, 1.0]))
    assert dim != Dimension("discrete", grid=[0.0, 1.0])
    assert Dimension("categorical", n_choices=np.int64(3)).n_choices == 3


def test_constructor_validates_dimensions():
    with pytest.raises(ValueError, match="at least one"):
        GaussianProcess([])
    with pytest.raises(ValueError, match="Dimension objects"):
        GaussianProcess(["continuous"])


def test_noise_floor_bounds_the_fitted_noise():
    with pytest.raises(ValueError, match="noise_floor"):
        GaussianProcess(MIXED, noise_floor=0.0)
    with pytest.raises(ValueError, match="noise_floor"):
        GaussianProcess(MIXED, noise_floor=1.0)
    x = qmc.Sobol(2, seed=0).random_base2(4)
    default = GaussianProcess([Dimension("continuous")] * 2).fit(x, smooth(x))
    floored = GaussianProcess([Dimension("continuous")] * 2, noise_floor=1e-2).fit(x, smooth(x))
    assert np.exp(default.get_state()["log_noise_variance"]) < 1e-2
    assert np.exp(floored.get_state()["log_noise_variance"]) >= 1e-2 * (1 - 1e-12)
    floored.set_state(default.get_state())
    assert floored.get_state()["log_noise_variance"] == pytest.approx(np.log(1e-2))


def test_fits_a_smooth_function_on_held_out_points():
    x = qmc.Sobol(2, seed=0).random_base2(6)
    test = np.random.default_rng(1).random((200, 2))
    gp = GaussianProcess([Dimension("continuous")] * 2).fit(x, smooth(x))
    mean, std = gp.predict(test)
    error = np.abs(mean - smooth(test))
    assert error.max() < 0.05
    assert np.sqrt(np.mean(error**2)) < 0.01
    assert np.all(std > 0) and np.mean(error < 3 * std + 1e-3) > 0.95


def test_predictions_are_in_original_units():
    x = qmc.Sobol(2, seed=0).random(32)
    y = 1000.0 + 50.0 * smooth(x)
    gp = GaussianProcess([Dimension("continuous")] * 2).fit(x, y)
    unit = GaussianProcess([Dimension("continuous")] * 2).fit(x, smooth(x))
    mean, std = gp.predict(x[:5])
    np.testing.assert_allclose(mean, y[:5], atol=0.05)
    unit_mean, unit_std = unit.predict(x[:5] + 0.01)
    np.testing.assert_allclose(
        gp.predict(x[:5] + 0.01, return_std=False), 1000.0 + 50.0 * unit_mean, rtol=1e-6
    )
    np.testing.assert_allclose(gp.predict(x[:5] + 0.01)[1], 50.0 * unit_std, rtol=1e-4)
    assert mean.shape == std.shape == (5,)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_objective_gradient_matches_finite_differences(seed):
    x, y = mixed_data(25, seed)
    encoding = GaussianProcess(MIXED)._encoding
    raw = encoding.raw(x)
    y = (y - y.mean()) / y.std()
    theta = _kernel.default_theta(4) + np.random.default_rng(seed).normal(0.0, 0.7, 6)
    _, grad = _kernel.negative_log_posterior(theta, raw, encoding.owner, y)
    numeric = central_differences(
        lambda t: _kernel.negative_log_posterior(t, raw, encoding.owner, y)[0], theta
    )
    np.testing.assert_allclose(grad, numeric, rtol=1e-4, atol=1e-6)


def test_fit_improves_the_objective_from_the_default_start():
    x, y = mixed_data(30)
    gp = GaussianProcess(MIXED).fit(x, y)
    raw, owner, ys = gp._encoding.raw(x), gp._encoding.owner, (y - y.mean()) / y.std()
    fitted = np.array(
        gp.get_state()["log_length_scales"]
        + [gp.get_state()["log_signal_variance"], gp.get_state()["log_noise_variance"]]
    )
    start = _kernel.negative_log_posterior(_kernel.default_theta(4), raw, owner, ys)[0]
    assert _kernel.negative_log_posterior(fitted, raw, owner, ys)[0] < start - 0.1


def test_posterior_gradients_match_finite_differences():
    x, y = mixed_data(30)
    gp = GaussianProcess(MIXED).fit(x, y)
    test, _ = mixed_data(6, seed=5)
    mean, var, d_mean, d_var = gp._posterior_with_grad(test)
    for column in (0, 1, 3):
        for sign_fn, grad in (
            (lambda z: gp._posterior_with_grad(z)[0], d_mean),
            (lambda z: gp._posterior_with_grad(z)[1], d_var),
        ):
            step = np.zeros_like(test)
            step[:, column] = 1e-6
            numeric = (sign_fn(test + step) - sign_fn(test - step)) / 2e-6
            np.testing.assert_allclose(grad[:, column], numeric, rtol=1e-4, atol=1e-7)
    assert np.all(d_mean[:, 2] == 0.0) and np.all(d_var[:, 2] == 0.0)
    predicted_mean, predicted_std = gp.predict(test)
    np.testing.assert_allclose(mean, predicted_mean)
    np.testing.assert_allclose(np.sqrt(var), predicted_std)


def test_categorical_columns_are_modelled():
    rng = np.random.default_rng(0)
    x = np.column_stack([rng.random(40), rng.integers(0, 3, 40)])
    y = x[:, 0] + np.array([0.0, 2.0, -1.0])[x[:, 1].astype(int)]
    gp = GaussianProcess([Dimension("continuous"), Dimension("categorical", n_choices=3)]).fit(x, y)
    means = gp.predict(np.array([[0.5, 0.0], [0.5, 1.0], [0.5, 2.0]]), return_std=False)
    np.testing.assert_allclose(means, [0.5, 2.5, -0.5], atol=0.1)


def test_duplicate_and_near_duplicate_points_do_not_break_fit():
    x, y = mixed_data(20)
    x = np.vstack([x, x, x[:5] + np.array([1e-13, 0.0, 0.0, 0.0])])
    y = np.concatenate([y, y + 0.1, y[:5] - 0.1])
    gp = GaussianProcess(MIXED).fit(x, y)
    mean, std = gp.predict(x)
    assert np.all(np.isfinite(mean)) and np.all(np.isfinite(std)) and np.all(std >= 0)
    assert np.exp(gp.get_state()["log_noise_variance"]) > 1e-4


def test_constant_outputs_and_a_single_point_are_fine():
    x, _ = mixed_data(10)
    mean, std = GaussianProcess(MIXED).fit(x, np.full(10, 7.0)).predict(x[:3])
    np.testing.assert_allclose(mean, 7.0)
    assert np.all(np.isfinite(std))
    mean, std = GaussianProcess(MIXED).fit(x[:1], [2.0]).predict(x[:2])
    assert mean[0] == pytest.approx(2.0) and std[1] > std[0]


def test_cholesky_adds_jitter_to_singular_matrices():
    ones = np.ones((4, 4))
    factor = _kernel.cholesky(ones)
    np.testing.assert_allclose(np.tril(factor) @ np.tril(factor).T, ones, atol=1e-4)
    with pytest.raises(np.linalg.LinAlgError):
        _kernel.cholesky(np.full((3, 3), np.nan))


def test_state_is_plain_and_warm_starts_the_next_fit():
    x, y = mixed_data(30)
    gp = GaussianProcess(MIXED, seed=3)
    assert gp.get_state() == {}
    gp.fit(x[:20], y[:20])
    state = json.loads(json.dumps(gp.get_state()))
    assert sorted(state) == ["log_length_scales", "log_noise_variance", "log_signal_variance"]
    assert len(state["log_length_scales"]) == 4
    resumed = GaussianProcess(MIXED)
    resumed.set_state(state)
    gp.fit(x, y)
    resumed.fit(x, y)
    assert resumed.get_state() == gp.get_state()
    np.testing.assert_array_equal(resumed.predict(x[:3])[1], gp.predict(x[:3])[1])


def test_fit_is_deterministic_for_a_seed():
    x, y = mixed_data(15)
    first = GaussianProcess(MIXED, seed=1).fit(x, y).get_state()
    assert GaussianProcess(MIXED, seed=1).fit(x, y).get_state() == first


def test_set_state_validates_and_resets():
    gp = GaussianProcess(MIXED)
    with pytest.raises(ValueError, match="length scales"):
        gp.set_state(
            {"log_length_scales": [0.0], "log_signal_variance": 0.0, "log_noise_variance": -5.0}
        )
    with pytest.raises(ValueError, match="Invalid"):
        gp.set_state({"log_length_scales": [0.0] * 4})
    with pytest.raises(ValueError, match="non-finite"):
        gp.set_state(
            {
                "log_length_scales": [np.nan] * 4,
                "log_signal_variance": 0.0,
                "log_noise_variance": 0.0,
            }
        )
    gp.set_state(
        {"log_length_scales": [50.0] * 4, "log_signal_variance": 0.0, "log_noise_variance": -5.0}
    )
    assert max(gp.get_state()["log_length_scales"]) == pytest.approx(np.log(100.0))
    gp.set_state({})
    assert gp.get_state() == {}


def test_inputs_are_validated():
    gp = GaussianProcess(MIXED)
    x, y = mixed_data(5)
    with pytest.raises(RuntimeError, match="fit"):
        gp.predict(x)
    with pytest.raises(ValueError, match=r"shape \(n, 4\)"):
        gp.fit(x[:, :3], y)
    with pytest.raises(ValueError, match="y must have shape"):
        gp.fit(x, y[:4])
    with pytest.raises(ValueError, match="finite"):
        gp.fit(x, np.append(y[:4], np.nan))
    bad = x.copy()
    bad[0, 2] = 3.0
    with pytest.raises(ValueError, match="categorical"):
        gp.fit(bad, y)
    bad[0, 2] = 0.5
    with pytest.raises(ValueError, match="categorical"):
        gp.fit(bad, y)
    gp.fit(x, y)
    assert gp.is_fitted and gp.n_dims == 4
    assert not gp.x_train.flags.writeable
    np.testing.assert_array_equal(gp.y_train, y)


def test_condition_adds_points_without_refitting():
    x, y = mixed_data(25)
    gp = GaussianProcess(MIXED, seed=0).fit(x[:20], y[:20])
    state = gp.get_state()
    gp.condition(x, y)
    assert gp.get_state() == state and gp.x_train.shape == (25, 4)
    np.testing.assert_allclose(gp.predict(x[20:], return_std=False), y[20:], atol=0.1)
    assert np.all(gp.predict(x[20:])[1] < 0.1)
    with pytest.raises(RuntimeError, match="fit"):
        GaussianProcess(MIXED).condition(x, y)


def test_zero_iterations_keep_the_restored_parameters():
    x, y = mixed_data(20)
    state = GaussianProcess(MIXED, seed=0).fit(x, y).get_state()
    gp = GaussianProcess(MIXED)
    gp.set_state(state)
    gp.fit(x[:10], y[:10], max_iterations=0)
    assert gp.get_state() == state
    fresh = GaussianProcess(MIXED).fit(x, y, max_iterations=0).get_state()
    np.testing.assert_allclose(fresh["log_length_scales"], np.log(_kernel.DEFAULT_LENGTH_SCALE))
    assert fresh["log_noise_variance"] == pytest.approx(np.log(_kernel.DEFAULT_NOISE_VARIANCE))

"""Encoding of trials for the Gaussian process: columns, round trips, conditions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from e2etune.engine.conditions import Parent
from e2etune.engine.hyperparameters import Fixed, HyperParameters, Int
from e2etune.oracles._encoding import MAX_GRID, SpaceEncoding


def space() -> HyperParameters:
    hp = HyperParameters()
    hp.Float("lr", 1e-4, 1e-1, sampling="log")
    hp.Int("units", 16, 256, step=16)
    hp.Choice("activation", ["relu", "tanh", "gelu"])
    hp.Choice("batch", [16, 32, 64])
    hp.Boolean("dropout")
    hp.Fixed("epochs", 3)
    hp.Choice("optimizer", ["adam", "sgd"])
    with hp.conditional_scope("optimizer", ["sgd"]):
        hp.Float("momentum", 0.0, 0.9, default=0.5)
        hp.Boolean("nesterov", default=True)
    return hp


def test_columns_follow_the_kind_of_each_hyperparameter():
    encoding = SpaceEncoding(space().space)
    kinds = {name: dim.kind for name, dim in zip(encoding.names, encoding.dimensions)}
    assert kinds == {
        "lr": "continuous", "units": "discrete", "activation": "categorical",
        "batch": "discrete", "dropout": "discrete", "optimizer": "categorical",
        "momentum": "continuous", "nesterov": "discrete",
    }
    assert "epochs" not in encoding.names and encoding.conditional
    assert len(encoding.dimensions[1].grid) == 16


def test_values_round_trip_and_log_scales_are_linear_in_the_column():
    encoding = SpaceEncoding(space().space)
    values = {"lr": 1e-3, "units": 64, "activation": "gelu", "batch": 32, "dropout": True,
              "epochs": 3, "optimizer": "sgd", "momentum": 0.9, "nesterov": False}
    row = encoding.encode(values)
    decoded = encoding.decode(row)
    assert decoded.keys() == values.keys()
    assert decoded["lr"] == pytest.approx(1e-3) and decoded["momentum"] == pytest.approx(0.9)
    assert {k: decoded[k] for k in values if k not in ("lr", "momentum")} == {
        k: v for k, v in values.items() if k not in ("lr", "momentum")}
    assert row[0] == pytest.approx(1.0 / 3.0)  # 1e-3 is a third of the way, on a log scale
    assert row[2] == 2.0  # the category's index


def test_inactive_values_are_left_out_and_their_columns_pinned():
    encoding = SpaceEncoding(space().space)
    base = {"lr": 1e-3, "units": 64, "activation": "relu", "batch": 16, "dropout": False,
            "optimizer": "adam"}
    with_stale = encoding.encode({**base, "momentum": 0.1, "nesterov": False})
    np.testing.assert_array_equal(with_stale, encoding.encode(base))
    momentum = encoding.names.index("momentum")
    assert with_stale[momentum] == pytest.approx(0.5 / 0.9)  # the default's position
    decoded = encoding.decode(with_stale)
    assert "momentum" not in decoded and "nesterov" not in decoded
    assert decoded["epochs"] == 3


def test_project_pins_inactive_columns_of_many_rows_at_once():
    encoding = SpaceEncoding(space().space)
    rng = np.random.default_rng(0)
    rows = np.array([encoding.encode(encoding.decode(np.array(
        [rng.random(), rng.random(), rng.integers(3), rng.random(), rng.random(),
         rng.integers(2), rng.random(), rng.random()]))) for _ in range(20)])
    noisy = rows.copy()
    optimizer, momentum = encoding.names.index("optimizer"), encoding.names.index("momentum")
    noisy[:, momentum] = rng.random(20)
    projected, pinned = encoding.project(noisy)
    adam = noisy[:, optimizer] == 0.0
    assert adam.any() and (~adam).any()
    np.testing.assert_array_equal(pinned[:, momentum], adam)
    np.testing.assert_array_equal(projected[adam], rows[adam])
    np.testing.assert_array_equal(projected[~adam], noisy[~adam])
    for row in projected:
        np.testing.assert_allclose(encoding.canonical(row)[[optimizer, momentum]],
                                   row[[optimizer, momentum]], atol=1e-9)


def test_conditions_on_constant_or_missing_parents():
    encoding = SpaceEncoding([
        Fixed("model", "cnn"),
        Int("filters", 8, 64, conditions=[Parent("model", ["cnn"])]),
        Int("layers", 1, 4, conditions=[Parent("model", ["mlp"])]),
        Int("depth", 1, 4, conditions=[Parent("missing", [1])]),
    ])
    projected, pinned = encoding.project(np.array([[0.3, 0.9, 0.9]]))
    assert pinned.tolist() == [[False, True, True]]
    assert encoding.decode(projected[0]).keys() == {"model", "filters"}


def test_long_integer_ranges_are_continuous_and_snapped():
    hp = HyperParameters()
    hp.Int("seed", 0, 10 * MAX_GRID)
    encoding = SpaceEncoding(hp.space)
    assert encoding.dimensions[0].kind == "continuous"
    value = encoding.decode(np.array([0.123456]))["seed"]
    assert isinstance(value, int) and math.isclose(value, 0.123456 * (10 * MAX_GRID + 1), abs_tol=1)


def test_values_outside_the_space_fall_back_to_the_default():
    hp = HyperParameters()
    hp.Choice("activation", ["relu", "tanh"], default="tanh")
    encoding = SpaceEncoding(hp.space)
    assert encoding.encode({"activation": "swish"}).tolist() == [1.0]
    assert encoding.encode({}).tolist() == [1.0]

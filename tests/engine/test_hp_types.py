"""The hyperparameter types: round trips, sampling, unit-interval maps, validation."""

from __future__ import annotations

import math
import struct

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from e2etune.engine import _values
from e2etune.engine.hyperparameters import (
    Boolean,
    Choice,
    Fixed,
    Float,
    HyperParameter,
    Int,
    Parent,
    deserialize,
    hyperparameter_from_proto,
    serialize,
)
from e2etune.protos import e2etune_pb2, parse

# Deterministic (derandomize) and writing no example database into the checkout.
FAST = settings(max_examples=50, deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow])
INT64 = st.integers(min_value=-(2**63), max_value=2**63 - 1)
FINITE = st.floats(allow_nan=False, allow_infinity=False)
POSITIVE = st.floats(min_value=0.0, max_value=1.7e308, exclude_min=True, allow_nan=False)
TEXT = st.text(max_size=8)


def bits(x: float) -> bytes:
    return struct.pack("<d", x)


def same(a, b) -> bool:
    """Equal, with floats compared bit for bit and bools kept apart from ints."""
    if isinstance(a, float) or isinstance(b, float):
        return type(a) is type(b) and bits(a) == bits(b)
    return type(a) is type(b) and a == b


# Strategies.

def hyper_values():
    return st.one_of(INT64, FINITE, TEXT, st.booleans())


conditions_st = st.lists(
    st.builds(Parent, st.text(min_size=1, max_size=6), st.lists(hyper_values(), min_size=1, max_size=3)),
    max_size=2,
)


@st.composite
def float_hps(draw, bounded: bool = False):
    sampling = draw(st.sampled_from(["linear", "log", "reverse_log"]))
    if bounded:
        low = draw(st.floats(1e-6, 1e3)) if sampling != "linear" else draw(st.floats(-1e3, 1e3))
        high = low + draw(st.floats(0.0, 1e3))
    else:
        a, b = draw(POSITIVE if sampling != "linear" else FINITE), draw(POSITIVE if sampling != "linear" else FINITE)
        low, high = min(a, b), max(a, b)
    step = None
    if draw(st.booleans()):
        if sampling == "linear":
            if bounded:
                assume(high > low)
                step = (high - low) / draw(st.integers(1, 50)) * draw(st.floats(0.5, 1.0))
                assume(step > 0)
            else:
                step = draw(POSITIVE)
                assume((high / 2 - low / 2) / step < 2**60)  # grids hold at most 2**62 values
        else:
            step = draw(st.floats(1.5, 20.0)) if bounded else draw(st.floats(1.0, 1e300, exclude_min=True))
            assume((math.log(high) - math.log(low)) / math.log(step) < 2**60)
    default = draw(st.none() | st.floats(low, high))
    return Float("lr", low, high, step=step, sampling=sampling, default=default,
                 conditions=draw(conditions_st))


@st.composite
def int_hps(draw, bounded: bool = False):
    sampling = draw(st.sampled_from(["linear", "log", "reverse_log"]))
    limit = 2**40 if bounded else 2**63 - 1
    lowest = 1 if sampling != "linear" else -limit
    a, b = draw(st.integers(lowest, limit)), draw(st.integers(lowest, limit))
    low, high = min(a, b), max(a, b)
    step = None
    if draw(st.booleans()):
        if sampling == "linear":
            if bounded:  # at most ~500 grid values
                step = draw(st.integers(max(1, (high - low) // 500), max(1, (high - low) // 2 + 1)))
            else:
                step = draw(st.integers(1, 2**63 - 1))
        else:
            step = draw(st.integers(2, 10))
    default = draw(st.none() | st.integers(low, high))
    return Int("units", low, high, step=step, sampling=sampling, default=default,
               conditions=draw(conditions_st))


@st.composite
def choice_hps(draw):
    elements = draw(st.sampled_from([INT64, FINITE, TEXT, st.booleans()]))
    values = draw(st.lists(elements, min_size=1, max_size=6, unique=True))
    default = draw(st.none() | st.sampled_from(values))
    ordered = draw(st.none() | (st.just(False) if isinstance(values[0], str) else st.booleans()))
    return Choice("choice", values, ordered=ordered, default=default, conditions=draw(conditions_st))


any_hp = st.one_of(
    float_hps(),
    int_hps(),
    choice_hps(),
    st.builds(Boolean, st.just("flag"), st.booleans(), conditions_st),
    st.builds(Fixed, st.just("fixed"), hyper_values(), conditions_st),
)


def assert_identical(copy, hp) -> None:
    assert type(copy) is type(hp)
    config, original = copy.get_config(), hp.get_config()
    assert config.keys() == original.keys()
    for key, value in original.items():
        if key == "values":
            assert len(config[key]) == len(value)
            assert all(same(a, b) for a, b in zip(config[key], value))
        elif key == "conditions":
            assert [c["config"]["name"] for c in config[key]] == [c["config"]["name"] for c in value]
            for c1, c2 in zip(config[key], value):
                assert all(same(a, b) for a, b in zip(c1["config"]["values"], c2["config"]["values"]))
        elif value is None:
            assert config[key] is None
        else:
            assert same(config[key], value), key


# Round trips.

@FAST
@given(any_hp)
def test_config_round_trip_keeps_every_value_bit_for_bit(hp):
    assert_identical(type(hp).from_config(hp.get_config()), hp)
    assert_identical(deserialize(serialize(hp)), hp)


@FAST
@given(any_hp)
def test_proto_round_trip_keeps_every_value_bit_for_bit(hp):
    data = hp._to_message().SerializeToString()
    assert_identical(hyperparameter_from_proto(e2etune_pb2.HyperParameter.FromString(data)), hp)
    assert_identical(hyperparameter_from_proto(parse(e2etune_pb2.HyperParameter, data, "hp")), hp)
    alone = hp.to_proto()  # KerasTuner's form: the type's own message
    assert_identical(type(hp).from_proto(type(alone).FromString(alone.SerializeToString())), hp)


@pytest.mark.parametrize(
    "hp",
    [
        Int("a", 1, 10),
        Int("a", -5, 5, step=2, default=3),
        Int("a", 2, 2**40, step=4, sampling="log"),
        Int("a", 1, 100, sampling="reverse_log", default=50),
        Float("a", 0.0, 1.0),
        Float("a", 0.1, 0.3, step=0.1),
        Float("a", 1e-4, 1.0, sampling="log", default=1e-3),
        Float("a", 1e-4, 1.0, step=10.0, sampling="reverse_log"),
        Choice("a", [1, 2, 3]),
        Choice("a", [0.5, 0.25], default=0.25),
        Choice("a", [3, 1, 2], ordered=False),
        Choice("a", [True, False]),
        Boolean("a", default=True),
        Fixed("a", "v"),
        Fixed("a", 0.1 + 1e-12),
        Fixed("a", -(2**63)),
        Int("b", 0, 3, conditions=[Parent("a", ["x", "y"]), Parent("c", 1.5)]),
    ],
    ids=repr,
)
def test_examples_round_trip_and_compare_equal(hp):
    assert type(hp).from_config(hp.get_config()) == hp
    assert hyperparameter_from_proto(hp.to_proto()) == hp
    assert hyperparameter_from_proto(hp.to_proto()).conditions == hp.conditions
    if hp.is_discrete:
        assert list(hyperparameter_from_proto(hp.to_proto()).values) == list(hp.values)


def test_proto_keeps_step_absent_apart_from_step_given():
    assert not Float("a", 0, 1).to_proto().HasField("step")
    assert hyperparameter_from_proto(Float("a", 0, 1).to_proto()).step is None
    assert hyperparameter_from_proto(Int("a", 0, 9, step=3).to_proto()).step == 3


def test_numpy_inputs_become_python_values():
    hp = Choice("a", np.array([1, 2, 3]), default=np.int64(2))
    assert hp.values == [1, 2, 3] and all(type(v) is int for v in hp.values)
    assert type(hp.default) is int
    assert type(Fixed("b", np.float32(0.5)).value) is float
    assert Fixed("c", np.bool_(True)).value is True
    assert type(Int("d", np.int64(1), np.int64(5)).max_value) is int


# Sampling.

@FAST
@given(st.one_of(float_hps(bounded=True), int_hps(bounded=True), choice_hps()), st.integers(0, 2**32))
def test_random_sample_is_reproducible_and_valid(hp, seed):
    value = hp.random_sample(seed)
    assert same(value, hp.random_sample(seed))
    assert same(hp.validate_value(value), value)
    if isinstance(hp, (Int, Float)):
        assert hp.min_value <= value <= hp.max_value
        assert type(value) is (int if isinstance(hp, Int) else float)
    if hp.is_discrete:
        assert value in hp.values


def test_random_sample_accepts_a_generator_and_varies_by_seed():
    hp = Float("a", 0.0, 1.0)
    rng1, rng2 = np.random.default_rng(3), np.random.default_rng(3)
    assert [hp.random_sample(rng1) for _ in range(5)] == [hp.random_sample(rng2) for _ in range(5)]
    assert len({hp.random_sample(seed) for seed in range(20)}) == 20
    assert len({Int("b", 0, 9).random_sample(seed) for seed in range(200)}) == 10


def on_grid(hp, value) -> bool:
    """Whether `value` is min + k*step (linear), min*step**k (log) or its mirror (reverse_log)."""
    low, high, step = hp.min_value, hp.max_value, hp.step
    if hp.sampling == "linear":
        k = round((value - low) / step)
        expected, scale = low + k * step, max(abs(low), abs(high))
    elif hp.sampling == "log":
        k = round(math.log(value / low) / math.log(step))
        expected, scale = low * step**k, value
    else:
        k = round(math.log((high + low - value) / low) / math.log(step))
        expected, scale = high + low - low * step**k, high
    return k >= 0 and math.isclose(value, expected, rel_tol=1e-9, abs_tol=1e-12 * scale)


@FAST
@given(st.one_of(float_hps(bounded=True), int_hps(bounded=True)), st.integers(0, 2**32))
def test_stepped_samples_are_on_the_step_grid(hp, seed):
    assume(hp.step is not None)
    value = hp.random_sample(seed)
    assert on_grid(hp, value)
    if isinstance(hp, Int) and hp.sampling == "linear":
        assert (value - hp.min_value) % hp.step == 0


@FAST
@given(st.one_of(float_hps(bounded=True), int_hps(bounded=True)))
def test_step_grid_is_sorted_within_range_and_reaches_max_when_it_divides(hp):
    assume(hp.step is not None)
    values = list(hp.values)
    assert values == sorted(values) and len(set(values)) == len(values)
    assert all(hp.min_value <= v <= hp.max_value and on_grid(hp, v) for v in values)
    if hp.sampling == "linear":
        assert values[0] == hp.min_value
        assert hp.max_value - values[-1] < hp.step * (1 + 1e-9)
    elif hp.sampling == "log":
        assert values[0] == hp.min_value
    else:
        assert values[-1] == hp.max_value


@pytest.mark.parametrize(
    "hp, expected",
    [
        (Int("a", 1, 10, step=3), [1, 4, 7, 10]),
        (Int("a", 32, 512, step=2, sampling="log"), [32, 64, 128, 256, 512]),
        (Int("a", 1, 100, step=3, sampling="reverse_log"), [20, 74, 92, 98, 100]),
        (Float("a", 0.1, 0.3, step=0.1), [0.1, 0.2, 0.3]),
        (Float("a", 1e-4, 1.0, step=10.0, sampling="log"), [1e-4, 1e-3, 1e-2, 1e-1, 1.0]),
        (Float("a", 0.0, 1.0, step=0.3), [0.0, 0.3, 0.6, 0.9]),
    ],
)
def test_step_grid_examples(hp, expected):
    assert list(hp.values) == pytest.approx(expected, rel=1e-12)
    assert hp.values == pytest.approx(expected, rel=1e-12)
    assert max(hp.values) <= hp.max_value and min(hp.values) >= hp.min_value
    assert len(hp.values) == len(expected)
    assert hp.grid_values() == pytest.approx(expected, rel=1e-12)


def test_wide_linear_grid_is_not_materialized():
    hp = Int("a", 0, 10**15, step=1)
    assert len(hp.values) == 10**15 + 1
    assert hp.values[-1] == 10**15 and hp.values[10**12] == 10**12
    assert 123456789 in hp.values and -1 not in hp.values
    assert hp.prob_to_value(hp.value_to_prob(987654321)) == 987654321
    grid = Float("b", 0.0, 1e6, step=1e-6).values
    assert len(grid) == 10**12 + 1 and grid[-1] == 1e6


def decade_fractions(samples, low_exponent, high_exponent):
    counts, _ = np.histogram(np.log10(samples), bins=high_exponent - low_exponent,
                             range=(low_exponent, high_exponent))
    return counts / len(samples)


def test_log_sampling_puts_equal_mass_in_each_decade():
    rng = np.random.default_rng(0)
    hp = Float("lr", 1e-4, 1.0, sampling="log")
    samples = np.array([hp.random_sample(rng) for _ in range(8000)])
    assert decade_fractions(samples, -4, 0) == pytest.approx([0.25] * 4, abs=0.03)
    # Finer: log10 of the samples is uniform on [-4, 0] (16 bins of 1/16 each).
    counts, _ = np.histogram(np.log10(samples), bins=16, range=(-4, 0))
    assert counts / len(samples) == pytest.approx([1 / 16] * 16, abs=0.015)
    linear = Float("lr", 1e-4, 1.0)
    linear_samples = np.array([linear.random_sample(rng) for _ in range(2000)])
    assert decade_fractions(linear_samples, -4, 0)[-1] > 0.85


def test_reverse_log_sampling_is_dense_near_max():
    rng = np.random.default_rng(1)
    hp = Float("momentum", 1e-4, 1.0, sampling="reverse_log")
    samples = np.array([hp.random_sample(rng) for _ in range(8000)])
    mirrored = 1.0 + 1e-4 - samples
    assert decade_fractions(mirrored, -4, 0) == pytest.approx([0.25] * 4, abs=0.03)
    assert np.mean(samples > 0.9) == pytest.approx(0.75, abs=0.03)


def test_int_log_sampling_is_log_distributed():
    rng = np.random.default_rng(2)
    hp = Int("units", 1, 999, sampling="log")
    samples = np.array([hp.random_sample(rng) for _ in range(6000)])
    assert samples.min() >= 1 and samples.max() <= 999
    assert decade_fractions(samples, 0, 3) == pytest.approx([1 / 3] * 3, abs=0.03)
    reverse = Int("units", 1, 999, sampling="reverse_log")
    reverse_samples = np.array([reverse.random_sample(rng) for _ in range(6000)])
    assert np.mean(reverse_samples >= 900) == pytest.approx(2 / 3, abs=0.04)


def test_stepped_log_sampling_is_uniform_over_the_grid():
    rng = np.random.default_rng(3)
    hp = Int("units", 32, 512, step=2, sampling="log")
    samples = [hp.random_sample(rng) for _ in range(5000)]
    counts = np.array([samples.count(v) for v in hp.values])
    assert counts.sum() == 5000
    assert counts / 5000 == pytest.approx([0.2] * 5, abs=0.03)


def test_discrete_types_sample_uniformly():
    rng = np.random.default_rng(4)
    hp = Choice("a", ["x", "y", "z"])
    samples = [hp.random_sample(rng) for _ in range(3000)]
    assert [samples.count(v) / 3000 for v in hp.values] == pytest.approx([1 / 3] * 3, abs=0.04)
    flags = [Boolean("b").random_sample(rng) for _ in range(2000)]
    assert 0.45 < np.mean(flags) < 0.55
    assert Fixed("c", 3).random_sample(5) == 3


# value_to_prob and prob_to_value.

@FAST
@given(st.one_of(choice_hps(), int_hps(bounded=True), float_hps(bounded=True),
                 st.builds(Boolean, st.just("b")), st.builds(Fixed, st.just("f"), hyper_values())))
def test_prob_to_value_inverts_value_to_prob_on_every_value(hp):
    assume(hp.is_discrete)
    values = list(hp.values) if len(hp.values) <= 200 else [hp.values[i] for i in range(0, len(hp.values), len(hp.values) // 100)]
    for value in values:
        prob = hp.value_to_prob(value)
        assert 0.0 <= prob <= 1.0
        assert same(hp.prob_to_value(prob), value)


@FAST
@given(int_hps(bounded=True), st.data())
def test_int_values_survive_the_unit_interval(hp, data):
    value = data.draw(st.integers(hp.min_value, hp.max_value))
    if hp.step is not None:
        value = hp.values[hp._nearest_index(value)]
    prob = hp.value_to_prob(value)
    assert 0.0 <= prob <= 1.0
    assert hp.prob_to_value(prob) == value


@FAST
@given(st.one_of(float_hps(), int_hps()), st.floats(0, 1), st.floats(0, 1))
def test_prob_to_value_is_monotone_and_in_range(hp, p1, p2):
    p1, p2 = min(p1, p2), max(p1, p2)
    v1, v2 = hp.prob_to_value(p1), hp.prob_to_value(p2)
    assert hp.min_value <= v1 <= v2 <= hp.max_value


@FAST
@given(st.one_of(float_hps(), int_hps()), st.data())
def test_value_to_prob_is_monotone_and_in_unit_interval(hp, data):
    number = st.integers(hp.min_value, hp.max_value) if isinstance(hp, Int) else st.floats(hp.min_value, hp.max_value)
    v1, v2 = sorted([data.draw(number), data.draw(number)])
    p1, p2 = hp.value_to_prob(v1), hp.value_to_prob(v2)
    assert 0.0 <= p1 <= p2 <= 1.0


@FAST
@given(float_hps(bounded=True), st.floats(0, 1))
def test_float_value_to_prob_approximately_inverts_prob_to_value(hp, prob):
    assume(hp.step is None and hp.max_value > hp.min_value)
    value = hp.prob_to_value(prob)
    assert hp.prob_to_value(hp.value_to_prob(value)) == pytest.approx(value, rel=1e-9, abs=1e-9)


@pytest.mark.parametrize(
    "hp", [Float("a", -1e308, 1e308), Float("a", 5e-324, 1e300, sampling="log"),
           Float("a", 1e300, 1.7e308, sampling="reverse_log"), Int("a", -(2**63), 2**63 - 1)],
    ids=repr,
)
def test_extreme_ranges_sample_inside_the_range(hp):
    samples = [hp.random_sample(seed) for seed in range(50)]
    assert all(hp.min_value <= s <= hp.max_value and math.isfinite(s) for s in samples)
    assert len(set(samples)) > 40
    assert all(0.0 < hp.value_to_prob(s) < 1.0 for s in samples)


@pytest.mark.parametrize(
    "hp",
    [Int("a", 274421998167497, 274421998167497, sampling="log"),
     Int("a", 274421998167497, 274421998167497, sampling="reverse_log"),
     # (Beyond 2**52 a double cannot tell neighbouring ints apart: Int(2**62, 2**62 + 5)
     # samples in range but its values do not all survive the unit interval.)
     Int("a", 2**50, 2**50 + 5, sampling="log"), Int("a", 2**40, 2**40 + 9, sampling="reverse_log"),
     Float("a", 1.9999999999999998, 2.0, sampling="log"),
     Float("a", 1.9999999999999998, 2.0, sampling="reverse_log"),
     Float("a", 1e15, 1e15 + 8, sampling="log")],
    ids=repr,
)
def test_narrow_ranges_far_from_zero_keep_their_precision(hp):
    values = list(hp.values) if isinstance(hp, Int) else [hp.min_value, hp.max_value]
    probs = [hp.value_to_prob(v) for v in values]
    assert all(0.0 <= p <= 1.0 for p in probs) and probs == sorted(probs)
    if isinstance(hp, Int):
        assert [hp.prob_to_value(p) for p in probs] == values
    samples = [hp.random_sample(seed) for seed in range(30)]
    assert all(hp.min_value <= v <= hp.max_value for v in samples)


def test_extreme_probabilities_give_the_bounds():
    for hp in (Float("a", 1e-3, 10.0, sampling="log"), Float("a", -2.0, 3.0),
               Float("a", 1e-3, 10.0, sampling="reverse_log")):
        assert hp.prob_to_value(0.0) == hp.min_value and hp.prob_to_value(1.0) == hp.max_value
        assert hp.value_to_prob(hp.min_value) == 0.0 and hp.value_to_prob(hp.max_value) == 1.0
    for hp in (Int("a", 3, 9, sampling="log"), Int("a", 3, 9), Int("a", 3, 9, step=2)):
        assert hp.prob_to_value(0.0) == 3 and hp.prob_to_value(1.0) == 9
    # An Int's probability is the middle of its value's bin.
    assert Int("a", 0, 9).value_to_prob(0) == 0.05 and Int("a", 0, 9).value_to_prob(9) == 0.95


def test_single_value_ranges():
    assert Float("a", 2.0, 2.0).random_sample(0) == 2.0
    assert Float("a", 2.0, 2.0).value_to_prob(2.0) == 0.5
    assert Int("a", 7, 7).random_sample(1) == 7 and list(Int("a", 7, 7).values) == [7]
    assert Int("a", 7, 7, step=5).values == [7]


# Validation at definition time.

NAN, INF = float("nan"), float("inf")

BAD = [
    # (make, error, fragments the message must contain: the name, the bad value, what is allowed)
    (lambda: Int("units", 10, 1), ValueError, ["'units'", "10", "1", "min_value <= max_value"]),
    (lambda: Float("lr", 1.0, 0.5), ValueError, ["'lr'", "1.0", "0.5", "min_value <= max_value"]),
    (lambda: Int("units", 1, 10, step=0), ValueError, ["'units'", "0", "positive"]),
    (lambda: Float("lr", 0.0, 1.0, step=-0.5), ValueError, ["'lr'", "-0.5", "positive"]),
    (lambda: Float("lr", 0.0, 1.0, sampling="log"), ValueError, ["'lr'", "log", "0.0", "min_value > 0"]),
    (lambda: Int("units", -3, 10, sampling="reverse_log"), ValueError, ["'units'", "-3", "min_value > 0"]),
    (lambda: Float("lr", 1e-4, 1.0, step=1.0, sampling="log"), ValueError, ["'lr'", "1.0", "greater than 1"]),
    (lambda: Float("lr", 1e-4, 1.0, step=0.5, sampling="reverse_log"), ValueError, ["'lr'", "0.5", "greater than 1"]),
    (lambda: Int("units", 1, 10, default=11), ValueError, ["'units'", "11", "[1, 10]"]),
    (lambda: Float("lr", 0.0, 1.0, default=-0.25), ValueError, ["'lr'", "-0.25", "[0.0, 1.0]"]),
    (lambda: Choice("act", ["relu", "tanh"], default="gelu"), ValueError, ["'act'", "'gelu'", "'relu'", "'tanh'"]),
    (lambda: Choice("act", [1, 2], default=True), ValueError, ["'act'", "True", "[1, 2]"]),
    (lambda: Choice("act", []), ValueError, ["'act'", "empty", "at least one"]),
    (lambda: Choice("act", ["relu", "tanh", "relu"]), ValueError, ["'act'", "duplicate", "'relu'", "once"]),
    (lambda: Choice("act", [0.0, -0.0]), ValueError, ["'act'", "duplicate", "once"]),
    (lambda: Choice("act", [1, "relu"]), TypeError, ["'act'", "int", "str", "one type"]),
    (lambda: Choice("act", [1, 2.5]), TypeError, ["'act'", "float", "int", "one type"]),
    (lambda: Choice("act", [True, 1]), TypeError, ["'act'", "bool", "int", "one type"]),
    (lambda: Choice("act", [1.0, NAN]), ValueError, ["'act'", "NaN"]),
    (lambda: Choice("act", "relu"), TypeError, ["'act'", "'relu'", "list"]),
    (lambda: Choice("act", [None]), TypeError, ["'act'", "None", "int, float, str or bool"]),
    (lambda: Choice("act", [2**64]), ValueError, ["'act'", str(2**64), "64 bits"]),
    (lambda: Int("units", 1, 10, sampling="exp"), ValueError, ["'units'", "'exp'", "'linear'", "'log'", "'reverse_log'"]),
    (lambda: Float("lr", 0.1, 1.0, sampling="LOGARITHMIC"), ValueError, ["'lr'", "'logarithmic'", "'log'"]),
    (lambda: Int("units", 1.5, 10), ValueError, ["'units'", "1.5", "integer"]),
    (lambda: Int("units", 1, 10.5), ValueError, ["'units'", "10.5", "integer"]),
    (lambda: Int("units", 1, 10, step=1.5), ValueError, ["'units'", "1.5", "integer"]),
    (lambda: Int("units", 1, 10, default=2.5), ValueError, ["'units'", "2.5", "integer"]),
    (lambda: Int("units", 0, 2**64), ValueError, ["'units'", str(2**64), "64 bits"]),
    (lambda: Int("units", "1", 10), TypeError, ["'units'", "'1'", "number"]),
    (lambda: Int("units", True, 10), TypeError, ["'units'", "True", "number"]),
    (lambda: Float("lr", NAN, 1.0), ValueError, ["'lr'", "nan", "finite"]),
    (lambda: Float("lr", 0.0, INF), ValueError, ["'lr'", "inf", "finite"]),
    (lambda: Float("lr", -INF, 0.0), ValueError, ["'lr'", "-inf", "finite"]),
    (lambda: Int("units", 0, INF), ValueError, ["'units'", "inf", "finite"]),
    (lambda: Float("lr", 0.0, 1.0, step=NAN), ValueError, ["'lr'", "nan", "finite"]),
    (lambda: Float("lr", 0.0, 1.0, default=NAN), ValueError, ["'lr'", "nan", "finite"]),
    (lambda: Boolean("flag", default="yes"), TypeError, ["'flag'", "'yes'", "True or False"]),
    (lambda: Boolean("flag", default=1), TypeError, ["'flag'", "1", "True or False"]),
    (lambda: Fixed("fixed", None), TypeError, ["'fixed'", "None", "int, float, str or bool"]),
    (lambda: Fixed("fixed", [1]), TypeError, ["'fixed'", "[1]", "int, float, str or bool"]),
    (lambda: Int("", 0, 1), ValueError, ["''", "non-empty string"]),
    (lambda: Parent("model", []), ValueError, ["'model'", "at least one"]),
]


@pytest.mark.parametrize("make, error, fragments", BAD, ids=[str(i) for i in range(len(BAD))])
def test_bad_definitions_raise_with_a_message_naming_what_is_wrong(make, error, fragments):
    with pytest.raises(error) as raised:
        make()
    message = str(raised.value)
    for fragment in fragments:
        assert fragment in message, (fragment, message)


@pytest.mark.parametrize(
    "hp, bad",
    [(Int("a", 0, 5), 6), (Int("a", 0, 5), 1.5), (Float("a", 0, 1), 2.0),
     (Choice("a", ["x"]), "y"), (Boolean("a"), 1), (Fixed("a", 3), 4)],
    ids=repr,
)
def test_validate_value_rejects_values_outside_the_type(hp, bad):
    with pytest.raises(ValueError, match="'a'"):
        hp.validate_value(bad)


def test_defaults():
    assert Int("a", 3, 9).default == 3
    assert Float("a", 0.5, 1.0).default == 0.5
    assert Choice("a", ["x", "y"]).default == "x"
    assert Boolean("a").default is False
    assert Fixed("a", "v").default == "v"
    assert Choice("a", [1, 2]).ordered is True and Choice("a", ["x"]).ordered is False
    assert Float("a", 0, 1, sampling=None).sampling == "linear"
    assert Float("a", 0.1, 1, sampling="LOG").sampling == "log"


def test_value_helpers_keep_bools_apart_from_ints():
    assert not _values.same_value(True, 1) and not _values.same_value(0, False)
    assert _values.same_value(NAN, NAN)
    assert _values.from_proto(_values.to_proto(True)) is True
    assert type(_values.from_proto(_values.to_proto(1))) is int
    with pytest.raises(ValueError, match="empty"):
        _values.from_proto(e2etune_pb2.Value())


@pytest.mark.parametrize(
    "make",
    [lambda: Boolean("flag", default=None), lambda: Fixed("fixed", None),
     lambda: Choice("act", [{"a": 1}])],
    ids=["boolean", "fixed", "choice"],
)
def test_a_wrongly_typed_value_is_both_a_type_and_a_value_error(make):
    # Ours is a TypeError; KerasTuner code catches ValueError there.
    with pytest.raises(TypeError) as raised:
        make()
    assert isinstance(raised.value, ValueError)


def test_choice_messages_say_what_is_allowed():
    with pytest.raises(TypeError, match="only `int`, `float`, `str`, or `bool`"):
        Choice("act", [{"a": 1}, {"a": 2}])
    with pytest.raises(TypeError, match="only one type"):
        Choice("act", ["relu", 0])
    with pytest.raises(ValueError, match="`values` must be provided"):
        Choice("act", [])
    with pytest.raises(ValueError, match="'gelu'.*default value should be one of them"):
        Choice("act", ["relu"], default="gelu")


def test_strings_cannot_be_an_ordered_choice():
    with pytest.raises(ValueError, match=r"ordered=True.*`ordered` must be `False`"):
        Choice("size", ["small", "large"], ordered=True)
    assert Choice("size", ["small", "large"], ordered=False).ordered is False
    assert Choice("size", ["small", "large"]).ordered is False
    # Numbers and bools may be ordered (bools are not by default).
    assert Choice("size", [True, False], ordered=True).ordered is True
    assert Choice("size", [True, False]).ordered is False
    assert Choice("size", [0.5, 0.1]).ordered is True


def test_boolean_maps_false_to_the_lower_half():
    flag = Boolean("flag")
    assert flag.value_to_prob(False) == 0.25 and flag.value_to_prob(True) == 0.75
    assert flag.prob_to_value(0.49) is False and flag.prob_to_value(0.5) is True
    assert flag.grid_values() == [False, True]
    with pytest.raises(ValueError, match="'flag'"):
        flag.value_to_prob(1)


def test_the_base_hyperparameter_holds_a_name_and_a_default():
    base = HyperParameter("base", default=3)
    assert HyperParameter.from_config(base.get_config()) == base
    assert base.get_config() == {"name": "base", "default": 3, "conditions": []}
    for call in (lambda: base.prob_to_value(0.5), lambda: base.value_to_prob(3),
                 lambda: base.validate_value(3), base.random_sample, base.to_proto):
        with pytest.raises(NotImplementedError, match="'base'.*Int, Float, Choice"):
            call()


def test_boolean_lists_true_first_as_kerastuner_but_grid_search_tries_false_first():
    from e2etune.engine.hyperparameters import Boolean

    hp = Boolean("flag")
    assert hp.values == [True, False] and hp.grid_values() == [False, True]
    assert [hp.prob_to_value(hp.value_to_prob(v)) for v in hp.values] == [True, False]

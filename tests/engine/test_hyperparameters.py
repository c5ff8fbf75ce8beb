"""The `HyperParameters` container: declaring, reading, writing, scopes and round trips."""

from __future__ import annotations

import math
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2etune.engine import hyperparameters as hp_module
from e2etune.engine.hyperparameters import Boolean, Choice, Fixed, Float, HyperParameters, Int
from e2etune.protos import e2etune_pb2, parse

QUICK = settings(max_examples=60, deadline=None, derandomize=True, database=None)


def bits(value):
    return (type(value), struct.pack("<d", value) if isinstance(value, float) else value)


def test_keras_tuner_names_are_exported():
    for name in ("HyperParameters", "Int", "Float", "Choice", "Boolean", "Fixed"):
        assert hasattr(hp_module, name)


def test_declaring_returns_the_default_and_records_the_space():
    hp = HyperParameters()
    assert hp.Int("units", 32, 256, step=32) == 32
    assert hp.Float("lr", 1e-4, 1e-1, sampling="log", default=1e-3) == 1e-3
    assert hp.Choice("act", ["relu", "tanh"]) == "relu"
    assert hp.Boolean("dropout") is False
    assert hp.Fixed("batch", 64) == 64
    assert [h.name for h in hp.space] == ["units", "lr", "act", "dropout", "batch"]
    assert [type(h) for h in hp.space] == [Int, Float, Choice, Boolean, Fixed]
    assert hp.values == {"units": 32, "lr": 1e-3, "act": "relu", "dropout": False, "batch": 64}


def test_declaring_again_returns_the_current_value():
    hp = HyperParameters()
    hp.Int("units", 32, 256, step=32)
    hp.values["units"] = 128
    assert hp.Int("units", 32, 256, step=32) == 128
    assert hp["units"] == 128 and hp.get("units") == 128
    assert len(hp.space) == 1


def test_fixed_overrides_a_later_declaration_of_the_same_name():
    hp = HyperParameters()
    hp.Fixed("units", 64)
    assert hp.Int("units", 32, 256, step=32) == 64
    assert type(hp.get_hyperparameter("units")) is Fixed


def test_writing_values_sets_them():
    hp = HyperParameters()
    hp.Int("a", 0, 10)
    hp.values["a"] = 7
    assert hp.get("a") == 7
    hp.values.update({"a": 8})
    assert hp.get("a") == 8
    hp.values = {"a": 9}
    assert hp.get("a") == 9
    snapshot = hp.values
    hp.values["a"] = 1
    assert snapshot["a"] == 9  # `values` is a snapshot; writes through it reach hp


def test_get_of_an_undeclared_name_lists_the_declared_ones():
    hp = HyperParameters()
    hp.Int("units", 1, 2)
    with pytest.raises(KeyError, match="'lr'.*'units'"):
        hp.get("lr")
    assert "lr" not in hp and "units" in hp


def test_name_scope_prefixes_names_and_nests():
    hp = HyperParameters()
    with hp.name_scope("encoder"):
        assert hp.Int("units", 1, 4) == 1
        with hp.name_scope("block"):
            hp.Boolean("norm")
        assert hp.get("units") == 1  # resolved in the current scope
    assert [h.name for h in hp.space] == ["encoder/units", "encoder/block/norm"]
    assert hp.get("encoder/block/norm") is False
    with pytest.raises(KeyError):
        hp.get("units")


def test_new_entries_can_be_refused_or_fixed():
    hp = HyperParameters()
    hp.allow_new_entries = False
    with pytest.raises(RuntimeError, match="'units'.*allow_new_entries"):
        hp.Int("units", 1, 4)
    hp = HyperParameters()
    hp.tune_new_entries = False
    assert hp.Int("units", 2, 4) == 2
    assert hp.get_hyperparameter("units") == Fixed("units", 2)


def test_bad_declarations_leave_the_space_unchanged():
    hp = HyperParameters()
    with pytest.raises(ValueError, match="'units'"):
        hp.Int("units", 4, 1)
    with pytest.raises(ValueError, match="'act'"):
        hp.Choice("act", [])
    assert hp.space == [] and hp.values == {}


def test_copy_is_independent():
    hp = HyperParameters()
    hp.Int("a", 0, 5)
    copy = hp.copy()
    copy.values["a"] = 3
    copy.Boolean("b")
    assert hp.values == {"a": 0} and copy.values == {"a": 3, "b": False}


def test_merge_adds_hyperparameters_and_values():
    hp, other = HyperParameters(), HyperParameters()
    hp.Int("a", 0, 5)
    other.Int("a", 0, 9)
    other.Choice("b", ["x", "y"])
    other.values["b"] = "y"
    hp.merge(other, overwrite=False)
    assert hp.get_hyperparameter("a") == Int("a", 0, 5) and hp.get("b") == "y"
    hp.merge(other)
    assert hp.get_hyperparameter("a") == Int("a", 0, 9)
    hp.merge([Fixed("c", 1)])
    assert hp.get("c") == 1


def full_space() -> HyperParameters:
    hp = HyperParameters()
    hp.Int("units", 32, 512, step=2, sampling="log", default=64)
    hp.Float("lr", 1e-5, 1e-1, sampling="log")
    hp.Float("dropout", 0.0, 0.5, step=0.1)
    hp.Choice("model", ["mlp", "cnn"])
    hp.Boolean("norm", default=True)
    hp.Fixed("batch", 32)
    with hp.conditional_scope("model", "cnn"), hp.name_scope("conv"):
        hp.Int("filters", 8, 64, sampling="reverse_log")
        hp.Choice("kernel", [3, 5], parent_name="norm", parent_values=True)
    hp.values.update({"lr": 0.1 + 1e-12, "model": "cnn", "conv/filters": 33, "dropout": 1 / 3})
    return hp


def assert_same_hyperparameters(copy: HyperParameters, hp: HyperParameters) -> None:
    assert copy.space == hp.space
    assert [h.conditions for h in copy.space] == [h.conditions for h in hp.space]
    assert {n: bits(v) for n, v in copy.values.items()} == {n: bits(v) for n, v in hp.values.items()}
    assert list(copy.values) == list(hp.values)  # declaration order survives
    assert copy.get_config() == hp.get_config()


def test_whole_space_round_trips_through_config():
    hp = full_space()
    assert_same_hyperparameters(HyperParameters.from_config(hp.get_config()), hp)


def test_whole_space_round_trips_through_proto_bytes():
    hp = full_space()
    data = hp.to_proto().SerializeToString()
    copy = HyperParameters.from_proto(parse(e2etune_pb2.HyperParameters, data, "space"))
    assert_same_hyperparameters(copy, hp)
    assert copy.get("conv/kernel") == 3 and copy.get("lr") == 0.1 + 1e-12
    assert HyperParameters.from_proto(copy.to_proto()).to_proto() == hp.to_proto()


def test_inactive_values_are_saved_too():
    hp = full_space()
    hp.values["model"] = "mlp"
    assert "conv/filters" not in hp.values
    copy = HyperParameters.from_proto(hp.to_proto())
    copy.values["model"] = "cnn"
    assert copy.get("conv/filters") == 33


def test_config_format_is_keras_tuners():
    hp = HyperParameters()
    hp.Int("a", 1, 3)
    assert hp.get_config() == {
        "space": [{"class_name": "Int", "config": {
            "name": "a", "default": 1, "conditions": [], "min_value": 1, "max_value": 3,
            "step": 1, "sampling": "linear"}}],
        "values": {"a": 1},
    }


def test_a_hyperparameter_proto_without_type_is_a_clear_error():
    proto = e2etune_pb2.HyperParameters(space=[e2etune_pb2.HyperParameter(name="units")])
    with pytest.raises(ValueError, match="'units'.*no type"):
        HyperParameters.from_proto(proto)
    empty_value = e2etune_pb2.HyperParameters()
    empty_value.values["units"].CopyFrom(e2etune_pb2.Value())
    with pytest.raises(ValueError, match="empty"):
        HyperParameters.from_proto(empty_value)


def test_unknown_class_name_in_config_is_a_clear_error():
    with pytest.raises(ValueError, match="'Integer'.*'Int'"):
        HyperParameters.from_config({"space": [{"class_name": "Integer", "config": {}}], "values": {}})


names = st.text(alphabet="abcdefgh", min_size=1, max_size=4)


@QUICK
@given(st.lists(st.tuples(names, st.sampled_from(["int", "float", "choice", "bool", "fixed"]),
                          st.integers(0, 2**32), st.booleans()), min_size=1, max_size=8))
def test_random_spaces_round_trip(declarations):
    hp = HyperParameters()
    for index, (name, kind, seed, conditional) in enumerate(declarations):
        parent = hp.space[-1] if hp.space and conditional else None
        kwargs = {}
        if parent is not None and parent.is_discrete and len(parent.values) < 100:
            kwargs = {"parent_name": parent.name, "parent_values": [parent.values[seed % len(parent.values)]]}
        full = f"{name}{index}"
        if kind == "int":
            hp.Int(full, -seed, seed, step=None if seed % 2 else 1 + seed % 7, **kwargs)
        elif kind == "float":
            hp.Float(full, seed / 7, seed + 1.5, sampling="log" if seed % 2 else "linear", **kwargs)
        elif kind == "choice":
            hp.Choice(full, [seed, seed + 1, -seed - 1], **kwargs)
        elif kind == "bool":
            hp.Boolean(full, **kwargs)
        else:
            hp.Fixed(full, name * (seed % 3), **kwargs)
        hp.values[full] = hp.space[-1].random_sample(seed)
    for copy in (HyperParameters.from_config(hp.get_config()),
                 HyperParameters.from_proto(e2etune_pb2.HyperParameters.FromString(hp.to_proto().SerializeToString()))):
        assert_same_hyperparameters(copy, hp)
        assert all(copy.is_active(h.name) == hp.is_active(h.name) for h in hp.space)
        assert all(math.isfinite(v) for v in copy.values.values() if isinstance(v, float))


def test_hyperparameters_compare_by_space_and_values_but_hash_by_identity():
    a, b = HyperParameters(), HyperParameters()
    a.Int("units", 1, 4)
    b.Int("units", 1, 4)
    assert a == b and a.copy() == a and len({id(a), id(b)}) == 2 and hash(a) != hash(b)
    b.values["units"] = 3
    assert a != b and a != {"units": 1}


def test_hyperparameters_unpack_as_a_mapping_of_their_active_values():
    hp = HyperParameters()
    hp.Int("units", 1, 4)
    hp.Choice("model", ["mlp", "cnn"])
    with hp.conditional_scope("model", ["cnn"]):
        hp.Int("filters", 8, 16)

    def train(units, model):
        return units, model

    assert train(**hp) == (1, "mlp")
    assert dict(hp) == {"units": 1, "model": "mlp"} and len(hp) == 2 and list(hp) == ["units", "model"]
    hp.values["model"] = "cnn"
    assert dict(hp.items()) == {"units": 1, "model": "cnn", "filters": 8}
    assert bool(HyperParameters()) is True  # `hp or default` keeps an empty space


@pytest.mark.parametrize("first, later", [
    (lambda hp: hp.Float("lr", 1e-4, 1e-2, sampling="log"), lambda hp: hp.Choice("lr", [0.1, 0.2])),
    (lambda hp: hp.Choice("lr", [0.1, 0.2]), lambda hp: hp.Float("lr", 1e-4, 1e-2)),
    (lambda hp: hp.Int("lr", 1, 3), lambda hp: hp.Boolean("lr")),
])
def test_the_first_declaration_of_a_name_wins_whatever_the_later_type(first, later):
    hp = HyperParameters()
    value = first(hp)
    kind = type(hp.get_hyperparameter("lr"))
    assert later(hp) == value and type(hp.get_hyperparameter("lr")) is kind

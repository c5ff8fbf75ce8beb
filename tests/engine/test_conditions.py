"""Conditions: `Parent`, and conditional scopes of `HyperParameters`."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from e2etune.engine.conditions import Parent, all_active
from e2etune.engine.hyperparameters import HyperParameters, hyperparameter_from_proto
from e2etune.protos import e2etune_pb2

QUICK = settings(max_examples=60, deadline=None, derandomize=True, database=None)


# Parent.

def test_parent_is_active_for_its_values_only():
    condition = Parent("model", ["cnn", "rnn"])
    assert condition.is_active({"model": "cnn"}) and condition.is_active({"model": "rnn"})
    assert not condition.is_active({"model": "mlp"})
    assert not condition.is_active({})


def test_parent_accepts_a_single_value_and_keeps_bools_apart_from_ints():
    assert Parent("flag", True).values == [True]
    assert not Parent("flag", True).is_active({"flag": 1})
    assert not Parent("n", 1).is_active({"n": True})
    assert Parent("n", 1).is_active({"n": 1.0})  # numbers compare by value


def test_parent_without_values_is_an_error():
    with pytest.raises(ValueError, match="'model'.*at least one"):
        Parent("model", [])


@QUICK
@given(st.text(max_size=10), st.lists(st.one_of(st.integers(-(2**63), 2**63 - 1),
                                                 st.floats(allow_nan=False), st.text(), st.booleans()),
                                       min_size=1, max_size=4))
def test_parent_round_trips_through_config_and_proto(name, values):
    condition = Parent(name, values)
    for copy in (Parent.from_config(condition.get_config()),
                 Parent.from_config(condition.get_config()["config"]),
                 Parent.from_proto(e2etune_pb2.Condition.FromString(condition.to_proto().SerializeToString()))):
        assert copy.name == name
        assert [(type(v), repr(v)) for v in copy.values] == [(type(v), repr(v)) for v in values]


def test_all_active_needs_every_condition():
    conditions = [Parent("a", 1), Parent("b", ["x"])]
    assert all_active(conditions, {"a": 1, "b": "x"})
    assert not all_active(conditions, {"a": 1, "b": "y"})
    assert all_active([], {})


def test_config_format_is_keras_tuners():
    assert Parent("a", [1, 2]).get_config() == {"class_name": "Parent", "config": {"name": "a", "values": [1, 2]}}


# Conditional scopes.

def make_space() -> HyperParameters:
    hp = HyperParameters()
    hp.Choice("model", ["mlp", "cnn", "rnn"])
    with hp.conditional_scope("model", ["cnn", "rnn"]):
        hp.Int("layers", 1, 4)
        with hp.conditional_scope("layers", [3, 4]):
            hp.Boolean("residual")
    with hp.conditional_scope("model", "mlp"):
        hp.Int("units", 8, 64, step=8)
    return hp


def test_children_are_active_exactly_for_the_parent_values():
    hp = make_space()
    assert hp.values == {"model": "mlp", "units": 8}
    hp.values["model"] = "cnn"
    assert hp.values == {"model": "cnn", "layers": 1}
    assert hp.get("units") is None and hp.get("residual") is None
    assert hp.is_active("layers") and not hp.is_active("units")
    hp.values["layers"] = 3
    assert hp.values == {"model": "cnn", "layers": 3, "residual": False}
    hp.values["model"] = "rnn"
    assert hp.get("residual") is False


def test_an_inactive_parent_makes_its_children_inactive():
    hp = make_space()
    hp.values["model"] = "cnn"
    hp.values["layers"] = 4
    assert hp.get("residual") is False
    hp.values["model"] = "mlp"  # layers keeps the value 4 but is inactive
    assert hp.get("layers") is None
    assert hp.get("residual") is None and not hp.is_active("residual")
    assert "residual" not in hp.values and "layers" not in hp.values


def test_nested_scopes_put_every_condition_on_the_child():
    hp = make_space()
    residual = hp.get_hyperparameter("residual")
    assert residual.conditions == [Parent("model", ["cnn", "rnn"]), Parent("layers", [3, 4])]
    assert hp.get_hyperparameter("model").conditions == []


def test_declaring_inside_an_inactive_scope_returns_none():
    hp = HyperParameters()
    assert hp.Choice("model", ["mlp", "cnn"]) == "mlp"
    with hp.conditional_scope("model", "cnn"):
        assert hp.Int("filters", 16, 64) is None
        assert hp.Fixed("kernel", 3) is None
    assert "filters" in hp and hp.get("filters") is None


def test_parent_name_and_parent_values_arguments_make_a_condition():
    hp = HyperParameters()
    hp.Choice("optimizer", ["adam", "sgd"])
    assert hp.Float("momentum", 0.0, 0.9, parent_name="optimizer", parent_values=["sgd"]) is None
    assert hp.get_hyperparameter("momentum").conditions == [Parent("optimizer", ["sgd"])]
    hp.values["optimizer"] = "sgd"
    assert hp.get("momentum") == 0.0
    assert hp.Float("momentum", 0.0, 0.9, parent_name="optimizer", parent_values=["sgd"]) == 0.0


def test_parent_arguments_add_to_the_enclosing_scope():
    hp = HyperParameters()
    hp.Boolean("a")
    hp.Int("b", 0, 2)
    with hp.conditional_scope("a", True):
        hp.Int("c", 0, 1, parent_name="b", parent_values=[1, 2])
    assert hp.get_hyperparameter("c").conditions == [Parent("a", [True]), Parent("b", [1, 2])]
    hp.values.update(a=True, b=1)
    assert hp.get("c") == 0
    hp.values["b"] = 0
    assert hp.get("c") is None


def test_scopes_are_restored_after_an_exception():
    hp = HyperParameters()
    hp.Boolean("a")
    with pytest.raises(RuntimeError):
        with hp.conditional_scope("a", True), hp.name_scope("block"):
            raise RuntimeError("boom")
    hp.Int("b", 0, 1)
    assert hp.get_hyperparameter("b").conditions == [] and "b" in hp.values


def test_conditional_scope_under_a_name_scope_resolves_the_scoped_parent():
    hp = HyperParameters()
    with hp.name_scope("block"):
        hp.Choice("kind", ["a", "b"])
        with hp.conditional_scope("kind", "b"):
            hp.Int("size", 1, 3)
    assert hp.get_hyperparameter("block/size").conditions == [Parent("block/kind", ["b"])]
    assert hp.get("block/size") is None
    hp.values["block/kind"] = "b"
    assert hp.get("block/size") == 1


@pytest.mark.parametrize(
    "declare, fragments",
    [
        (lambda hp: hp.Int("child", 0, 1, parent_name="nope", parent_values=[1]), ["'child'", "'nope'", "not defined", "'model'"]),
        (lambda hp: hp.conditional_scope("nope", [1]).__enter__(), ["'nope'", "not defined"]),
        (lambda hp: hp.Int("child", 0, 1, parent_name="model", parent_values=["gru"]), ["'child'", "'gru'", "'model'", "'mlp'", "'cnn'"]),
        (lambda hp: hp.conditional_scope("model", ["cnn", "gru"]).__enter__(), ["'gru'", "'model'"]),
        (lambda hp: hp.Int("child", 0, 1, parent_name="size", parent_values=[9]), ["'child'", "9", "'size'", "[1, 4]"]),
        (lambda hp: hp.Int("child", 0, 1, parent_name="model", parent_values=[]), ["'model'", "at least one"]),
        (lambda hp: hp.Int("child", 0, 1, parent_name="model"), ["'child'", "parent_values"]),
        (lambda hp: hp.Int("child", 0, 1, parent_values=["cnn"]), ["'child'", "parent_name"]),
    ],
    ids=["unknown parent", "unknown scope parent", "bad parent value", "bad scope value",
         "parent value out of range", "no parent values", "name without values", "values without name"],
)
def test_bad_conditions_raise_at_definition(declare, fragments):
    hp = HyperParameters()
    hp.Choice("model", ["mlp", "cnn"])
    hp.Int("size", 1, 4)
    with pytest.raises(ValueError) as raised:
        declare(hp)
    for fragment in fragments:
        assert fragment in str(raised.value), (fragment, str(raised.value))
    assert "child" not in hp
    hp.Int("free", 0, 1)  # no scope was left open
    assert hp.get_hyperparameter("free").conditions == []


def test_conditions_survive_config_and_proto_round_trips():
    hp = make_space()
    hp.values.update(model="rnn", layers=4)
    for copy in (HyperParameters.from_config(hp.get_config()),
                 HyperParameters.from_proto(e2etune_pb2.HyperParameters.FromString(hp.to_proto().SerializeToString()))):
        assert copy.values == {"model": "rnn", "layers": 4, "residual": False}
        assert copy.get("units") is None
        assert copy.get_hyperparameter("residual").conditions == hp.get_hyperparameter("residual").conditions
    proto = hp.get_hyperparameter("residual").to_proto()
    assert [c.name for c in proto.conditions] == ["model", "layers"]
    assert hyperparameter_from_proto(proto).conditions == [Parent("model", ["cnn", "rnn"]), Parent("layers", [3, 4])]

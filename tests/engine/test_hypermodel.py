"""`HyperModel` and `get_hypermodel`: framework-free."""

import pytest

from e2etune.engine.hypermodel import DefaultHyperModel, HyperModel, _Branches, get_hypermodel
from e2etune.engine.hyperparameters import HyperParameters


class FakeModel:
    def __init__(self):
        self.calls = []

    def fit(self, *args, **kwargs):
        self.calls.append((args, kwargs))
        return "history"


def test_build_must_be_overridden():
    with pytest.raises(NotImplementedError, match="Override `build`"):
        HyperModel().build(HyperParameters())


def test_default_fit_calls_model_fit():
    model = FakeModel()
    assert HyperModel().fit(HyperParameters(), model, 1, 2, epochs=3) == "history"
    assert model.calls == [((1, 2), {"epochs": 3})]


def test_build_function_is_wrapped():
    hypermodel = get_hypermodel(lambda hp: hp.Int("units", 1, 4))
    assert isinstance(hypermodel, DefaultHyperModel)
    assert hypermodel.build(HyperParameters()) == 1


def test_get_hypermodel_passes_hypermodels_and_none():
    hypermodel = HyperModel(name="m", tunable=False)
    assert get_hypermodel(hypermodel) is hypermodel
    assert (hypermodel.name, hypermodel.tunable) == ("m", False)
    assert get_hypermodel(None) is None


def test_get_hypermodel_rejects_other_objects():
    with pytest.raises(TypeError, match="should be either a `HyperModel` or a function"):
        get_hypermodel(42)
    with pytest.raises(ValueError, match="`hypermodel` argument"):  # as KerasTuner raises
        get_hypermodel("build_model")


def test_fit_reads_what_build_declared():
    class Model(HyperModel):
        def build(self, hp):
            hp.Int("layers", 1, 3, default=2)
            return FakeModel()

        def fit(self, hp, model, *args, **kwargs):
            return hp.get("layers") * hp.Choice("batch_size", [8, 16])

    hp = HyperParameters()
    hypermodel = Model()
    assert hypermodel.fit(hp, hypermodel.build(hp)) == 16


def test_branches_finds_the_scopes_no_build_entered():
    def build(hp):
        kind = hp.Choice("kind", ["cnn", "mlp"])
        with hp.conditional_scope("kind", ["cnn"]):
            if kind == "cnn":
                hp.Int("filters", 1, 4)
        with hp.conditional_scope("kind", "mlp"):
            if kind == "mlp":
                layers = hp.Choice("layers", [1, 2])
                with hp.conditional_scope("layers", [2]):
                    if layers == 2:
                        hp.Int("units_2", 1, 4)

    branches, hp, values, builds = _Branches(), HyperParameters(), {}, 0
    while values is not None:
        hp.values.update(values)
        with branches.watch(hp):
            build(hp)
        builds += 1
        values = branches.next_values()
    assert [p.name for p in hp.space] == ["kind", "filters", "layers", "units_2"]
    assert builds == 3  # the defaults, then kind=mlp, then kind=mlp with layers=2
    assert "conditional_scope" not in vars(hp)  # the watch is gone


def test_branches_gives_up_on_a_branch_that_stays_inactive():
    def build(hp):
        hp.Boolean("a")
        hp.Boolean("b", parent_name="a", parent_values=[True])
        with hp.conditional_scope("b", [True]):  # "a" stays False: never active
            pass

    branches, hp = _Branches(), HyperParameters()
    with branches.watch(hp):
        build(hp)
    values = branches.next_values()
    assert values == {"b": True}
    hp.values.update(values)
    with branches.watch(hp):
        build(hp)
    assert branches.next_values() is None

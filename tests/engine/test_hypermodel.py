"""`HyperModel` and `get_hypermodel`: framework-free."""

import pytest

from e2etune.engine.hypermodel import DefaultHyperModel, HyperModel, get_hypermodel
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
    with pytest.raises(TypeError, match="must be a `HyperModel` or a function"):
        get_hypermodel(42)


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

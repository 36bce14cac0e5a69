import inspect

import keras
import pytest

import zoo
from zoo import registry

REQUIRED = [
    "mlp",
    "naive_rnn",
    "lstm",
    "peephole_lstm",
    "cifg_lstm",
    "gru",
    "nas_rnn",
    "stacked_lstm",
    "stacked_gru",
    "bidirectional_lstm",
    "bidirectional_gru",
    "pyramid_lstm",
    "pyramid_gru",
    "cnn",
    "cldnn",
]


def test_every_required_model_is_registered():
    assert set(REQUIRED) <= set(zoo.list_models())


def test_list_models_filters_with_globs():
    assert zoo.list_models("*lstm") == sorted(
        name for name in zoo.list_models() if name.endswith("lstm")
    )
    assert "lstm" not in zoo.list_models(exclude=["lstm", "mlp"])
    assert zoo.list_models(["mlp", "cnn"]) == ["cnn", "mlp"]


def test_is_model():
    assert zoo.is_model("pyramid_lstm")
    assert not zoo.is_model("pyramid_lsmt")
    assert not zoo.is_model(None)


def test_describe_gives_defaults_doc_and_reference():
    info = zoo.describe("pyramid_lstm")
    assert info["defaults"]["num_levels"] == 3
    assert "Listen" in info["reference"]
    assert info["summary"]


def test_unknown_name_lists_close_matches():
    with pytest.raises(ValueError, match="pyramid_lstm"):
        zoo.build("pyramid_lsmt")


def test_unknown_hyperparameter_is_named():
    with pytest.raises(ValueError, match="unit_count"):
        zoo.build("lstm", unit_count=3)


def test_duplicate_registration_raises():
    with pytest.raises(ValueError, match="already registered"):

        @registry.register_model(structure="", reference="")
        def lstm(*, name):  # noqa: F811
            return None


def test_positional_builders_are_refused():
    with pytest.raises(ValueError, match="keyword-only"):

        @registry.register_model(
            structure="",
            reference="",
            name="positional_model_for_test",
        )
        def positional(units, *, name):
            return None


def test_builders_take_their_name_and_defaulted_hyperparameters():
    with pytest.raises(ValueError, match="name"):

        @registry.register_model(structure="", reference="")
        def nameless_model_for_test(*, units=3):
            return None

    with pytest.raises(ValueError, match="default"):

        @registry.register_model(structure="", reference="")
        def undefaulted_model_for_test(*, name, units):
            return None


def test_defaults_are_the_typed_builder_signature():
    """One source: describe() reads the defaults that help(builder) shows."""
    builder = zoo.models.recurrent.peephole_lstm
    parameters = inspect.signature(builder).parameters
    assert parameters["variant"].default == "V"
    assert parameters["units"].annotation == "int"
    assert all(p.kind is p.KEYWORD_ONLY for p in parameters.values())
    defaults = zoo.describe("peephole_lstm")["defaults"]
    assert defaults == {
        name: p.default for name, p in parameters.items() if name != "name"
    }
    model = builder(name="mine", units=3, vocabulary_size=10, embedding_dim=2)
    assert model.name == "mine"
    with pytest.raises(TypeError, match="unit_count"):
        builder(name="mine", unit_count=3)


def test_build_returns_a_functional_model_named_after_the_key():
    model = zoo.build("gru", units=4, vocabulary_size=20, embedding_dim=3)
    assert isinstance(model, keras.Model) and model.name == "gru"


@pytest.mark.parametrize(
    "name, overrides, message",
    [
        ("lstm", {"inputs": "audio"}, "inputs"),
        ("lstm", {"head": "regress"}, "head"),
        ("lstm", {"units": 0}, "units"),
        ("lstm", {"num_classes": -1}, "num_classes"),
        ("lstm", {"vocabulary_size": 1}, "vocabulary_size"),
        ("lstm", {"variant": "XX"}, "variant"),
        ("gru", {"pooling": "median"}, "pooling"),
        ("cnn", {"kernel_size": 0}, "kernel_size"),
        ("cnn", {"pool_type": "min"}, "pool_type"),
        ("pyramid_lstm", {"num_levels": -2}, "num_levels"),
        ("stacked_lstm", {"num_layers": 0}, "num_layers"),
        ("mlp", {"dropout": 2.0}, "dropout"),
        ("mlp", {"output_activation": "nope"}, "output_activation"),
    ],
)
def test_bad_hyperparameters_are_clear_errors(name, overrides, message):
    with pytest.raises(ValueError, match=message):
        zoo.build(name, **overrides)

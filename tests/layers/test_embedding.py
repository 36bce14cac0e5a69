"""`TokenEmbedding`: Keras' Embedding, with bad token ids named.

- Equals `keras.layers.Embedding` with the same weights (outputs, mask),
  round-trips its config and a `.keras` file (safe mode).
- An empty time axis raises a ValueError when a model is built on it and
  when it is called; negative ids and ids past the vocabulary raise one in
  eager calls, through every registry model that takes tokens. Traced
  calls (predict, fit, exports) see shapes only: an empty time axis is
  named when its length is static (the first `predict` of a `gru`); a
  negative id still wraps around, as in Keras.
"""

import keras
import numpy as np
import pytest

import zoo
from zoo.layers import TokenEmbedding

TOKEN_MODELS = [
    name
    for name in zoo.list_models()
    if "tokens" in zoo.describe(name)["inputs"]
]


def test_equals_keras_embedding(tmp_path):
    ids = np.array([[3, 5, 0, 0], [19, 1, 2, 0]], "int32")
    ours = TokenEmbedding(20, 4, mask_zero=True)
    keras_layer = keras.layers.Embedding(20, 4, mask_zero=True)
    ours.build((None, None))
    keras_layer.build((None, None))
    keras_layer.set_weights(ours.get_weights())
    np.testing.assert_array_equal(ours(ids), keras_layer(ids))
    np.testing.assert_array_equal(
        ours.compute_mask(ids), keras_layer.compute_mask(ids)
    )
    config = ours.get_config()
    assert TokenEmbedding.from_config(config).get_config() == config

    tokens = keras.Input((None,), dtype="int32")
    model = keras.Model(tokens, TokenEmbedding(20, 4, mask_zero=True)(tokens))
    model.save(tmp_path / "embedding.keras")
    loaded = keras.saving.load_model(tmp_path / "embedding.keras")
    assert isinstance(loaded.layers[-1], TokenEmbedding)
    np.testing.assert_array_equal(loaded(ids), model(ids))


def test_empty_time_axis_is_named_at_build_and_call():
    with pytest.raises(
        ValueError, match=r"empty time axis \(shape \(None, 0\)"
    ):
        TokenEmbedding(20, 4)(keras.Input((0,), dtype="int32"))
    with pytest.raises(ValueError, match=r"empty time axis \(shape \(2, 0\)"):
        TokenEmbedding(20, 4)(np.zeros((2, 0), "int32"))


@pytest.mark.parametrize(
    "ids, message",
    [
        ([[1, -3]], r"negative token ids \(e.g. -3 at index \(0, 1\)\)"),
        ([[4], [20]], r"past the vocabulary \(e.g. 20 at index \(1, 0\)\)"),
    ],
)
def test_ids_outside_the_vocabulary_are_named(ids, message):
    layer = TokenEmbedding(20, 4, mask_zero=True)
    with pytest.raises(ValueError, match=message + r".*\[0, 20\)"):
        layer(np.array(ids, "int32"))
    layer(np.array([[0, 19]], "int32"))  # The ends of the range are fine.


@pytest.mark.parametrize("name", TOKEN_MODELS)
def test_token_models_name_bad_ids_and_empty_time(name):
    model = zoo.build(
        name, inputs="tokens", vocabulary_size=20, embedding_dim=2
    )
    for ids, message in (
        (np.zeros((2, 0), "int32"), "empty time axis"),
        (np.array([[1, -3]], "int32"), "negative token ids"),
        (np.array([[1, 25]], "int32"), "past the vocabulary"),
    ):
        with pytest.raises(ValueError, match=message):
            model(ids)
    assert model(np.array([[1, 19, 0]], "int32")).shape == (1, 2)


def test_traced_calls_check_the_shape_only():
    model = zoo.build("gru", vocabulary_size=20, embedding_dim=2, units=2)
    with pytest.raises(ValueError, match="empty time axis"):
        model.predict(np.zeros((2, 0), "int32"), verbose=0)
    # Values are unknown while tracing: Keras' wrap-around stays.
    negative = model.predict(np.array([[1, -3]], "int32"), verbose=0)
    wrapped = model.predict(np.array([[1, 17]], "int32"), verbose=0)
    np.testing.assert_allclose(negative, wrapped, atol=1e-6)

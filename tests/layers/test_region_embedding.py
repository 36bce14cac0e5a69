import keras
import numpy as np
import pytest
from layer_checks import run_layer_test

from zoo.layers import RegionEmbedding

VOCABULARY = 11


def one_hot_convolution(layer, ids):
    """The reference: Keras' Conv1D ("same") over one-hot words (padding
    id 0 a zero vector), with the layer's tables as its kernel."""
    tables = np.asarray(layer.embeddings).reshape(-1, VOCABULARY, 5)
    if layer.mode == "bow":
        tables = np.repeat(tables, layer.region_size, axis=0)
    one_hot = np.eye(VOCABULARY, dtype="float32")[ids]
    one_hot[..., 0] = 0.0
    convolution = keras.layers.Conv1D(
        5, layer.region_size, padding="same", activation="relu"
    )
    convolution(one_hot)
    convolution.set_weights([tables, np.asarray(layer.bias)])
    return np.asarray(convolution(one_hot))


@pytest.mark.parametrize("mode", ["seq", "bow"])
@pytest.mark.parametrize("region_size", [1, 2, 3, 4])
def test_equals_a_convolution_over_one_hot_words(mode, region_size, rng):
    ids = rng.integers(1, VOCABULARY, size=(3, 8))
    ids[1, 5:] = 0  # right padding
    layer = RegionEmbedding(VOCABULARY, 5, region_size=region_size, mode=mode)
    layer(ids)
    layer.set_weights(
        [rng.normal(size=w.shape).astype("float32") for w in layer.weights]
    )
    np.testing.assert_allclose(
        layer(ids), one_hot_convolution(layer, ids), atol=1e-5
    )


def test_bow_ignores_the_order_inside_a_region(rng):
    layer = RegionEmbedding(VOCABULARY, 5, region_size=3, mode="bow")
    forward = np.asarray(layer(np.array([[2, 4, 7, 2]])))
    backward = np.asarray(layer(np.array([[2, 7, 4, 2]])))
    # Step 1 and 2 see {2, 4, 7} and {4, 7, 2} in either order.
    np.testing.assert_allclose(forward[:, 1:3], backward[:, 1:3], atol=1e-6)


def test_padding_adds_nothing_and_is_masked(rng):
    layer = RegionEmbedding(VOCABULARY, 5, region_size=3)
    short = np.array([[3, 5, 8]])
    padded = np.array([[3, 5, 8, 0, 0]])
    np.testing.assert_allclose(layer(padded)[:, :3], layer(short), atol=1e-6)
    np.testing.assert_array_equal(
        layer.compute_mask(padded), [[True, True, True, False, False]]
    )


def test_one_table_per_region_position_in_seq_mode():
    seq = RegionEmbedding(VOCABULARY, 5, region_size=3)
    bow = RegionEmbedding(VOCABULARY, 5, region_size=3, mode="bow")
    seq.build((None, None))
    bow.build((None, None))
    assert seq.embeddings.shape == (3 * VOCABULARY, 5)
    assert bow.embeddings.shape == (VOCABULARY, 5)


def test_gradient_of_the_tables_stays_sparse():
    import tensorflow as tf

    layer = RegionEmbedding(VOCABULARY, 5, region_size=2)
    ids = np.array([[1, 2, 3]])
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(layer(ids))
    gradient = tape.gradient(loss, layer.embeddings)
    assert isinstance(gradient, tf.IndexedSlices)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"region_size": 0}, "region_size"),
        ({"mode": "cbow"}, "mode"),
        ({"output_dim": -1}, "output_dim"),
    ],
)
def test_bad_arguments_name_the_argument(arguments, message):
    values = {"input_dim": VOCABULARY, "output_dim": 5, **arguments}
    with pytest.raises(ValueError, match=message):
        RegionEmbedding(**values)


def test_standard_layer_checks(rng, tmp_path):
    ids = rng.integers(1, VOCABULARY, size=(2, 6)).astype("int32")
    ids[1, 4:] = 0
    run_layer_test(
        lambda: RegionEmbedding(VOCABULARY, 5, mode="bow"),
        ids,
        tmp_path=tmp_path,
    )

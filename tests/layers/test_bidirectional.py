import keras
import numpy as np
import pytest
from layer_checks import run_layer_test

from zoo.layers import GRU
from zoo.layers import LSTM
from zoo.layers import Bidirectional


def _forward_and_backward(layer, x, mask):
    forward = layer.forward_layer(x, mask=mask)
    backward = layer.backward_layer(x, mask=mask)
    return np.asarray(forward), np.asarray(backward)


@pytest.mark.parametrize("merge_mode", ["concat", "sum", "mul", "ave", None])
def test_equals_forward_plus_reversed_backward(rng, masks, merge_mode):
    layer = Bidirectional(LSTM(3, return_sequences=True), merge_mode=merge_mode)
    x = rng.normal(size=(4, 7, 2)).astype("float32")
    output = layer(x, mask=masks)
    forward, backward = _forward_and_backward(layer, x, masks)
    backward = backward[:, ::-1]
    expected = {
        "concat": np.concatenate([forward, backward], -1),
        "sum": forward + backward,
        "mul": forward * backward,
        "ave": (forward + backward) / 2,
    }
    if merge_mode is None:
        np.testing.assert_allclose(output[0], forward, atol=1e-6)
        np.testing.assert_allclose(output[1], backward, atol=1e-6)
    else:
        np.testing.assert_allclose(output, expected[merge_mode], atol=1e-6)


def test_backward_direction_reads_the_reversed_sequence(rng):
    layer = Bidirectional(GRU(3, return_sequences=True), merge_mode=None)
    x = rng.normal(size=(2, 5, 2)).astype("float32")
    layer(x)
    alone = GRU(3, return_sequences=True)
    alone(x)
    alone.set_weights(layer.backward_layer.get_weights())
    expected = np.asarray(alone(x[:, ::-1]))[:, ::-1]
    np.testing.assert_allclose(layer(x)[1], expected, atol=1e-6)


def test_padding_does_not_change_valid_steps(rng):
    layer = Bidirectional(LSTM(3, return_sequences=True))
    x = rng.normal(size=(1, 4, 2)).astype("float32")
    padded = np.concatenate([x, np.zeros((1, 3, 2), "float32")], 1)
    mask = np.array([[1, 1, 1, 1, 0, 0, 0]], bool)
    np.testing.assert_allclose(
        layer(padded, mask=mask)[:, :4], layer(x), atol=1e-6
    )


def test_dense_merge_is_a_learned_projection(rng):
    layer = Bidirectional(
        LSTM(3, return_sequences=True), merge_mode="dense", merge_units=5
    )
    x = rng.normal(size=(2, 4, 2)).astype("float32")
    output = layer(x)
    assert output.shape == (2, 4, 5)
    forward, backward = _forward_and_backward(layer, x, None)
    kernel, bias = layer.merge_dense.get_weights()
    expected = np.concatenate([forward, backward[:, ::-1]], -1) @ kernel + bias
    np.testing.assert_allclose(output, expected, atol=1e-5)


def test_return_state_and_initial_state(rng):
    layer = Bidirectional(LSTM(3, return_state=True))
    x = rng.normal(size=(2, 4, 2)).astype("float32")
    output, *states = layer(x)
    assert output.shape == (2, 6) and len(states) == 4
    initial = [rng.normal(size=(2, 3)).astype("float32") for _ in range(4)]
    changed, *_ = layer(x, initial_state=initial)
    assert not np.allclose(changed, output)


def test_keras_layer_can_be_wrapped(rng):
    layer = Bidirectional(keras.layers.GRU(3, return_sequences=True))
    assert layer(rng.normal(size=(2, 4, 2)).astype("float32")).shape == (
        2,
        4,
        6,
    )


@pytest.mark.parametrize("merge_mode", ["concat", "dense"])
def test_standard_layer_checks(rng, tmp_path, merge_mode):
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    run_layer_test(
        lambda: Bidirectional(LSTM(4, return_sequences=True), merge_mode),
        x,
        tmp_path=tmp_path,
    )


def test_bad_merge_mode():
    with pytest.raises(ValueError, match="merge_mode"):
        Bidirectional(LSTM(3), merge_mode="max")


def test_not_a_layer():
    with pytest.raises(ValueError, match="layer"):
        Bidirectional("lstm")


@pytest.mark.parametrize(
    "make_layer",
    [
        lambda: LSTM(3, return_sequences=True),
        lambda: LSTM(3, variant="V", return_sequences=True),
        lambda: GRU(3, return_sequences=True),
    ],
    ids=["lstm", "peephole_lstm", "gru"],
)
def test_equals_keras_bidirectional_at_every_step(rng, masks, make_layer):
    """Ours and `keras.layers.Bidirectional` around the same zoo layer, with
    the same weights, agree at every step, masked (padded) ones included:
    zeros there, in both directions."""
    x = rng.normal(size=(4, 7, 2)).astype("float32")
    ours = Bidirectional(make_layer())
    theirs = keras.layers.Bidirectional(make_layer())
    ours(x)
    theirs(x)
    theirs.set_weights(ours.get_weights())
    expected = np.asarray(theirs(x, mask=masks))
    np.testing.assert_allclose(ours(x, mask=masks), expected, atol=1e-6)
    padded = ~np.asarray(masks, bool)
    assert padded.any()
    np.testing.assert_array_equal(expected[padded], 0.0)


def test_config_of_a_removed_argument_still_loads(rng):
    """fuse_directions is gone; configs written with it still load."""
    layer = Bidirectional(LSTM(3))
    config = {**layer.get_config(), "fuse_directions": "auto"}
    assert Bidirectional.from_config(config).get_config() == layer.get_config()

import keras
import numpy as np
import pytest
import reference
import tensorflow as tf
from layer_checks import assert_equal_gradients
from layer_checks import keras_twins
from layer_checks import run_layer_test

from zoo.layers import NaiveRNN


def _pair(rng, **arguments):
    ours = NaiveRNN(5, **arguments)
    theirs = keras.layers.SimpleRNN(5, **arguments)
    return ours, theirs, keras_twins(ours, theirs, rng, randomize=False)


def test_weights_are_those_of_simple_rnn(rng):
    ours, theirs, _ = _pair(rng)
    assert [w.shape for w in ours.weights] == [w.shape for w in theirs.weights]


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_equals_keras_simple_rnn_with_masks(
    rng, masks, go_backwards, return_sequences
):
    ours, theirs, x = _pair(
        rng, go_backwards=go_backwards, return_sequences=return_sequences
    )
    np.testing.assert_allclose(
        ours(x, mask=masks), theirs(x, mask=masks), atol=1e-5
    )


def test_gradients_equal_keras(rng, masks):
    ours, theirs, x = _pair(rng, return_sequences=True)
    assert_equal_gradients((ours, theirs), x, masks, tf.square)


def test_equals_numpy_step_loop(rng, masks):
    layer = NaiveRNN(6, return_sequences=True)
    x = rng.normal(size=(4, 7, 3)).astype("float32")
    layer(x)
    weights = reference.randomize(layer, rng)
    expected, _ = reference.run(
        reference.naive_step(weights), x, [np.zeros((4, 6))], masks
    )
    np.testing.assert_allclose(layer(x, mask=masks), expected, atol=1e-5)


def test_initial_state_and_return_state(rng):
    layer = NaiveRNN(4, return_state=True)
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    initial = rng.normal(size=(2, 4)).astype("float32")
    output, state = layer(x, initial_state=[initial])
    layer(x)
    weights = reference.randomize(layer, rng)
    output, state = layer(x, initial_state=[initial])
    expected, states = reference.run(
        reference.naive_step(weights), x, [initial]
    )
    np.testing.assert_allclose(output, expected[:, -1], atol=1e-5)
    np.testing.assert_allclose(state, states[0], atol=1e-5)


def test_standard_layer_checks(rng, tmp_path):
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    run_layer_test(
        lambda: NaiveRNN(4, return_sequences=True), x, tmp_path=tmp_path
    )


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"units": 0}, "units"),
        ({"units": 3, "dropout": 1.5}, "dropout"),
        ({"units": 3, "recurrent_dropout": -0.1}, "recurrent_dropout"),
    ],
)
def test_bad_arguments_name_the_argument(arguments, message):
    with pytest.raises(ValueError, match=message):
        NaiveRNN(**arguments)


def test_wrong_rank_is_a_clear_error():
    with pytest.raises(ValueError, match="rank 3|ndim=3"):
        NaiveRNN(3)(np.zeros((2, 3), "float32"))

import keras
import numpy as np
import pytest
import reference
import tensorflow as tf
from layer_checks import assert_equal_gradients
from layer_checks import keras_twins
from layer_checks import run_layer_test

from zoo.layers import GRU


def _pair(rng, **arguments):
    ours = GRU(5, **arguments)
    theirs = keras.layers.GRU(5, **arguments)
    return ours, theirs, keras_twins(ours, theirs, rng)


@pytest.mark.parametrize("reset_after", [True, False])
def test_weights_are_those_of_keras_gru(rng, reset_after):
    ours, theirs, _ = _pair(rng, reset_after=reset_after)
    assert [w.shape for w in ours.weights] == [w.shape for w in theirs.weights]


@pytest.mark.parametrize("reset_after", [True, False])
@pytest.mark.parametrize("go_backwards", [False, True])
def test_equals_keras_gru_with_masks(rng, masks, reset_after, go_backwards):
    ours, theirs, x = _pair(
        rng,
        reset_after=reset_after,
        go_backwards=go_backwards,
        return_sequences=True,
        return_state=True,
    )
    for mine, keras_output in zip(ours(x, mask=masks), theirs(x, mask=masks)):
        np.testing.assert_allclose(mine, keras_output, atol=1e-5)


@pytest.mark.parametrize("reset_after", [True, False])
def test_gradients_equal_keras(rng, masks, reset_after):
    ours, theirs, x = _pair(rng, reset_after=reset_after, return_sequences=True)
    assert_equal_gradients((ours, theirs), x, masks, tf.sin)


@pytest.mark.parametrize("reset_after", [True, False])
def test_equals_numpy_step_loop(rng, masks, reset_after):
    layer = GRU(4, reset_after=reset_after, return_sequences=True)
    x = rng.normal(size=(4, 7, 3)).astype("float32")
    layer(x)
    weights = reference.randomize(layer, rng)
    expected, _ = reference.run(
        reference.gru_step(weights, reset_after), x, [np.zeros((4, 4))], masks
    )
    np.testing.assert_allclose(layer(x, mask=masks), expected, atol=1e-5)


def test_standard_layer_checks(rng, tmp_path):
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    run_layer_test(lambda: GRU(4, return_sequences=True), x, tmp_path=tmp_path)


def test_bad_reset_after():
    with pytest.raises(ValueError, match="reset_after"):
        GRU(3, reset_after="no")

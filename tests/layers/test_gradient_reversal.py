import numpy as np
import pytest
import tensorflow as tf
from layer_checks import run_layer_test

from zoo.layers import GradientReversal


def test_identity_forward_negated_gradient_backward(rng):
    x = tf.constant(rng.normal(size=(2, 3)).astype("float32"))
    layer = GradientReversal(0.5)
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = layer(x)
        loss = tf.reduce_sum(3.0 * y)
    np.testing.assert_array_equal(y, x)
    np.testing.assert_allclose(tape.gradient(loss, x), np.full((2, 3), -1.5))


def test_rejects_a_negative_weight():
    with pytest.raises(ValueError, match="weight"):
        GradientReversal(-1.0)


def test_standard_layer_checks(rng, tmp_path):
    x = rng.normal(size=(2, 4, 3)).astype("float32")
    # No trainable weights: nothing to fit.
    run_layer_test(lambda: GradientReversal(), x, tmp_path=tmp_path, fit=False)

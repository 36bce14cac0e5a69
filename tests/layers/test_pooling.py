import numpy as np
import pytest
from layer_checks import run_layer_test

from zoo.layers import GlobalMaskedAveragePooling1D
from zoo.layers import GlobalMaskedMaxPooling1D
from zoo.layers import L2Pooling1D
from zoo.layers import LpPooling1D
from zoo.layers import MaskedAveragePooling1D
from zoo.layers import MaskedMaxPooling1D


def test_l2_pooling_is_the_window_norm(rng):
    x = rng.normal(size=(2, 6, 3)).astype("float32")
    expected = np.sqrt((x.reshape(2, 3, 2, 3) ** 2).sum(2))
    np.testing.assert_allclose(L2Pooling1D(2)(x), expected, atol=1e-5)


@pytest.mark.parametrize("p", [1.0, 3.0])
def test_lp_pooling(rng, p):
    x = rng.normal(size=(2, 6, 3)).astype("float32")
    expected = (np.abs(x.reshape(2, 2, 3, 3)) ** p).sum(2) ** (1 / p)
    np.testing.assert_allclose(LpPooling1D(p, 3)(x), expected, rtol=1e-4)


def test_l2_pooling_gradient_is_finite_at_zero():
    import tensorflow as tf

    x = tf.zeros((1, 4, 2))
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = tf.reduce_sum(L2Pooling1D(2)(x))
    assert np.all(np.isfinite(tape.gradient(y, x)))


def test_local_pooling_ignores_masked_steps(rng):
    x = rng.normal(size=(1, 4, 2)).astype("float32") - 5.0
    mask = np.array([[1, 1, 1, 0]], bool)
    np.testing.assert_allclose(
        MaskedMaxPooling1D(2)(x, mask=mask)[0, 1], x[0, 2], atol=1e-6
    )
    np.testing.assert_allclose(
        MaskedAveragePooling1D(2)(x, mask=mask)[0, 1], x[0, 2], atol=1e-6
    )
    np.testing.assert_array_equal(
        MaskedMaxPooling1D(2).compute_mask(x, mask), [[True, True]]
    )


def test_global_pooling_with_masks(rng, masks):
    x = rng.normal(size=(4, 7, 3)).astype("float32")
    largest = np.asarray(GlobalMaskedMaxPooling1D()(x, mask=masks))
    mean = np.asarray(GlobalMaskedAveragePooling1D()(x, mask=masks))
    for row in range(3):
        valid = x[row][masks[row]]
        np.testing.assert_allclose(largest[row], valid.max(0), atol=1e-6)
        np.testing.assert_allclose(mean[row], valid.mean(0), atol=1e-6)
    # A fully masked row gives zeros, not -inf or NaN.
    np.testing.assert_array_equal(largest[3], 0.0)
    np.testing.assert_array_equal(mean[3], 0.0)


@pytest.mark.parametrize(
    "factory",
    [
        lambda: L2Pooling1D(2),
        lambda: LpPooling1D(3.0, 2, padding="same"),
        lambda: MaskedMaxPooling1D(2),
        lambda: MaskedAveragePooling1D(3, strides=1, padding="same"),
    ],
)
def test_standard_layer_checks(rng, tmp_path, factory):
    x = rng.normal(size=(2, 6, 3)).astype("float32")
    run_layer_test(factory, x, tmp_path=tmp_path, fit=False)


def test_bad_arguments():
    with pytest.raises(ValueError, match="`p`"):
        LpPooling1D(0.5)
    with pytest.raises(ValueError, match="pool_size"):
        L2Pooling1D(0)
    with pytest.raises(ValueError, match="padding"):
        MaskedMaxPooling1D(2, padding="full")

import keras
import numpy as np
from layer_checks import run_layer_test

from zoo.layers import MaskedConv1D


def test_equals_keras_conv1d_without_mask(rng):
    x = rng.normal(size=(2, 7, 3)).astype("float32")
    ours = MaskedConv1D(4, 3, padding="same")
    theirs = keras.layers.Conv1D(4, 3, padding="same")
    ours(x)
    theirs(x)
    ours.set_weights(theirs.get_weights())
    np.testing.assert_allclose(ours(x), theirs(x), atol=1e-6)


def test_padding_never_leaks_into_valid_steps(rng):
    x = rng.normal(size=(1, 7, 3)).astype("float32")
    mask = np.array([[1, 1, 1, 1, 0, 0, 0]], bool)
    noisy = x.copy()
    noisy[:, 4:] = 100.0  # garbage in the padded steps
    layer = MaskedConv1D(4, 3, padding="same")
    clean = np.asarray(layer(x * mask[..., None]))
    np.testing.assert_allclose(
        layer(noisy, mask=mask)[:, :4], clean[:, :4], atol=1e-5
    )


def test_mask_follows_strides(masks, rng):
    x = rng.normal(size=(4, 7, 3)).astype("float32")
    layer = MaskedConv1D(2, 3, strides=2, padding="same")
    assert layer(x, mask=masks).shape == (4, 4, 2)
    np.testing.assert_array_equal(layer.compute_mask(x, masks), masks[:, ::2])


def test_standard_layer_checks(rng, tmp_path):
    x = rng.normal(size=(2, 6, 3)).astype("float32")
    run_layer_test(
        lambda: MaskedConv1D(4, 3, padding="same"), x, tmp_path=tmp_path
    )

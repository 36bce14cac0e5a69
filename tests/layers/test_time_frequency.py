import keras
import numpy as np
import pytest
from layer_checks import run_layer_test

from zoo.layers import TimeFrequencyConv


def keras_reference(layer, x):
    """The same computation from Keras' own Conv2D and MaxPooling2D."""
    hidden = x[..., None]
    for convolution, pool in zip(layer.convolutions, layer.pool_sizes):
        twin = keras.layers.Conv2D(
            convolution.filters,
            convolution.kernel_size,
            padding="same",
            activation="relu",
        )
        twin(hidden)
        twin.set_weights(convolution.get_weights())
        hidden = twin(hidden)
        hidden = keras.layers.MaxPooling2D((1, pool), padding="same")(hidden)
    hidden = np.asarray(hidden)
    return hidden.reshape(hidden.shape[0], hidden.shape[1], -1)


def test_equals_keras_conv2d_and_frequency_pooling(rng):
    x = rng.normal(size=(2, 6, 10)).astype("float32")
    layer = TimeFrequencyConv((3, 2), ((3, 5), (2, 3)), (3, 1))
    output = np.asarray(layer(x))
    assert output.shape == (2, 6, 4 * 2)  # ceil(10 / 3) bins x 2 maps
    np.testing.assert_allclose(output, keras_reference(layer, x), atol=1e-5)


def test_equals_a_hand_convolution(rng):
    # One 3x3 kernel, "same" padding, then max over pairs of bins.
    x = rng.normal(size=(1, 4, 4)).astype("float32")
    layer = TimeFrequencyConv((1,), ((3, 3),), (2,), activation="linear")
    layer(x)
    kernel = rng.normal(size=(3, 3, 1, 1)).astype("float32")
    layer.convolutions[0].set_weights([kernel, np.array([0.5], "float32")])
    padded = np.pad(x[0], 1)
    full = np.array(
        [
            [
                np.sum(padded[t : t + 3, f : f + 3] * kernel[..., 0, 0]) + 0.5
                for f in range(4)
            ]
            for t in range(4)
        ]
    )
    expected = full.reshape(4, 2, 2).max(-1)
    np.testing.assert_allclose(layer(x)[0], expected, atol=1e-5)


def test_padding_never_leaks_into_valid_frames(rng):
    x = rng.normal(size=(1, 7, 9)).astype("float32")
    mask = np.array([[1, 1, 1, 1, 0, 0, 0]], bool)
    noisy = x.copy()
    noisy[:, 4:] = 100.0  # garbage in the padded frames
    layer = TimeFrequencyConv((2, 2), ((3, 3), (3, 3)), (3, 1))
    clean = np.asarray(layer(x[:, :4]))  # the valid frames alone
    np.testing.assert_allclose(layer(noisy, mask=mask)[:, :4], clean, atol=1e-5)
    np.testing.assert_array_equal(layer.compute_mask(x, mask), mask)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="filters"):
        TimeFrequencyConv(4)
    with pytest.raises(ValueError, match="kernel_sizes"):
        TimeFrequencyConv((4,), ((3,),), (1,))
    with pytest.raises(ValueError, match="one entry per layer"):
        TimeFrequencyConv((4, 4), ((3, 3),), (1,))


def test_standard_layer_checks(rng, tmp_path):
    x = rng.normal(size=(2, 5, 6)).astype("float32")
    run_layer_test(
        lambda: TimeFrequencyConv((2, 3), ((3, 3), (2, 3)), (2, 1)),
        x,
        tmp_path=tmp_path,
    )

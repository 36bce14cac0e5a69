"""The CLDNN's two convolutions and the pyramid's optional front end."""

import numpy as np
import pytest

import zoo
from zoo import layers as zoo_layers

SMALL = {"filters": 2, "projection_dim": 3, "units": 3, "dnn_units": 3}


def layer_types(model):
    return {type(layer) for layer in model.layers}


def test_cldnn_convolves_over_time_and_frequency_by_default(rng):
    model = zoo.build("cldnn", feature_dim=12, **SMALL)
    assert zoo_layers.TimeFrequencyConv in layer_types(model)
    front = model.get_layer("time_frequency_conv")
    # The paper's kernels and frequency pooling: 12 bins -> 4 after pooling.
    assert front.kernel_sizes == ((9, 9), (4, 3))
    assert front.pool_sizes == (3, 1)
    assert front.output.shape[-1] == 4 * 2
    x = rng.normal(size=(2, 6, 12)).astype("float32")
    assert np.all(np.isfinite(model(x)))


def test_cldnn_keeps_the_convolution_along_time():
    model = zoo.build("cldnn", convolution="time", feature_dim=12, **SMALL)
    types = layer_types(model)
    assert zoo_layers.MaskedConv1D in types
    assert zoo_layers.TimeFrequencyConv not in types
    with pytest.raises(ValueError, match="convolution"):
        zoo.build("cldnn", convolution="frequency", **SMALL)


def test_pyramid_takes_the_time_frequency_front_end(rng):
    model = zoo.build(
        "pyramid_gru",
        convolution="time_frequency",
        feature_dim=10,
        num_levels=1,
        filters=2,
        projection_dim=3,
        units=3,
    )
    assert model.get_layer("projection").output.shape[-1] == 3
    x = rng.normal(size=(2, 8, 10)).astype("float32")
    x[1, 5:] = 0.0
    assert np.all(np.isfinite(model(x)))
    plain = zoo.build("pyramid_gru", num_levels=1, units=3)
    assert zoo_layers.TimeFrequencyConv not in layer_types(plain)
    with pytest.raises(ValueError, match="convolution"):
        zoo.build("pyramid_gru", convolution="time")


def test_region_cnn_joins_one_region_embedding_per_size(rng):
    model = zoo.build(
        "region_cnn", vocabulary_size=30, filters=4, region_sizes=(2, 3)
    )
    assert model.get_layer("region_0").region_size == 2
    assert model.get_layer("region_1").region_size == 3
    assert model.get_layer("regions").output.shape[-1] == 8
    tokens = rng.integers(1, 30, size=(2, 9)).astype("int32")
    tokens[1, 4:] = 0
    probabilities = np.asarray(model(tokens))
    np.testing.assert_allclose(probabilities.sum(-1), 1.0, atol=1e-6)


def test_region_cnn_padding_changes_nothing(rng):
    model = zoo.build("region_cnn", vocabulary_size=30, filters=4)
    tokens = rng.integers(1, 30, size=(1, 6)).astype("int32")
    padded = np.concatenate([tokens, np.zeros((1, 5), "int32")], axis=1)
    np.testing.assert_allclose(model(padded), model(tokens), atol=1e-6)


def test_region_cnn_bow_needs_tokens():
    zoo.build("region_cnn", vocabulary_size=30, filters=4, mode="bow")
    with pytest.raises(ValueError, match="mode"):
        zoo.build("region_cnn", inputs="features", filters=4, mode="bow")
    with pytest.raises(ValueError, match="region_sizes"):
        zoo.build("region_cnn", filters=4, region_sizes=())


def _two_d_cnn(**overrides):
    arguments = dict(
        inputs="features",
        feature_dim=8,
        num_classes=3,
        convolution="time_frequency",
        filters=2,
        kernel_sizes=((3, 3), (3, 3)),
        frequency_pool_sizes=(2, 2),
        projection_dim=3,
        num_blocks=0,
        pooling="average",
    )
    return zoo.build("cnn", **{**arguments, **overrides})


def test_cnn_takes_the_time_frequency_front_end(rng):
    model = _two_d_cnn()
    assert zoo_layers.TimeFrequencyConv in layer_types(model)
    # num_blocks=0: no Conv1D, the 2-D maps are pooled over time directly.
    assert zoo_layers.MaskedConv1D not in layer_types(model)
    # 8 bins pooled twice by 2 -> 2 bins x 2 maps per frame, then 3.
    assert model.get_layer("time_frequency_conv").output.shape[-1] == 4
    assert model.get_layer("projection").output.shape[-1] == 3
    with_blocks = _two_d_cnn(num_blocks=1)
    assert zoo_layers.MaskedConv1D in layer_types(with_blocks)
    x = rng.normal(size=(2, 7, 8)).astype("float32")
    np.testing.assert_allclose(np.sum(model(x), axis=-1), 1.0, atol=1e-6)


def test_the_2d_cnn_ignores_padding(rng):
    model = _two_d_cnn()
    x = rng.normal(size=(1, 6, 8)).astype("float32")
    padded = np.concatenate([x, np.zeros((1, 4, 8), "float32")], axis=1)
    np.testing.assert_allclose(model(padded), model(x), atol=1e-5)


def test_cnn_front_end_errors():
    with pytest.raises(ValueError, match="inputs='features'"):
        zoo.build("cnn", convolution="time_frequency")
    with pytest.raises(ValueError, match="convolution"):
        _two_d_cnn(convolution="frequency")
    with pytest.raises(ValueError, match="num_blocks"):
        zoo.build("cnn", inputs="features", num_blocks=0)
    with pytest.raises(ValueError, match="frequency_pool_sizes"):
        _two_d_cnn(frequency_pool_sizes=(2,))

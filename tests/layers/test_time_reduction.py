import keras
import numpy as np
import pytest
from layer_checks import run_layer_test

from zoo.layers import TimeReduction


def test_concat_equals_reshape(rng):
    x = rng.normal(size=(2, 8, 3)).astype("float32")
    np.testing.assert_array_equal(TimeReduction(2)(x), x.reshape(2, 4, 6))
    np.testing.assert_array_equal(TimeReduction(4)(x), x.reshape(2, 2, 12))


def test_odd_length_is_padded_with_zeros(rng):
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    padded = np.concatenate([x, np.zeros((2, 1, 3), "float32")], 1)
    np.testing.assert_array_equal(TimeReduction(2)(x), padded.reshape(2, 3, 6))


@pytest.mark.parametrize("mode", ["mean", "max", "skip"])
def test_other_modes_equal_numpy(rng, mode):
    x = rng.normal(size=(2, 6, 3)).astype("float32")
    groups = x.reshape(2, 3, 2, 3)
    expected = {
        "mean": groups.mean(2),
        "max": groups.max(2),
        "skip": groups[:, :, 0],
    }[mode]
    np.testing.assert_allclose(TimeReduction(2, mode)(x), expected, atol=1e-6)


def test_mask_is_reduced(masks, rng):
    x = rng.normal(size=(4, 7, 2)).astype("float32")
    layer = TimeReduction(2)
    expected = np.array(
        [[1, 1, 1, 1], [1, 1, 0, 0], [0, 1, 1, 1], [0, 0, 0, 0]], bool
    )
    np.testing.assert_array_equal(layer.compute_mask(x, masks), expected)
    # Masked frames are zeroed before concatenation.
    output = np.asarray(layer(x, mask=masks))
    np.testing.assert_array_equal(output[1, 2], 0.0)
    np.testing.assert_array_equal(output[2, 1, :2], 0.0)


def test_masked_mean_and_max_ignore_padding(rng):
    x = rng.normal(size=(1, 4, 2)).astype("float32")
    mask = np.array([[1, 1, 1, 0]], bool)
    np.testing.assert_allclose(
        TimeReduction(2, "mean")(x, mask=mask)[0, 1], x[0, 2], atol=1e-6
    )
    np.testing.assert_allclose(
        TimeReduction(2, "max")(x, mask=mask)[0, 1], x[0, 2], atol=1e-6
    )


def test_output_shape():
    layer = TimeReduction(2)
    assert layer.compute_output_shape((None, 7, 3)) == (None, 4, 6)
    assert layer.compute_output_shape((None, None, 3)) == (None, None, 6)
    assert TimeReduction(3, "max").compute_output_shape((1, 7, 3)) == (1, 3, 3)


def test_mask_reaches_next_layer_in_functional_model():
    tokens = keras.Input((None,), dtype="int32")
    embedded = keras.layers.Embedding(10, 2, mask_zero=True)(tokens)
    reduced = TimeReduction(2)(embedded)
    assert reduced._keras_mask is not None


def test_standard_layer_checks(rng, tmp_path):
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    run_layer_test(lambda: TimeReduction(2), x, tmp_path=tmp_path, fit=False)


@pytest.mark.parametrize(
    "arguments, message", [({"factor": 0}, "factor"), ({"mode": "sum"}, "mode")]
)
def test_bad_arguments(arguments, message):
    with pytest.raises(ValueError, match=message):
        TimeReduction(**arguments)


@pytest.mark.parametrize("factor", [2, 3])
@pytest.mark.parametrize("time", [0, 1, 2, 5, 7])
def test_mask_of_any_length_equals_numpy_without_pooling(factor, time, rng):
    # An empty time axis included: the mask ops become nodes of a
    # Functional graph that can run before any layer checks its input,
    # and oneDNN's MaxPool aborted on it (pyramid token models, issue 11).
    mask = rng.random((3, time)) > 0.4
    layer = TimeReduction(factor)
    got = keras.ops.convert_to_numpy(
        layer.compute_mask(np.zeros((3, time, 2), "float32"), mask)
    )
    groups = -(-time // factor)
    padded = np.pad(mask, [(0, 0), (0, groups * factor - time)])
    expected = padded.reshape(3, groups, factor).any(axis=2)
    np.testing.assert_array_equal(got, expected)

import numpy as np
import pytest
from layer_checks import run_layer_test

from zoo.layers import LSTM
from zoo.layers import PyramidRNN


@pytest.mark.parametrize(
    "time, levels, expected", [(16, 3, 2), (17, 2, 5), (8, 0, 8)]
)
def test_output_length_is_time_over_two_to_the_levels(
    rng, time, levels, expected
):
    layer = PyramidRNN(LSTM(3), num_levels=levels)
    x = rng.normal(size=(2, time, 4)).astype("float32")
    output = layer(x)
    assert output.shape == (2, expected, 6)
    assert layer.compute_output_shape(x.shape) == (2, expected, 6)
    assert layer.time_reduction == 2**levels


def test_equals_manual_reshape_between_levels(rng):
    layer = PyramidRNN(LSTM(3), num_levels=2)
    x = rng.normal(size=(2, 8, 4)).astype("float32")
    output = layer(x)
    hidden = np.asarray(layer.levels[0](x))
    for level in layer.levels[1:]:
        batch, time, features = hidden.shape
        hidden = np.asarray(
            level(hidden.reshape(batch, time // 2, 2 * features))
        )
    np.testing.assert_allclose(output, hidden, atol=1e-6)


def test_mask_is_reduced_per_level(rng):
    layer = PyramidRNN(LSTM(3), num_levels=2)
    x = rng.normal(size=(2, 8, 4)).astype("float32")
    mask = np.array([[1] * 8, [1, 1, 1, 0, 0, 0, 0, 0]], bool)
    np.testing.assert_array_equal(
        layer.compute_mask(x, mask), [[True, True], [True, False]]
    )
    # The valid part of a padded row equals the unpadded row.
    short = layer(x[1:, :3])
    np.testing.assert_allclose(
        layer(x, mask=mask)[1:, :1], short[:, :1], atol=1e-5
    )


def test_standard_layer_checks(rng, tmp_path):
    x = rng.normal(size=(2, 8, 3)).astype("float32")
    run_layer_test(
        lambda: PyramidRNN(LSTM(2), num_levels=2), x, tmp_path=tmp_path
    )


def test_bad_levels():
    with pytest.raises(ValueError, match="num_levels"):
        PyramidRNN(LSTM(2), num_levels=-1)

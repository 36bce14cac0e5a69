import numpy as np
import pytest
from layer_checks import run_layer_test

from zoo.layers import GRU
from zoo.layers import LSTM
from zoo.layers import StackedRNN


def test_equals_layers_applied_in_turn(rng, masks):
    stack = StackedRNN(
        [LSTM(3, return_sequences=True), GRU(3, return_sequences=True)]
    )
    x = rng.normal(size=(4, 7, 2)).astype("float32")
    output = stack(x, mask=masks)
    first, second = stack.stack
    expected = second(first(x, mask=masks), mask=masks)
    np.testing.assert_allclose(output, expected, atol=1e-6)


def test_residual_adds_inputs_where_sizes_match(rng):
    stack = StackedRNN(
        [LSTM(3, return_sequences=True), LSTM(3, return_sequences=True)],
        residual=True,
    )
    x = rng.normal(size=(2, 5, 2)).astype("float32")
    output = stack(x)
    first, second = stack.stack
    hidden = first(x)  # sizes 2 -> 3 differ: no residual
    expected = second(hidden) + hidden
    np.testing.assert_allclose(output, expected, atol=1e-6)


def test_last_layer_decides_output(rng):
    stack = StackedRNN(
        [LSTM(3, return_sequences=True), LSTM(4, return_state=True)]
    )
    output, h, c = stack(rng.normal(size=(2, 5, 2)).astype("float32"))
    assert output.shape == (2, 4) and h.shape == (2, 4)


def test_lower_layers_must_return_sequences():
    with pytest.raises(ValueError, match="return_sequences"):
        StackedRNN([LSTM(3), LSTM(3)])


def test_empty_stack():
    with pytest.raises(ValueError, match="layers"):
        StackedRNN([])


def test_standard_layer_checks(rng, tmp_path):
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    run_layer_test(
        lambda: StackedRNN(
            [LSTM(4, return_sequences=True), GRU(4, return_sequences=True)],
            residual=True,
            dropout=0.1,
        ),
        x,
        tmp_path=tmp_path,
    )

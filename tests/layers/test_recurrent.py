"""RecurrentLayer and RecurrentCell: arguments, attributes, one-step calls."""

import inspect

import numpy as np
import pytest

from zoo.layers import GRU
from zoo.layers import LSTM
from zoo.layers import NAS
from zoo.layers import NaiveRNN


@pytest.mark.parametrize(
    "layer_class, own",
    [
        (LSTM, {"variant": "V", "peephole": True, "unit_forget_bias": False}),
        (GRU, {"reset_after": False, "recurrent_activation": "hard_sigmoid"}),
        (NaiveRNN, {"activation": "relu"}),
        (NAS, {"use_bias": False}),
    ],
)
def test_arguments_show_in_the_signature_and_as_attributes(layer_class, own):
    parameters = inspect.signature(layer_class).parameters
    arguments = {"dropout": 0.25, "seed": 3, "hoist_inputs": True, **own}
    assert set(arguments) <= set(parameters)
    layer = layer_class(2, **arguments)
    for name, value in arguments.items():
        got = getattr(layer, name)
        assert getattr(got, "__name__", got) == value, name


def test_cell_arguments_have_one_home():
    layer = LSTM(2, dropout=0.25)
    assert layer.dropout is layer.cell.dropout
    with pytest.raises(AttributeError, match="layer.cell.dropout"):
        layer.dropout = 0.5


def test_cells_take_only_their_own_arguments():
    assert "recurrent_activation" not in inspect.signature(NaiveRNN).parameters
    assert "activation" not in inspect.signature(NAS).parameters
    with pytest.raises(ValueError, match="activation"):
        NAS(2, activation="relu")


def test_a_cell_call_is_projection_then_step(rng):
    """The cell's call means one thing, inside a layer's loop or alone."""
    layer = LSTM(3, variant="V", recurrent_dropout=0.5)
    x = rng.normal(size=(2, 4, 5)).astype("float32")
    layer(x, training=True)
    cell = layer.cell
    states = [rng.normal(size=(2, 3)).astype("float32") for _ in range(2)]
    output, new_states = cell(x[:, 0], states)
    expected, expected_states = cell.step(cell.project_inputs(x[:, 0]), states)
    np.testing.assert_allclose(output, expected, atol=1e-6)
    for got, want in zip(new_states, expected_states):
        np.testing.assert_allclose(got, want, atol=1e-6)

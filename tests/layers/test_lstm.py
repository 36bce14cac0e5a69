import keras
import numpy as np
import pytest
import reference
import tensorflow as tf
from layer_checks import assert_equal_gradients
from layer_checks import keras_twins
from layer_checks import run_layer_test

from zoo.layers import LSTM
from zoo.layers import LSTM_VARIANTS
from zoo.layers.lstm import resolve_switches


def _pair(rng, **arguments):
    ours = LSTM(5, **arguments)
    theirs = keras.layers.LSTM(5, **arguments)
    return ours, theirs, keras_twins(ours, theirs, rng)


def test_default_weights_are_those_of_keras_lstm(rng):
    ours, theirs, _ = _pair(rng)
    assert [w.shape for w in ours.weights] == [w.shape for w in theirs.weights]
    assert [w.name for w in ours.weights] == [w.name for w in theirs.weights]


def test_unit_forget_bias_matches_keras():
    ours, theirs = LSTM(3), keras.layers.LSTM(3)
    x = np.zeros((1, 2, 2), "float32")
    ours(x)
    theirs(x)
    np.testing.assert_array_equal(
        ours.get_weights()[2], theirs.get_weights()[2]
    )


@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("return_sequences", [False, True])
def test_equals_keras_lstm_with_masks(
    rng, masks, go_backwards, return_sequences
):
    ours, theirs, x = _pair(
        rng,
        go_backwards=go_backwards,
        return_sequences=return_sequences,
        return_state=True,
    )
    for mine, keras_output in zip(ours(x, mask=masks), theirs(x, mask=masks)):
        np.testing.assert_allclose(mine, keras_output, atol=1e-5)


def test_gradients_equal_keras(rng, masks):
    ours, theirs, x = _pair(rng, return_sequences=True)
    assert_equal_gradients((ours, theirs), x, masks, tf.sin)


def test_initial_state_equals_keras(rng):
    ours, theirs, x = _pair(rng, return_state=True)
    initial = [rng.normal(size=(4, 5)).astype("float32") for _ in range(2)]
    for mine, keras_output in zip(
        ours(x, initial_state=initial), theirs(x, initial_state=initial)
    ):
        np.testing.assert_allclose(mine, keras_output, atol=1e-5)


@pytest.mark.parametrize("variant", sorted(LSTM_VARIANTS))
@pytest.mark.parametrize("go_backwards", [False, True])
def test_every_variant_equals_numpy_step_loop(
    rng, masks, variant, go_backwards
):
    layer = LSTM(
        4,
        variant=variant,
        return_sequences=True,
        return_state=True,
        go_backwards=go_backwards,
    )
    x = rng.normal(size=(4, 7, 3)).astype("float32")
    layer(x)
    weights = reference.randomize(layer, rng)
    switches = resolve_switches(variant)
    sizes = layer.cell.state_size
    initial = [np.zeros((4, size)) for size in sizes]
    expected, states = reference.run(
        reference.lstm_step(weights, switches), x, initial, masks, go_backwards
    )
    outputs = layer(x, mask=masks)
    np.testing.assert_allclose(outputs[0], expected, atol=1e-5)
    for state, expected_state in zip(outputs[1:], states):
        np.testing.assert_allclose(state, expected_state, atol=1e-5)


def test_variant_weight_layouts():
    x = np.zeros((1, 2, 3), "float32")
    shapes = {}
    for variant in LSTM_VARIANTS:
        layer = LSTM(2, variant=variant)
        layer(x)
        shapes[variant] = [tuple(w.shape) for w in layer.weights]
    assert shapes["NP"] == [(3, 8), (2, 8), (8,)]
    assert shapes["V"] == [(3, 8), (2, 8), (8,), (2,), (2,), (2,)]
    assert shapes["CIFG"] == [(3, 6), (2, 6), (6,), (2,), (2,)]
    assert shapes["NIG"] == [(3, 6), (2, 6), (6,), (2,), (2,)]
    assert shapes["FGR"][-1] == (6, 6)


def test_cifg_starts_with_an_open_forget_gate():
    layer = LSTM(2, variant="CIFG")
    layer(np.zeros((1, 2, 3), "float32"))
    bias = layer.get_weights()[2]
    np.testing.assert_array_equal(bias[:2], [-1.0, -1.0])  # input gate


def test_explicit_switch_overrides_variant():
    layer = LSTM(2, variant="V", peephole=False)
    assert layer.cell.peephole is False and layer.cell.variant == "V"


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"variant": "XYZ"}, "variant"),
        ({"peephole": "yes"}, "peephole"),
        ({"coupled_input_forget": True, "input_gate": False}, "input_gate"),
        ({"unit_forget_bias": 1}, "unit_forget_bias"),
    ],
)
def test_bad_switches_are_clear_errors(arguments, message):
    with pytest.raises(ValueError, match=message):
        LSTM(3, **arguments)


@pytest.mark.parametrize("variant", ["NP", "V", "FGR"])
def test_standard_layer_checks(rng, tmp_path, variant):
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    run_layer_test(
        lambda: LSTM(4, variant=variant, return_sequences=True),
        x,
        tmp_path=tmp_path,
    )


def test_dropout_only_in_training(rng):
    layer = LSTM(4, dropout=0.5, recurrent_dropout=0.5, seed=3)
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    np.testing.assert_array_equal(layer(x), layer(x))
    assert not np.allclose(layer(x, training=True), layer(x))


def test_unroll_equals_loop(rng, masks):
    x = rng.normal(size=(4, 7, 3)).astype("float32")
    looped = LSTM(4, variant="V", return_sequences=True)
    unrolled = LSTM(4, variant="V", return_sequences=True, unroll=True)
    looped(x)
    unrolled(x)
    unrolled.set_weights(looped.get_weights())
    np.testing.assert_allclose(
        looped(x, mask=masks), unrolled(x, mask=masks), atol=1e-6
    )

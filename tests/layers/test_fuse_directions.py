"""Bidirectional(fuse_directions=...): both directions in one time loop.

The fused loop must equal the two separate layers exactly: outputs, final
states and gradients (inputs and every weight), with right-padded,
left-padded, full and fully masked rows, for every cell and merge mode.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from layer_checks import run_layer_test

from zoo.layers import GRU
from zoo.layers import LSTM
from zoo.layers import NAS
from zoo.layers import Bidirectional
from zoo.layers import NaiveRNN
from zoo.layers import bidirectional as bidirectional_module

CELLS = {
    "naive": lambda **kw: NaiveRNN(3, **kw),
    "lstm_np": lambda **kw: LSTM(3, **kw),
    "lstm_v": lambda **kw: LSTM(3, variant="V", **kw),
    "lstm_cifg": lambda **kw: LSTM(3, variant="CIFG", **kw),
    "lstm_fgr": lambda **kw: LSTM(3, variant="FGR", **kw),
    "lstm_nog": lambda **kw: LSTM(3, variant="NOG", **kw),
    "gru": lambda **kw: GRU(3, **kw),
    "gru_reset_before": lambda **kw: GRU(3, reset_after=False, **kw),
    "nas": lambda **kw: NAS(3, **kw),
}

# Every cell once, the merge modes and output options spread over them.
CASES = [
    ("naive", "concat", True, True, False),
    ("lstm_np", "sum", False, True, False),
    ("lstm_v", "mul", True, True, True),
    ("lstm_cifg", "ave", True, False, False),
    ("lstm_fgr", None, True, True, False),
    ("lstm_nog", "concat", False, False, True),
    ("gru", "dense", False, True, False),
    ("gru_reset_before", "concat", True, True, True),
    ("nas", "sum", True, True, False),
]


def _pair(name, merge_mode="concat", **layer_arguments):
    """A fused and an unfused Bidirectional with the same weights."""
    pair = [
        Bidirectional(
            CELLS[name](use_cudnn=False, **layer_arguments),
            merge_mode=merge_mode,
            fuse_directions=fuse,
        )
        for fuse in (True, False)
    ]
    return pair


def _values_and_gradients(layer, x, mask, training=False):
    with tf.GradientTape() as tape:
        tape.watch(x)
        results = layer(x, mask=mask, training=training)
        results = results if isinstance(results, list) else [results]
        loss = sum(
            tf.reduce_sum(tf.sin(value) if index == 0 else tf.cos(value))
            for index, value in enumerate(results)
        )
    gradients = tape.gradient(loss, [x] + layer.trainable_weights)
    return results, gradients


def _assert_equal(fused, unfused):
    assert len(fused) == len(unfused)
    for got, expected in zip(fused, unfused):
        np.testing.assert_allclose(got, expected, atol=1e-5)


@pytest.mark.parametrize(
    "name, merge_mode, return_sequences, return_state, zero_output", CASES
)
def test_fused_equals_two_loops(
    rng, masks, name, merge_mode, return_sequences, return_state, zero_output
):
    x = tf.constant(rng.normal(size=(4, 7, 2)).astype("float32"))
    fused, unfused = _pair(
        name,
        merge_mode,
        return_sequences=return_sequences,
        return_state=return_state,
        zero_output_for_mask=zero_output,
    )
    fused(x)
    unfused(x)
    unfused.set_weights(fused.get_weights())
    for mask in (masks, None):
        values, gradients = _values_and_gradients(fused, x, mask)
        expected_values, expected_gradients = _values_and_gradients(
            unfused, x, mask
        )
        _assert_equal(values, expected_values)
        _assert_equal(gradients, expected_gradients)
        assert all(gradient is not None for gradient in gradients)


@pytest.mark.parametrize("name", ["lstm_v", "gru"])
def test_fused_equals_two_loops_with_input_dropout(rng, masks, name):
    """Each direction draws its dropout mask from its own seed generator,
    as the separate layers do, so training results match too."""
    x = tf.constant(rng.normal(size=(4, 7, 2)).astype("float32"))
    fused, unfused = _pair(
        name, return_sequences=True, dropout=0.4, seed=7, hoist_inputs=True
    )
    fused(x)
    unfused(x)
    unfused.set_weights(fused.get_weights())
    values, gradients = _values_and_gradients(fused, x, masks, training=True)
    expected = _values_and_gradients(unfused, x, masks, training=True)
    _assert_equal(values, expected[0])
    _assert_equal(gradients, expected[1])
    inference = fused(x, mask=masks)
    assert not np.allclose(values[0], inference, atol=1e-3)


@pytest.fixture
def paired_calls(monkeypatch):
    """Records every call of the fused loop."""
    calls = []
    original = bidirectional_module.paired_loop

    def recording(*args, **kwargs):
        calls.append(args[0].name)
        return original(*args, **kwargs)

    monkeypatch.setattr(bidirectional_module, "paired_loop", recording)
    return calls


def test_auto_keeps_two_loops_where_sharing_does_not_pay(rng, paired_calls):
    x = rng.normal(size=(2, 5, 2)).astype("float32")
    Bidirectional(GRU(3, return_sequences=True))(x)
    assert paired_calls == []
    Bidirectional(GRU(3, return_sequences=True), fuse_directions=True)(x)
    assert len(paired_calls) == 1


@pytest.mark.parametrize(
    "make_layer, call_arguments, reason",
    [
        (lambda: keras.layers.LSTM(3), {}, "not a zoo recurrent layer"),
        (lambda: LSTM(3, recurrent_dropout=0.2), {}, "recurrent dropout"),
        (lambda: LSTM(3, unroll=True), {}, "unrolled"),
        (lambda: LSTM(3, scan_unroll=2), {}, "several steps"),
        (lambda: LSTM(3, activity_regularizer="l2"), {}, "activity"),
        (lambda: LSTM(3), {"initial_state": True}, "initial state"),
    ],
)
def test_forcing_an_unsupported_case_is_a_clear_error(
    rng, make_layer, call_arguments, reason
):
    x = rng.normal(size=(2, 5, 2)).astype("float32")
    if call_arguments:
        call_arguments = {"initial_state": [np.zeros((2, 3), "float32")] * 4}
    layer = Bidirectional(make_layer(), fuse_directions=True)
    with pytest.raises(ValueError, match=f"fuse_directions.*{reason}"):
        layer(x, **call_arguments)


def test_standard_layer_checks_with_fused_directions(rng, tmp_path):
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    run_layer_test(
        lambda: Bidirectional(
            LSTM(4, variant="CIFG", return_sequences=True),
            merge_mode="ave",
            fuse_directions=True,
        ),
        x,
        tmp_path=tmp_path,
    )


def test_switch_round_trips_and_is_validated():
    for value in ("auto", True, False):
        layer = Bidirectional(LSTM(3), fuse_directions=value)
        config = layer.get_config()
        assert config["fuse_directions"] == value
        restored = Bidirectional.from_config(config)
        assert restored.fuse_directions == value
    with pytest.raises(ValueError, match="fuse_directions"):
        Bidirectional(LSTM(3), fuse_directions="yes")

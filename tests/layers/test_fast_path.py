"""Hoisted input projection (x·W for all steps before the loop) against the
per-step projection: the same values and gradients, with masks."""

import numpy as np
import pytest
import tensorflow as tf

from zoo.layers import GRU
from zoo.layers import LSTM
from zoo.layers import NAS
from zoo.layers import NaiveRNN

CASES = {
    "naive": lambda **kw: NaiveRNN(4, **kw),
    "lstm_np": lambda **kw: LSTM(4, **kw),
    "lstm_v": lambda **kw: LSTM(4, variant="V", **kw),
    "lstm_cifg": lambda **kw: LSTM(4, variant="CIFG", **kw),
    "lstm_fgr": lambda **kw: LSTM(4, variant="FGR", **kw),
    "gru": lambda **kw: GRU(4, **kw),
    "gru_reset_before": lambda **kw: GRU(4, reset_after=False, **kw),
    "nas": lambda **kw: NAS(4, **kw),
}


def assert_same_results(layers, x, mask):
    """The two layers, given equal weights, give equal outputs, states (with
    return_state) and gradients w.r.t. the inputs and every weight."""
    for layer in layers:
        layer(x)
    layers[1].set_weights(layers[0].get_weights())
    results = []
    for layer in layers:
        with tf.GradientTape() as tape:
            tape.watch(x)
            output, *states = tf.nest.flatten(layer(x, mask=mask))
            loss = tf.reduce_sum(tf.sin(output)) + sum(
                tf.reduce_sum(tf.cos(state)) for state in states
            )
        results.append(
            [output, *states]
            + tape.gradient(loss, [x] + layer.trainable_weights)
        )
    for first, second in zip(*results):
        np.testing.assert_allclose(first, second, atol=1e-5)


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("go_backwards", [False, True])
def test_hoisted_equals_per_step(rng, masks, name, go_backwards):
    x = tf.constant(rng.normal(size=(4, 7, 3)).astype("float32"))
    layers = [
        CASES[name](
            hoist_inputs=hoist,
            return_sequences=True,
            go_backwards=go_backwards,
            use_cudnn=False,
        )
        for hoist in (True, False)
    ]
    assert_same_results(layers, x, masks)


def test_auto_is_a_valid_setting_and_round_trips():
    layer = LSTM(3, hoist_inputs="auto")
    assert LSTM.from_config(layer.get_config()).hoist_inputs == "auto"
    with pytest.raises(ValueError, match="hoist_inputs"):
        LSTM(3, hoist_inputs="sometimes")


@pytest.mark.parametrize(
    "features, hoisted", [(3, False), (4, False), (5, True)]
)
def test_auto_hoists_inputs_wider_than_the_state_on_a_cpu(features, hoisted):
    layer = LSTM(4)
    layer.build((2, 6, features))
    assert layer._hoists_inputs() is hoisted
    assert LSTM(4, hoist_inputs=True)._hoists_inputs() is True
    assert LSTM(4, hoist_inputs=False)._hoists_inputs() is False


@pytest.mark.parametrize("name", ["naive", "lstm_v", "gru", "nas"])
@pytest.mark.parametrize("go_backwards", [False, True])
@pytest.mark.parametrize("zero_output_for_mask", [False, True])
def test_unrolled_scan_equals_keras_loop(
    rng, masks, name, go_backwards, zero_output_for_mask
):
    """scan_unroll=k runs its own ops.scan loop: same outputs, final states
    and gradients as Keras' backend loop, with masks (7 steps, unroll 3, so
    the last trip is a partial one)."""
    x = tf.constant(rng.normal(size=(4, 7, 3)).astype("float32"))
    layers = [
        CASES[name](
            scan_unroll=unroll,
            return_sequences=True,
            return_state=True,
            go_backwards=go_backwards,
            zero_output_for_mask=zero_output_for_mask,
            hoist_inputs=True,
            use_cudnn=False,
        )
        for unroll in (3, 1)
    ]
    assert_same_results(layers, x, masks)


def test_scan_unroll_round_trips_and_rejects_bad_values():
    layer = LSTM(3, scan_unroll=4)
    assert LSTM.from_config(layer.get_config()).scan_unroll == 4
    for bad in (0, -2, 1.5, True, "8"):
        with pytest.raises(ValueError, match="scan_unroll"):
            LSTM(3, scan_unroll=bad)

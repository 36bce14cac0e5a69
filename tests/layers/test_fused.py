"""The fused-kernel (cuDNN) dispatch of stock LSTM/GRU configurations.

No GPU here, so Keras' backend kernels are replaced by recording fakes that
compute the exact answer with Keras' own generic loop: the tests check which
configurations are dispatched, that the results are used, and that export
tracing (`fused_kernels_disabled`) never dispatches.
"""

import keras
import numpy as np
import pytest

from zoo import keras_compat
from zoo.layers import GRU
from zoo.layers import LSTM
from zoo.layers.fused import fused_kernels_disabled


@pytest.fixture
def fake_fused(monkeypatch):
    calls = []

    def fake_lstm(inputs, h, c, mask, **arguments):
        calls.append("lstm")
        reference = keras.layers.LSTM(
            h.shape[-1],
            return_sequences=True,
            return_state=True,
            go_backwards=arguments["go_backwards"],
            use_cudnn=False,
        )
        reference.build(inputs.shape)
        reference.set_weights(
            [
                np.asarray(arguments["kernel"]),
                np.asarray(arguments["recurrent_kernel"]),
                np.asarray(arguments["bias"]),
            ]
        )
        outputs, h, c = reference(inputs, initial_state=[h, c], mask=mask)
        return outputs[:, -1], outputs, [h, c]

    def fake_gru(inputs, h, mask, **arguments):
        calls.append("gru")
        raise NotImplementedError  # as on a CPU: the loop must take over

    monkeypatch.setattr(keras_compat, "lstm", fake_lstm)
    monkeypatch.setattr(keras_compat, "gru", fake_gru)
    return calls


def test_stock_lstm_uses_the_fused_kernel(fake_fused, rng):
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    layer = LSTM(4, return_sequences=True)
    output = layer(x)
    assert fake_fused == ["lstm"]
    fake_fused.clear()
    with fused_kernels_disabled():
        looped = layer(x)
    assert fake_fused == []
    np.testing.assert_allclose(output, looped, atol=1e-5)


@pytest.mark.parametrize(
    "arguments",
    [
        {"variant": "V"},
        {"variant": "CIFG"},
        {"recurrent_dropout": 0.1},
        {"use_cudnn": False},
        {"activation": "relu"},
    ],
)
def test_other_configurations_never_use_it(fake_fused, rng, arguments):
    LSTM(4, **arguments)(rng.normal(size=(2, 5, 3)).astype("float32"))
    assert fake_fused == []


def test_unavailable_kernel_falls_back_to_the_loop(fake_fused, rng):
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    layer = GRU(4)
    output = layer(x)
    assert fake_fused == ["gru"]
    with fused_kernels_disabled():
        np.testing.assert_allclose(layer(x), output, atol=1e-6)


def test_forcing_an_unavailable_kernel_is_a_clear_error(fake_fused, rng):
    with pytest.raises(ValueError, match="use_cudnn"):
        GRU(4, use_cudnn=True)(rng.normal(size=(2, 5, 3)).astype("float32"))


def test_bad_use_cudnn():
    with pytest.raises(ValueError, match="use_cudnn"):
        LSTM(3, use_cudnn="yes")

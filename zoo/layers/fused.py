"""Keras' fused recurrent kernels (cuDNN) for stock LSTM/GRU configurations.

A zoo cell whose configuration is exactly Keras' (`cell.fused_kernel()`)
runs as one fused kernel where the backend has one; export tracing turns
this off (`fused_kernels_disabled`), so that no GPU-only op enters a
SavedModel.
"""

from __future__ import annotations

import contextlib

import keras

from zoo import keras_compat

# While True, no layer uses a fused (cuDNN) kernel: see fused_kernels_disabled.
_FUSED_DISABLED = [False]


@contextlib.contextmanager
def fused_kernels_disabled():
    """Within this block, zoo recurrent layers trace only their portable loop.

    Used around SavedModel export, so that a model trained on a GPU exports
    a graph without `CudnnRNN*` ops, which serves on any CPU.
    """
    previous = _FUSED_DISABLED[0]
    _FUSED_DISABLED[0] = True
    try:
        yield
    finally:
        _FUSED_DISABLED[0] = previous


def fused_loop(layer, sequences, initial_state, mask):
    """`layer`'s loop as Keras' fused kernel, or None where it does not apply.

    Only a cell whose configuration is exactly Keras' (`fused_kernel`)
    qualifies, never with recurrent dropout, with `use_cudnn=False`, or
    while `fused_kernels_disabled()` is active. Backends without a fused
    kernel for the case raise NotImplementedError, and None tells the layer
    to run its loop instead (with `use_cudnn=True`, a ValueError).

    Returns (last output, outputs, final states), as the loops do.
    """
    cell = layer.cell
    kernel_name = cell.fused_kernel()
    if (
        layer.use_cudnn is False
        or kernel_name is None
        or cell.recurrent_dropout
        or _FUSED_DISABLED[0]
    ):
        return None
    arguments = dict(
        kernel=cell.kernel,
        recurrent_kernel=cell.recurrent_kernel,
        bias=cell.bias,
        activation=cell.activation,
        recurrent_activation=cell.recurrent_activation,
        return_sequences=layer.return_sequences,
        go_backwards=layer.go_backwards,
        unroll=layer.unroll,
    )
    try:
        if kernel_name == "lstm":
            result = keras_compat.lstm(
                sequences, initial_state[0], initial_state[1], mask, **arguments
            )
        else:
            result = keras_compat.gru(
                sequences,
                initial_state[0],
                mask,
                reset_after=cell.reset_after,
                **arguments,
            )
    except NotImplementedError:
        if layer.use_cudnn is True:
            raise ValueError(
                "use_cudnn=True was given, but this backend has no fused "
                "kernel for this configuration (a GPU is needed, and no "
                "mask). Pass use_cudnn='auto' to fall back to the loop."
            ) from None
        return None
    if keras.backend.backend() == "tensorflow":
        # cuDNN ops are not XLA-compatible.
        layer.supports_jit = False
    return result

"""Convolution along time that respects padding masks."""

from __future__ import annotations

import keras
from keras import ops

from zoo.layers.pooling import reduce_mask


@keras.saving.register_keras_serializable(package="zoo")
class MaskedConv1D(keras.layers.Conv1D):
    """A 1-D convolution along time (`keras.layers.Conv1D`) that keeps masks.

    The lecture's convolution: each output step sees only a `kernel_size`
    window (sparse connectivity) and every window uses the same kernel
    (shared parameters), moved by `strides`, with "valid", "same" or
    "causal" padding:

        y_t = act(b + Σ_{k} W_k · x_{t·s + k})

    Padded (masked) steps are zeroed before the convolution, so padding
    never leaks into real steps through the bias of the previous layer, and
    the mask is reduced with the time axis (a step is valid if any step of
    its window is). All arguments are those of `keras.layers.Conv1D`.

    Output shape: [batch, new time, filters].

    Reference:
        LeCun et al., "Gradient-Based Learning Applied to Document
        Recognition", Proc. IEEE 1998; Goodfellow et al., "Deep Learning",
        chapter 9.
    """

    def __init__(self, filters, kernel_size, **kwargs):
        super().__init__(filters, kernel_size, **kwargs)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        if mask is not None:
            inputs = ops.where(ops.cast(mask, "bool")[..., None], inputs, 0.0)
        return super().call(inputs)

    def compute_mask(self, inputs, mask=None):
        if mask is None:
            return None
        if self.padding == "causal":
            # Step t sees t-k+1..t: valid where the input step t is.
            return mask[:, :: self.strides[0]]
        size = (self.kernel_size[0] - 1) * self.dilation_rate[0] + 1
        if self.padding == "same":
            return mask[:, :: self.strides[0]]
        return reduce_mask(mask, size, self.strides[0], "valid")

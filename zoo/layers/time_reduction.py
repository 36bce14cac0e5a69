"""Shortening the time axis: the pyramid's step between levels."""

from __future__ import annotations

import keras
from keras import ops

from zoo.layers import validation

MODES = ("concat", "mean", "max", "skip")


@keras.saving.register_keras_serializable(package="zoo")
class TimeReduction(keras.layers.Layer):
    """Groups every `factor` consecutive frames into one: T -> ceil(T / k).

    With frames x_{k·t}, ..., x_{k·t+k-1} of group t:

        "concat"  [x_{kt}; ...; x_{kt+k-1}]  (Listen-Attend-Spell: features
                  grow k-fold, nothing is thrown away)
        "mean"    the average of the group's unmasked frames
        "max"     their elementwise maximum
        "skip"    the first frame of the group (frame-rate subsampling)

    A length that is not a multiple of k is padded at the end with masked
    zero frames. Masked frames are zeroed before "concat" and left out of
    "mean" and "max".

    Args:
        factor: The reduction factor k (positive integer, default 2).
        mode: One of "concat", "mean", "max", "skip" (default "concat").

    Call arguments: inputs [batch, time, features]; mask optional
        [batch, time].

    Output shape: [batch, ceil(time / k), k·features] for "concat",
        [batch, ceil(time / k), features] otherwise.

    Masking: a group is valid if any of its frames is ("skip": if its first
        frame is). Without an input mask there is no output mask.

    Example:
        >>> tuple(TimeReduction(2)(keras.ops.ones((1, 5, 3))).shape)
        (1, 3, 6)

    Reference:
        Chan et al., "Listen, Attend and Spell", ICASSP 2016 (the pyramidal
        BLSTM concatenates consecutive frames).
    """

    def __init__(self, factor: int = 2, mode: str = "concat", **kwargs):
        super().__init__(**kwargs)
        self.factor = validation.positive_int("factor", factor)
        self.mode = validation.one_of("mode", mode, MODES)
        self.supports_masking = True

    def _grouped(self, inputs, mask):
        """Pads time to a multiple of k and reshapes to [B, T', k, ...]."""
        batch = ops.shape(inputs)[0]
        time = ops.shape(inputs)[1]
        features = inputs.shape[-1]
        padding = (-time) % self.factor
        valid = (
            ops.ones((batch, time), dtype="bool")
            if mask is None
            else ops.cast(mask, "bool")
        )
        inputs = ops.concatenate(
            [inputs, ops.zeros((batch, padding, features), inputs.dtype)],
            axis=1,
        )
        valid = ops.concatenate(
            [valid, ops.zeros((batch, padding), dtype="bool")], axis=1
        )
        groups = (time + padding) // self.factor
        inputs = ops.reshape(inputs, (batch, groups, self.factor, features))
        valid = ops.reshape(valid, (batch, groups, self.factor))
        return inputs, valid

    def call(self, inputs, mask=None):
        if self.factor == 1:
            return inputs
        grouped, valid = self._grouped(inputs, mask)
        # where, not a product: NaN or inf at a masked frame must not leak.
        zeroed = ops.where(valid[..., None], grouped, 0.0)
        if self.mode == "concat":
            grouped = zeroed
            shape = ops.shape(grouped)
            return ops.reshape(
                grouped, (shape[0], shape[1], self.factor * inputs.shape[-1])
            )
        if self.mode == "mean":
            total = ops.sum(zeroed, axis=2)
            weights = ops.cast(valid, inputs.dtype)[..., None]
            count = ops.maximum(ops.sum(weights, axis=2), 1.0)
            return total / count
        if self.mode == "max":
            lowest = ops.full_like(grouped, -1e9)
            largest = ops.max(ops.where(valid[..., None], grouped, lowest), 2)
            return ops.where(ops.any(valid, axis=2)[..., None], largest, 0.0)
        return grouped[:, :, 0]

    def compute_mask(self, inputs, mask=None):
        # Only static-shape ops here: Keras also calls this symbolically.
        if mask is None or self.factor == 1:
            return mask
        if self.mode == "skip":
            return mask[:, :: self.factor]
        # Group t is valid if any of frames kt .. kt+k-1 is: a difference of
        # running counts over the mask padded with k - 1 masked frames. No
        # pooling op: Keras records these ops as nodes of a Functional
        # graph, where they may run before any layer has checked the input,
        # and oneDNN's MaxPool aborts on an empty time axis.
        k = self.factor
        padded = ops.pad(ops.cast(mask, "int32"), [[0, 0], [0, k - 1]])
        # counts[:, i] = valid frames among the first i (T + k entries).
        counts = ops.pad(ops.cumsum(padded, axis=1), [[0, 0], [1, 0]])
        group_sums = counts[:, k::k] - counts[:, ::k][:, :-1]
        return group_sums > 0

    def compute_output_shape(self, input_shape):
        batch, time, features = input_shape
        if time is not None:
            time = -(-time // self.factor)
        if self.mode == "concat" and features is not None:
            features = features * self.factor
        return (batch, time, features)

    def get_config(self):
        config = super().get_config()
        config.update({"factor": self.factor, "mode": self.mode})
        return config

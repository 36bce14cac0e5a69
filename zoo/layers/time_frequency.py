"""Convolution over time and frequency: the CLDNN's front end."""

from __future__ import annotations

import math

import keras
from keras import ops

from zoo.layers import validation


def _kernel(value) -> tuple[int, int]:
    if (
        not isinstance(value, (list, tuple))
        or len(value) != 2
        or not all(
            isinstance(size, int) and not isinstance(size, bool) and size > 0
            for size in value
        )
    ):
        raise ValueError(
            "Received an invalid value for argument `kernel_sizes`, expected "
            f"(time, frequency) pairs of positive integers, got {value!r}."
        )
    return int(value[0]), int(value[1])


@keras.saving.register_keras_serializable(package="zoo")
class TimeFrequencyConv(keras.layers.Layer):
    """2-D convolutions over a time × frequency map, pooled along frequency.

    The input [batch, time, frequency] (e.g. log-mels) is one feature map
    x⁰ = x[..., None]. Layer l convolves it with `filters[l]` 2-D kernels of
    size `kernel_sizes[l]` = (k_t, k_f), shared over time and frequency,
    then max-pools non-overlapping groups of `pool_sizes[l]` frequency bins
    (no pooling along time):

        a^l_{t,f,c} = relu(b_c + Σ_{i<k_t, j<k_f, c'} W_{i,j,c',c} ·
                           x^{l-1}_{t+i-⌊(k_t-1)/2⌋, f+j-⌊(k_f-1)/2⌋, c'})
        x^l_{t,f,c} = max_{p < P_l} a^l_{t, P_l·f + p, c}

    Both axes use "same" padding, so the time axis keeps its length and any
    number of bins works. The last map is flattened per frame, giving
    [batch, time, F_L · filters[-1]] for the linear layer and LSTMs that
    follow in a CLDNN. Frequency pooling makes the features tolerant to
    small shifts along frequency (formants of a different vocal tract),
    which a convolution along time with the bins as channels is not.

    Args:
        filters: Feature maps per layer (a tuple of positive integers, one
            per layer; the paper uses 256, 256).
        kernel_sizes: (time, frequency) kernel per layer (default the
            paper's ((9, 9), (4, 3))).
        pool_sizes: Max-pooling size along frequency per layer (default the
            paper's (3, 1): pool after the first layer only).
        activation: The activation of every layer (default "relu").

    Call arguments: inputs [batch, time, frequency]; mask optional
        [batch, time].

    Output shape: [batch, time, F_L · filters[-1]], where F_0 = frequency and
        F_l = ceil(F_{l-1} / pool_sizes[l]).

    Masking: masked frames are zeroed before every layer, so padding never
        reaches a valid frame through a kernel or the previous layer's
        bias; the output mask is the input mask (time keeps its length).

    Example:
        >>> layer = TimeFrequencyConv((4, 4))
        >>> tuple(layer(keras.ops.ones((2, 5, 40))).shape)
        (2, 5, 56)

    Reference:
        Sainath, Vinyals, Senior, Sak, "Convolutional, Long Short-Term
        Memory, Fully Connected Deep Neural Networks", ICASSP 2015 (two
        convolutional layers, 9×9 then 4×3, 256 maps, max pooling of 3
        along frequency only); Abdel-Hamid et al., "Convolutional Neural
        Networks for Speech Recognition", IEEE/ACM TASLP 2014.
    """

    def __init__(
        self,
        filters,
        kernel_sizes=((9, 9), (4, 3)),
        pool_sizes=(3, 1),
        activation="relu",
        **kwargs,
    ):
        super().__init__(**kwargs)
        if isinstance(filters, int) or not filters:
            raise ValueError(
                "Received an invalid value for argument `filters`, expected "
                f"a non-empty tuple of positive integers, got {filters!r}."
            )
        self.filters = tuple(
            validation.positive_int("filters", value) for value in filters
        )
        self.kernel_sizes = tuple(_kernel(value) for value in kernel_sizes)
        self.pool_sizes = tuple(
            validation.positive_int("pool_sizes", value) for value in pool_sizes
        )
        if (
            not len(self.filters)
            == len(self.kernel_sizes)
            == len(self.pool_sizes)
        ):
            raise ValueError(
                "`filters`, `kernel_sizes` and `pool_sizes` need one entry "
                f"per layer, got {len(self.filters)}, "
                f"{len(self.kernel_sizes)} and {len(self.pool_sizes)}."
            )
        self.activation = keras.activations.serialize(
            keras.activations.get(activation)
        )
        self.convolutions = [
            keras.layers.Conv2D(
                count,
                kernel,
                padding="same",
                activation=activation,
                name=f"conv_{index}",
            )
            for index, (count, kernel) in enumerate(
                zip(self.filters, self.kernel_sizes)
            )
        ]
        self.supports_masking = True

    def _bins(self, frequency: int) -> int:
        for pool in self.pool_sizes:
            frequency = math.ceil(frequency / pool)
        return frequency

    def build(self, input_shape):
        if len(input_shape) != 3 or input_shape[-1] is None:
            raise ValueError(
                "TimeFrequencyConv expects [batch, time, frequency] with a "
                f"known frequency size, got {input_shape}."
            )
        shape = (input_shape[0], input_shape[1], input_shape[2], 1)
        for convolution, pool in zip(self.convolutions, self.pool_sizes):
            convolution.build(shape)
            shape = (shape[0], shape[1], math.ceil(shape[2] / pool))
            shape = shape + (convolution.filters,)

    def call(self, inputs, mask=None):
        valid = None
        if mask is not None:
            valid = ops.cast(mask, "bool")[:, :, None, None]
        hidden = inputs[..., None]  # [batch, time, frequency, 1]
        for convolution, pool in zip(self.convolutions, self.pool_sizes):
            if valid is not None:
                hidden = ops.where(valid, hidden, 0.0)
            hidden = convolution(hidden)
            if pool > 1:
                hidden = ops.max_pool(
                    hidden, (1, pool), strides=(1, pool), padding="same"
                )
        batch, time = ops.shape(hidden)[0], ops.shape(hidden)[1]
        size = hidden.shape[2] * hidden.shape[3]
        return ops.reshape(hidden, (batch, time, size))

    def compute_output_shape(self, input_shape):
        return (
            input_shape[0],
            input_shape[1],
            self._bins(input_shape[2]) * self.filters[-1],
        )

    def compute_mask(self, inputs, mask=None):
        return mask

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "filters": self.filters,
                "kernel_sizes": self.kernel_sizes,
                "pool_sizes": self.pool_sizes,
                "activation": self.activation,
            }
        )
        return config

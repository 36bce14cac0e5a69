"""Pooling along time: local max / average / Lp windows and global pooling.

All pooling layers here are mask-aware: masked steps never win a max, never
enter an average or a norm, and local pooling reduces the mask along with
the time axis.
"""

from __future__ import annotations

import keras
from keras import ops

from zoo.layers import validation

_PADDINGS = ("valid", "same")


def reduce_mask(mask, pool_size: int, strides: int, padding: str):
    """The mask after a window of `pool_size` moved by `strides`.

    A pooled step is valid if any step of its window is.
    """
    if mask is None:
        return None
    as_float = ops.cast(mask, "float32")[..., None]
    pooled = ops.max_pool(as_float, pool_size, strides, padding)
    return ops.cast(pooled[..., 0], "bool")


class _LocalPooling1D(keras.layers.Layer):
    """Shared arguments, mask and shape logic of the local pooling layers."""

    def __init__(
        self,
        pool_size: int = 2,
        strides: int | None = None,
        padding: str = "valid",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.pool_size = validation.positive_int("pool_size", pool_size)
        self.strides = validation.positive_int(
            "strides", pool_size if strides is None else strides
        )
        self.padding = validation.one_of("padding", padding, _PADDINGS)
        self.supports_masking = True
        self.input_spec = keras.InputSpec(ndim=3)

    def _masked(self, inputs, mask, fill):
        if mask is None:
            return inputs
        return ops.where(ops.cast(mask, "bool")[..., None], inputs, fill)

    def compute_mask(self, inputs, mask=None):
        return reduce_mask(mask, self.pool_size, self.strides, self.padding)

    def compute_output_shape(self, input_shape):
        batch, time, features = input_shape
        if time is not None:
            if self.padding == "same":
                time = -(-time // self.strides)
            else:
                time = (time - self.pool_size) // self.strides + 1
        return (batch, time, features)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "pool_size": self.pool_size,
                "strides": self.strides,
                "padding": self.padding,
            }
        )
        return config


@keras.saving.register_keras_serializable(package="zoo")
class MaskedMaxPooling1D(_LocalPooling1D):
    """Max pooling along time that ignores masked steps.

    y_t = max over the window of the unmasked x (0 if all are masked).

    Args: pool_size, strides (default pool_size), padding ("valid"/"same").
    Output shape: [batch, pooled time, features]; the mask is reduced too.
    """

    def call(self, inputs, mask=None):
        lowest = ops.full_like(inputs, -1e9)
        pooled = ops.max_pool(
            self._masked(inputs, mask, lowest),
            self.pool_size,
            self.strides,
            self.padding,
        )
        return ops.where(pooled <= -1e9, 0.0, pooled)


@keras.saving.register_keras_serializable(package="zoo")
class MaskedAveragePooling1D(_LocalPooling1D):
    """Average pooling along time over the unmasked steps of each window.

    Args: pool_size, strides (default pool_size), padding ("valid"/"same").
    Output shape: [batch, pooled time, features]; the mask is reduced too.
    """

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.average_pool(
                inputs, self.pool_size, self.strides, self.padding
            )
        weights = ops.cast(mask, inputs.dtype)[..., None]
        total = ops.average_pool(
            self._masked(inputs, mask, 0.0),
            self.pool_size,
            self.strides,
            self.padding,
        )
        count = ops.average_pool(
            weights, self.pool_size, self.strides, self.padding
        )
        return total / ops.maximum(count, 1e-9)


class _NormPooling1D(_LocalPooling1D):
    """The Lp norm of each window, (Σ_window |x|^p)^(1/p); `p` is set by
    the subclass."""

    p: float

    def call(self, inputs, mask=None):
        powered = ops.power(ops.abs(inputs), self.p)
        powered = self._masked(powered, mask, 0.0)
        window_mean = ops.average_pool(
            powered, self.pool_size, self.strides, self.padding
        )
        # The epsilon keeps the gradient of x^(1/p) finite at 0.
        return ops.power(window_mean * self.pool_size + 1e-12, 1.0 / self.p)


@keras.saving.register_keras_serializable(package="zoo")
class LpPooling1D(_NormPooling1D):
    """Lp pooling along time: y_t = (Σ_window |x|^p)^(1/p).

    p = 1 sums magnitudes, p = 2 is L2 pooling (the Euclidean norm of each
    window), and p -> ∞ approaches max pooling. Masked steps count as 0.

    Args:
        p: The order, a number >= 1 (default 2).
        pool_size, strides (default pool_size), padding ("valid"/"same").

    Output shape: [batch, pooled time, features]; the mask is reduced too.

    Reference:
        Goodfellow, Bengio & Courville, "Deep Learning", MIT Press 2016,
        section 9.3 (L2 norm pooling); Sermanet et al., "Convolutional
        Neural Networks Applied to House Numbers Digit Classification",
        ICPR 2012 (Lp pooling).
    """

    def __init__(self, p: float = 2.0, pool_size: int = 2, **kwargs):
        super().__init__(pool_size=pool_size, **kwargs)
        if isinstance(p, bool) or not isinstance(p, (int, float)) or p < 1:
            raise ValueError(
                "Received an invalid value for argument `p`, expected a "
                f"number >= 1, got {p!r}."
            )
        self.p = float(p)

    def get_config(self):
        config = super().get_config()
        config["p"] = self.p
        return config


@keras.saving.register_keras_serializable(package="zoo")
class L2Pooling1D(_NormPooling1D):
    """L2 pooling along time: the Euclidean norm of each window (p = 2).

    Args: pool_size, strides (default pool_size), padding ("valid"/"same").
    """

    p = 2.0


class _GlobalPooling1D(keras.layers.Layer):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True
        self.input_spec = keras.InputSpec(ndim=3)

    def compute_mask(self, inputs, mask=None):
        return None

    def compute_output_shape(self, input_shape):
        return (input_shape[0], input_shape[2])


@keras.saving.register_keras_serializable(package="zoo")
class GlobalMaskedMaxPooling1D(_GlobalPooling1D):
    """Max over time of the unmasked steps: [batch, time, f] -> [batch, f].

    A fully masked row gives zeros.
    """

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.max(inputs, axis=1)
        valid = ops.cast(mask, "bool")[..., None]
        lowest = ops.full_like(inputs, -1e9)
        largest = ops.max(ops.where(valid, inputs, lowest), axis=1)
        return ops.where(ops.any(valid, axis=1), largest, 0.0)


@keras.saving.register_keras_serializable(package="zoo")
class GlobalMaskedAveragePooling1D(_GlobalPooling1D):
    """Mean over time of the unmasked steps: [batch, time, f] -> [batch, f].

    A fully masked row gives zeros.
    """

    def call(self, inputs, mask=None):
        if mask is None:
            return ops.mean(inputs, axis=1)
        valid = ops.cast(mask, "bool")[..., None]
        weights = ops.cast(valid, inputs.dtype)
        # where, not a product: NaN or inf at a masked step must not leak.
        total = ops.sum(ops.where(valid, inputs, 0.0), axis=1)
        return total / ops.maximum(ops.sum(weights, axis=1), 1.0)

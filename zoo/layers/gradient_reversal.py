"""The identity forward, the negated gradient backward."""

from __future__ import annotations

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class GradientReversal(keras.layers.Layer):
    """Passes its input through and multiplies the gradient by -λ.

    Put between an encoder and an adversary (e.g. a speaker classifier):
    the adversary learns to predict the nuisance label from the encoding,
    while the encoder receives the adversary's gradient reversed, so it
    learns features that do not predict it (domain-adversarial training):

        forward:  y = x
        backward: ∂L/∂x = -λ · ∂L/∂y

    Args:
        weight: λ, a non-negative float (default 1.0; 0 cuts the gradient).

    Call arguments: inputs, any shape; a mask passes through unchanged.

    Output shape: the input shape.

    Example:
        >>> tuple(GradientReversal(0.5)(keras.ops.ones((2, 3))).shape)
        (2, 3)

    Reference:
        Ganin and Lempitsky, "Unsupervised Domain Adaptation by
        Backpropagation", ICML 2015; Meng et al., "Speaker-Invariant
        Training via Adversarial Learning", ICASSP 2018.
    """

    def __init__(self, weight: float = 1.0, **kwargs):
        super().__init__(**kwargs)
        if (
            isinstance(weight, bool)
            or not isinstance(weight, (int, float))
            or weight < 0
        ):
            raise ValueError(
                "Received an invalid value for argument `weight`, expected "
                f"a non-negative float, got {weight!r}."
            )
        self.weight = float(weight)
        self.supports_masking = True

    def call(self, inputs, mask=None):
        weight = self.weight

        @ops.custom_gradient
        def reverse(x):
            def gradient(*args, upstream=None):
                if upstream is None:
                    (upstream,) = args
                return ops.multiply(upstream, -weight)

            return ops.copy(x), gradient

        return reverse(inputs)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"weight": self.weight})
        return config

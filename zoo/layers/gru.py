"""The gated recurrent unit: reset and update gates."""

from __future__ import annotations

import keras
from keras import ops

from zoo.layers import validation
from zoo.layers.recurrent import RecurrentLayer
from zoo.layers.recurrent_cell import GatedCell


@keras.saving.register_keras_serializable(package="zoo")
class GRUCell(GatedCell):
    """One GRU step with an update gate z and a reset gate r.

    With gates in Keras' order (z, r, candidate):

        z = σ(W_z·x + U_z·h + b_z)           update gate
        r = σ(W_r·x + U_r·h + b_r)           reset gate
        h~ = tanh(W_h·x + r ⊙ (U_h·h + b'_h))   reset_after=True (cuDNN)
        h~ = tanh(W_h·x + U_h·(r ⊙ h) + b_h)    reset_after=False (Cho 2014)
        h' = z ⊙ h + (1 - z) ⊙ h~,  y = h'

    Weights match `keras.layers.GRUCell` of the same `reset_after`: kernel
    [features, 3·units], recurrent_kernel [units, 3·units], bias [3·units]
    or, with `reset_after`, [2, 3·units] (input bias, recurrent bias).

    Args:
        units: Size of the state h.
        reset_after: Apply the reset gate after the recurrent product
            (default True, Keras' and cuDNN's convention).
        activation, recurrent_activation: Candidate and gate activations
            (default tanh and sigmoid).
        Other arguments as in `RecurrentCell`.

    Reference:
        Cho et al., "Learning Phrase Representations using RNN
        Encoder-Decoder for Statistical Machine Translation", EMNLP 2014.
    """

    def __init__(self, units: int, reset_after: bool = True, **kwargs):
        super().__init__(units, **kwargs)
        self.reset_after = validation.boolean("reset_after", reset_after)

    def build(self, input_shape):
        input_dim = input_shape[-1]
        self.kernel = self._add_kernel(input_dim, 3 * self.units)
        self.recurrent_kernel = self._add_recurrent_kernel(
            self.units, 3 * self.units, "recurrent_kernel"
        )
        if self.use_bias:
            shape = (
                (2, 3 * self.units) if self.reset_after else (3 * self.units,)
            )
            self.bias = self._add_bias(shape)
        else:
            self.bias = None

    def input_bias(self):
        if not self.use_bias:
            return None
        return self.bias[0] if self.reset_after else self.bias

    def step(self, projected_inputs, states, recurrent_dropout_mask=None):
        previous = states[0] if isinstance(states, (list, tuple)) else states
        units = self.units
        # Splits, not slices: a split's gradient is one concat.
        x_z, x_r, x_h = ops.split(projected_inputs, 3, axis=-1)
        dropped = self.dropped_state(previous, recurrent_dropout_mask)
        if self.reset_after:
            # One product for all three blocks; r scales U_h·h afterwards.
            recurrent = ops.matmul(dropped, self.recurrent_kernel)
            if self.use_bias:
                recurrent = recurrent + self.bias[1]
            h_z, h_r, h_h = ops.split(recurrent, 3, axis=-1)
            z = self.recurrent_activation(x_z + h_z)
            r = self.recurrent_activation(x_r + h_r)
            candidate = self.activation(x_h + r * h_h)
        else:
            recurrent = ops.matmul(
                dropped, self.recurrent_kernel[:, : 2 * units]
            )
            h_z, h_r = ops.split(recurrent, 2, axis=-1)
            z = self.recurrent_activation(x_z + h_z)
            r = self.recurrent_activation(x_r + h_r)
            candidate = self.activation(
                x_h
                + ops.matmul(r * dropped, self.recurrent_kernel[:, 2 * units :])
            )
        output = z * previous + (1.0 - z) * candidate
        return output, [output]

    def fused_kernel(self) -> str | None:
        keras_cell = self.uses_keras_activations() and self.use_bias
        return "gru" if keras_cell else None

    def get_config(self):
        config = super().get_config()
        config["reset_after"] = self.reset_after
        return config


@keras.saving.register_keras_serializable(package="zoo")
class GRU(RecurrentLayer):
    """The GRU over a sequence; equals `keras.layers.GRU` of the same setting.

    Args:
        units: Size of the state h.
        reset_after: See `GRUCell` (default True).
        activation, recurrent_activation, use_bias, *_initializer,
        *_regularizer, *_constraint, dropout, recurrent_dropout, seed: As in
            `keras.layers.GRU`.
        return_sequences, return_state, go_backwards, stateful, unroll:
            As in `keras.layers.RNN`.

    Call arguments: inputs [batch, time, features], mask, training,
        initial_state (one tensor [batch, units]).

    Output shape: [batch, units], or [batch, time, units] with
        `return_sequences`; plus the final state with `return_state`.

    Masking: masked steps keep the state and repeat the previous output.

    Example:
        >>> tuple(GRU(4)(keras.ops.ones((2, 7, 3))).shape)
        (2, 4)

    Reference:
        Cho et al. 2014 (above); Chung et al., "Empirical Evaluation of Gated
        Recurrent Neural Networks on Sequence Modeling", 2014.
    """

    cell_class = GRUCell

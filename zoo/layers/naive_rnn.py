"""The naive (Elman) recurrent network: h' = σ(W^h·h + W^i·x + b)."""

from __future__ import annotations

import keras
from keras import ops

from zoo.layers.recurrent import RecurrentLayer
from zoo.layers.recurrent_cell import ActivatedCell


@keras.saving.register_keras_serializable(package="zoo")
class NaiveRNNCell(ActivatedCell):
    """One step of the naive RNN: h' = act(W^h·h + W^i·x + b), y = h'.

    The lecture's simplest f: the same function, with the same weights,
    applied at every time step. Weights are those of
    `keras.layers.SimpleRNNCell` (kernel W^i [features, units],
    recurrent_kernel W^h [units, units], bias b [units]) so weights can be
    moved between the two with `set_weights`.

    Args:
        units: Size of the state h.
        activation: σ, tanh by default.
        Other arguments as in `RecurrentCell`.

    Reference:
        Elman, "Finding structure in time", Cognitive Science 1990.
    """

    def build(self, input_shape):
        input_dim = input_shape[-1]
        self.kernel = self._add_kernel(input_dim, self.units)
        self.recurrent_kernel = self._add_recurrent_kernel(
            self.units, self.units, "recurrent_kernel"
        )
        self.bias = self._add_bias((self.units,)) if self.use_bias else None

    def step(self, projected_inputs, states, recurrent_dropout_mask=None):
        previous = states[0] if isinstance(states, (list, tuple)) else states
        recurrent = ops.matmul(
            self.dropped_state(previous, recurrent_dropout_mask),
            self.recurrent_kernel,
        )
        output = self.activation(projected_inputs + recurrent)
        return output, [output]


@keras.saving.register_keras_serializable(package="zoo")
class NaiveRNN(RecurrentLayer):
    """The naive RNN over a sequence; equals `keras.layers.SimpleRNN`.

    h_t = act(W^h·h_{t-1} + W^i·x_t + b), y_t = h_t, with W^i·x_t + b computed
    for all steps before the loop.

    Args:
        units: Size of the state h.
        activation: Default tanh.
        use_bias, *_initializer, *_regularizer, *_constraint, dropout,
        recurrent_dropout, seed: As in `keras.layers.SimpleRNN`.
        return_sequences, return_state, go_backwards, stateful, unroll:
            As in `keras.layers.RNN`.

    Call arguments: inputs [batch, time, features], mask, training,
        initial_state (one tensor [batch, units]).

    Output shape: [batch, units], or [batch, time, units] with
        `return_sequences`; plus the final state with `return_state`.

    Masking: masked steps keep the state and repeat the previous output.

    Example:
        >>> layer = NaiveRNN(8, return_sequences=True)
        >>> tuple(layer(keras.ops.ones((2, 5, 3))).shape)
        (2, 5, 8)

    Reference:
        Elman, "Finding structure in time", Cognitive Science 1990.
    """

    cell_class = NaiveRNNCell

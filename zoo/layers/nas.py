"""The recurrent cell found by neural architecture search (Zoph & Le 2017)."""

from __future__ import annotations

import keras
from keras import ops

from zoo.layers.recurrent import RecurrentLayer
from zoo.layers.recurrent_cell import RecurrentCell

_BRANCHES = 8


@keras.saving.register_keras_serializable(package="zoo")
class NASCell(RecurrentCell):
    """One step of the NAS cell, the cell TensorFlow Addons shipped.

    Eight branches combine x·W and m·U + b (m = h, the output state):

        l1 = [σ(x0+m0), relu(x1+m1), σ(x2+m2), relu(x3⊙m3),
              tanh(x4+m4), σ(x5+m5), tanh(x6+m6), σ(x7+m7)]
        l2 = [tanh(l1_0⊙l1_1), tanh(l1_2+l1_3), tanh(l1_4⊙l1_5),
              σ(l1_6+l1_7)]
        c' = tanh(l2_0 + c) ⊙ l2_1          (the cell is injected here)
        h' = tanh(c' ⊙ tanh(l2_2 + l2_3)),  y = h'

    The bias lives on the recurrent side, as in the original, because the
    fourth branch multiplies the two sides. States are [h, c] (the Addons
    cell ordered them [c, m]).

    Weights: kernel [features, 8·units], recurrent_kernel [units, 8·units],
    bias [8·units] (use_bias, default True).

    Reference:
        Zoph & Le, "Neural Architecture Search with Reinforcement Learning",
        ICLR 2017.
    """

    @property
    def state_size(self):
        return [self.units, self.units]

    def build(self, input_shape):
        columns = _BRANCHES * self.units
        self.kernel = self._add_kernel(input_shape[-1], columns)
        self.recurrent_kernel = self._add_recurrent_kernel(
            self.units, columns, "recurrent_kernel"
        )
        self.bias = self._add_bias((columns,)) if self.use_bias else None

    def input_bias(self):
        return None

    def step(self, projected_inputs, states, recurrent_dropout_mask=None):
        h, c = states[0], states[1]
        recurrent = ops.matmul(
            self.dropped_state(h, recurrent_dropout_mask),
            self.recurrent_kernel,
        )
        if self.use_bias:
            recurrent = recurrent + self.bias
        x = ops.split(projected_inputs, _BRANCHES, axis=-1)
        m = ops.split(recurrent, _BRANCHES, axis=-1)
        sigmoid, tanh, relu = ops.sigmoid, ops.tanh, ops.relu
        layer1 = [
            sigmoid(x[0] + m[0]),
            relu(x[1] + m[1]),
            sigmoid(x[2] + m[2]),
            relu(x[3] * m[3]),
            tanh(x[4] + m[4]),
            sigmoid(x[5] + m[5]),
            tanh(x[6] + m[6]),
            sigmoid(x[7] + m[7]),
        ]
        layer2 = [
            tanh(layer1[0] * layer1[1]),
            tanh(layer1[2] + layer1[3]),
            tanh(layer1[4] * layer1[5]),
            sigmoid(layer1[6] + layer1[7]),
        ]
        new_c = tanh(layer2[0] + c) * layer2[1]
        new_h = tanh(new_c * tanh(layer2[2] + layer2[3]))
        return new_h, [new_h, new_c]


@keras.saving.register_keras_serializable(package="zoo")
class NAS(RecurrentLayer):
    """The NAS cell over a sequence.

    Args:
        units: Size of the states h and c.
        use_bias, *_initializer, *_regularizer, *_constraint, dropout,
        recurrent_dropout, seed: As in `RecurrentCell`.
        return_sequences, return_state, go_backwards, stateful, unroll:
            As in `keras.layers.RNN`.

    Output shape: [batch, units], or [batch, time, units] with
        `return_sequences`; plus the final states [h, c] with `return_state`.

    Example:
        >>> tuple(NAS(8)(keras.ops.ones((2, 5, 3))).shape)
        (2, 8)

    Reference:
        Zoph & Le, "Neural Architecture Search with Reinforcement Learning",
        ICLR 2017.
    """

    cell_class = NASCell

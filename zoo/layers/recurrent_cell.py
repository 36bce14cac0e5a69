"""The base of the zoo's cells: the function f of h', y = f(h, x).

A cell splits f at the one place every cell shares: the input half of each
gate's pre-activation, x·W + b, does not depend on the state, so a loop may
compute it for all time steps before it starts (`project_inputs`), leaving
the recurrent half, h·U, to the step (`step`).
"""

from __future__ import annotations

import keras
from keras import ops

from zoo.layers import validation


class RecurrentCell(keras.layers.Layer):
    """Base class of the zoo's cells: one step h', y = f(h, x).

    A subclass creates its weights in `build` and implements
    `step(projected_inputs, states, recurrent_dropout_mask=None)`, where
    `projected_inputs` is the precomputed x·W (+ b) of one time step
    (`project_inputs`) and `recurrent_dropout_mask`, where given, scales h
    before h·U (`dropped_state`).

    `call(inputs, states)` is always `step(project_inputs(inputs), states)`,
    so a cell is usable on its own, one step at a time, like a Keras cell.
    Dropout masks are drawn once per sequence by the layer that runs the
    cell (`RecurrentLayer`), so a single-step call applies none.

    Args:
        units: Positive integer, dimensionality of the state h.
        use_bias: Whether the gates have a bias vector.
        kernel_initializer, recurrent_initializer, bias_initializer:
            Initializers of W, U and b.
        kernel_regularizer, recurrent_regularizer, bias_regularizer:
            Regularizers of W, U and b.
        kernel_constraint, recurrent_constraint, bias_constraint:
            Constraints of W, U and b.
        dropout: Fraction of the inputs dropped (one mask per sequence).
        recurrent_dropout: Fraction of the state h dropped before h·U (one
            mask per sequence, Gal & Ghahramani 2016).
        seed: Seed of the dropout masks.
    """

    def __init__(
        self,
        units: int,
        use_bias: bool = True,
        kernel_initializer="glorot_uniform",
        recurrent_initializer="orthogonal",
        bias_initializer="zeros",
        kernel_regularizer=None,
        recurrent_regularizer=None,
        bias_regularizer=None,
        kernel_constraint=None,
        recurrent_constraint=None,
        bias_constraint=None,
        dropout: float = 0.0,
        recurrent_dropout: float = 0.0,
        seed: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.units = validation.positive_int("units", units)
        self.use_bias = bool(use_bias)
        self.kernel_initializer = keras.initializers.get(kernel_initializer)
        self.recurrent_initializer = keras.initializers.get(
            recurrent_initializer
        )
        self.bias_initializer = keras.initializers.get(bias_initializer)
        self.kernel_regularizer = keras.regularizers.get(kernel_regularizer)
        self.recurrent_regularizer = keras.regularizers.get(
            recurrent_regularizer
        )
        self.bias_regularizer = keras.regularizers.get(bias_regularizer)
        self.kernel_constraint = keras.constraints.get(kernel_constraint)
        self.recurrent_constraint = keras.constraints.get(recurrent_constraint)
        self.bias_constraint = keras.constraints.get(bias_constraint)
        self.dropout = validation.fraction("dropout", dropout)
        self.recurrent_dropout = validation.fraction(
            "recurrent_dropout", recurrent_dropout
        )
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    # The size of the state(s) carried from step to step.
    @property
    def state_size(self):
        return self.units

    @property
    def output_size(self) -> int:
        return self.units

    # Weight helpers shared by all cells, so each cell's build is short.
    def _add_kernel(self, input_dim: int, columns: int):
        return self.add_weight(
            shape=(input_dim, columns),
            name="kernel",
            initializer=self.kernel_initializer,
            regularizer=self.kernel_regularizer,
            constraint=self.kernel_constraint,
        )

    def _add_recurrent_kernel(self, rows: int, columns: int, name: str):
        return self.add_weight(
            shape=(rows, columns),
            name=name,
            initializer=self.recurrent_initializer,
            regularizer=self.recurrent_regularizer,
            constraint=self.recurrent_constraint,
        )

    def _add_bias(self, shape, initializer=None, name: str = "bias"):
        return self.add_weight(
            shape=shape,
            name=name,
            initializer=initializer or self.bias_initializer,
            regularizer=self.bias_regularizer,
            constraint=self.bias_constraint,
        )

    def project_inputs(self, inputs):
        """x·W (+ input bias) for any number of leading axes."""
        if len(inputs.shape) > 2:
            # One 2-D product over batch x time: a rank-3 matmul would be a
            # batched product whose kernel gradient is [batch, in, out].
            leading = ops.shape(inputs)[:-1]
            flat = ops.reshape(inputs, (-1, inputs.shape[-1]))
            projected = ops.matmul(flat, self.kernel)
            projected = ops.reshape(
                projected, tuple(leading) + (self.kernel.shape[-1],)
            )
        else:
            projected = ops.matmul(inputs, self.kernel)
        input_bias = self.input_bias()
        if input_bias is not None:
            projected = projected + input_bias
        return projected

    def input_bias(self):
        """The bias added to x·W before the loop (None if there is none)."""
        return self.bias if self.use_bias else None

    @staticmethod
    def dropped_state(state, recurrent_dropout_mask=None):
        """h scaled by the recurrent dropout mask, where there is one."""
        if recurrent_dropout_mask is None:
            return state
        return state * recurrent_dropout_mask

    def step(self, projected_inputs, states, recurrent_dropout_mask=None):
        """One step from x·W (+ b): returns (output, new states)."""
        raise NotImplementedError

    def fused_kernel(self) -> str | None:
        """The name of Keras' fused kernel computing this exact cell, if any.

        "lstm" or "gru" (cuDNN on a GPU); None for every other cell.
        """
        return None

    def call(self, inputs, states):
        return self.step(self.project_inputs(inputs), states)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "units": self.units,
                "use_bias": self.use_bias,
                "dropout": self.dropout,
                "recurrent_dropout": self.recurrent_dropout,
                "seed": self.seed,
            }
        )
        for kind, module in (
            ("initializer", keras.initializers),
            ("regularizer", keras.regularizers),
            ("constraint", keras.constraints),
        ):
            for weight in ("kernel", "recurrent", "bias"):
                name = f"{weight}_{kind}"
                config[name] = module.serialize(getattr(self, name))
        return config


class ActivatedCell(RecurrentCell):
    """A cell with a candidate/output `activation` (default tanh).

    Args:
        activation: Activation of the candidate and output.
        Other arguments as in `RecurrentCell`.
    """

    def __init__(self, units: int, activation="tanh", **kwargs):
        super().__init__(units, **kwargs)
        self.activation = keras.activations.get(activation)

    def get_config(self):
        config = super().get_config()
        config["activation"] = keras.activations.serialize(self.activation)
        return config


class GatedCell(ActivatedCell):
    """A cell with gates: `activation` plus a `recurrent_activation`.

    Args:
        recurrent_activation: Activation of the gates (default sigmoid).
        Other arguments as in `ActivatedCell`.
    """

    def __init__(self, units: int, recurrent_activation="sigmoid", **kwargs):
        super().__init__(units, **kwargs)
        self.recurrent_activation = keras.activations.get(recurrent_activation)

    def uses_keras_activations(self) -> bool:
        """Whether the activations are those of Keras' fused kernels."""
        return (
            self.activation is keras.activations.tanh
            and self.recurrent_activation is keras.activations.sigmoid
        )

    def get_config(self):
        config = super().get_config()
        config["recurrent_activation"] = keras.activations.serialize(
            self.recurrent_activation
        )
        return config

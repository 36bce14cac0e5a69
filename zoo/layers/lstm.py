"""Long short-term memory with the gate variants of Greff et al. (2015)."""

from __future__ import annotations

import keras
from keras import ops

from zoo.layers import validation
from zoo.layers.recurrent import RecurrentLayer
from zoo.layers.recurrent_cell import GatedCell

# The nine configurations of Greff et al. 2015, "LSTM: A Search Space
# Odyssey", Table 1. Each differs from the vanilla LSTM (V, with peepholes) in
# exactly one respect. NP is the stock Keras LSTM and the zoo's default.
VARIANTS: dict[str, dict] = {
    "V": {"peephole": True},
    "NIG": {"peephole": True, "input_gate": False},
    "NFG": {"peephole": True, "forget_gate": False},
    "NOG": {"peephole": True, "output_gate": False},
    "NIAF": {"peephole": True, "input_activation": False},
    "NOAF": {"peephole": True, "output_activation": False},
    "NP": {"peephole": False},
    "CIFG": {"peephole": True, "coupled_input_forget": True},
    "FGR": {"peephole": True, "full_gate_recurrence": True},
}

# The switches and their values in the stock (NP) configuration.
SWITCH_DEFAULTS: dict[str, bool] = {
    "peephole": False,
    "coupled_input_forget": False,
    "input_gate": True,
    "forget_gate": True,
    "output_gate": True,
    "input_activation": True,
    "output_activation": True,
    "full_gate_recurrence": False,
}


def resolve_switches(variant: str | None, **switches) -> dict[str, bool]:
    """The eight LSTM switches for a `variant` preset plus explicit ones.

    Explicit switches (not None) override the preset; unnamed ones take the
    preset's value, else the stock (NP) value.
    """
    if variant is not None:
        validation.one_of("variant", variant, VARIANTS)
    resolved = dict(SWITCH_DEFAULTS)
    resolved.update(VARIANTS[variant] if variant else {})
    for name, value in switches.items():
        if name not in SWITCH_DEFAULTS:
            raise ValueError(f"Unknown LSTM switch `{name}`.")
        if value is not None:
            resolved[name] = validation.boolean(name, value)
    if resolved["coupled_input_forget"] and not resolved["input_gate"]:
        raise ValueError(
            "Received an invalid combination of switches: "
            "`coupled_input_forget=True` derives the forget gate from the "
            "input gate (f = 1 - i), so it needs `input_gate=True`, got "
            "`input_gate=False`."
        )
    return resolved


@keras.saving.register_keras_serializable(package="zoo")
class LSTMCell(GatedCell):
    """One LSTM step: c is the slow memory, h the fast output.

    With z = W·x + U·h + b split into the blocks (i, f, c, o):

        i = σ(z_i + p_i ⊙ c)             input gate (1 if input_gate=False)
        f = σ(z_f + p_f ⊙ c)             forget gate (1 if forget_gate=False,
                                         1 - i if coupled_input_forget)
        g = tanh(z_c)                    block input (z_c if not
                                         input_activation)
        c' = f ⊙ c + i ⊙ g
        o = σ(z_o + p_o ⊙ c')            output gate (1 if output_gate=False)
        h' = o ⊙ tanh(c')                (o ⊙ c' if not output_activation)

    The peepholes p (peephole=True) look at the cell: the input and forget
    gates at c, the output gate at c'. With full_gate_recurrence the gate
    activations a = [i; f; o] of the previous step feed every gate:
    z_gates += a_{t-1}·R (an extra state).

    Weights: kernel [features, G·units], recurrent_kernel [units, G·units]
    and bias [G·units], where G counts the blocks present, in Keras' order
    (i, f, c, o); with the default switches they are exactly those of
    `keras.layers.LSTMCell`. Extra weights come after them: peepholes
    `input_peephole`, `forget_peephole`, `output_peephole` [units] each, then
    `gate_recurrent_kernel` [A·units, A·units] (A gate activations).

    Args:
        units: Size of the states h and c.
        variant: One of Greff et al.'s nine presets (see `VARIANTS`): "V",
            "NIG", "NFG", "NOG", "NIAF", "NOAF", "NP", "CIFG", "FGR"; None
            (default) is the stock LSTM (NP). Explicit switches override it.
        peephole, coupled_input_forget, input_gate, forget_gate, output_gate,
        input_activation, output_activation, full_gate_recurrence: The
            switches above (booleans; None takes the variant's value).
        unit_forget_bias: Initialise the forget gate bias to 1 (Jozefowicz et
            al. 2015); with a coupled gate (f = 1 - i), the input gate bias
            starts at -1 instead, which gives the same open forget gate.
        activation, recurrent_activation: Block input/output and gate
            activations (default tanh and sigmoid).
        Other arguments as in `RecurrentCell`.

    References:
        Hochreiter & Schmidhuber, "Long Short-Term Memory", 1997.
        Gers & Schmidhuber, "Recurrent Nets that Time and Count", 2000
        (peepholes).
        Greff et al., "LSTM: A Search Space Odyssey", IEEE TNNLS 2017
        (arXiv 2015).
        Jozefowicz et al., "An Empirical Exploration of Recurrent Network
        Architectures", ICML 2015 (forget gate bias 1).
    """

    def __init__(
        self,
        units: int,
        variant: str | None = None,
        peephole: bool | None = None,
        coupled_input_forget: bool | None = None,
        input_gate: bool | None = None,
        forget_gate: bool | None = None,
        output_gate: bool | None = None,
        input_activation: bool | None = None,
        output_activation: bool | None = None,
        full_gate_recurrence: bool | None = None,
        unit_forget_bias: bool = True,
        **kwargs,
    ):
        super().__init__(units, **kwargs)
        self.variant = variant
        switches = resolve_switches(
            variant,
            peephole=peephole,
            coupled_input_forget=coupled_input_forget,
            input_gate=input_gate,
            forget_gate=forget_gate,
            output_gate=output_gate,
            input_activation=input_activation,
            output_activation=output_activation,
            full_gate_recurrence=full_gate_recurrence,
        )
        for name, value in switches.items():
            setattr(self, name, value)
        self.unit_forget_bias = validation.boolean(
            "unit_forget_bias", unit_forget_bias
        )
        # The blocks of z present, in Keras' order.
        self.has_forget_gate = (
            self.forget_gate and not self.coupled_input_forget
        )
        self.blocks = [
            name
            for name, present in (
                ("i", self.input_gate),
                ("f", self.has_forget_gate),
                ("c", True),
                ("o", self.output_gate),
            )
            if present
        ]
        # Gate activations carried to the next step under FGR.
        self.gates = [block for block in self.blocks if block != "c"]

    @property
    def state_size(self):
        sizes = [self.units, self.units]
        if self.full_gate_recurrence and self.gates:
            sizes.append(len(self.gates) * self.units)
        return sizes

    def _bias_initializer(self, shape, dtype=None):
        bias = ops.convert_to_tensor(
            self.bias_initializer(shape, dtype=dtype), dtype=dtype
        )
        if not self.unit_forget_bias:
            return bias
        # Forget gate bias 1 (Jozefowicz et al. 2015); with f = 1 - i, an
        # input gate bias of -1 opens the derived forget gate likewise.
        if self.has_forget_gate:
            target, value = "f", 1.0
        elif self.coupled_input_forget:
            target, value = "i", -1.0
        else:
            return bias
        start = self.blocks.index(target) * self.units
        return ops.concatenate(
            [
                bias[:start],
                ops.full((self.units,), value, dtype=dtype),
                bias[start + self.units :],
            ]
        )

    def build(self, input_shape):
        input_dim = input_shape[-1]
        columns = len(self.blocks) * self.units
        self.kernel = self._add_kernel(input_dim, columns)
        self.recurrent_kernel = self._add_recurrent_kernel(
            self.units, columns, "recurrent_kernel"
        )
        self.bias = (
            self._add_bias((columns,), initializer=self._bias_initializer)
            if self.use_bias
            else None
        )
        self.peepholes = {}
        if self.peephole:
            for gate, name in (
                ("i", "input_peephole"),
                ("f", "forget_peephole"),
                ("o", "output_peephole"),
            ):
                if gate in self.gates:
                    self.peepholes[gate] = self.add_weight(
                        shape=(self.units,),
                        name=name,
                        initializer="zeros",
                    )
        self.gate_recurrent_kernel = None
        if self.full_gate_recurrence and self.gates:
            size = len(self.gates) * self.units
            self.gate_recurrent_kernel = self._add_recurrent_kernel(
                size, size, "gate_recurrent_kernel"
            )

    def step(self, projected_inputs, states, recurrent_dropout_mask=None):
        h, c = states[0], states[1]
        z = projected_inputs + ops.matmul(
            self.dropped_state(h, recurrent_dropout_mask),
            self.recurrent_kernel,
        )
        # One split (its gradient is a concat) rather than one slice per
        # block (each slice's gradient is a zero-padded full copy).
        blocks = dict(zip(self.blocks, ops.split(z, len(self.blocks), -1)))
        if self.gate_recurrent_kernel is not None:
            feedback = ops.split(
                ops.matmul(states[2], self.gate_recurrent_kernel),
                len(self.gates),
                -1,
            )
            for gate, extra in zip(self.gates, feedback):
                blocks[gate] = blocks[gate] + extra
        sigma = self.recurrent_activation

        def gate(name, cell_state):
            value = blocks[name]
            if name in self.peepholes:
                value = value + self.peepholes[name] * cell_state
            return sigma(value)

        i = gate("i", c) if self.input_gate else None
        if self.has_forget_gate:
            f = gate("f", c)
        elif self.coupled_input_forget:
            f = 1.0 - i
        else:
            f = None
        g = blocks["c"]
        if self.input_activation:
            g = self.activation(g)
        new_c = (c if f is None else f * c) + (g if i is None else i * g)
        o = gate("o", new_c) if self.output_gate else None
        squashed = self.activation(new_c) if self.output_activation else new_c
        new_h = squashed if o is None else o * squashed
        new_states = [new_h, new_c]
        if self.gate_recurrent_kernel is not None:
            values = {"i": i, "f": f, "o": o}
            new_states.append(
                ops.concatenate([values[name] for name in self.gates], -1)
            )
        return new_h, new_states

    def fused_kernel(self) -> str | None:
        stock = all(
            getattr(self, name) == value
            for name, value in SWITCH_DEFAULTS.items()
        )
        keras_cell = stock and self.uses_keras_activations()
        return "lstm" if keras_cell and self.use_bias else None

    def get_config(self):
        config = super().get_config()
        config["variant"] = self.variant
        for name in SWITCH_DEFAULTS:
            config[name] = getattr(self, name)
        config["unit_forget_bias"] = self.unit_forget_bias
        return config


@keras.saving.register_keras_serializable(package="zoo")
class LSTM(RecurrentLayer):
    """The LSTM over a sequence, any of Greff et al.'s nine variants.

    With the default switches (variant None or "NP") it has the weights of
    `keras.layers.LSTM` and equals it after
    `set_weights(keras_lstm.get_weights())`. `variant="V"` is the peephole
    LSTM, `"CIFG"` the coupled-gate one; see `LSTMCell` for the equations.

    Args:
        units: Size of the states h and c.
        variant, switches, unit_forget_bias: See `LSTMCell`.
        activation, recurrent_activation, use_bias, *_initializer,
        *_regularizer, *_constraint, dropout, recurrent_dropout, seed: As in
            `keras.layers.LSTM`.
        return_sequences, return_state, go_backwards, stateful, unroll:
            As in `keras.layers.RNN`.

    Call arguments: inputs [batch, time, features], mask, training,
        initial_state ([h, c], plus the previous gate activations under FGR).

    Output shape: [batch, units], or [batch, time, units] with
        `return_sequences`; plus the final states (h, c[, gates]) with
        `return_state`.

    Masking: masked steps keep the states and repeat the previous output.

    Example:
        >>> layer = LSTM(16, variant="CIFG")
        >>> tuple(layer(keras.ops.ones((2, 10, 8))).shape)
        (2, 16)

    Reference:
        Greff et al., "LSTM: A Search Space Odyssey", 2015.
    """

    cell_class = LSTMCell

"""Hand-written NumPy step loops: the reference every cell is checked against.

Each function runs one sequence batch [batch, time, features] through the
cell's equations, written out independently of `zoo.layers`, with Keras'
masking semantics (a masked step keeps the states and repeats the previous
output, which starts at zero).
"""

import numpy as np


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def run(step, inputs, states, mask=None, go_backwards=False):
    """Runs step(x_t, states) -> (y, states) with masks; returns all ys."""
    inputs = inputs.astype(np.float64)
    batch, time = inputs.shape[:2]
    if mask is None:
        mask = np.ones((batch, time), bool)
    order = range(time - 1, -1, -1) if go_backwards else range(time)
    previous_output = None
    outputs = []
    for t in order:
        output, new_states = step(inputs[:, t], states)
        keep = mask[:, t][:, None]
        if previous_output is None:
            previous_output = np.zeros_like(output)
        output = np.where(keep, output, previous_output)
        states = [
            np.where(keep, new, old) for new, old in zip(new_states, states)
        ]
        previous_output = output
        outputs.append(output)
    return np.stack(outputs, axis=1), states


def naive_step(weights, activation=np.tanh):
    kernel, recurrent_kernel, bias = weights

    def step(x, states):
        h = activation(x @ kernel + states[0] @ recurrent_kernel + bias)
        return h, [h]

    return step


def gru_step(weights, reset_after=True):
    kernel, recurrent_kernel, bias = weights
    units = recurrent_kernel.shape[0]
    if reset_after:
        input_bias, recurrent_bias = bias[0], bias[1]
    else:
        input_bias, recurrent_bias = bias, np.zeros_like(bias)

    def step(x, states):
        h = states[0]
        xz, xr, xh = np.split(x @ kernel + input_bias, 3, axis=-1)
        uz, ur, uh = np.split(recurrent_kernel, 3, axis=-1)
        bz, br, bh = np.split(recurrent_bias, 3)
        z = sigmoid(xz + h @ uz + bz)
        r = sigmoid(xr + h @ ur + br)
        if reset_after:
            candidate = np.tanh(xh + r * (h @ uh + bh))
        else:
            candidate = np.tanh(xh + (r * h) @ uh)
        h = z * h + (1 - z) * candidate
        assert h.shape[-1] == units
        return h, [h]

    return step


def lstm_step(weights, switches):
    """The Greff et al. (2015) equations, block by block, from the switches."""
    kernel, recurrent_kernel, bias = weights[:3]
    extras = list(weights[3:])
    units = recurrent_kernel.shape[0]
    has_i = switches["input_gate"]
    has_f = switches["forget_gate"] and not switches["coupled_input_forget"]
    has_o = switches["output_gate"]
    blocks = [b for b, on in zip("ifco", (has_i, has_f, True, has_o)) if on]
    gates = [b for b in blocks if b != "c"]
    peepholes = {}
    if switches["peephole"]:
        for gate in "ifo":
            if gate in gates:
                peepholes[gate] = extras.pop(0)
    gate_recurrence = (
        extras.pop(0) if switches["full_gate_recurrence"] else None
    )
    assert not extras

    def step(x, states):
        h, c = states[0], states[1]
        z = x @ kernel + h @ recurrent_kernel + bias
        parts = {
            b: z[:, k * units : (k + 1) * units] for k, b in enumerate(blocks)
        }
        if gate_recurrence is not None:
            feedback = states[2] @ gate_recurrence
            for k, gate in enumerate(gates):
                parts[gate] = (
                    parts[gate] + feedback[:, k * units : (k + 1) * units]
                )
        i = sigmoid(parts["i"] + peepholes.get("i", 0) * c) if has_i else 1.0
        if has_f:
            f = sigmoid(parts["f"] + peepholes.get("f", 0) * c)
        elif switches["coupled_input_forget"]:
            f = 1.0 - i
        else:
            f = 1.0
        g = np.tanh(parts["c"]) if switches["input_activation"] else parts["c"]
        new_c = f * c + i * g
        o = (
            sigmoid(parts["o"] + peepholes.get("o", 0) * new_c)
            if has_o
            else 1.0
        )
        squashed = np.tanh(new_c) if switches["output_activation"] else new_c
        new_h = o * squashed
        new_h = new_h * np.ones_like(c)
        new_states = [new_h, new_c]
        if gate_recurrence is not None:
            values = {"i": i, "f": f, "o": o}
            new_states.append(
                np.concatenate([values[g] * np.ones_like(c) for g in gates], -1)
            )
        return new_h, new_states

    return step


def nas_step(weights):
    kernel, recurrent_kernel, bias = weights
    relu = lambda v: np.maximum(v, 0)  # noqa: E731

    def step(x, states):
        h, c = states
        xs = np.split(x @ kernel, 8, axis=-1)
        ms = np.split(h @ recurrent_kernel + bias, 8, axis=-1)
        l1 = [
            sigmoid(xs[0] + ms[0]),
            relu(xs[1] + ms[1]),
            sigmoid(xs[2] + ms[2]),
            relu(xs[3] * ms[3]),
            np.tanh(xs[4] + ms[4]),
            sigmoid(xs[5] + ms[5]),
            np.tanh(xs[6] + ms[6]),
            sigmoid(xs[7] + ms[7]),
        ]
        l2 = [
            np.tanh(l1[0] * l1[1]),
            np.tanh(l1[2] + l1[3]),
            np.tanh(l1[4] * l1[5]),
            sigmoid(l1[6] + l1[7]),
        ]
        new_c = np.tanh(l2[0] + c) * l2[1]
        new_h = np.tanh(new_c * np.tanh(l2[2] + l2[3]))
        return new_h, [new_h, new_c]

    return step


def randomize(layer, rng, scale=0.5):
    """Gives every weight of a built layer random values; returns them."""
    weights = [
        rng.normal(scale=scale, size=w.shape).astype("float32")
        for w in layer.get_weights()
    ]
    layer.set_weights(weights)
    return [w.astype(np.float64) for w in weights]

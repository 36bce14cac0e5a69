"""The time loops that run a cell over a sequence.

Both loops take an explicit step function, `step(inputs_t, states)` ->
(output, new states), made by `step_function` from a cell and what differs
from call to call (whether the inputs arrive projected, the recurrent
dropout mask), so the cell's own `call` always means one thing.

- `keras_loop`: Keras' own backend loop, which runs on TensorFlow (a
  `tf.while_loop`), JAX (`lax.scan`) and PyTorch, with Keras' semantics for
  masks (a masked step keeps the previous state and repeats the previous
  output, or zeros with `zero_output_for_mask`), `go_backwards` (outputs
  stay in processing order) and `unroll`.
- `scan_loop`: the zoo's own `keras.ops.scan` loop with the same semantics,
  several steps per loop trip (`unroll`).
"""

from __future__ import annotations

import keras
from keras import ops

from zoo import keras_compat


def step_function(cell, projected: bool, recurrent_dropout_mask=None):
    """The step `(inputs_t, states) -> (output, new states)` of `cell`.

    Args:
        cell: A `RecurrentCell`.
        projected: Whether the loop's inputs are already x·W (+ b); if not,
            each step projects its own.
        recurrent_dropout_mask: Optional [batch, units] mask on h before
            h·U, the same at every step.
    """

    def step(inputs, states):
        if not projected:
            inputs = cell.project_inputs(inputs)
        output, new_states = cell.step(
            inputs, list(states), recurrent_dropout_mask
        )
        return output, list(new_states)

    return step


def keras_loop(step, sequences, initial_state, mask, layer):
    """`step` over time with Keras' backend loop and `layer`'s settings
    (go_backwards, unroll, zero_output_for_mask, return_sequences).

    Returns (last output, outputs, final states).
    """
    if keras.backend.backend() == "torch" and layer.stateful:
        # As in Keras' RNN: copies of the states, so that PyTorch's autograd
        # never sees them updated in place.
        inner_step = step

        def step(inputs, states):
            return inner_step(inputs, [ops.copy(state) for state in states])

    return keras_compat.rnn(
        step,
        sequences,
        list(initial_state),
        go_backwards=layer.go_backwards,
        mask=mask,
        unroll=layer.unroll,
        input_length=sequences.shape[1],
        zero_output_for_mask=layer.zero_output_for_mask,
        return_all_outputs=layer.return_sequences,
    )


def scan_loop(step, sequences, initial_state, mask, layer, output_size, unroll):
    """`step` over time as `keras.ops.scan`, `unroll` steps per trip.

    Same semantics as `keras_loop`: a masked step keeps the state and
    repeats the previous output (or zeros, with `zero_output_for_mask`);
    with `go_backwards` the outputs stay in processing order. Partial
    unrolling cuts the per-iteration overhead of the loop (on a GPU, one
    trip of an XLA while loop per step).

    Returns (last output, outputs [batch, time, output_size], final states).
    """
    steps = ops.transpose(sequences, (1, 0, 2))
    if mask is not None:
        step_mask = ops.expand_dims(
            ops.transpose(ops.cast(mask, "bool"), (1, 0)), -1
        )
    if layer.go_backwards:
        steps = ops.flip(steps, axis=0)
        if mask is not None:
            step_mask = ops.flip(step_mask, axis=0)
    # The carry is (states, previous output). TensorFlow's ops.scan needs
    # the per-step results shaped like the carry, so each step emits its
    # new carry; XLA drops the stacked states nobody reads.
    initial_output = ops.zeros(
        (ops.shape(sequences)[0], output_size), sequences.dtype
    )

    def scan_step(carry, slice_):
        states, previous_output = carry
        inputs, keep = slice_ if mask is not None else (slice_, None)
        output, new_states = step(inputs, states)
        if keep is not None:
            fallback = (
                ops.zeros_like(output)
                if layer.zero_output_for_mask
                else previous_output
            )
            output = ops.where(keep, output, fallback)
            new_states = [
                ops.where(keep, new, old)
                for new, old in zip(new_states, states)
            ]
        new_carry = (new_states, output)
        return new_carry, new_carry

    slices = (steps, step_mask) if mask is not None else steps
    (final_states, _), (_, outputs) = ops.scan(
        scan_step,
        (list(initial_state), initial_output),
        slices,
        unroll=unroll,
    )
    return outputs[-1], ops.transpose(outputs, (1, 0, 2)), final_states

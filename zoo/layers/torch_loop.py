"""The time loop of the zoo's recurrent layers under PyTorch, compiled.

Under `KERAS_BACKEND=torch`, Keras' backend loop (`keras.layers.RNN`) runs
every step in eager Python through `Layer.__call__`, so a cell other than
a stock LSTM/GRU on cuDNN spends most of its time in Python. This loop
runs the same steps with the same semantics, but calls the cell's `call`
directly and runs `chunk` steps per call of a function compiled with
`torch.compile` (TorchDynamo + Inductor: the step's element-wise gate
arithmetic fuses into a few kernels, forward and backward).

Semantics are those of Keras' loop, as in `RecurrentLayer._scan_loop`: a
masked step keeps the state and repeats the previous output (zeros with
`zero_output_for_mask`); with `go_backwards` the outputs stay in
processing order; input dropout is applied before the loop and recurrent
dropout through the cell's per-sequence mask. Equality with Keras' eager
loop, in values and gradients, is tested (tests/layers/test_torch_loop.py).

Which loop runs is `RecurrentLayer(torch_loop=...)`: "compiled" this loop,
"eager" this loop without compilation (calls the cell directly), "keras"
Keras' own loop; "auto" picks by `preferred_loop()`, from measurements
in bench/results/torch_loop.md.
"""

from __future__ import annotations

import weakref

import keras
from keras import ops

from zoo.layers import loops

LOOPS = ("auto", "compiled", "eager", "keras")

# layer -> {(chunk, training, masked): compiled function}; compiled once
# per layer and configuration, reused by every later call.
_COMPILED: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def preferred_loop() -> str:
    """The loop "auto" picks under PyTorch: "compiled".

    On the 2-core CPU (bench/results/torch_loop.md: batch 64, 200 steps,
    64 inputs, 64 units; shared machine, load average 7-10) it trained
    every cell fastest once compiled: 1.25-3.6x the eager loop and 2.4-4.9x
    Keras' loop. Compiling costs 40-150 s per layer and configuration there
    (first training step), paid once per process. GPUs are unmeasured.
    """
    return "compiled"


def chunk_steps() -> int:
    """Time steps per compiled call: 8, as `scan_unroll` on a GPU (one
    fused graph for 8 steps; fewer Python calls and guard checks)."""
    return 8


def _chunk_function(layer, masked: bool, projected: bool):
    """(inputs [k, batch, f], keep [k, batch, 1] | None, previous output,
    states, recurrent dropout mask | None) -> (outputs [k, batch, units],
    previous output, states). The step is the cell's, as in every loop
    (`zoo.layers.loops.step_function`)."""
    cell = layer.cell
    zero_output = layer.zero_output_for_mask

    def run_chunk(inputs, keep, previous, states, dropout_mask):
        step = loops.step_function(cell, projected, dropout_mask)
        outputs = []
        for index in range(inputs.shape[0]):
            output, new_states = step(inputs[index], states)
            if masked:
                keep_t = keep[index]
                fallback = ops.zeros_like(output) if zero_output else previous
                output = ops.where(keep_t, output, fallback)
                new_states = [
                    ops.where(keep_t, new, old)
                    for new, old in zip(new_states, states)
                ]
            outputs.append(output)
            previous, states = output, list(new_states)
        return ops.stack(outputs, axis=0), previous, states

    return run_chunk


def _compiled_chunk(layer, masked: bool, projected: bool, dropped: bool):
    import torch

    functions = _COMPILED.setdefault(layer, {})
    key = (masked, projected, dropped)
    if key not in functions:
        function = _chunk_function(layer, masked, projected)
        # A code object of its own: TorchDynamo keeps compiled graphs, and
        # counts recompilations (8 at most, then it runs eagerly), per code
        # object, and every layer's chunk function would share one.
        name = "".join(str(int(flag)) for flag in key)
        function.__code__ = function.__code__.replace(
            co_name=f"zoo_chunk_{id(layer):x}_{name}"
        )
        functions[key] = torch.compile(function)
    return functions[key]


def run(
    layer,
    sequences,
    initial_state,
    mask,
    *,
    projected: bool,
    recurrent_dropout_mask=None,
    compiled: bool,
):
    """The loop over `sequences` [batch, time, features] (x·W already if
    `projected`); returns (last output, outputs [batch, time, units],
    final states), as the other loops do. The recurrent dropout mask is an
    argument of the compiled function, so a new mask needs no new graph."""
    masked = mask is not None
    dropped = recurrent_dropout_mask is not None
    # Keras' symbolic calls (building a Functional model) run on the "meta"
    # device, which TorchDynamo cannot compile (it creates Parameters).
    if compiled and sequences.device.type != "meta":
        function = _compiled_chunk(layer, masked, projected, dropped)
    else:
        function = _chunk_function(layer, masked, projected)
    steps = ops.transpose(sequences, (1, 0, 2))
    keep = None
    if masked:
        keep = ops.expand_dims(
            ops.transpose(ops.cast(mask, "bool"), (1, 0)), -1
        )
    if layer.go_backwards:
        steps = ops.flip(steps, axis=0)
        if masked:
            keep = ops.flip(keep, axis=0)
    previous = ops.zeros(
        (ops.shape(sequences)[0], layer.cell.output_size), sequences.dtype
    )
    states = list(initial_state)
    chunks = []
    total = steps.shape[0]
    size = chunk_steps()
    for start in range(0, total, size):
        stop = min(start + size, total)
        outputs, previous, states = function(
            steps[start:stop],
            keep[start:stop] if masked else None,
            previous,
            states,
            recurrent_dropout_mask,
        )
        chunks.append(outputs)
    outputs = ops.concatenate(chunks, axis=0)
    return outputs[-1], ops.transpose(outputs, (1, 0, 2)), list(states)


def replaces_fused(layer) -> bool:
    """Whether a stock LSTM/GRU runs this loop instead of Keras' "fused"
    kernel: under PyTorch without a GPU, where Keras' kernel is no cuDNN
    but a per-step Python loop (the compiled loop trained the stock LSTM
    2.4x faster than the zoo layer on Keras' kernel, and 5.7x Keras' own
    LSTM, bench/results/torch_loop.md), unless `use_cudnn=True` asks for
    Keras' kernel or `torch_loop="keras"` for Keras' loop."""
    if layer.use_cudnn is True:
        return False
    if chosen(layer.torch_loop, layer.unroll) == "keras":
        return False
    import torch

    return not torch.cuda.is_available()


def validate(value) -> str:
    """`torch_loop` as given, or ValueError naming the choices."""
    if value not in LOOPS:
        raise ValueError(
            "Received an invalid value for argument `torch_loop`, expected "
            f"one of {list(LOOPS)}, got {value!r}."
        )
    return value


def chosen(value: str, unroll: bool) -> str:
    """The loop a layer with `torch_loop=value` runs now: "keras" off
    PyTorch or for `unroll=True`, else `value` ("auto" resolved)."""
    if keras.backend.backend() != "torch" or unroll:
        return "keras"
    return preferred_loop() if value == "auto" else value

"""The PyTorch loop (`zoo.layers.torch_loop`) equals Keras' eager loop.

Runs in a subprocess with KERAS_BACKEND=torch: for every cell, the direct
eager loop, and for one configuration with every feature on (masks with a
fully masked row, go_backwards, initial states, return_state, input and
recurrent dropout in training) the compiled loop, give Keras' loop's
outputs, final states and gradients (weights and inputs); without a mask
the stock LSTM/GRU, which the loop takes over from Keras' CPU kernels,
equal those kernels. Skipped, with
the reason, where PyTorch is not installed.
"""

import importlib.util
import json
import textwrap

import pytest
from helpers_backend import run_under_backend

SCRIPT = textwrap.dedent(
    """
    import json
    import numpy as np
    import keras
    import torch
    assert keras.backend.backend() == "torch", keras.backend.backend()
    from zoo import layers

    torch.set_num_threads(1)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4, 5, 3)).astype("float32")
    mask = np.array(
        [[1] * 5, [1, 1, 1, 0, 0], [0, 0, 1, 1, 1], [0] * 5], bool
    )

    def run(make, loop, training=False, initial=None, masked=True):
        keras.utils.set_random_seed(1)
        layer = make(loop)
        inputs = torch.tensor(x, requires_grad=True)
        states = None
        if initial is not None:
            states = [torch.tensor(s, requires_grad=True) for s in initial]
        outputs = layer(
            inputs, mask=torch.tensor(mask) if masked else None,
            training=training, initial_state=states,
        )
        outputs = keras.tree.flatten(outputs)
        loss = sum(torch.sin(o).sum() for o in outputs)
        loss.backward()
        values = [o.detach().numpy() for o in outputs]
        values += [v.value.grad.numpy() for v in layer.trainable_variables]
        values.append(inputs.grad.numpy())
        values += [s.grad.numpy() for s in states or []]
        return values

    def gap(make, loop, **options):
        expected = run(make, "keras", **options)
        got = run(make, loop, **options)
        assert len(expected) == len(got)
        return max(float(np.max(np.abs(a - b))) for a, b in zip(expected, got))

    cells = {
        "lstm_" + variant: lambda loop, v=variant: layers.LSTM(
            3, variant=v, return_sequences=True, torch_loop=loop)
        for variant in layers.LSTM_VARIANTS
    }
    cells["gru"] = lambda loop: layers.GRU(
        3, return_sequences=True, zero_output_for_mask=True,
        torch_loop=loop)
    cells["gru_reset_before"] = lambda loop: layers.GRU(
        3, reset_after=False, return_sequences=True, torch_loop=loop)
    cells["naive"] = lambda loop: layers.NaiveRNN(
        3, return_sequences=True, go_backwards=True, torch_loop=loop)
    cells["nas"] = lambda loop: layers.NAS(
        3, return_sequences=True, torch_loop=loop)
    report = {"eager": {name: gap(make, "eager")
                        for name, make in cells.items()}}
    # Unmasked stock LSTM/GRU: "keras" runs Keras' own torch kernel.
    report["stock"] = {
        "lstm": gap(lambda loop: layers.LSTM(
            3, return_sequences=True, torch_loop=loop), "eager",
            masked=False),
        "gru": gap(lambda loop: layers.GRU(
            3, return_sequences=True, torch_loop=loop), "eager",
            masked=False),
    }

    def everything(loop):
        return layers.LSTM(
            3, variant="V", return_sequences=True, return_state=True,
            go_backwards=True, dropout=0.3, recurrent_dropout=0.3, seed=5,
            hoist_inputs=True, torch_loop=loop)

    initial = [rng.normal(size=(4, 3)).astype("float32") for _ in range(2)]
    # One compilation (a few seconds): the training step with every
    # feature; the chunk function it compiles is the eager loop's.
    report["compiled"] = gap(everything, "compiled", training=True,
                             initial=initial)
    print(json.dumps(report))
    """
)


@pytest.fixture(scope="module")
def report():
    if importlib.util.find_spec("torch") is None:
        pytest.skip("PyTorch is not installed (pip install torch==2.13.0)")
    result = run_under_backend("torch", SCRIPT)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_eager_loop_equals_keras_loop_for_every_cell(report):
    assert len(report["eager"]) == 13
    for name, gap in report["eager"].items():
        assert gap < 1e-5, (name, gap)


def test_loop_equals_keras_torch_kernels_for_stock_cells(report):
    for name, gap in report["stock"].items():
        assert gap < 1e-5, (name, gap)


def test_compiled_loop_equals_keras_loop(report):
    assert report["compiled"] < 1e-4


def test_invalid_torch_loop_is_named():
    from zoo import layers

    with pytest.raises(ValueError, match="torch_loop"):
        layers.LSTM(3, torch_loop="fast")

"""The zoo's PyTorch loops against each other and both anchors.

    KERAS_BACKEND=torch nice -n 10 python -m bench.torch_loop

One process (`KERAS_BACKEND=torch`), interleaved rounds: for each cell the
three loops of `zoo.layers.torch_loop` ("keras": Keras' eager backend
loop; "eager": the zoo's loop calling the cell directly; "compiled": that
loop, 8 steps per `torch.compile`d call), Keras' own torch-backend LSTM
and `torch.nn.LSTM` trained by a plain PyTorch step (same loss and
optimizer). Training throughput (`train_on_batch`, Adam, MSE on the last
output) at batch 64, 200 steps, 64 inputs, 64 units by default; the
first two steps (compilation) are timed apart. Written to
bench/results/torch_loop.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np

from bench.backends import torch_lstm_step
from bench.backends import warm_up

RESULTS = Path(__file__).resolve().parent / "results"
LOOPS = ("keras", "eager", "compiled")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cells", nargs="+", default=["V", "gru", "nas"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--output", default=str(RESULTS / "torch_loop"))
    args = parser.parse_args(argv)
    import keras
    import torch

    from zoo import layers

    if keras.backend.backend() != "torch":
        parser.error("run with KERAS_BACKEND=torch")
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    shape = (args.batch, args.steps, args.features)
    x = rng.normal(size=shape).astype("float32")
    y = rng.normal(size=(args.batch, args.units)).astype("float32")

    def cell(name, loop):
        if name == "gru":
            return layers.GRU(args.units, torch_loop=loop)
        if name == "nas":
            return layers.NAS(args.units, torch_loop=loop)
        if name == "naive":
            return layers.NaiveRNN(args.units, torch_loop=loop)
        return layers.LSTM(args.units, variant=name, torch_loop=loop)

    def keras_step(layer):
        keras.utils.set_random_seed(0)
        inputs = keras.Input((args.steps, args.features))
        model = keras.Model(inputs, layer(inputs))
        model.compile(optimizer="adam", loss="mse")
        return lambda: model.train_on_batch(x, y)

    steps = {"keras_lstm": keras_step(keras.layers.LSTM(args.units))}
    for name in args.cells:
        for loop in LOOPS:
            steps[f"{name}/{loop}"] = keras_step(cell(name, loop))
    steps["torch_nn_lstm"] = torch_lstm_step(args, x, y)
    warm = warm_up(steps)
    times = {name: [] for name in steps}
    loads = [os.getloadavg()[0]]
    for _ in range(args.rounds):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
        loads.append(os.getloadavg()[0])
    samples = {
        name: float(np.median([args.batch / s for s in values]))
        for name, values in times.items()
    }
    lines = [
        "| model | samples/s (median) | min–max | × Keras torch LSTM | "
        "× torch.nn.LSTM | first 2 steps (s) |",
        "|---|---|---|---|---|---|",
    ]
    for name, values in times.items():
        rates = [args.batch / s for s in values]
        lines.append(
            f"| `{name}` | {samples[name]:,.0f} | {min(rates):,.0f}–"
            f"{max(rates):,.0f} | "
            f"{samples[name] / samples['keras_lstm']:.2f} | "
            f"{samples[name] / samples['torch_nn_lstm']:.2f} | "
            f"{warm[name]} |"
        )
    command = "KERAS_BACKEND=torch python -m bench.torch_loop " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    text = (
        "# The zoo's loops under PyTorch (CPU)\n\n"
        f"Command: `{command}` "
        f"({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; torch "
        f"{torch.__version__}, {args.threads} thread(s); batch "
        f"{args.batch}, {args.steps} steps, {args.features} inputs, "
        f"{args.units} units; median of {args.rounds} interleaved rounds; "
        f"1-minute load average {min(loads):.1f}–{max(loads):.1f} on a "
        "shared 2-core machine). Cells by `--cells` name: an LSTM "
        "variant letter, gru, nas or naive.\n\n" + "\n".join(lines) + "\n"
    )
    output = Path(args.output)
    output.with_suffix(".md").write_text(text)
    output.with_suffix(".json").write_text(
        json.dumps(
            {"command": command, "times": times, "warm_up_s": warm}, indent=1
        )
        + "\n"
    )
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

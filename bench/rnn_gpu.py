"""Recurrent layers on a GPU: the zoo under JAX or PyTorch against cuDNN.

    KERAS_BACKEND=jax python -m bench.rnn_gpu            # issue 6's GPU run
    KERAS_BACKEND=torch python -m bench.rnn_gpu --repeats 5

The floor is `torch.nn.LSTM` (cuDNN) at the same shape, timed in the same
process, interleaved with every zoo and Keras case. Shape (issue 6): batch
128, 400 steps, 128 inputs, 256 units.

One training step is the framework's own, without Keras' trainer around it,
so that the figures compare the recurrence and not `fit` overheads:
forward, MSE on the last output, backward, and an SGD update of every
weight. Under JAX that step is one `jax.jit` of `model.stateless_call` with
`jax.value_and_grad`; under PyTorch it is eager autograd; the floor is
`torch.nn.LSTM` with `torch.optim.SGD`. Inference is the forward pass alone.
Each timing is `--steps` steps ended by a device synchronisation; the
repeats are interleaved over all cases, so drift hits all alike. Ratios are
per repeat (floor time / case time: > 1 means faster than cuDNN), median and
min–max.

Results go to bench/results/rnn_gpu_<backend>.{md,json} (or --output).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("XLA_PYTHON_CLIENT_PREALLOCATE", "false")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from bench.rnn import ratio_chart  # noqa: E402
from bench.rnn import summarize  # noqa: E402
from zoo import layers as zoo_layers  # noqa: E402

SHAPE = {"batch": 128, "time": 400, "features": 128, "units": 256}
RESULTS = Path(__file__).resolve().parent / "results"
LEARNING_RATE = 1e-3


def cases(units: int) -> dict:
    """name -> (description, layer factory)."""
    lstm = keras.layers.LSTM
    zoo_lstm = zoo_layers.LSTM
    table = {
        "keras_lstm": ("keras.layers.LSTM (fused/cuDNN)", lambda: lstm(units)),
        "keras_lstm_loop": (
            "keras.layers.LSTM, use_cudnn=False (Keras' generic loop)",
            lambda: lstm(units, use_cudnn=False),
        ),
        "zoo_lstm": (
            "zoo LSTM (NP), stock config: dispatches to the fused kernel",
            lambda: zoo_lstm(units),
        ),
        "zoo_lstm_loop": (
            "zoo LSTM (NP), use_cudnn=False: hoisted x·W, scan",
            lambda: zoo_lstm(units, use_cudnn=False),
        ),
        "zoo_peephole": (
            "zoo LSTM variant V (peepholes): hoisted x·W, scan",
            lambda: zoo_lstm(units, variant="V"),
        ),
        "zoo_cifg": (
            "zoo LSTM variant CIFG: hoisted x·W, scan",
            lambda: zoo_lstm(units, variant="CIFG"),
        ),
        "zoo_gru": ("zoo GRU, stock config", lambda: zoo_layers.GRU(units)),
        "keras_gru": ("keras.layers.GRU", lambda: keras.layers.GRU(units)),
    }
    for unroll in (4, 8, 16):
        table[f"zoo_peephole_unroll{unroll}"] = (
            f"zoo LSTM V, scan_unroll={unroll}",
            lambda unroll=unroll: zoo_lstm(
                units, variant="V", scan_unroll=unroll
            ),
        )
    table["zoo_peephole_unroll8_bf16"] = (
        "zoo LSTM V, scan_unroll=8, mixed_bfloat16 (floor stays float32)",
        lambda: zoo_lstm(
            units, variant="V", scan_unroll=8, dtype="mixed_bfloat16"
        ),
    )
    for unroll in (8,):
        table[f"zoo_cifg_unroll{unroll}"] = (
            f"zoo LSTM CIFG, scan_unroll={unroll}",
            lambda unroll=unroll: zoo_lstm(
                units, variant="CIFG", scan_unroll=unroll
            ),
        )
        table[f"zoo_lstm_loop_unroll{unroll}"] = (
            f"zoo LSTM (NP), use_cudnn=False, scan_unroll={unroll}",
            lambda unroll=unroll: zoo_lstm(
                units, use_cudnn=False, scan_unroll=unroll
            ),
        )
    return table


def build_model(factory, shape):
    inputs = keras.Input((shape["time"], shape["features"]))
    return keras.Model(inputs, factory()(inputs))


class JaxRunner:
    """Jitted training and inference steps of a Keras model under JAX."""

    def __init__(self, model, inputs, targets):
        import jax
        import jax.numpy as jnp

        self.jax = jax
        self.inputs = jnp.asarray(inputs)
        self.targets = jnp.asarray(targets)
        self.trainable = [v.value for v in model.trainable_variables]
        self.frozen = [v.value for v in model.non_trainable_variables]

        def loss_fn(trainable, frozen, x, y):
            output, _ = model.stateless_call(trainable, frozen, x)
            return jnp.mean(jnp.square(output - y))

        @jax.jit
        def train_step(trainable, frozen, x, y):
            loss, grads = jax.value_and_grad(loss_fn)(trainable, frozen, x, y)
            trainable = [
                w - LEARNING_RATE * g for w, g in zip(trainable, grads)
            ]
            return trainable, loss

        @jax.jit
        def infer_step(trainable, frozen, x):
            return model.stateless_call(trainable, frozen, x)[0]

        self.train_step = train_step
        self.infer_step = infer_step

    def train(self, steps):
        for _ in range(steps):
            self.trainable, loss = self.train_step(
                self.trainable, self.frozen, self.inputs, self.targets
            )
        loss.block_until_ready()

    def infer(self, steps):
        for _ in range(steps):
            output = self.infer_step(self.trainable, self.frozen, self.inputs)
        output.block_until_ready()


class TorchModuleRunner:
    """Eager training and inference steps of a torch module (or a Keras
    model under the PyTorch backend, which is one)."""

    def __init__(self, module, parameters, inputs, targets):
        import torch

        self.torch = torch
        self.module = module
        self.inputs = torch.as_tensor(inputs, device="cuda")
        self.targets = torch.as_tensor(targets, device="cuda")
        self.optimizer = torch.optim.SGD(parameters, lr=LEARNING_RATE)

    def forward(self):
        return self.module(self.inputs)

    def train(self, steps):
        torch = self.torch
        for _ in range(steps):
            self.optimizer.zero_grad(set_to_none=True)
            loss = torch.mean(torch.square(self.forward() - self.targets))
            loss.backward()
            self.optimizer.step()
        torch.cuda.synchronize()

    def infer(self, steps):
        torch = self.torch
        with torch.no_grad():
            for _ in range(steps):
                self.forward()
        torch.cuda.synchronize()


class CudnnFloor(TorchModuleRunner):
    """torch.nn.LSTM (cuDNN), last output, at the same shape."""

    def __init__(self, shape, inputs, targets):
        import torch

        lstm = torch.nn.LSTM(
            shape["features"], shape["units"], batch_first=True
        ).cuda()
        super().__init__(lstm, lstm.parameters(), inputs, targets)

    def forward(self):
        return self.module(self.inputs)[0][:, -1]


def make_runner(model, inputs, targets):
    backend = keras.backend.backend()
    if backend == "jax":
        return JaxRunner(model, inputs, targets)
    if backend == "torch":
        parameters = [v.value for v in model.trainable_variables]
        return TorchModuleRunner(model, parameters, inputs, targets)
    raise SystemExit(
        f"bench.rnn_gpu runs under KERAS_BACKEND=jax or torch, not {backend}"
    )


def timed(function, steps):
    start = time.perf_counter()
    function(steps)
    return (time.perf_counter() - start) / steps


def environment(argv) -> dict:
    versions = {"keras": keras.__version__, "numpy": np.__version__}
    for name in ("jax", "torch"):
        try:
            versions[name] = __import__(name).__version__
        except ImportError:
            pass
    try:
        import torch

        gpu = torch.cuda.get_device_name(0)
        cudnn = torch.backends.cudnn.version()
    except (ImportError, RuntimeError, AssertionError):
        gpu, cudnn = "none", "none"
    return {
        "command": "python -m bench.rnn_gpu " + " ".join(argv),
        "backend": keras.backend.backend(),
        "versions": versions,
        "gpu": gpu,
        "cudnn": cudnn,
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "shape": SHAPE,
    }


def markdown(results, meta) -> str:
    shape = meta["shape"]
    lines = [
        f"# Recurrent layers on a GPU: {meta['backend']} backend vs cuDNN",
        "",
        f"Command: `{meta['command']}`  ",
        f"GPU: {meta['gpu']} (cuDNN {meta['cudnn']}); versions "
        f"{meta['versions']}  ",
        f"Shape: batch {shape['batch']}, {shape['time']} steps, "
        f"{shape['features']} inputs, {shape['units']} units. "
        f"{meta['repeats']} interleaved repeats of {meta['steps']} steps "
        f"after a warm-up; {meta['date']}.  ",
        "Training step = forward, MSE on the last output, backward, SGD "
        "update. vs cuDNN = torch.nn.LSTM time / case time, per repeat "
        "(> 1: faster than the floor); median [min–max].",
        "",
        "| case | what | train ms/step | vs cuDNN (train) | infer ms/batch "
        "| vs cuDNN (infer) |",
        "| --- | --- | --- | --- | --- | --- |",
    ]

    def span(stats):
        return f"{stats['median']:.2f} [{stats['min']:.2f}–{stats['max']:.2f}]"

    for row in results:
        lines.append(
            f"| {row['case']} | {row['what']} | "
            f"{row['train_s']['median'] * 1e3:.2f} | "
            f"{span(row['train_vs_floor'])} | "
            f"{row['infer_s']['median'] * 1e3:.2f} | "
            f"{span(row['infer_vs_floor'])} |"
        )
    return "\n".join(lines) + "\n"


def chart(results, meta, path) -> None:
    """Bars of the train and inference ratios against the floor."""
    rows = [row for row in results if row["case"] != "cudnn_floor"]
    ratio_chart(
        [row["case"] for row in rows],
        [row["train_vs_floor"]["median"] for row in rows],
        [row["infer_vs_floor"]["median"] for row in rows],
        f"speed vs the floor ({meta.get('floor', 'torch')}), ×",
        f"{meta['gpu']}, Keras {meta['backend']} backend",
        path,
    )


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=None)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--steps", type=int, default=5)
    parser.add_argument(
        "--shape",
        default=None,
        help="batch,time,features,units (default: issue 6's 128,400,128,256)",
    )
    parser.add_argument(
        "--floor",
        choices=("torch", "keras_lstm"),
        default="torch",
        help="the reference: torch.nn.LSTM on the GPU (default), or the "
        "keras_lstm case (for a check on a machine without a GPU)",
    )
    parser.add_argument("--output", default=None, help="results file stem")
    parser.add_argument(
        "--results-dir", default=str(RESULTS), help="where results go"
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    shape = dict(SHAPE)
    if args.shape:
        shape = dict(zip(SHAPE, (int(v) for v in args.shape.split(","))))
    table = cases(shape["units"])
    names = args.cases or list(table)
    unknown = sorted(set(names) - set(table))
    if unknown:
        print(f"Unknown case(s) {unknown}; choose from {list(table)}.")
        return 2
    floor = "cudnn_floor" if args.floor == "torch" else "keras_lstm"
    if floor not in ("cudnn_floor", *names):
        print("--floor keras_lstm needs the keras_lstm case in --cases.")
        return 2
    meta = environment(argv)
    meta.update(
        repeats=args.repeats, steps=args.steps, shape=shape, floor=args.floor
    )
    rng = np.random.default_rng(0)
    inputs = rng.normal(
        size=(shape["batch"], shape["time"], shape["features"])
    ).astype("float32")
    targets = rng.normal(size=(shape["batch"], shape["units"])).astype(
        "float32"
    )
    runners = {}
    if floor == "cudnn_floor":
        runners[floor] = CudnnFloor(shape, inputs, targets)
    for name in names:
        keras.utils.set_random_seed(0)
        model = build_model(table[name][1], shape)
        runners[name] = make_runner(model, inputs, targets)
    compile_s = {}
    for name, runner in runners.items():  # warm-up: tracing, compilation
        start = time.perf_counter()
        runner.train(1)
        runner.infer(1)
        compile_s[name] = time.perf_counter() - start
        print(f"warm-up {name}: {compile_s[name]:.1f} s", flush=True)
    train = {name: [] for name in runners}
    infer = {name: [] for name in runners}
    for _ in range(args.repeats):
        for name, runner in runners.items():
            train[name].append(timed(runner.train, args.steps))
            infer[name].append(timed(runner.infer, args.steps))
    results = []
    for name in runners:
        what = (
            "the floor: torch.nn.LSTM (cuDNN)"
            if name == "cudnn_floor"
            else table[name][0]
        )
        row = {
            "case": name,
            "what": what,
            "warmup_s": compile_s[name],
            "train_s": summarize(train[name]),
            "infer_s": summarize(infer[name]),
            "train_vs_floor": summarize(
                [f / c for f, c in zip(train[floor], train[name])]
            ),
            "infer_vs_floor": summarize(
                [f / c for f, c in zip(infer[floor], infer[name])]
            ),
        }
        results.append(row)
    text = markdown(results, meta)
    print(text)
    directory = Path(args.results_dir)
    directory.mkdir(parents=True, exist_ok=True)
    stem = args.output or f"rnn_gpu_{meta['backend']}"
    (directory / f"{stem}.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=2) + "\n"
    )
    (directory / f"{stem}.md").write_text(text)
    try:
        chart(results, meta, directory / f"{stem}.png")
    except ImportError:  # no matplotlib on the machine: the table stands
        print("matplotlib is not installed: no chart")
    return 0


if __name__ == "__main__":
    sys.exit(main())

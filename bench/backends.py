"""One table: every cell's training speed on every Keras backend.

    nice -n 10 python -m bench.backends                 # 200 steps, 5 rounds
    nice -n 10 python -m bench.backends --rounds 7 --backends tensorflow jax

TensorFlow, JAX and PyTorch cannot share a process, so each backend gets a
worker process (`KERAS_BACKEND=...`) that builds every model and warms it
up (tracing, XLA or torch.compile); then the driver runs interleaved
rounds: in each round every worker in turn times one `train_on_batch` of
each of its models, while the others wait, so drift in the machine's
speed hits all backends alike. One process computes at a time.

Models (Adam, MSE on the last output, batch 64, 200 steps, 64 inputs, 64
units by default): the zoo's naive RNN, LSTM (NP), peephole (V), CIFG,
GRU and NAS, and Keras' SimpleRNN, LSTM and GRU; in the PyTorch worker
also `torch.nn.LSTM` trained by a plain PyTorch step (same loss and
optimizer). The table gives the median samples/s per backend and each
cell's ratio to the fastest Keras built-in (its reference: SimpleRNN for
the naive cell, GRU for the GRU, LSTM for the others) on any backend.
Written to bench/results/backends.{md,json,png}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results"
BACKENDS = ("tensorflow", "jax", "torch")
CELLS = ("naive", "lstm", "peephole_lstm", "cifg_lstm", "gru", "nas")
REFERENCE = {"naive": "keras_simple_rnn", "gru": "keras_gru"}


def _worker_models(units: int) -> dict:
    import keras

    from zoo import layers

    return {
        "naive": lambda: layers.NaiveRNN(units),
        "lstm": lambda: layers.LSTM(units),
        "peephole_lstm": lambda: layers.LSTM(units, variant="V"),
        "cifg_lstm": lambda: layers.LSTM(units, variant="CIFG"),
        "gru": lambda: layers.GRU(units),
        "nas": lambda: layers.NAS(units),
        "keras_simple_rnn": lambda: keras.layers.SimpleRNN(units),
        "keras_lstm": lambda: keras.layers.LSTM(units),
        "keras_gru": lambda: keras.layers.GRU(units),
    }


def worker(args) -> None:
    """One backend's process: build, warm up, then time a round per line
    read on stdin; answers one JSON line per round on stdout."""
    import keras

    backend = keras.backend.backend()
    if backend == "torch":
        import torch

        torch.set_num_threads(args.torch_threads)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(args.batch, args.steps, args.features))
    x = x.astype("float32")
    y = rng.normal(size=(args.batch, args.units)).astype("float32")
    steps = {}
    for name, make in _worker_models(args.units).items():
        keras.utils.set_random_seed(0)
        inputs = keras.Input((args.steps, args.features))
        model = keras.Model(inputs, make()(inputs))
        model.compile(optimizer="adam", loss="mse")
        steps[name] = lambda model=model: model.train_on_batch(x, y)
    if backend == "torch":
        steps["torch_nn_lstm"] = torch_lstm_step(args, x, y)
    warm = warm_up(steps)
    print(json.dumps({"ready": backend, "warm_up_s": warm}), flush=True)
    for _ in sys.stdin:
        seconds = {}
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            seconds[name] = time.perf_counter() - start
        print(json.dumps(seconds), flush=True)


def warm_up(steps: dict) -> dict:
    """Runs every step twice (tracing, compiling); name -> seconds."""
    warm = {}
    for name, step in steps.items():
        start = time.perf_counter()
        step()
        step()
        warm[name] = round(time.perf_counter() - start, 1)
    return warm


def torch_lstm_step(args, x, y):
    """One Adam step of `torch.nn.LSTM` (args.features -> args.units) on
    (x, y), the anchor every torch figure is reported against."""
    import torch

    torch.manual_seed(0)
    network = torch.nn.LSTM(args.features, args.units, batch_first=True)
    optimizer = torch.optim.Adam(network.parameters())
    inputs, targets = torch.tensor(x), torch.tensor(y)

    def step():
        optimizer.zero_grad()
        outputs, _ = network(inputs)
        loss = torch.mean((outputs[:, -1] - targets) ** 2)
        loss.backward()
        optimizer.step()

    return step


def backend_environment(backend: str) -> dict:
    """This process's environment for a child under KERAS_BACKEND=backend,
    on the CPU, with the repository importable."""
    root = Path(__file__).resolve().parents[1]
    path = os.environ.get("PYTHONPATH")
    return {
        **os.environ,
        "KERAS_BACKEND": backend,
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "CUDA_VISIBLE_DEVICES": "-1",
        "PYTHONPATH": str(root) + (os.pathsep + path if path else ""),
    }


def _start(backend: str, argv: list[str]) -> subprocess.Popen:
    environment = backend_environment(backend)
    return subprocess.Popen(
        [sys.executable, "-m", "bench.backends", "--worker", *argv],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=environment,
    )


def _answer(process) -> dict:
    while True:
        line = process.stdout.readline()
        if not line:
            raise RuntimeError("a backend worker ended without an answer")
        if line.startswith("{"):
            return json.loads(line)


def drive(args, argv) -> dict:
    workers = {backend: _start(backend, argv) for backend in args.backends}
    # Warm-ups one after the other would take as long; in parallel they
    # only compete for the CPU before any timing starts.
    warm_up = {backend: _answer(p) for backend, p in workers.items()}
    times = {backend: [] for backend in workers}
    loads = [os.getloadavg()]
    for _ in range(args.rounds):
        for backend, process in workers.items():
            process.stdin.write("go\n")
            process.stdin.flush()
            times[backend].append(_answer(process))
        loads.append(os.getloadavg())
    for process in workers.values():
        process.stdin.close()
        process.wait(timeout=60)
    return {"times": times, "warm_up": warm_up, "load_average": loads}


def table(result, args) -> tuple[list[dict], str]:
    samples = {
        backend: {
            name: float(np.median([args.batch / r[name] for r in rounds]))
            for name in rounds[0]
        }
        for backend, rounds in result["times"].items()
    }
    rows = []
    for cell in CELLS:
        reference = REFERENCE.get(cell, "keras_lstm")
        best_backend = max(samples, key=lambda b: samples[b][reference])
        best = samples[best_backend][reference]
        rows.append(
            {
                "cell": cell,
                "reference": f"{reference} ({best_backend})",
                **{backend: samples[backend][cell] for backend in samples},
                **{
                    f"{backend}_ratio": samples[backend][cell] / best
                    for backend in samples
                },
            }
        )
    for name in ("keras_simple_rnn", "keras_lstm", "keras_gru"):
        rows.append(
            {
                "cell": name,
                "reference": "",
                **{backend: samples[backend][name] for backend in samples},
            }
        )
    if "torch" in samples:
        rows.append(
            {
                "cell": "torch_nn_lstm",
                "reference": "(PyTorch only)",
                "torch": samples["torch"]["torch_nn_lstm"],
            }
        )
    backends = list(samples)
    header = (
        "| cell | "
        + " | ".join(f"{b} samples/s (× fastest Keras)" for b in backends)
        + " | reference |\n|---|"
        + "---|" * (len(backends) + 1)
    )
    lines = [header]
    for row in rows:
        cells = []
        for backend in backends:
            if backend not in row:
                cells.append("")
                continue
            text = f"{row[backend]:,.0f}"
            if f"{backend}_ratio" in row:
                text += f" ({row[f'{backend}_ratio']:.2f}×)"
            cells.append(text)
        lines.append(
            f"| `{row['cell']}` | "
            + " | ".join(cells)
            + f" | {row['reference']} |"
        )
    return rows, "\n".join(lines)


def torch_targets(rows) -> str:
    """The issue's PyTorch target, from the table's torch column: every
    zoo cell >= 1.0x Keras' own torch-backend LSTM, also given against
    `torch.nn.LSTM` trained in the same process."""
    by_cell = {row["cell"]: row for row in rows}
    if "torch" not in by_cell["keras_lstm"]:
        return ""
    keras_lstm = by_cell["keras_lstm"]["torch"]
    torch_lstm = by_cell["torch_nn_lstm"]["torch"]
    lines = [
        "| cell | torch samples/s | × Keras LSTM (torch) | × torch.nn.LSTM |",
        "|---|---|---|---|",
    ]
    ratios = []
    for cell in CELLS:
        value = by_cell[cell]["torch"]
        ratios.append(value / keras_lstm)
        lines.append(
            f"| `{cell}` | {value:,.0f} | {value / keras_lstm:.2f}× | "
            f"{value / torch_lstm:.2f}× |"
        )
    met = "met" if min(ratios) >= 1.0 else "not met"
    return (
        "Target (issue 16): every zoo cell under torch >= 1.0x Keras' own "
        f"torch-backend LSTM ({keras_lstm:,.0f} samples/s): **{met}** "
        f"(lowest {min(ratios):.2f}×). Against torch.nn.LSTM in the same "
        f"process ({torch_lstm:,.0f} samples/s):\n\n" + "\n".join(lines)
    )


def chart(rows, backends, path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cells = [row for row in rows if f"{backends[0]}_ratio" in row]
    figure, axis = plt.subplots(figsize=(8, 3.8))
    width = 0.8 / len(backends)
    for index, backend in enumerate(backends):
        axis.bar(
            np.arange(len(cells)) + index * width,
            [row[f"{backend}_ratio"] for row in cells],
            width,
            label=backend,
        )
    axis.axhline(1.0, color="black", linewidth=0.8)
    axis.set_xticks(np.arange(len(cells)) + width * (len(backends) - 1) / 2)
    axis.set_xticklabels([row["cell"] for row in cells], rotation=20)
    axis.set_ylabel("× fastest Keras built-in")
    axis.set_title("Training throughput per backend (2-core CPU)")
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", nargs="+", default=list(BACKENDS))
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--features", type=int, default=64)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=1,
        help="torch.set_num_threads in the PyTorch worker (default 1: with "
        "2 threads on the loaded 2-core machine every PyTorch recurrence "
        "ran 10-40x slower)",
    )
    parser.add_argument("--output", default=str(RESULTS / "backends"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if args.worker:
        worker(args)
        return 0
    worker_argv = [a for a in argv if a != "--worker"]
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    result = drive(args, worker_argv)
    rows, markdown = table(result, args)
    import keras

    meta = {
        "command": "python -m bench.backends " + " ".join(argv),
        "date": started,
        "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores",
        "keras": keras.__version__,
        "shape": {
            "batch": args.batch,
            "steps": args.steps,
            "features": args.features,
            "units": args.units,
        },
        "rounds": args.rounds,
        "torch_threads": args.torch_threads,
        "load_average": result["load_average"],
        "warm_up_s": result["warm_up"],
    }
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".json").write_text(
        json.dumps({"meta": meta, "rows": rows, **result}, indent=1) + "\n"
    )
    loads = [round(load[0], 1) for load in result["load_average"]]
    text = (
        f"# Training throughput per backend\n\n"
        f"Command: `{meta['command']}` ({started}; {meta['machine']}; "
        f"Keras {meta['keras']}; batch {args.batch}, {args.steps} steps, "
        f"{args.features} inputs, {args.units} units; median of "
        f"{args.rounds} interleaved rounds, one process per backend; "
        f"PyTorch with {args.torch_threads} thread(s); 1-minute load "
        f"average during the rounds {min(loads)}–{max(loads)}, a shared "
        f"machine).\n\n{markdown}\n"
    )
    targets = torch_targets(rows)
    if targets:
        text += f"\n{targets}\n"
    output.with_suffix(".md").write_text(text)
    chart(rows, list(result["times"]), output.with_suffix(".png"))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

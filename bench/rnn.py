"""Recurrent layer speed: the zoo's layers against Keras' built-ins.

    python -m bench.rnn                       # all cells and structures
    python -m bench.rnn --shapes text --repeats 5 --cells lstm gru
    KERAS_BACKEND=jax python -m bench.rnn     # the same under JAX

For each case, a zoo layer and its Keras reference are built in the same
process at the same shape, then timed interleaved (zoo, Keras, zoo, ...)
after a warm-up, so drift in the machine's speed hits both alike:

- training throughput: samples per second of one optimizer step
  (`model.train_on_batch`, Adam, MSE on the last output);
- inference latency: seconds per batch of `model.predict_on_batch`.

Medians and min–max over the repeats are printed with the zoo/Keras ratio
(> 1 means the zoo is faster) and written to bench/results/ as markdown,
JSON and a PNG chart, with the machine, backend, versions and command.

Shapes (from issue 6): text-like = batch 64, 400 steps, 128 features, 128
units; speech-like = batch 32, 800 steps, 80 features, 128 units.

References per case: the naive RNN against `SimpleRNN`; LSTM (NP), the
peephole (V), CIFG and NAS cells against `keras.layers.LSTM`; GRU against
`keras.layers.GRU`; the bidirectional LSTM against
`keras.layers.Bidirectional(LSTM)`; the ×3 stack against three Keras LSTMs;
the 3-level pyramid against a flat stack of 4 bidirectional Keras LSTMs of
the same width (the lecture's claim: the pyramid trains faster).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402

from zoo import layers as zoo_layers  # noqa: E402

SHAPES = {
    "text": {"batch": 64, "time": 400, "features": 128, "units": 128},
    "speech": {"batch": 32, "time": 800, "features": 80, "units": 128},
}
RESULTS = Path(__file__).resolve().parent / "results"


def _keras_bidirectional(units, return_sequences=False):
    return keras.layers.Bidirectional(
        keras.layers.LSTM(units, return_sequences=return_sequences)
    )


def _keras_stack(count, make):
    return [make(index < count - 1) for index in range(count)]


def cases(units: int) -> dict:
    """name -> (zoo layer factory, Keras reference factory).

    Factories return a list of layers applied in turn.
    """
    lstm = keras.layers.LSTM
    return {
        "naive": (
            lambda: [zoo_layers.NaiveRNN(units)],
            lambda: [keras.layers.SimpleRNN(units)],
        ),
        "lstm": (lambda: [zoo_layers.LSTM(units)], lambda: [lstm(units)]),
        "peephole_lstm": (
            lambda: [zoo_layers.LSTM(units, variant="V")],
            lambda: [lstm(units)],
        ),
        "cifg_lstm": (
            lambda: [zoo_layers.LSTM(units, variant="CIFG")],
            lambda: [lstm(units)],
        ),
        "gru": (
            lambda: [zoo_layers.GRU(units)],
            lambda: [keras.layers.GRU(units)],
        ),
        "nas": (lambda: [zoo_layers.NAS(units)], lambda: [lstm(units)]),
        "bidirectional_lstm": (
            lambda: [zoo_layers.Bidirectional(zoo_layers.LSTM(units))],
            lambda: [_keras_bidirectional(units)],
        ),
        "stacked_lstm_x3": (
            lambda: [
                zoo_layers.StackedRNN(
                    _keras_stack(
                        3,
                        lambda sequences: zoo_layers.LSTM(
                            units, return_sequences=sequences
                        ),
                    )
                )
            ],
            lambda: _keras_stack(
                3, lambda sequences: lstm(units, return_sequences=sequences)
            ),
        ),
        "pyramid_lstm_3_levels": (
            lambda: [
                zoo_layers.PyramidRNN(zoo_layers.LSTM(units), num_levels=3),
                keras.layers.GlobalAveragePooling1D(),
            ],
            lambda: [
                *_keras_stack(
                    4,
                    lambda sequences: _keras_bidirectional(units, True),
                ),
                keras.layers.GlobalAveragePooling1D(),
            ],
        ),
    }


def build(layer_list, shape, jit_compile):
    inputs = keras.Input((shape["time"], shape["features"]))
    hidden = inputs
    for layer in layer_list:
        hidden = layer(hidden)
    model = keras.Model(inputs, hidden)
    model.compile(optimizer="adam", loss="mse", jit_compile=jit_compile)
    return model


def time_pair(models, inputs, targets, repeats):
    """Interleaved timings of train_on_batch and predict_on_batch."""
    for model in models.values():  # warm-up: tracing and compilation
        model.train_on_batch(inputs, targets[model.name])
        model.predict_on_batch(inputs)
    train = {name: [] for name in models}
    infer = {name: [] for name in models}
    for _ in range(repeats):
        for name, model in models.items():
            start = time.perf_counter()
            model.train_on_batch(inputs, targets[model.name])
            train[name].append(time.perf_counter() - start)
            start = time.perf_counter()
            model.predict_on_batch(inputs)
            infer[name].append(time.perf_counter() - start)
    return train, infer


def summarize(values):
    return {
        "median": float(np.median(values)),
        "min": float(np.min(values)),
        "max": float(np.max(values)),
    }


def run_case(name, shape_name, repeats, jit_compile, seed=0):
    shape = SHAPES[shape_name]
    zoo_factory, keras_factory = cases(shape["units"])[name]
    keras.utils.set_random_seed(seed)
    models = {
        "zoo": build(zoo_factory(), shape, jit_compile),
        "keras": build(keras_factory(), shape, jit_compile),
    }
    rng = np.random.default_rng(seed)
    inputs = rng.normal(
        size=(shape["batch"], shape["time"], shape["features"])
    ).astype("float32")
    targets = {
        model.name: rng.normal(size=model.output.shape[1:])[None]
        .repeat(shape["batch"], 0)
        .astype("float32")
        for model in models.values()
    }
    train, infer = time_pair(models, inputs, targets, repeats)
    batch = shape["batch"]
    result = {"case": name, "shape": shape_name, **shape}
    for side in models:
        throughput = [batch / seconds for seconds in train[side]]
        result[f"{side}_train_samples_per_s"] = summarize(throughput)
        result[f"{side}_infer_s"] = summarize(infer[side])
    # Pairwise ratios (zoo over Keras), each pair timed back to back.
    train_ratio = [k / z for z, k in zip(train["zoo"], train["keras"])]
    infer_ratio = [k / z for z, k in zip(infer["zoo"], infer["keras"])]
    result["train_speedup"] = summarize(train_ratio)
    result["infer_speedup"] = summarize(infer_ratio)
    return result


def environment(argv) -> dict:
    import tensorflow as tf

    load = os.getloadavg() if hasattr(os, "getloadavg") else None
    return {
        "command": "python -m bench.rnn " + " ".join(argv),
        "backend": keras.backend.backend(),
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
        f"{platform.platform()}",
        "load_average_at_start": load,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def markdown(results, meta) -> str:
    lines = [
        "# Recurrent layers: zoo vs Keras built-ins",
        "",
        f"Command: `{meta['command']}`  ",
        f"Backend: {meta['backend']} (Keras {meta['keras']}, TensorFlow "
        f"{meta['tensorflow']}), jit_compile={meta['jit_compile']}  ",
        f"Machine: {meta['machine']}; load average at start "
        f"{meta['load_average_at_start']}  ",
        f"Date: {meta['date']}; {meta['repeats']} interleaved repeats after "
        "a warm-up. Speed-up = Keras time / zoo time, per pair (> 1: the zoo "
        "is faster); median [min–max].",
        "",
        "| case | shape | zoo train samples/s | Keras train samples/s | "
        "train speed-up | zoo infer s/batch | Keras infer s/batch | "
        "infer speed-up |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]

    def span(stats, digits=2):
        return (
            f"{stats['median']:.{digits}f} "
            f"[{stats['min']:.{digits}f}–{stats['max']:.{digits}f}]"
        )

    for row in results:
        lines.append(
            f"| {row['case']} | {row['shape']} | "
            f"{row['zoo_train_samples_per_s']['median']:.1f} | "
            f"{row['keras_train_samples_per_s']['median']:.1f} | "
            f"{span(row['train_speedup'])} | "
            f"{row['zoo_infer_s']['median']:.3f} | "
            f"{row['keras_infer_s']['median']:.3f} | "
            f"{span(row['infer_speedup'])} |"
        )
    return "\n".join(lines) + "\n"


def ratio_chart(labels, train, infer, ylabel, title, path) -> None:
    """Paired bars of training and inference ratios, a line at 1×."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    positions = np.arange(len(labels))
    figure, axis = plt.subplots(figsize=(max(8, len(labels) * 0.9), 4.5))
    axis.bar(positions - 0.2, train, 0.4, label="training")
    axis.bar(positions + 0.2, infer, 0.4, label="inference")
    axis.axhline(1.0, color="black", linewidth=0.8)
    axis.set_xticks(positions, labels, rotation=60, ha="right", fontsize=8)
    axis.set_ylabel(ylabel)
    axis.set_title(title)
    axis.legend()
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def chart(results, path):
    ratio_chart(
        [f"{r['case']}\n({r['shape']})" for r in results],
        [r["train_speedup"]["median"] for r in results],
        [r["infer_speedup"]["median"] for r in results],
        "speed-up over Keras (×)",
        "zoo layers vs Keras built-ins",
        path,
    )


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--shapes", nargs="+", default=list(SHAPES), choices=list(SHAPES)
    )
    parser.add_argument(
        "--cells", nargs="+", default=None, help="cases to run (default: all)"
    )
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument(
        "--jit-compile",
        choices=("auto", "true", "false"),
        default="auto",
        help="passed to model.compile (Keras' default is auto)",
    )
    parser.add_argument("--output", default=None, help="results file stem")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    jit = {"auto": "auto", "true": True, "false": False}[args.jit_compile]
    names = args.cells or list(cases(8))
    unknown = sorted(set(names) - set(cases(8)))
    if unknown:
        print(f"Unknown case(s) {unknown}; choose from {list(cases(8))}.")
        return 2
    meta = environment(argv)
    meta.update(repeats=args.repeats, jit_compile=args.jit_compile)
    stem = args.output or f"rnn_cpu_{meta['backend']}"
    results = []
    for shape_name in args.shapes:
        for name in names:
            row = run_case(name, shape_name, args.repeats, jit)
            results.append(row)
            # Written after every case, so an interrupted run keeps its rows.
            write_results(results, meta, stem)
            print(
                f"{name:24s} {shape_name:6s} train ×"
                f"{row['train_speedup']['median']:.2f} "
                f"[{row['train_speedup']['min']:.2f}–"
                f"{row['train_speedup']['max']:.2f}]  infer ×"
                f"{row['infer_speedup']['median']:.2f}",
                flush=True,
            )
    print(markdown(results, meta))
    return 0


def write_results(results, meta, stem) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{stem}.json").write_text(
        json.dumps({"meta": meta, "results": results}, indent=2) + "\n"
    )
    (RESULTS / f"{stem}.md").write_text(markdown(results, meta))
    chart(results, RESULTS / f"{stem}.png")


if __name__ == "__main__":
    sys.exit(main())

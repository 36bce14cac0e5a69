"""Pyramid BiLSTM against a flat BiLSTM stack on connected digits (CTC).

Both encoders have the same depth (num_levels + 1 BiLSTM layers) and width;
the pyramid halves the time axis between levels (time reduction 2^levels).
Reports training time per epoch, inference latency per utterance and the
digit error rate on the held-out speaker; writes bench/results/pyramid.{md,
json,png}.

    nice -n 10 python -m bench.pyramid --epochs 8 --train-utterances 800
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from recipes import connected_digits

RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--train-utterances", type=int, default=800)
    parser.add_argument("--test-utterances", type=int, default=200)
    parser.add_argument("--units", type=int, default=48)
    parser.add_argument("--num-levels", type=int, default=2)
    parser.add_argument("--output-dir", default="runs/pyramid_bench")
    parser.add_argument("--name", default="pyramid")
    parser.add_argument(
        "--timing-only",
        action="store_true",
        help="time train steps and inference on fixed random batches, "
        "without training to convergence (no error rates)",
    )
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--repeats", type=int, default=5)
    return parser.parse_args(argv)


def encoders(args) -> dict:
    return {
        "pyramid_lstm": {"units": args.units, "num_levels": args.num_levels},
        "bidirectional_lstm": {
            "units": args.units,
            "num_layers": args.num_levels + 1,
        },
    }


def timing(args) -> dict:
    """Median train-step and inference times on one fixed batch of 16."""
    import statistics
    import time

    import numpy as np

    rng = np.random.default_rng(0)
    samples = int(args.seconds * 8000)
    audio = rng.uniform(-0.3, 0.3, (16, samples)).astype(np.float32)
    rows = {}
    for name, model_args in encoders(args).items():
        recipe = connected_digits.parse_args(
            ["--model", name, "--model-args", json.dumps(model_args)]
        )
        model, encoder = connected_digits.build_model(recipe)
        factor = connected_digits.reduction_factor(encoder)
        steps = connected_digits.output_lengths(
            model.get_layer("front_end"), audio, factor
        )
        labels = np.full((16, 9), -1, np.int64)
        labels[:, 0] = np.asarray(steps)
        labels[:, 1:6] = rng.integers(0, 10, (16, 5))
        model.train_on_batch(audio, labels)
        model.predict_on_batch(audio)
        train, infer = [], []
        for _ in range(args.repeats):
            start = time.perf_counter()
            model.train_on_batch(audio, labels)
            train.append(time.perf_counter() - start)
            start = time.perf_counter()
            logits = model.predict_on_batch(audio)
            infer.append(time.perf_counter() - start)
        rows[name] = {
            "time_reduction": factor,
            "output_steps": int(logits.shape[1]),
            "parameters": model.count_params(),
            "train_step_seconds": round(statistics.median(train), 3),
            "latency_ms_per_utterance": round(
                1000 * statistics.median(infer) / 16, 2
            ),
        }
    return rows


def main(argv=None):
    args = parse_args(argv)
    if args.timing_only:
        panels = ("train_step_seconds", "latency_ms_per_utterance")
        return report(args, argv, timing(args), panels)
    rows = {}
    for name, model_args in encoders(args).items():
        output_dir = f"{args.output_dir}/{name}"
        code = connected_digits.main(
            [
                "--model",
                name,
                "--model-args",
                json.dumps(model_args),
                "--epochs",
                str(args.epochs),
                "--patience",
                str(args.epochs),
                "--train-utterances",
                str(args.train_utterances),
                "--test-utterances",
                str(args.test_utterances),
                "--batch-size",
                "16",
                "--output-dir",
                output_dir,
                "--no-export",
            ]
        )
        if code:
            raise SystemExit(code)
        recorded = json.loads(Path(output_dir, "metrics.json").read_text())
        metrics = {**recorded["metrics"]["test"], **recorded["training"]}
        rows[name] = {
            "time_reduction": metrics["time_reduction"],
            "parameters": metrics["parameters"],
            "seconds_per_epoch": metrics["seconds_per_epoch"],
            "latency_ms_per_utterance": round(
                1000 * metrics["inference_seconds"] / metrics["num_utterances"],
                2,
            ),
            "greedy_digit_error_rate": metrics["greedy_digit_error_rate"],
            "beam_search_digit_error_rate": metrics[
                "beam_search_digit_error_rate"
            ],
            "epochs_run": metrics["epochs_run"],
        }
    return report(
        args,
        argv,
        rows,
        (
            "seconds_per_epoch",
            "latency_ms_per_utterance",
            "greedy_digit_error_rate",
        ),
    )


def report(args, argv, rows, panels):
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(
        json.dumps(
            {
                "rows": rows,
                "load_average_1_5_15_min": os.getloadavg(),
                "command": "python -m bench.pyramid "
                + " ".join(sys.argv[1:] if argv is None else argv),
            },
            indent=2,
        )
    )
    keys = list(next(iter(rows.values())))
    lines = [
        "| encoder | " + " | ".join(keys) + " |",
        "|---" * (len(keys) + 1) + "|",
    ]
    lines += [
        f"| {name} | "
        + " | ".join(
            str(round(v, 4)) if isinstance(v, float) else str(v)
            for v in row.values()
        )
        + " |"
        for name, row in rows.items()
    ]
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    plot(rows, RESULTS / f"{args.name}.png", panels)
    return rows


def plot(rows, path, panels):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.5))
    for axis, key in zip(axes, panels):
        axis.bar(
            list(rows),
            [row[key] for row in rows.values()],
            color=["tab:blue", "tab:orange"],
        )
        axis.set_title(key.replace("_", " "))
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    main()

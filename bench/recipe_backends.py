"""Which backend should the recipes train on? Each recipe, each backend.

    nice -n 10 python -m bench.recipe_backends          # TF, JAX, torch

Runs every recipe's default model with the same data, the same number of
steps and the same seed under each Keras backend (one process per run,
`KERAS_BACKEND=...`, the backends alternating within each recipe), with
`--no-export`, and reads the run's metrics.json: training seconds (XLA
or torch.compile compilation included, as a user waits for it), epochs
and the validation metric after that fixed budget. A run that fails is
reported with the last line of its error. Written to
bench/results/recipe_backends.{md,json}.

Budgets (a shared 2-core CPU): IMDB the full recipe for 1 epoch (20,000
reviews); spoken digits 2 epochs of the customary split; connected
digits 1 epoch of 200 synthesised utterances (100 validation).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.backends import backend_environment

RESULTS = Path(__file__).resolve().parent / "results"
IMDB_DATA = "/work/shared/data/aclImdb_train.tar.gz"

RECIPES = {
    "imdb": (["--data", IMDB_DATA, "--epochs", "1"], "validation.accuracy"),
    "spoken_digits": (["--epochs", "2"], "validation.accuracy"),
    "connected_digits": (
        [
            "--epochs",
            "1",
            "--train-utterances",
            "200",
            "--test-utterances",
            "100",
        ],
        "test.greedy_digit_error_rate",
    ),
}


def run_one(recipe, backend, arguments, scratch: Path) -> dict:
    output_dir = scratch / f"{recipe}-{backend}"
    environment = backend_environment(backend)
    command = [
        sys.executable,
        "-m",
        f"recipes.{recipe}",
        *arguments,
        "--no-export",
        "--output-dir",
        str(output_dir),
        "--data-dir",
        str(scratch / "tfds"),
    ]
    load = os.getloadavg()[0]
    start = time.perf_counter()
    result = subprocess.run(
        command, capture_output=True, text=True, env=environment
    )
    seconds = time.perf_counter() - start
    record = {
        "recipe": recipe,
        "backend": backend,
        "command": f"KERAS_BACKEND={backend} python -m recipes.{recipe} "
        + " ".join(arguments)
        + " --no-export",
        "wall_seconds": round(seconds, 1),
        "load_average": [round(load, 1), round(os.getloadavg()[0], 1)],
    }
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.strip()]
        record["error"] = lines[-1] if lines else f"exit {result.returncode}"
        return record
    metrics = json.loads((output_dir / "metrics.json").read_text())
    record["train_seconds"] = metrics["training"]["train_seconds"]
    record["epochs"] = metrics["training"]["epochs_run"]
    record["metrics"] = metrics["metrics"]
    return record


def metric(record, dotted: str):
    value = record.get("metrics", {})
    for key in dotted.split("."):
        value = value.get(key, {}) if isinstance(value, dict) else {}
    return value if isinstance(value, float) else None


def write_results(records, command, started, output: Path) -> str:
    """Writes the markdown table and the JSON; returns the markdown."""
    lines = [
        "| recipe | backend | train s (epochs) | s per epoch | metric | "
        "value | wall s | load avg |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for record in records:
        name = RECIPES[record["recipe"]][1]
        if "error" in record:
            lines.append(
                f"| {record['recipe']} | {record['backend']} | failed: "
                f"{record['error'][:160]} | | | | {record['wall_seconds']} "
                f"| {record['load_average']} |"
            )
            continue
        value = metric(record, name)
        lines.append(
            f"| {record['recipe']} | {record['backend']} | "
            f"{record['train_seconds']} ({record['epochs']}) | "
            f"{record['train_seconds'] / max(record['epochs'], 1):.1f} | "
            f"{name} | {value:.4f} | {record['wall_seconds']} | "
            f"{record['load_average']} |"
        )
    text = (
        "# The recipes on each Keras backend\n\n"
        f"Command: `{command}` ({started}; one run per cell, a shared "
        "2-core CPU: run-to-run spread is ±30%; load average before and "
        "after each run in the last column). Training seconds include "
        "compilation (tracing, XLA, torch.compile).\n\n"
        + "\n".join(lines)
        + "\n\nCommands of each run: recipe_backends.json.\n"
    )
    output.with_suffix(".md").write_text(text)
    output.with_suffix(".json").write_text(
        json.dumps({"command": command, "date": started, "runs": records})
        + "\n"
    )
    return text


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backends", nargs="+", default=["tensorflow", "jax", "torch"]
    )
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES))
    parser.add_argument("--output", default=str(RESULTS / "recipe_backends"))
    args = parser.parse_args(argv)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    records = []
    with tempfile.TemporaryDirectory() as scratch:
        for recipe in args.recipes:
            arguments, _ = RECIPES[recipe]
            for backend in args.backends:
                record = run_one(recipe, backend, arguments, Path(scratch))
                print(json.dumps(record), flush=True)
                records.append(record)
    command = "python -m bench.recipe_backends " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    text = write_results(records, command, started, Path(args.output))
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

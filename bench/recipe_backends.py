"""Which backend should the recipes train on? Each recipe, each backend.

    nice -n 10 python -m bench.recipe_backends          # TF, JAX, torch
    nice -n 10 python -m bench.recipe_backends --recipes spoken_digits \
        --backends jax --timeout 900

Runs every recipe's default model with the same data, the same number of
steps and the same seed under each Keras backend (one process per run,
`KERAS_BACKEND=...`, the backends alternating within each recipe), with
`--no-export`, and reads the run's metrics.json: training seconds (XLA
or torch.compile compilation included, as a user waits for it), epochs
and the validation metric after that fixed budget. A run that fails is
reported with the last line of its error; one that passes `--timeout`
seconds is stopped and reported with the epochs it finished. Written to
bench/results/recipe_backends.{md,json}; `--update` re-runs only the
cells asked for and keeps the others (both commands are listed).

Budgets (a shared 2-core CPU): IMDB the full recipe for 1 epoch (20,000
reviews); spoken digits 2 epochs of the customary split; connected
digits 1 epoch of 200 synthesised utterances (100 validation).
"""

from __future__ import annotations

import argparse
import json
import os
import re
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


def reached(output_dir: Path, stdout) -> str:
    """What a stopped run had done: its finished epochs (history.csv) and
    the last Keras progress count ("12/64") it printed."""
    history = output_dir / "history.csv"
    rows = history.read_text().splitlines()[1:] if history.exists() else []
    text = stdout.decode() if isinstance(stdout, bytes) else stdout or ""
    steps = re.findall(r"(?<!Epoch )\b(\d+/\d+)", text)
    last = f", then step {steps[-1]} of the next" if steps else ""
    return f"{len(rows)} epoch(s) finished{last}"


def run_one(recipe, backend, arguments, scratch: Path, timeout=None) -> dict:
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
    try:
        result = subprocess.run(
            command,
            capture_output=True,
            text=True,
            env=environment,
            timeout=timeout,
        )
    except subprocess.TimeoutExpired as expired:
        result = expired
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
    if isinstance(result, subprocess.TimeoutExpired):
        record["stopped"] = f"stopped at the {timeout} s budget: " + reached(
            output_dir, result.stdout
        )
        return record
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


def write_results(records, commands, output: Path) -> str:
    """Writes the markdown table and the JSON; returns the markdown.

    `commands`: [(bench command, date)], one per run of this script whose
    cells the table holds (`--update` replaces cells of an earlier run).
    """
    lines = [
        "| recipe | backend | train s (epochs) | s per epoch | metric | "
        "value | wall s | load avg |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for record in records:
        name = RECIPES[record["recipe"]][1]
        if "stopped" in record:
            lines.append(
                f"| {record['recipe']} | {record['backend']} | "
                f"{record['stopped']} | | | | {record['wall_seconds']} "
                f"| {record['load_average']} |"
            )
            continue
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
    runs = "; ".join(f"`{command}` ({date})" for command, date in commands)
    text = (
        "# The recipes on each Keras backend\n\n"
        f"Command: {runs} (one run per cell, a shared 2-core CPU: "
        "run-to-run spread is ±30%; load average before and after each run "
        "in the last column). Training seconds include compilation "
        "(tracing, XLA, torch.compile).\n\n"
        + "\n".join(lines)
        + "\n\nCommands of each run: recipe_backends.json.\n"
    )
    output.with_suffix(".md").write_text(text)
    output.with_suffix(".json").write_text(
        json.dumps({"commands": commands, "runs": records}, indent=1) + "\n"
    )
    return text


def updated(output: Path, records, commands):
    """The earlier run's records and commands in `output`.json, with the
    cells of `records` replaced (or added), in recipe and backend order."""
    earlier = json.loads(output.with_suffix(".json").read_text())
    cells = {(r["recipe"], r["backend"]): r for r in earlier["runs"]}
    cells.update({(r["recipe"], r["backend"]): r for r in records})
    order = {name: index for index, name in enumerate(RECIPES)}
    backends = {"tensorflow": 0, "jax": 1, "torch": 2}
    merged = sorted(
        cells.values(),
        key=lambda r: (order[r["recipe"]], backends.get(r["backend"], 3)),
    )
    earlier_commands = earlier.get("commands") or [
        (earlier["command"], earlier["date"])
    ]
    return merged, [*map(tuple, earlier_commands), *commands]


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backends", nargs="+", default=["tensorflow", "jax", "torch"]
    )
    parser.add_argument("--recipes", nargs="+", default=list(RECIPES))
    parser.add_argument(
        "--timeout",
        type=int,
        default=None,
        help="seconds a run may take; a run stopped there is reported "
        "with the epochs and steps it reached",
    )
    parser.add_argument("--output", default=str(RESULTS / "recipe_backends"))
    parser.add_argument(
        "--update",
        action="store_true",
        help="replace only these cells in the existing --output results",
    )
    args = parser.parse_args(argv)
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    records = []
    with tempfile.TemporaryDirectory() as scratch:
        for recipe in args.recipes:
            arguments, _ = RECIPES[recipe]
            for backend in args.backends:
                record = run_one(
                    recipe, backend, arguments, Path(scratch), args.timeout
                )
                print(json.dumps(record), flush=True)
                records.append(record)
    command = "python -m bench.recipe_backends " + " ".join(
        sys.argv[1:] if argv is None else argv
    )
    commands = [(command, started)]
    output = Path(args.output)
    if args.update:
        records, commands = updated(output, records, commands)
    text = write_results(records, commands, output)
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

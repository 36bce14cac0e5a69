"""The recipe contract: what every `zoo train TASK` shares.

A recipe parses its own options (with `add_run_arguments` for the shared
ones) and hands the runner one task-specific function,
`train(args, strategy) -> Trained | None`, which loads its data, builds,
fits and evaluates its model and says how to export it. `run` does the
rest the same way for every task:

1. the `--strategy` (first: a multi-worker strategy must exist before
   any other TensorFlow work), then a refusal before any training if the
   export version is taken;
2. seeding (`--seed`: Python, NumPy and the backend);
3. the task's `train`, where data errors become one line and exit 2;
4. on the chief only: `metrics.json` (the layout below), then the export
   through `zoo.export.export_saved_model` (verified through TF2 and a TF1
   session in a process without `zoo`, then renamed into place; under a
   backend other than TensorFlow in a TensorFlow child process, see
   `recipes.export_step`), then `metrics.json` again with the export's
   folder.

`metrics.json`, one layout for every task:

    {"task": "imdb", "model": "cnn", "model_config": {...},
     "metrics": {"validation": {"accuracy": 0.91, ...}, "test": {...}},
     "training": {"epochs_run": 3, "train_seconds": 236.0, ...},
     "data": {...},                    # what the task trained on
     "export": "saved_models/imdb/2",  # or null
     "total_seconds": 250.1,
     "run": {"command": ..., "git_commit": ..., "date": ..., ...}}

Every recipe's `main(argv=None, prog=None)` returns this function's exit
code: 0 done, 2 a usage or data error (one line on stderr).
"""

from __future__ import annotations

import argparse
import dataclasses
import shlex
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import keras
import numpy as np

from recipes.export_step import ExportPlan
from recipes.export_step import export_trained
from zoo import distribute
from zoo import export
from zoo import training
from zoo.cli import positive_int
from zoo.data import DataError

DEFAULT_EXPORT_BASE = "saved_models"

__all__ = ["ExportPlan", "Trained", "add_run_arguments", "run"]


@dataclasses.dataclass
class Trained:
    """What a recipe's `train` hands back to the runner."""

    model: keras.Model
    metrics: dict  # split -> {metric name -> value}
    training: dict  # epochs_run, train_seconds, ...
    model_config: dict = dataclasses.field(default_factory=dict)
    data: dict = dataclasses.field(default_factory=dict)
    export: ExportPlan | None = None
    summary: str = ""  # One line for the terminal.


def add_run_arguments(
    parser: argparse.ArgumentParser, *, seed: int = 1337
) -> None:
    """The options every recipe shares: Training (--seed, --strategy) and
    Export (--export DIR, --no-export, --version, --overwrite)."""
    group = parser.add_argument_group("Run")
    group.add_argument("--seed", type=int, default=seed)
    distribute.add_strategy_argument(group)
    exporting = parser.add_argument_group("Export")
    exporting.add_argument(
        "--export",
        metavar="DIR",
        default=DEFAULT_EXPORT_BASE,
        help="base folder: the SavedModel goes to DIR/TASK/VERSION "
        "(default: %(default)s)",
    )
    exporting.add_argument(
        "--no-export",
        dest="export",
        action="store_const",
        const=None,
        help="train and evaluate only",
    )
    exporting.add_argument(
        "--version",
        type=positive_int,
        default=None,
        help="export version (default: the next free one)",
    )
    exporting.add_argument(
        "--overwrite",
        action="store_true",
        help="replace an existing export version",
    )


def export_folder(args, task: str) -> Path | None:
    """The model folder `--export`/TASK (absolute), or None (--no-export)."""
    if args.export is None:
        return None
    return Path(args.export).resolve() / task.replace("-", "_")


def run(
    task: str,
    args: argparse.Namespace,
    train: Callable[[argparse.Namespace, Any], Trained | None],
    argv=None,
    check: Callable[[argparse.Namespace], Any] | None = None,
) -> int:
    """Runs a recipe's `train` under the shared contract; the exit code.

    `check(args)`, if given, validates the options before any slow work;
    a ValueError it raises is a usage error (one line, exit 2).
    """
    started = time.perf_counter()
    prefix = f"zoo train {task}: error:"
    try:
        strategy = _strategy(args.strategy)
        if check is not None:
            check(args)
        folder = export_folder(args, task)
        if folder is not None:
            export.resolve_version_dir(folder, args.version, args.overwrite)
    except (ValueError, FileExistsError) as error:
        print(f"{prefix} {error}", file=sys.stderr)
        return 2
    keras.utils.set_random_seed(args.seed)
    np.random.seed(args.seed)
    try:
        trained = train(args, strategy)
    except (DataError, FileExistsError) as error:
        print(f"{prefix} {error}", file=sys.stderr)
        return 2
    if trained is None or not distribute.is_chief(strategy):
        return 0  # Only the chief writes and exports.
    output_dir = Path(args.output_dir)
    record = {
        "task": task,
        "model": getattr(args, "model", None),
        "model_config": trained.model_config,
        "metrics": trained.metrics,
        "training": {
            "parameters": trained.model.count_params(),
            **trained.training,
        },
        "data": trained.data,
        "export": None,
        "run": {
            **training.run_metadata(argv),
            "command": _command(task, argv),
        },
    }
    # Written before the export too, so a failed export keeps the figures.
    training.write_json(output_dir / "metrics.json", record)
    if trained.summary:
        print(trained.summary)
    if folder is not None and trained.export is not None:
        plan = dataclasses.replace(
            trained.export,
            card={**trained.export.card, **_card_run_fields(record["run"])},
        )
        try:
            target = export_trained(
                plan,
                trained.model,
                folder,
                args.version,
                overwrite=args.overwrite,
                scratch=output_dir,
            )
        except FileExistsError as error:
            print(f"{prefix} {error}", file=sys.stderr)
            return 2
        record["export"] = str(target)
        record["export_bytes"] = _folder_bytes(target)
        print(f"exported {target} ({record['export_bytes'] / 1e6:.2f} MB)")
    record["total_seconds"] = round(time.perf_counter() - started, 1)
    training.write_json(output_dir / "metrics.json", record)
    return 0


def _command(task: str, argv) -> str:
    """The command that reruns this run: `zoo train TASK ARGS...` (argv
    None: this process's own command line)."""
    words = sys.argv if argv is None else ["zoo", "train", task, *argv]
    return shlex.join(str(word) for word in words)


def _strategy(name: str):
    """The `--strategy`; under a backend other than TensorFlow only one
    device's (tf.distribute trains TensorFlow models only)."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        return distribute.strategy_from_name(name)
    if name not in ("auto", "default"):
        raise ValueError(
            f"--strategy {name} needs KERAS_BACKEND=tensorflow (a "
            f"tf.distribute strategy), got KERAS_BACKEND={backend}; use "
            "--strategy default or the TensorFlow backend."
        )
    return distribute.strategy_from_name("default")


def _card_run_fields(run_metadata: dict) -> dict:
    return {
        key: run_metadata[key]
        for key in ("command", "date", "git_commit", "tensorflow", "keras")
        if key in run_metadata
    }


def _folder_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in Path(path).rglob("*") if f.is_file())

"""What every recipe needs around `model.fit`: callbacks, curves, metadata.

Kept in one place so the IMDB and speech recipes train, log, checkpoint and
report the same way:

- `standard_callbacks`: TensorBoard logs, CSV history, best-on-validation
  checkpointing (written atomically), early stopping, and a backup that lets
  a killed run resume from its last completed epoch.
- `plot_history`: a PNG of the learning curves.
- `run_metadata`: the exact command, git commit, versions and date, for
  `metrics.json` and model cards.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shlex
import subprocess
import sys
import uuid
from pathlib import Path

import keras

from zoo.export import atomic_write_text


class AtomicModelCheckpoint(keras.callbacks.Callback):
    """Saves the model whenever `monitor` improves, atomically.

    The `.keras` file is written to a temporary name beside the target and
    renamed over it, so a kill mid-save leaves the previous best intact.

    Args:
        path: Target `.keras` file.
        monitor: Logged quantity to watch (e.g. "val_accuracy").
        mode: "max" or "min".
    """

    def __init__(self, path, monitor: str = "val_loss", mode: str = "min"):
        super().__init__()
        if mode not in ("min", "max"):
            raise ValueError(f"`mode` must be 'min' or 'max', got {mode!r}.")
        self.path = Path(path)
        self.monitor = monitor
        self.mode = mode
        self.best = None

    def _improved(self, value) -> bool:
        if self.best is None:
            return True
        return value > self.best if self.mode == "max" else value < self.best

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or not self._improved(value):
            return
        self.best = value
        self.path.parent.mkdir(parents=True, exist_ok=True)
        temporary = self.path.with_name(
            f".{self.path.stem}.{uuid.uuid4().hex[:8]}.keras"
        )
        try:
            self.model.save(temporary)
            os.replace(temporary, self.path)
        finally:
            if temporary.exists():
                temporary.unlink()


def standard_callbacks(
    output_dir,
    *,
    monitor: str = "val_accuracy",
    mode: str = "max",
    patience: int = 3,
    backup: bool = True,
    tensorboard: bool = True,
) -> list[keras.callbacks.Callback]:
    """The recipes' callbacks, all writing under `output_dir`.

    - `backup/`: `keras.callbacks.BackupAndRestore`, so rerunning the same
      command after a kill resumes from the last completed epoch with the
      optimizer state.
    - `best.keras`: the best model on `monitor` (atomic writes).
    - `history.csv`: one row per epoch. `logs/`: TensorBoard.
    - Early stopping on `monitor`, restoring the best weights.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    callbacks = []
    if backup:
        callbacks.append(
            keras.callbacks.BackupAndRestore(str(output_dir / "backup"))
        )
    callbacks += [
        AtomicModelCheckpoint(output_dir / "best.keras", monitor, mode),
        keras.callbacks.EarlyStopping(
            monitor=monitor,
            mode=mode,
            patience=patience,
            restore_best_weights=True,
        ),
        keras.callbacks.CSVLogger(str(output_dir / "history.csv"), append=True),
    ]
    if tensorboard:
        callbacks.append(
            keras.callbacks.TensorBoard(log_dir=str(output_dir / "logs"))
        )
    return callbacks


def plot_history(history: dict, path, title: str = "") -> Path:
    """Saves a PNG with one panel per metric: train and validation curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [name for name in history if not name.startswith("val_")]
    figure, axes = plt.subplots(
        1, max(len(names), 1), figsize=(5 * max(len(names), 1), 3.6)
    )
    axes = axes if hasattr(axes, "__len__") else [axes]
    for axis, name in zip(axes, names):
        epochs = range(1, len(history[name]) + 1)
        axis.plot(epochs, history[name], marker="o", label=f"train {name}")
        if f"val_{name}" in history:
            axis.plot(
                epochs,
                history[f"val_{name}"],
                marker="o",
                label=f"validation {name}",
            )
        axis.set_xlabel("epoch")
        axis.set_title(name)
        axis.grid(alpha=0.3)
        axis.legend()
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def git_commit(directory=None) -> str | None:
    """The current commit of the repository holding `directory`, if any."""
    directory = Path(directory or Path(__file__).resolve().parent)
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=directory,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    commit = result.stdout.strip()
    if result.returncode != 0 or not commit:
        return None
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=directory,
        capture_output=True,
        text=True,
        timeout=10,
    ).stdout.strip()
    return commit + ("-dirty" if dirty else "")


def run_metadata(argv=None) -> dict:
    """The exact command, commit, versions, machine and date of a run."""
    import tensorflow as tf

    argv = sys.argv if argv is None else [sys.argv[0], *argv]
    return {
        "command": " ".join(shlex.quote(str(part)) for part in argv),
        "git_commit": git_commit(),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(
            timespec="seconds"
        ),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "keras": keras.__version__,
        "keras_backend": keras.backend.backend(),
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
    }


def write_json(path, payload: dict) -> Path:
    """Writes `payload` as indented JSON, atomically."""
    path = Path(path)
    atomic_write_text(path, json.dumps(payload, indent=2, default=str) + "\n")
    return path

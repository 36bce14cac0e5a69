"""What every recipe needs around `model.fit`: callbacks, curves, metadata.

Kept in one place so the IMDB and speech recipes train, log, checkpoint and
report the same way:

- `standard_callbacks`: TensorBoard logs, CSV history, best-on-validation
  checkpointing (written atomically), early stopping, and a backup that lets
  a killed run resume from its last completed epoch.
- `AtomicBackupAndRestore`: Keras' `BackupAndRestore` made safe against a
  kill at any instant, and complete (seed-generator and callback states).
- `SetDataEpoch`: seeds an epoch-made pipeline (`zoo.data.EpochDataset`)
  with the epoch, so a resumed run sees the batches of an uninterrupted one.
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
import shutil
import subprocess
import sys
import uuid
from pathlib import Path

import keras
import numpy as np

from zoo import keras_compat
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

    def get_state(self) -> dict:
        """What a resumed run needs to keep choosing the same best model."""
        return {"best": None if self.best is None else float(self.best)}

    def set_state(self, state: dict) -> None:
        self.best = state.get("best")

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


class AtomicBackupAndRestore(keras_compat.BackupAndRestore):
    """`keras.callbacks.BackupAndRestore` that a kill cannot corrupt.

    Keras 3.15's callback writes `latest.weights.h5` in place and then
    `training_metadata.json`. A kill during the first write leaves a
    truncated HDF5 file, and the rerun fails with an `OSError` (unless
    `double_checkpoint=True`); a kill between the two writes leaves epoch
    N + 1's weights beside epoch N's counter, so the rerun trains an epoch
    twice. It also leaves out state that decides the result of the run:
    the seed-generator states (dropout masks) and the states of
    `EarlyStopping` (best value, patience count, best weights) and of the
    best-model checkpoint, so after a resume early stopping restores the
    best weights of the resumed part only.

    Here every backup goes to new files (named after the epoch and a random
    suffix), made durable with `fsync`, and is committed by atomically
    replacing one small JSON manifest (`training_metadata.json`) that names
    them; older files are removed only after the commit. A kill at any
    instant therefore leaves the previous complete backup or the new one.
    The backup holds the model's weights and optimizer variables
    (`save_weights` includes the optimizer, iteration counter too), the
    seed-generator states, and the states of `callbacks`.

    Put this callback *after* the callbacks it backs up, so that on each
    epoch's end it saves their updated states, and at the start of
    training it restores their states after their own `on_train_begin`
    has reset them.

    Args:
        backup_dir: Folder of the backup, used by nothing else.
        callbacks: Callbacks whose state to back up: `EarlyStopping`, and
            any callback with `get_state()` / `set_state(state)` (JSON
            values), such as `AtomicModelCheckpoint`.
        save_freq: "epoch" or a number of batches, as in Keras.
        delete_checkpoint: Remove the backup when training ends.
    """

    MANIFEST = "training_metadata.json"

    def __init__(
        self,
        backup_dir,
        callbacks=(),
        save_freq="epoch",
        delete_checkpoint: bool = True,
    ):
        super().__init__(
            str(backup_dir),
            save_freq=save_freq,
            double_checkpoint=False,
            delete_checkpoint=delete_checkpoint,
        )
        self.tracked_callbacks = list(callbacks)
        for callback in self.tracked_callbacks:
            stateful = hasattr(callback, "get_state") and hasattr(
                callback, "set_state"
            )
            if not stateful and not isinstance(
                callback, keras.callbacks.EarlyStopping
            ):
                raise ValueError(
                    "Received an invalid value for argument `callbacks`: "
                    f"{callback!r} is neither an EarlyStopping nor has "
                    "get_state()/set_state()."
                )

    @property
    def manifest_path(self) -> Path:
        return Path(self.backup_dir) / self.MANIFEST

    @classmethod
    def completed_epochs(cls, backup_dir) -> int:
        """Epochs completed by the run backed up in `backup_dir` (0 if none)."""
        path = Path(backup_dir) / cls.MANIFEST
        try:
            return int(json.loads(path.read_text(encoding="utf-8"))["epoch"])
        except FileNotFoundError:
            return 0

    def _seed_states(self) -> list:
        # Variables that are not weights: the SeedGenerator states.
        weights = {id(variable) for variable in self.model.weights}
        return [v for v in self.model.variables if id(v) not in weights]

    def on_train_begin(self, logs=None):
        if not self.manifest_path.exists():
            return
        if not self.model.built:
            raise ValueError(
                "To use AtomicBackupAndRestore the model must be built "
                "before `fit()`."
            )
        manifest = json.loads(self.manifest_path.read_text(encoding="utf-8"))
        folder = Path(self.backup_dir)
        if "weights" not in manifest:  # A backup written by Keras' callback.
            super().on_train_begin(logs)
            return
        optimizer = self.model.optimizer
        if optimizer is not None and not optimizer.built:
            optimizer.build(self.model.trainable_variables)
        self.model.load_weights(str(folder / manifest["weights"]))
        with np.load(folder / manifest["arrays"], allow_pickle=False) as data:
            seeds = self._seed_states()
            for index, variable in enumerate(seeds):
                key = f"seed_{index}"
                if key in data.files:
                    variable.assign(data[key])
            for index, (callback, state) in enumerate(
                zip(self.tracked_callbacks, manifest["callbacks"])
            ):
                prefix = f"callback_{index}_"
                arrays = sorted(
                    (k for k in data.files if k.startswith(prefix)),
                    key=lambda k: int(k[len(prefix) :]),
                )
                _set_callback_state(
                    callback, state, [data[k] for k in arrays] or None
                )
        self.set_initial_epoch(manifest["epoch"])

    def save_backup(self):
        folder = Path(self.backup_dir)
        folder.mkdir(parents=True, exist_ok=True)
        stem = f"epoch-{self.current_epoch:05d}-{uuid.uuid4().hex[:8]}"
        weights_name = f"{stem}.weights.h5"
        arrays_name = f"{stem}.state.npz"
        self.model.save_weights(str(folder / weights_name), overwrite=True)
        arrays = {
            f"seed_{index}": np.asarray(variable.numpy())
            for index, variable in enumerate(self._seed_states())
        }
        states = []
        for index, callback in enumerate(self.tracked_callbacks):
            state, weights = _get_callback_state(callback)
            states.append(state)
            for position, array in enumerate(weights or []):
                arrays[f"callback_{index}_{position}"] = np.asarray(array)
        with open(folder / arrays_name, "wb") as handle:
            np.savez(handle, **arrays)
        for name in (weights_name, arrays_name):
            with open(folder / name, "rb") as handle:
                os.fsync(handle.fileno())
        manifest = {
            "epoch": self.current_epoch,
            "batch": self.last_batch_seen,
            "weights": weights_name,
            "arrays": arrays_name,
            "callbacks": states,
        }
        # The commit point: until this rename the previous backup stands.
        atomic_write_text(self.manifest_path, json.dumps(manifest) + "\n")
        for path in folder.iterdir():
            if path.name not in (self.MANIFEST, weights_name, arrays_name):
                if path.is_file():
                    path.unlink(missing_ok=True)

    def on_train_end(self, logs=None):
        if self.delete_checkpoint and Path(self.backup_dir).exists():
            # Uncommit first, so a kill mid-removal leaves no half backup.
            self.manifest_path.unlink(missing_ok=True)
            shutil.rmtree(self.backup_dir, ignore_errors=True)


def _get_callback_state(callback) -> tuple[dict, list | None]:
    if isinstance(callback, keras.callbacks.EarlyStopping):
        best = callback.best
        state = {
            "wait": int(callback.wait),
            "stopped_epoch": int(callback.stopped_epoch),
            "best": None if best is None else float(best),
            "best_epoch": int(callback.best_epoch),
        }
        return state, callback.best_weights
    return callback.get_state(), None


def _set_callback_state(callback, state: dict, weights) -> None:
    if isinstance(callback, keras.callbacks.EarlyStopping):
        callback.wait = state["wait"]
        callback.stopped_epoch = state["stopped_epoch"]
        callback.best = state["best"]
        callback.best_epoch = state["best_epoch"]
        callback.best_weights = weights
        return
    callback.set_state(state)


class SetDataEpoch(keras.callbacks.Callback):
    """Tells an epoch-made pipeline which epoch starts.

    Keras iterates the training dataset anew after `on_epoch_begin`, so a
    `zoo.data.EpochDataset` makes that pass with this epoch's seed; after
    a resume the restored epoch counts, not the passes of this process.

    Args:
        data: Anything with `set_epoch(epoch)`, e.g. an `EpochDataset`.
    """

    def __init__(self, data):
        super().__init__()
        if not callable(getattr(data, "set_epoch", None)):
            raise ValueError(
                "Received an invalid value for argument `data`, expected "
                f"an object with set_epoch(epoch), got {data!r}."
            )
        self.data = data

    def on_epoch_begin(self, epoch, logs=None):
        self.data.set_epoch(epoch)


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

    - `backup/`: `AtomicBackupAndRestore` (last in the list), so rerunning
      the same command after a kill resumes from the last completed epoch
      with the optimizer, seed-generator, early-stopping and checkpoint
      states; a kill at any instant leaves a usable backup.
    - `best.keras`: the best model on `monitor` (atomic writes).
    - `history.csv`: one row per epoch. `logs/`: TensorBoard.
    - Early stopping on `monitor`, restoring the best weights.
    """
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    checkpoint = AtomicModelCheckpoint(output_dir / "best.keras", monitor, mode)
    early_stopping = keras.callbacks.EarlyStopping(
        monitor=monitor,
        mode=mode,
        patience=patience,
        restore_best_weights=True,
    )
    callbacks = [
        checkpoint,
        early_stopping,
        keras.callbacks.CSVLogger(str(output_dir / "history.csv"), append=True),
    ]
    if tensorboard:
        callbacks.append(
            keras.callbacks.TensorBoard(log_dir=str(output_dir / "logs"))
        )
    if backup:
        # Last: it saves the states the callbacks above updated this epoch.
        callbacks.append(
            AtomicBackupAndRestore(
                output_dir / "backup", callbacks=[checkpoint, early_stopping]
            )
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
        "date": datetime.datetime.now(datetime.UTC).isoformat(
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

"""Fault tolerance: a killed run resumes; a killed write leaves the old state.

- A training run SIGKILLed in the middle of an epoch and rerun with the
  same command continues from its last completed epoch and ends with the
  same history, final weights and metrics as an uninterrupted run with the
  same seed (tolerance 1e-6; on CPU with op determinism they are equal).
- `zoo.export.atomic_directory`, `AtomicModelCheckpoint` and
  `AtomicBackupAndRestore` leave the previous complete state when a write
  fails or the process is killed inside it.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import keras
import numpy as np
import pytest
from helpers_resume import REPO
from helpers_resume import history_rows
from helpers_resume import run_killed_then_resumed
from helpers_resume import subprocess_environment

from zoo import export
from zoo import training

SCRIPT = str(REPO / "tests" / "helpers_train_script.py")
EPOCHS = 6
TOLERANCE = 1e-6


def _weights(path):
    with np.load(path) as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]


def _max_difference(first, second):
    assert len(first) == len(second)
    return max(float(np.max(np.abs(a - b))) for a, b in zip(first, second))


def test_killed_run_resumes_and_matches_uninterrupted(tmp_path):
    environment = subprocess_environment()
    reference_dir = tmp_path / "uninterrupted"
    resumed_dir = tmp_path / "killed"
    # The uninterrupted reference runs alongside the killed run.
    reference = subprocess.Popen(
        [sys.executable, SCRIPT, "--output-dir", str(reference_dir),
         "--epochs", str(EPOCHS)],
        cwd=REPO, env=environment, stdout=subprocess.PIPE,
        stderr=subprocess.PIPE, text=True,
    )
    try:
        report = run_killed_then_resumed(
            [sys.executable, SCRIPT, "--output-dir", str(resumed_dir),
             "--epochs", str(EPOCHS), "--sleep", "0.05"],
            resumed_dir, kill_after_epoch=2, timeout=400,
            environment=environment,
        )
        _, stderr = reference.communicate(timeout=400)
    finally:
        if reference.poll() is None:
            reference.kill()
            reference.wait()
    assert reference.returncode == 0, stderr[-3000:]
    assert report.killed_returncode == -signal.SIGKILL

    # The rerun resumed at the last backed-up epoch and ran to the end.
    resumed_at = report.backed_up_epochs
    assert 2 <= resumed_at < EPOCHS
    metrics = json.loads((resumed_dir / "metrics.json").read_text())
    assert metrics["first_epoch_here"] == resumed_at
    assert metrics["epochs_run_here"] == EPOCHS - resumed_at
    assert not (resumed_dir / "backup").exists()  # Removed at the end.

    # history.csv continues (a row for the epoch the kill interrupted can
    # appear twice when the kill fell between its CSV row and its backup).
    epochs = [int(row["epoch"]) for row in report.rows_after_resume]
    assert epochs[:resumed_at] == list(range(resumed_at))
    assert epochs[-(EPOCHS - resumed_at):] == list(range(resumed_at, EPOCHS))
    assert len(epochs) - EPOCHS in (0, 1)

    # Same history, weights and metrics as the uninterrupted run.
    expected = {int(r["epoch"]): r for r in history_rows(reference_dir)}
    got = {int(r["epoch"]): r for r in report.rows_after_resume}
    assert sorted(got) == sorted(expected) == list(range(EPOCHS))
    for epoch, row in expected.items():
        for name, value in row.items():
            assert got[epoch][name] == pytest.approx(value, abs=TOLERANCE), (
                epoch, name,
            )
    for name in ("final.weights.npz", "last_epoch.weights.npz"):
        difference = _max_difference(
            _weights(reference_dir / name), _weights(resumed_dir / name)
        )
        print(f"resumed at epoch {resumed_at}: max |{name} difference| = "
              f"{difference:.3g}")
        assert difference <= TOLERANCE, (name, difference)
    reference_metrics = json.loads((reference_dir / "metrics.json").read_text())
    for name, value in reference_metrics["evaluation"].items():
        assert metrics["evaluation"][name] == pytest.approx(
            value, abs=TOLERANCE
        )
    keras.saving.load_model(resumed_dir / "best.keras", safe_mode=True)


# Atomic writers: a failure or a kill inside leaves the previous state.


def test_atomic_directory_failure_keeps_previous(tmp_path):
    target = tmp_path / "model" / "1"
    with export.atomic_directory(target) as folder:
        (folder / "saved_model.pb").write_text("old")
    with pytest.raises(RuntimeError, match="boom"):
        with export.atomic_directory(target, overwrite=True) as folder:
            (folder / "saved_model.pb").write_text("new, half writ")
            raise RuntimeError("boom")
    assert (target / "saved_model.pb").read_text() == "old"
    assert sorted(p.name for p in target.parent.iterdir()) == ["1"]


_KILLED_EXPORT = textwrap.dedent(
    """
    import importlib.util, sys, time
    spec = importlib.util.spec_from_file_location("export", sys.argv[1])
    export = importlib.util.module_from_spec(spec)
    sys.modules["export"] = export  # dataclasses look their module up
    spec.loader.exec_module(export)
    with export.atomic_directory(sys.argv[2], overwrite=True) as folder:
        (folder / "saved_model.pb").write_text("new, half writ")
        print("inside", flush=True)
        time.sleep(60)
    """
)


def test_atomic_directory_kill_keeps_previous(tmp_path):
    target = tmp_path / "model" / "1"
    with export.atomic_directory(target) as folder:
        (folder / "saved_model.pb").write_text("old")
    # `zoo.export` needs only the standard library: load it without TF.
    process = subprocess.Popen(
        [sys.executable, "-c", _KILLED_EXPORT,
         str(REPO / "zoo" / "export.py"), str(target)],
        stdout=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        assert process.stdout.readline().strip() == "inside"
        time.sleep(0.2)
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=30)
    assert (target / "saved_model.pb").read_text() == "old"
    assert export.versions(target.parent) == [1]
    # Only a hidden temporary is left, which servers and versions() ignore.
    leftovers = [p.name for p in target.parent.iterdir() if p.name != "1"]
    assert all(name.startswith(".tmp-1-") for name in leftovers)


def _tiny_model():
    import zoo

    model = zoo.build(
        "gru", vocabulary_size=20, embedding_dim=3, units=3, dropout=0.5
    )
    model.compile("adam", "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _tiny_data():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 20, size=(16, 5)).astype("int32")
    y = (x[:, 0] > 10).astype("int32")
    return x, y


class _Interrupt(keras.callbacks.Callback):
    def __init__(self, at_epoch):
        super().__init__()
        self.at_epoch = at_epoch

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == self.at_epoch:
            raise KeyboardInterrupt("simulated kill")


def test_checkpoint_failure_keeps_previous_best(tmp_path, monkeypatch):
    model = _tiny_model()
    x, y = _tiny_data()
    path = tmp_path / "best.keras"
    checkpoint = training.AtomicModelCheckpoint(path, "loss", "min")
    model.fit(x, y, epochs=1, callbacks=[checkpoint], verbose=0)
    before = path.read_bytes()

    def failing_save(filepath, *args, **kwargs):
        with open(filepath, "wb") as handle:
            handle.write(b"PK half a zip")
        raise KeyboardInterrupt("killed while saving")

    monkeypatch.setattr(model, "save", failing_save)
    checkpoint.best = float("inf")  # Any value improves: a save happens.
    with pytest.raises(KeyboardInterrupt):
        checkpoint.on_epoch_end(1, {"loss": 0.1})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["best.keras"]
    keras.saving.load_model(path, safe_mode=True)


def test_backup_failure_keeps_previous_backup(tmp_path, monkeypatch):
    x, y = _tiny_data()
    backup_dir = tmp_path / "backup"
    model = _tiny_model()
    backup = training.AtomicBackupAndRestore(backup_dir)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=5, callbacks=[backup, _Interrupt(2)],
                  verbose=0)
    assert training.AtomicBackupAndRestore.completed_epochs(backup_dir) == 2
    # Epoch 3's backup dies half-written: the epoch-2 backup stands.
    model = _tiny_model()
    original = model.save_weights

    def failing_save_weights(filepath, *args, **kwargs):
        with open(filepath, "wb") as handle:
            handle.write(b"\x89HDF\r\n half")
        raise KeyboardInterrupt("killed while saving")

    monkeypatch.setattr(model, "save_weights", failing_save_weights)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=5,
                  callbacks=[training.AtomicBackupAndRestore(backup_dir)],
                  verbose=0)
    monkeypatch.setattr(model, "save_weights", original)
    assert training.AtomicBackupAndRestore.completed_epochs(backup_dir) == 2
    history = _tiny_model().fit(
        x, y, epochs=5,
        callbacks=[training.AtomicBackupAndRestore(backup_dir)], verbose=0,
    )
    assert history.epoch == [2, 3, 4]
    assert not backup_dir.exists()


def test_backup_restores_optimizer_seed_and_callback_state(tmp_path):
    x, y = _tiny_data()
    model = _tiny_model()
    early_stopping = keras.callbacks.EarlyStopping(
        "loss", patience=10, restore_best_weights=True
    )
    checkpoint = training.AtomicModelCheckpoint(tmp_path / "best.keras",
                                                "loss", "min")
    backup = training.AtomicBackupAndRestore(
        tmp_path / "backup", callbacks=[checkpoint, early_stopping]
    )
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, epochs=4,
                  callbacks=[checkpoint, early_stopping, backup,
                             _Interrupt(2)], verbose=0)
    saved = {
        "iterations": int(model.optimizer.iterations.numpy()),
        "optimizer": [v.numpy() for v in model.optimizer.variables],
        "seeds": [v.numpy() for v in backup._seed_states()],
        "best": early_stopping.best,
        "best_epoch": early_stopping.best_epoch,
        "checkpoint_best": checkpoint.best,
    }
    assert saved["seeds"], "the dropout layers' seed states are backed up"

    class Capture(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.state = {
                "iterations": int(self.model.optimizer.iterations.numpy()),
                "optimizer": [
                    v.numpy() for v in self.model.optimizer.variables
                ],
                "seeds": [v.numpy() for v in backup2._seed_states()],
                "best": early_stopping2.best,
                "best_epoch": early_stopping2.best_epoch,
                "checkpoint_best": checkpoint2.best,
            }
            raise KeyboardInterrupt

    model2 = _tiny_model()
    early_stopping2 = keras.callbacks.EarlyStopping(
        "loss", patience=10, restore_best_weights=True
    )
    checkpoint2 = training.AtomicModelCheckpoint(tmp_path / "best.keras",
                                                 "loss", "min")
    backup2 = training.AtomicBackupAndRestore(
        tmp_path / "backup", callbacks=[checkpoint2, early_stopping2]
    )
    capture = Capture()
    with pytest.raises(KeyboardInterrupt):
        model2.fit(x, y, epochs=4,
                   callbacks=[checkpoint2, early_stopping2, backup2, capture],
                   verbose=0)
    got = capture.state
    assert got["iterations"] == saved["iterations"] > 0
    for a, b in zip(got["optimizer"], saved["optimizer"]):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(got["seeds"], saved["seeds"]):
        np.testing.assert_array_equal(a, b)
    assert got["best"] == pytest.approx(saved["best"])
    assert got["best_epoch"] == saved["best_epoch"]
    assert got["checkpoint_best"] == pytest.approx(saved["checkpoint_best"])
    assert early_stopping2.best_weights is not None


def test_standard_callbacks_back_up_last(tmp_path):
    callbacks = training.standard_callbacks(tmp_path, tensorboard=False)
    backup = callbacks[-1]
    assert isinstance(backup, training.AtomicBackupAndRestore)
    assert backup.backup_dir == str(tmp_path / "backup")
    kinds = {type(c) for c in backup.tracked_callbacks}
    assert kinds == {
        training.AtomicModelCheckpoint, keras.callbacks.EarlyStopping
    }
    names = [type(c).__name__ for c in training.standard_callbacks(
        tmp_path, backup=False, tensorboard=False)]
    assert "AtomicBackupAndRestore" not in names

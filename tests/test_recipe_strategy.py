"""`--strategy` in the recipes: one call, `zoo.distribute.fit_model`.

- Every recipe takes `--strategy {auto,default,mirrored,multi_worker}`
  (default auto) and stops with exit code 2 and a one-line message on an
  unreadable TF_CONFIG, before any data is read.
- `--strategy mirrored` trains with Keras' `fit` under `MirroredStrategy`
  (the model built in its scope) and exports.
- Two IMDB `--smoke` workers on 127.0.0.1 (a TF_CONFIG cluster, separate
  processes) train with the multi-worker loop and the standard callbacks
  to the end; only the chief writes metrics, history.csv, best.keras and
  the export, which loads and serves.
"""

import csv
import json
import socket
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from helpers_resume import REPO
from helpers_resume import subprocess_environment
from test_imdb_recipe import write_fake_acl_imdb

from recipes import connected_digits
from recipes import imdb
from recipes import spoken_digits

EPOCHS = 2


@pytest.mark.parametrize("recipe", [imdb, spoken_digits, connected_digits])
def test_recipes_take_strategy(recipe):
    assert recipe.parse_args([]).strategy == "auto"
    for name in ("default", "mirrored", "multi_worker"):
        assert recipe.parse_args(["--strategy", name]).strategy == name
    with pytest.raises(SystemExit):
        recipe.parse_args(["--strategy", "tpu"])


def test_unreadable_tf_config_exits_2(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv("TF_CONFIG", "{not json")
    for recipe in (imdb, spoken_digits, connected_digits):
        code = recipe.main(["--smoke", "--data", str(tmp_path / "none")])
        assert code == 2
        error = capsys.readouterr().err
        assert error.startswith(f"zoo train {recipe.TASK}: error: ")
        assert "TF_CONFIG" in error and "Traceback" not in error


def _arguments(source, root, name, *extra):
    return [
        "--smoke",
        "--data",
        str(source),
        "--data-dir",
        str(root / f"tfds_{name}"),
        "--output-dir",
        str(root / "run"),
        "--export",
        str(root / "saved_models"),
        "--epochs",
        str(EPOCHS),
        "--batch-size",
        "8",
        *extra,
    ]


def _serve(export_dir, texts):
    serve = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    return serve(text=tf.constant(texts))["probability"].numpy()


def test_imdb_under_mirrored_strategy(tmp_path, monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    source = write_fake_acl_imdb(tmp_path / "source")
    arguments = _arguments(source, tmp_path, "0", "--strategy", "mirrored")
    assert imdb.main(arguments) == 0
    history = (tmp_path / "run" / "history.csv").read_text().splitlines()
    assert len(history) == EPOCHS + 1  # Keras' fit and its callbacks.
    probability = _serve(tmp_path / "saved_models" / "imdb" / "1", ["good"])
    assert 0.0 <= probability[0] <= 1.0


def _free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    try:
        for handle in sockets:
            handle.bind(("127.0.0.1", 0))
        return [handle.getsockname()[1] for handle in sockets]
    finally:
        for handle in sockets:
            handle.close()


def test_imdb_on_two_workers_only_the_chief_writes(tmp_path):
    source = write_fake_acl_imdb(tmp_path / "source")
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    try:
        for index in range(2):
            environment = subprocess_environment()
            environment["TF_CONFIG"] = json.dumps(
                {
                    "cluster": {"worker": workers},
                    "task": {"type": "worker", "index": index},
                }
            )
            # Each worker prepares the data in its own folder, as on its
            # own machine; the run and export folders are shared.
            command = [sys.executable, "-m", "recipes.imdb"]
            command += _arguments(source, tmp_path, str(index))
            processes.append(
                subprocess.Popen(
                    command,
                    cwd=REPO,
                    env=environment,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.STDOUT,
                    text=True,
                )
            )
        logs = [process.communicate(timeout=300)[0] for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for process, log in zip(processes, logs):
        assert process.returncode == 0, log[-3000:]
    # The chief ran every epoch of the multi-worker loop (it alone prints)
    # and alone wrote results and the callbacks' files (history.csv,
    # best.keras); the other worker's temporary folders are gone.
    assert f"Epoch {EPOCHS}/{EPOCHS} (" in logs[0]
    run = tmp_path / "run"
    assert "exported " in logs[0] and "exported" not in logs[1]
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["training"]["epochs_run"] == EPOCHS
    assert tf.train.latest_checkpoint(str(run / "checkpoints")).endswith(
        f"-{EPOCHS}"
    )
    assert not list(run.rglob(".worker-*"))
    assert (run / "best.keras").exists()
    exports = tmp_path / "saved_models" / "imdb"
    assert sorted(p.name for p in exports.iterdir()) == ["1"]
    probabilities = _serve(exports / "1", ["great", "awful", ""])
    assert probabilities.shape == (3,) and np.all(np.isfinite(probabilities))
    # The chief evaluated the best epoch's weights (early stopping restores
    # them, as with Keras' fit).
    with open(run / "history.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == EPOCHS
    best = max(float(row["val_accuracy"]) for row in rows)
    assert metrics["metrics"]["validation"]["accuracy"] == pytest.approx(
        best, abs=1e-6
    )

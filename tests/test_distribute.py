"""`zoo.distribute`: strategies by name, and the custom distributed loop.

The heart: two `MultiWorkerMirroredStrategy` workers on 127.0.0.1 (CPU,
separate processes, a TF_CONFIG cluster) train a tiny zoo model to the end;
both hold the same final weights, and they match a one-worker run on the
same global batches to 1e-5 (the all-reduce sums two half-batch gradients
where one worker computes one full-batch gradient: same maths, another
order of float additions).
"""

import argparse
import json
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers_resume import REPO
from helpers_resume import subprocess_environment

from zoo import distribute

SCRIPT = str(REPO / "tests" / "helpers_distribute_script.py")
TOLERANCE = 1e-5


def test_strategy_from_name(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    default = tf.distribute.get_strategy()
    assert distribute.strategy_from_name("default") is default
    assert distribute.strategy_from_name("auto") is default
    mirrored = distribute.strategy_from_name("mirrored")
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    assert distribute.is_chief(mirrored)
    with pytest.raises(ValueError, match="`strategy`.*'mirorred'"):
        distribute.strategy_from_name("mirorred")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.strategy_from_name("auto")


def test_add_strategy_argument():
    parser = argparse.ArgumentParser()
    distribute.add_strategy_argument(parser.add_argument_group("Training"))
    assert parser.parse_args([]).strategy == "auto"
    assert parser.parse_args(["--strategy", "multi_worker"]).strategy == (
        "multi_worker"
    )
    with pytest.raises(SystemExit):
        parser.parse_args(["--strategy", "tpu"])


def _data():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 20, size=(24, 5)).astype("int32")
    y = (x[:, 0] > 10).astype("int32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(8)


def _fit(checkpoint_dir, epochs):
    import zoo

    keras.utils.set_random_seed(3)
    return distribute.fit_distributed(
        lambda: zoo.build("gru", vocabulary_size=20, embedding_dim=3, units=3),
        keras.losses.SparseCategoricalCrossentropy(),
        _data(),
        _data().take(1),
        strategy=tf.distribute.get_strategy(),
        epochs=epochs,
        checkpoint_dir=checkpoint_dir,
        optimizer_fn=lambda: keras.optimizers.Adam(0.05),
        metrics={"accuracy": "sparse_categorical_accuracy"},
        verbose=False,
    )


def test_fit_distributed_resumes_from_its_checkpoint(tmp_path):
    straight, history = _fit(tmp_path / "straight", epochs=3)
    assert sorted(history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert len(history["loss"]) == 3 and history["loss"][-1] < history[
        "loss"][0]
    _fit(tmp_path / "resumed", epochs=2)  # Then "killed".
    resumed, resumed_history = _fit(tmp_path / "resumed", epochs=3)
    for name, values in history.items():
        np.testing.assert_allclose(resumed_history[name], values, atol=1e-6)
    for a, b in zip(straight.get_weights(), resumed.get_weights()):
        np.testing.assert_allclose(a, b, atol=1e-6)


def test_fit_distributed_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="`epochs`.*0"):
        distribute.fit_distributed(
            lambda: None, "mse", _data(), strategy=tf.distribute.get_strategy(),
            epochs=0, checkpoint_dir=tmp_path, optimizer_fn=lambda: None,
        )
    with pytest.raises(ValueError, match="`loss`.*'mean_squared_eror'"):
        distribute.fit_distributed(
            lambda: None, "mean_squared_eror", _data(),
            strategy=tf.distribute.get_strategy(), epochs=1,
            checkpoint_dir=tmp_path, optimizer_fn=lambda: None,
        )
    with pytest.raises(ValueError, match="`accuracy`.*'acuracy'"):
        distribute.fit_distributed(
            lambda: None, "mse", _data(), strategy=tf.distribute.get_strategy(),
            epochs=1, checkpoint_dir=tmp_path, optimizer_fn=lambda: None,
            metrics={"accuracy": "acuracy"},
        )


def _free_ports(count):
    sockets = []
    try:
        for _ in range(count):
            handle = socket.socket()
            handle.bind(("127.0.0.1", 0))
            sockets.append(handle)
        return [handle.getsockname()[1] for handle in sockets]
    finally:
        for handle in sockets:
            handle.close()


def _weights(path):
    with np.load(path) as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]


def _max_difference(first, second):
    return max(float(np.max(np.abs(a - b))) for a, b in zip(first, second))


def test_two_workers_agree_and_match_one_worker(tmp_path):
    epochs = "3"
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    try:
        for index in range(2):
            environment = subprocess_environment()
            environment["PYTHONPATH"] += ":" + str(REPO / "tests")
            environment["TF_CONFIG"] = json.dumps({
                "cluster": {"worker": workers},
                "task": {"type": "worker", "index": index},
            })
            processes.append(subprocess.Popen(
                [sys.executable, SCRIPT, "--output-dir", str(tmp_path / "mw"),
                 "--strategy", "multi_worker", "--epochs", epochs],
                cwd=REPO, env=environment, stdout=subprocess.PIPE,
                stderr=subprocess.PIPE, text=True,
            ))
        environment = subprocess_environment()
        environment["PYTHONPATH"] += ":" + str(REPO / "tests")
        environment.pop("TF_CONFIG", None)
        processes.append(subprocess.Popen(
            [sys.executable, SCRIPT, "--output-dir", str(tmp_path / "one"),
             "--strategy", "default", "--epochs", epochs],
            cwd=REPO, env=environment, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True,
        ))
        outputs = [process.communicate(timeout=500) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-3000:]

    results = [
        json.loads((tmp_path / "mw" / f"result-worker-{i}.json").read_text())
        for i in range(2)
    ]
    assert [r["chief"] for r in results] == [True, False]
    assert all(r["replicas"] == 2 for r in results)
    single = json.loads((tmp_path / "one" / "result-single.json").read_text())
    # Only the chief keeps checkpoints; the other worker's are removed.
    checkpoints = tmp_path / "mw" / "checkpoints"
    assert tf.train.latest_checkpoint(str(checkpoints)).endswith("-3")
    assert not list(checkpoints.glob(".worker-*"))

    worker_weights = [
        _weights(tmp_path / "mw" / f"weights-worker-{i}.npz") for i in range(2)
    ]
    single_weights = _weights(tmp_path / "one" / "weights-single.npz")
    between_workers = _max_difference(*worker_weights)
    against_single = _max_difference(worker_weights[0], single_weights)
    print(f"max |w0 - w1| = {between_workers:.3g}, "
          f"max |w0 - single| = {against_single:.3g}")
    assert between_workers == 0.0
    assert against_single <= TOLERANCE
    assert results[0]["history"] == results[1]["history"]
    for name, values in single["history"].items():
        np.testing.assert_allclose(
            results[0]["history"][name], values, atol=TOLERANCE
        )

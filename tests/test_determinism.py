"""Same seed, same data, same machine -> same metrics and weights.

With `keras.utils.set_random_seed` and TensorFlow op determinism, training
a small zoo model (with dropout, so the seed generators matter) twice gives
bit-identical histories and weights: in one process with the seeds reset,
and in two fresh processes.
"""

import json
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers_resume import REPO
from helpers_resume import subprocess_environment

import zoo


@pytest.fixture
def op_determinism():
    # Op determinism is process-wide: switch it back off for other tests
    # (TF has no public `disable`; this is the function it exports to v1).
    from tensorflow.python.framework import config as framework_config

    was_enabled = framework_config.is_op_determinism_enabled()
    tf.config.experimental.enable_op_determinism()
    yield
    if not was_enabled:
        framework_config.disable_op_determinism()


def _train(seed):
    keras.utils.set_random_seed(seed)
    rng = np.random.default_rng(seed)
    x = rng.integers(1, 30, size=(24, 6)).astype("int32")
    x[::3, 4:] = 0  # Right padding.
    y = (x[:, 0] > 15).astype("int32")
    model = zoo.build(
        "lstm", vocabulary_size=30, embedding_dim=4, units=4, dropout=0.3,
    )
    model.compile(keras.optimizers.Adam(0.01),
                  "sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(x, y, batch_size=8, epochs=2, validation_split=0.25,
                        verbose=0)
    return history.history, model.get_weights()


def test_same_seed_same_result_in_process(op_determinism):
    first_history, first_weights = _train(5)
    second_history, second_weights = _train(5)
    assert first_history == second_history
    for a, b in zip(first_weights, second_weights):
        np.testing.assert_array_equal(a, b)
    _, other_weights = _train(6)
    assert not np.array_equal(other_weights[0], first_weights[0])


@pytest.mark.slow
def test_same_seed_same_result_in_fresh_processes(tmp_path):
    script = str(REPO / "tests" / "helpers_train_script.py")
    processes = [
        subprocess.Popen(
            [sys.executable, script, "--output-dir", str(tmp_path / name),
             "--epochs", "3"],
            cwd=REPO, env=subprocess_environment(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for name in ("first", "second")
    ]
    try:
        outputs = [process.communicate(timeout=400) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-3000:]
    metrics = [
        json.loads((tmp_path / name / "metrics.json").read_text())
        for name in ("first", "second")
    ]
    assert metrics[0]["evaluation"] == metrics[1]["evaluation"]
    histories = [
        (tmp_path / name / "history.csv").read_text()
        for name in ("first", "second")
    ]
    assert histories[0] == histories[1]
    for name in ("final.weights.npz", "last_epoch.weights.npz"):
        with np.load(tmp_path / "first" / name) as a, np.load(
            tmp_path / "second" / name
        ) as b:
            for key in a.files:
                np.testing.assert_array_equal(a[key], b[key])

"""A recipe killed mid-training resumes and ends as an uninterrupted run.

`python -m recipes.imdb --smoke` (4 epochs of 6 batches, on a tiny fake
aclImdb written here) is SIGKILLed as soon as its backup holds one
completed epoch, then rerun with the same command and output folder. The
rerun must resume from the backup (its first epoch is the one after the
backup, not epoch 1) and end with the validation metrics and exported
probabilities of an uninterrupted run with the same seed, to `TOLERANCE`;
its export must exist and load. The uninterrupted run runs alongside the
killed one. Marked slow: five TensorFlow process starts (the killed run,
the rerun, the reference, and the two exports' fresh-process checks) make
it take about a minute on 2 busy CPU cores. With the recipe's old
`shuffle(512, seed=seed)` it fails: the resumed epochs see other batches
(validation accuracy 0.25 off).
"""

import json
import re
import signal
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from helpers_resume import REPO
from helpers_resume import run_killed_then_resumed
from helpers_resume import subprocess_environment
from test_imdb_recipe import write_fake_acl_imdb

EPOCHS = 4
# Same seed, same machine: the runs agree to float rounding (measured: 0).
TOLERANCE = 1e-6
PROBES = ["a great and moving film", "dull, awful and boring", ""]


def _command(source, root, name):
    return [
        sys.executable,
        "-m",
        "recipes.imdb",
        "--smoke",
        "--data",
        str(source),
        "--data-dir",
        str(root / f"tfds_{name}"),
        "--output-dir",
        str(root / name),
        "--export",
        str(root / name / "saved_models"),
        "--epochs",
        str(EPOCHS),
        "--batch-size",
        "8",
        "--seed",
        "5",
    ]


def _probabilities(export_dir):
    serve = tf.saved_model.load(str(export_dir)).signatures["serving_default"]
    return serve(text=tf.constant(PROBES))["probability"].numpy()


@pytest.mark.slow
def test_killed_imdb_recipe_resumes_and_matches_uninterrupted(tmp_path):
    source = write_fake_acl_imdb(tmp_path / "source")
    environment = subprocess_environment()
    reference = subprocess.Popen(
        _command(source, tmp_path, "uninterrupted"),
        cwd=REPO,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        report = run_killed_then_resumed(
            _command(source, tmp_path, "killed"),
            tmp_path / "killed",
            kill_after_epoch=1,
            timeout=300,
            environment=environment,
        )
        reference_log, _ = reference.communicate(timeout=300)
    finally:
        if reference.poll() is None:
            reference.kill()
            reference.wait()
    assert reference.returncode == 0, reference_log[-3000:]
    assert report.killed_returncode == -signal.SIGKILL

    # Resumed from the backup, not from scratch: the rerun's first epoch is
    # the one after the last backed-up epoch.
    resumed_at = report.backed_up_epochs
    assert 1 <= resumed_at < EPOCHS
    log = report.resumed.stdout + report.resumed.stderr
    epochs_run = [int(n) for n in re.findall(rf"Epoch (\d+)/{EPOCHS}", log)]
    assert epochs_run == list(range(resumed_at + 1, EPOCHS + 1)), log[-2000:]
    assert not (tmp_path / "killed" / "backup").exists()  # Removed at end.

    # The same final metrics and exported model as the uninterrupted run.
    metrics = {
        name: json.loads((tmp_path / name / "metrics.json").read_text())
        for name in ("uninterrupted", "killed")
    }
    expected = metrics["uninterrupted"]["metrics"]["validation"]
    got = metrics["killed"]["metrics"]["validation"]
    # The scalar figures (accuracy, loss); the calibration figures follow
    # from the same logits, and the exports' probabilities are compared.
    differences = {
        key: abs(got[key] - expected[key])
        for key in expected
        if isinstance(expected[key], float)
    }
    exports = {
        name: tmp_path / name / "saved_models" / "imdb" / "1"
        for name in metrics
    }
    assert exports["killed"].is_dir(), "the resumed run exported nothing"
    probabilities = {name: _probabilities(exports[name]) for name in exports}
    differences["probability"] = float(
        np.max(np.abs(probabilities["killed"] - probabilities["uninterrupted"]))
    )
    print(f"killed after epoch {resumed_at}; differences: {differences}")
    for key, difference in differences.items():
        assert difference <= TOLERANCE, (key, differences)
    assert got["accuracy"] == pytest.approx(expected["accuracy"], abs=0)

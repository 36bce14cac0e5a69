"""Every recipe trains under KERAS_BACKEND=jax and exports the same contract.

`KERAS_BACKEND=jax zoo train TASK --smoke` on tiny fake data (the fixtures
of tests/test_imdb_recipe.py and tests/test_speech_recipes.py): the run
trains under JAX, the export step runs in a TensorFlow child that checks
the served outputs against the JAX model's own (recipes/export_step.py),
and the SavedModel loads in a process without `zoo` (both loaders, inside
the export) and in a TF1 session through `saved_model_cli run`.
"""

import json
import os
import subprocess

import numpy as np
import pytest
from helpers_resume import subprocess_environment
from helpers_saved_model_cli import saved_model_cli_run
from helpers_zoo_command import zoo_command
from test_imdb_recipe import write_fake_acl_imdb
from test_speech_recipes import tone

from zoo.data.audio import write_wav

pytest.importorskip("jax")


def train_under_jax(task, tmp_path, *arguments):
    """`KERAS_BACKEND=jax zoo train TASK --smoke ...`; metrics.json."""
    environment = {**subprocess_environment(), "KERAS_BACKEND": "jax"}
    result = subprocess.run(
        [
            zoo_command(),
            "train",
            task,
            "--smoke",
            "--output-dir",
            str(tmp_path / "run"),
            "--export",
            str(tmp_path / "models"),
            "--data-dir",
            str(tmp_path / "tfds"),
            *map(str, arguments),
        ],
        capture_output=True,
        text=True,
        timeout=900,
        env=environment,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["run"]["keras_backend"] == "jax"
    assert metrics["export"].endswith("/1")
    # The export step's scratch files are gone.
    assert not list((tmp_path / "run").glob("export_*"))
    return metrics


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fsdd") / "recordings"
    folder.mkdir()
    for speaker_index, speaker in enumerate(("george", "jackson", "theo")):
        for digit in range(10):
            for take in (0, 5):
                write_wav(
                    folder / f"{digit}_{speaker}_{take}.wav",
                    tone(digit, speaker_index, take),
                )
    return folder


def test_imdb_trains_under_jax_and_exports_raw_text(tmp_path):
    source = write_fake_acl_imdb(tmp_path / "source")
    metrics = train_under_jax("imdb", tmp_path, "--data", source)
    assert 0.0 <= metrics["metrics"]["validation"]["accuracy"] <= 1.0
    output = saved_model_cli_run(
        metrics["export"], 'text=["A wonderful film!", ""]'
    )
    assert "output key label" in output and "output key probability" in output


@pytest.mark.parametrize("task", ["spoken-digits", "connected-digits"])
def test_speech_recipes_train_under_jax_and_export_raw_audio(
    task, recordings, tmp_path
):
    metrics = train_under_jax(
        task, tmp_path, "--data", recordings, "--batch-size", "4"
    )
    audio = np.zeros((2, 4000), np.float32)
    audio[0, :2400] = tone(3, 0, 9)
    np.save(tmp_path / "audio.npy", audio)
    output = saved_model_cli_run(
        metrics["export"], f"audio={tmp_path / 'audio.npy'}", flag="--inputs"
    )
    names = ("digit",) if task == "spoken-digits" else ("digits", "logits")
    for name in names:
        assert f"output key {name}" in output, output


def test_other_strategies_need_tensorflow(tmp_path):
    environment = {**subprocess_environment(), "KERAS_BACKEND": "jax"}
    result = subprocess.run(
        [
            zoo_command(),
            "train",
            "imdb",
            "--smoke",
            "--strategy",
            "mirrored",
            "--output-dir",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
    )
    assert result.returncode == 2
    assert "needs KERAS_BACKEND=tensorflow" in result.stderr
    assert os.listdir(tmp_path) == []

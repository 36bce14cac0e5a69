"""The shipped models in saved_models/ run as TF Serving runs them.

Each model folder's latest version is run by `saved_model_cli run` (a TF1
session restoring the checkpoint, like TF Serving's C++ loader), and its
model card keeps the figures and the command that produced them.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from helpers_saved_model_cli import saved_model_cli_run

from zoo import export

SHIPPED = Path(__file__).resolve().parents[1] / "saved_models"
OUTPUTS = {
    "imdb": ("label", "probability"),
    "spoken_digits": ("digit", "probabilities"),
    "connected_digits": ("digits", "logits", "logits_lengths"),
}


def latest(name: str) -> Path:
    folders = export.version_folders(SHIPPED / name)
    assert folders, f"no complete version under saved_models/{name}"
    return folders[max(folders)]


def test_every_shipped_model_is_covered():
    names = sorted(p.name for p in SHIPPED.iterdir() if p.is_dir())
    assert names == sorted(OUTPUTS)


@pytest.mark.parametrize("name", sorted(OUTPUTS))
def test_shipped_model_runs_in_a_tf1_session(name, tmp_path):
    folder = latest(name)
    if name == "imdb":
        output = saved_model_cli_run(folder, 'text=["A wonderful film!", ""]')
    else:
        audio = tmp_path / "audio.npy"
        time = np.arange(6000) / 8000
        np.save(audio, (0.3 * np.sin(2 * np.pi * 440 * time))[None])
        output = saved_model_cli_run(folder, f"audio={audio}", flag="--inputs")
    for key in OUTPUTS[name]:
        assert f"Result for output key {key}:" in output
    card = json.loads((folder / "assets.extra" / "model_card.json").read_text())
    assert card["version"] == int(folder.name)
    assert card["command"] and card["git_commit"] and card["name"] == name


def test_latency_bench_times_the_shipped_spoken_digits_model(capsys):
    from bench import saved_model_latency

    assert saved_model_latency.main([str(latest("spoken_digits"))]) == 0
    table = capsys.readouterr().out
    assert "| 1 x 1 s | 32 x 1 s |" in table and " ms |" in table

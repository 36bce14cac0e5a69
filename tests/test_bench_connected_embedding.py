"""bench.connected_speech_embedding on a tiny fake FSDD: it runs, scores
the held-out speaker, and writes its results."""

import json

import numpy as np

from bench import connected_speech_embedding
from zoo.data.audio import write_wav


def test_tiny_run_writes_der_for_the_held_out_speaker(tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for speaker in ("george", "jackson", "theo"):
        for digit in range(10):
            for take in range(2):
                time = np.arange(2400) / 8000
                tone = np.sin(2 * np.pi * (300 + 60 * digit) * time)
                audio = 0.3 * tone + rng.normal(0, 0.01, time.size)
                write_wav(
                    folder / f"{digit}_{speaker}_{take}.wav",
                    audio.astype(np.float32),
                )
    argv = [str(folder), "--data-dir", str(tmp_path / "tfds")]
    argv += ["--train-utterances", "8", "--test-utterances", "4"]
    argv += ["--epochs", "1", "--model-args", '{"units": 4}', "--margin", "0"]
    argv += ["--results-dir", str(tmp_path / "out"), "--name", "tiny"]
    assert connected_speech_embedding.main(argv) == 0
    run = json.loads((tmp_path / "out" / "tiny.json").read_text())
    assert run["meta"]["holdout_speakers"] == "theo"
    assert run["meta"]["margin"] == 0 and len(run["history"]) == 1
    for strategy in ("greedy", "beam_search"):
        assert 0.0 <= run["test"][f"{strategy}_digit_error_rate"]
    assert "digit error rate" in (tmp_path / "out" / "tiny.md").read_text()

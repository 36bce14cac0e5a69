"""bench.connected_speech_embedding on a tiny fake FSDD: it runs, scores
the held-out speaker, writes its results, reuses its embedding cache and
saves the model the connected-digit recipe exports."""

import json
import warnings

import keras
import numpy as np
import pytest

from bench import connected_speech_embedding
from zoo.data.audio import write_wav
from zoo.data.errors import DataError
from zoo.speech_embedding import standardisation


def write_recordings(tmp_path):
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
    return folder


def tiny_argv(folder, tmp_path, margin=0):
    argv = [str(folder), "--data-dir", str(tmp_path / "tfds")]
    argv += ["--train-utterances", "8", "--test-utterances", "4"]
    argv += ["--epochs", "1", "--model-args", '{"units": 4}']
    argv += ["--margin", str(margin)]
    return argv + ["--results-dir", str(tmp_path / "out"), "--name", "tiny"]


def write_synthetic(tmp_path):
    """Two "synthetic" digits in zoo.data.synthetic_digits' layout."""
    path = tmp_path / "synthetic.npz"
    time = np.arange(2000) / 8000
    tone = 0.3 * np.sin(2 * np.pi * 500 * time)
    np.savez(
        path,
        samples=(tone * 32767).astype(np.int16),
        offsets=np.array([0, 1000, 2000]),
        digits=np.array([0, 1]),
        speakers=np.array(["flite:slt", "espeak-ng:en-us+f3"]),
        indexes=np.arange(2),
    )
    return path


def test_tiny_run_writes_der_for_the_held_out_speaker(tmp_path):
    argv = tiny_argv(write_recordings(tmp_path), tmp_path)
    argv += ["--synthetic", str(write_synthetic(tmp_path))]
    assert connected_speech_embedding.main(argv) == 0
    run = json.loads((tmp_path / "out" / "tiny.json").read_text())
    assert run["meta"]["holdout_speakers"] == "theo"
    # As many synthetic training utterances as real ones, by default.
    assert run["meta"]["synthetic_utterances"] == 8
    assert run["meta"]["margin"] == 0 and len(run["history"]) == 1
    for strategy in ("greedy", "beam_search"):
        assert 0.0 <= run["test"][f"{strategy}_digit_error_rate"]
    assert "digit error rate" in (tmp_path / "out" / "tiny.md").read_text()


def test_features_cache_and_the_saved_recipe_model(tmp_path, monkeypatch):
    folder = write_recordings(tmp_path)
    cache, run = tmp_path / "features.npz", tmp_path / "run"
    argv = tiny_argv(folder, tmp_path) + ["--features-cache", str(cache)]
    saving = [*argv, "--save-model", str(run)]
    assert connected_speech_embedding.main(saving) == 0
    saved = run / "best.keras"
    record = json.loads((run / "metrics.json").read_text())
    assert "--save-model" in record["run"]["command"]
    assert not list(tmp_path.rglob("*.partial*"))
    with np.load(cache) as cached:
        mean, scale = standardisation(cached["train_vectors"])

    # Saved models scored again, alone and averaged (one model twice
    # averages to itself).
    scoring = [*argv, "--evaluate", str(saved), str(saved), "--name", "avg"]
    assert connected_speech_embedding.main(scoring) == 0
    rows = json.loads((tmp_path / "out" / "avg.json").read_text())["rows"]
    assert len(rows) == 3
    for key in (
        "validation_greedy_digit_error_rate",
        "test_greedy_digit_error_rate",
    ):
        assert rows[2][key] == rows[0][key]
    with pytest.raises(DataError, match="not trained on this corpus"):
        connected_speech_embedding.main(
            [*tiny_argv(folder, tmp_path, margin=400), "--evaluate", str(saved)]
        )

    # The same corpus again: the cache answers, nothing is embedded; with
    # synthetic voices added, only they are.
    embedded, real_embed = [], connected_speech_embedding.embed

    def counting_embed(front_end, audio, batch_size):
        embedded.append(len(audio))
        return real_embed(front_end, audio, batch_size)

    monkeypatch.setattr(connected_speech_embedding, "embed", counting_embed)
    assert connected_speech_embedding.main(argv) == 0
    assert embedded == []
    synthetic = ["--synthetic", str(write_synthetic(tmp_path))]
    synthetic += ["--synthetic-utterances", "3"]
    assert connected_speech_embedding.main([*argv, *synthetic]) == 0
    assert embedded == [3]
    # Another margin is another corpus: every split embedded afresh.
    other = tiny_argv(folder, tmp_path, margin=400)
    assert (
        connected_speech_embedding.main(
            [*other, "--features-cache", str(cache)]
        )
        == 0
    )
    assert embedded == [3, 8, 2, 4]

    # The recipe's checkpoint: audio -> the front end, standardised on the
    # cached training embeddings -> the trained encoder, compiled.
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # e.g. an optimizer state skipped
        model = keras.saving.load_model(saved)
    assert int(model.optimizer.iterations) > 0  # trained on from here
    front_end = model.get_layer("front_end")
    assert front_end.margin == 0
    np.testing.assert_allclose(front_end.feature_mean.numpy(), mean, rtol=1e-6)
    np.testing.assert_allclose(
        front_end.feature_scale.numpy(), scale, rtol=1e-6
    )
    assert model.layers[-1].name == "bidirectional_gru"
    assert model.loss.name == "ctc" and model.optimizer is not None
    logits = model.predict_on_batch(np.zeros((1, 4000), np.float32) + 0.1)
    assert logits.shape[-1] == 11

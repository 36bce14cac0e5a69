"""bench/speaker_independent_arrays.py: packing, splits and augmentation
(the numpy side; the training itself is a benchmark, not a test)."""

import argparse
import json
from pathlib import Path

import numpy as np
import pytest

from bench import speaker_independent_arrays as arrays
from zoo.data.audio import write_wav


def test_pack_load_and_split(tmp_path):
    folder = tmp_path / "recordings"
    folder.mkdir()
    rng = np.random.default_rng(0)
    written = {}
    for speaker in ("ann", "bob"):
        for digit in range(3):
            for index in range(2):
                samples = rng.integers(-3000, 3000, 400 + 10 * digit, np.int16)
                write_wav(folder / f"{digit}_{speaker}_{index}.wav", samples)
                written[(digit, speaker, index)] = samples
    (folder / "notes.wav").write_bytes(b"ignored: not DIGIT_SPEAKER_INDEX")
    summary = arrays.pack(str(folder), str(tmp_path / "fsdd.npz"))
    assert summary == {"recordings": 12, "max_samples": 420}
    data = arrays.load(str(tmp_path / "fsdd.npz"))
    assert len(data["audio"]) == 12
    first = written[(0, "ann", 0)].astype(np.float32) / 32768
    np.testing.assert_array_equal(data["audio"][0], first)
    args = argparse.Namespace(seed=1, limit=None)
    train, validation, test = arrays.split(data, "bob", args)
    assert set(data["speakers"][test]) == {"bob"}
    assert set(data["speakers"][np.concatenate([train, validation])]) == {"ann"}
    assert len(train) + len(validation) == 6


def test_pack_rejects_wrong_format_and_empty_sources(tmp_path):
    write_wav(tmp_path / "1_ann_0.wav", np.zeros(100, np.int16), 16000)
    with pytest.raises(ValueError, match="1_ann_0.wav: not 8 kHz"):
        arrays.pack(str(tmp_path), str(tmp_path / "out.npz"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(ValueError, match="no DIGIT_SPEAKER_INDEX"):
        arrays.pack(str(empty), str(tmp_path / "out.npz"))


def test_augment_and_padding():
    rng = np.random.default_rng(0)
    audio = np.sin(np.arange(4000) / 5).astype(np.float32) * 0.5
    lengths = set()
    for _ in range(20):
        out = arrays.augment(audio, rng, speed=0.15)
        assert out.dtype == np.float32 and np.all(np.abs(out) <= 1)
        # speed ±15 % and a shift of at most 100 ms
        assert 4000 / 1.15 - 1 <= len(out) <= 4000 / 0.85 + 801
        lengths.add(len(out))
    assert len(lengths) > 1
    batch = arrays.padded([audio[:10], np.zeros(3, np.float32)], 6)
    assert batch.shape == (2, 6)
    np.testing.assert_array_equal(batch[0], audio[:6])
    # A trailing zero would shorten the valid length: it is nudged.
    assert batch[1, 2] != 0 and not batch[1, 3:].any()


def pack_noise(tmp_path, *, digits: int, takes: int, samples: int) -> None:
    """tmp_path/real.npz: speakers ann and bob, noise recordings."""
    folder = tmp_path / "recordings"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for speaker in ("ann", "bob"):
        for digit in range(digits):
            for take in range(takes):
                noise = rng.integers(-3000, 3000, samples, np.int16)
                write_wav(folder / f"{digit}_{speaker}_{take}.wav", noise)
    arrays.pack(str(folder), str(tmp_path / "real.npz"))


def test_synthetic_utterances_only_join_training(tmp_path):
    pack_noise(tmp_path, digits=2, takes=5, samples=300)
    rng = np.random.default_rng(1)
    synthetic = tmp_path / "synthetic.npz"
    np.savez(
        synthetic,
        samples=rng.integers(-3000, 3000, 600, np.int16),
        offsets=np.array([0, 200, 400, 600]),
        digits=np.array([0, 1, 0]),
        speakers=np.array(["espeak-ng:en-us", "flite:slt", "flite:awb"]),
        indexes=np.arange(3),
    )
    data = arrays.add_synthetic(
        arrays.load(str(tmp_path / "real.npz")), str(synthetic), 2
    )
    assert len(data["digits"]) == 22 and data["synthetic"].sum() == 2
    args = argparse.Namespace(seed=1, limit=None)
    train, validation, test = arrays.split(data, "bob", args)
    assert set(np.flatnonzero(data["synthetic"])) <= set(train)
    assert not data["synthetic"][validation].any()
    assert set(data["speakers"][test]) == {"bob"}
    with pytest.raises(ValueError, match="has 3"):
        arrays.add_synthetic(data, str(synthetic), 4)


def test_averaging_runs_averages_their_test_probabilities(tmp_path):
    from bench import loso_levers

    digits = [0, 1, 2]

    def run(name, probabilities, stored=True):
        fold = {"speaker": "ann", "test_accuracy": 0.0, "training_s": 1.0}
        if stored:
            rows = np.asarray(probabilities).tolist()
            fold |= {"test_digits": digits, "test_probabilities": rows}
        meta = {"command": name, "date": "d", "epochs": 1}
        path = tmp_path / f"{name}.json"
        path.write_text(json.dumps({"meta": meta, "folds": [fold]}))
        return str(path)

    eye = np.eye(10)
    # Each run is right on two of three recordings, wrong on a different one;
    # their mean is right on all three.
    first = run("a", [eye[0] * 0.9, eye[1] * 0.9, eye[5] * 0.6 + eye[2] * 0.4])
    second = run("b", [eye[7] * 0.6 + eye[0] * 0.4, eye[1], eye[2]])
    label, averaged = loso_levers._load(f"both={first}+{second}")
    assert label == "both"
    assert averaged["folds"][0]["test_accuracy"] == 1.0
    assert np.trace(averaged["folds"][0]["confusion"]) == 3
    assert averaged["meta"]["command"] == "a ; b"
    old = run("old", None, stored=False)
    with pytest.raises(SystemExit, match="'old' stored no test probabilities"):
        loso_levers._load(f"x={first}+{old}")
    # --json writes the average as a run, which averages again.
    written = tmp_path / "both.json"
    assert (
        loso_levers.main([f"both={first}+{second}", "--json", str(written)])
        == 0
    )
    again = json.loads(written.read_text())
    assert again["folds"][0]["test_accuracy"] == 1.0
    _, thrice = loso_levers._load(f"t={written}+{first}")
    a = np.asarray(
        json.loads(Path(first).read_text())["folds"][0]["test_probabilities"]
    )
    b = np.asarray(
        json.loads(Path(second).read_text())["folds"][0]["test_probabilities"]
    )
    np.testing.assert_allclose(
        thrice["folds"][0]["test_probabilities"], ((a + b) / 2 + a) / 2
    )
    other = run("other", [eye[0], eye[1], eye[2]])
    shuffled = json.loads(Path(other).read_text())
    shuffled["folds"][0]["test_digits"] = [1, 0, 2]
    Path(other).write_text(json.dumps(shuffled))
    with pytest.raises(SystemExit, match="test other recordings"):
        loso_levers._load(f"x={first}+{other}")


def test_pretraining_needs_synthetic_voices(tmp_path, capsys):
    folder = tmp_path / "recordings"
    folder.mkdir()
    for speaker in ("ann", "bob"):
        for digit in range(2):
            samples = np.full(300, 1000, np.int16)
            write_wav(folder / f"{digit}_{speaker}_0.wav", samples)
    arrays.pack(str(folder), str(tmp_path / "real.npz"))
    code = arrays.main(
        [
            "run",
            str(tmp_path / "real.npz"),
            "--speakers",
            "bob",
            "--pretrain-epochs",
            "2",
        ]
    )
    assert code == 2
    assert "--pretrain-epochs needs --synthetic" in capsys.readouterr().out


def test_cepstra_option_feeds_mfccs_to_the_encoder():
    args = arrays.parse_args(
        ["run", "unused.npz", "--cepstra", "13", "--no-spec-augment"]
    )
    args.train_size, args.pretrain_size = 64, 0
    model, trainer = arrays.build_model(args)
    assert trainer is model
    assert model.get_layer("front_end").feature_dim == 13
    audio = np.random.default_rng(0).normal(0, 0.1, (2, 4000))
    assert tuple(model.predict(audio.astype(np.float32), verbose=0).shape) == (
        2,
        10,
    )


def test_normalization_option_reaches_the_front_end():
    args = arrays.parse_args(
        ["run", "unused.npz", "--normalization", "mean", "--no-spec-augment"]
    )
    args.train_size, args.pretrain_size = 64, 0
    model, _ = arrays.build_model(args)
    assert model.get_layer("front_end").normalization == "mean"
    with pytest.raises(SystemExit):
        arrays.parse_args(["run", "unused.npz", "--normalization", "cmvn"])


def test_resampled_and_speeds():
    ramp = np.arange(1000, dtype=np.float32)
    assert len(arrays.resampled(ramp, 1.25)) == 800
    assert len(arrays.resampled(ramp, 0.8)) == 1250
    np.testing.assert_allclose(arrays.resampled(ramp, 1.0), ramp)
    assert arrays.speeds("0.9,1,1.1") == [0.9, 1.0, 1.1]
    for bad in ("", "fast", "1,0", "-1"):
        with pytest.raises(argparse.ArgumentTypeError, match="positive"):
            arrays.speeds(bad)


def test_test_speeds_write_a_second_scored_run(tmp_path):
    pack_noise(tmp_path, digits=3, takes=4, samples=1200)
    tiny = {"filters": 2, "projection_dim": 4, "units": 4, "dnn_units": 4}
    argv = ["run", str(tmp_path / "real.npz"), "--speakers", "bob"]
    argv += ["--epochs", "1", "--max-samples", "1600", "--no-spec-augment"]
    argv += ["--model-args", json.dumps(tiny), "--test-speeds", "0.9,1.1"]
    argv += ["--name", "tiny", "--results-dir", str(tmp_path / "out")]
    assert arrays.main(argv) == 0
    plain = json.loads((tmp_path / "out" / "tiny.json").read_text())
    sped = json.loads((tmp_path / "out" / "tiny_test_speeds.json").read_text())
    assert sped["meta"]["scored"] == "mean over test speeds [0.9, 1.1]"
    fold, sped_fold = plain["folds"][0], sped["folds"][0]
    # The same fold (speaker, history, timings), scored on the copies.
    assert sped_fold == {
        **{k: v for k, v in fold.items() if k != "test_speeds"},
        **fold["test_speeds"],
    }
    probabilities = np.asarray(sped_fold["test_probabilities"])
    assert probabilities.shape == (12, 10)
    assert not np.allclose(probabilities, fold["test_probabilities"])
    accuracy = np.mean(
        probabilities.argmax(-1) == np.asarray(sped_fold["test_digits"])
    )
    assert sped_fold["test_accuracy"] == pytest.approx(accuracy, abs=1e-6)
    assert np.sum(sped_fold["confusion"]) == 12
    assert (
        "mean over test speeds"
        in (tmp_path / "out" / "tiny_test_speeds.md").read_text()
    )


def test_mixed_batch_mixes_inputs_and_targets_alike():
    batch = np.arange(12, dtype=np.float32).reshape(4, 3)
    digits = np.array([0, 1, 2, 3])
    rng = np.random.default_rng(5)
    (first, second, weight), targets = arrays.mixed_batch(
        batch, digits, rng, 0.4
    )
    assert first is batch and weight.shape == (4, 1, 1)
    assert np.all((weight > 0) & (weight < 1))
    # Row i of `second` is another row of the batch; its digit gets 1 - w.
    partner = [int(row[0]) // 3 for row in second]
    assert sorted(partner) == [0, 1, 2, 3]
    for row, other in enumerate(partner):
        w = weight[row, 0, 0]
        expected = np.zeros(10, np.float32)
        expected[digits[row]] += w
        expected[digits[other]] += 1 - w
        np.testing.assert_allclose(targets[row], expected, rtol=1e-6)
    np.testing.assert_allclose(targets.sum(axis=1), 1.0, rtol=1e-6)


def test_mixup_trains_on_mixed_features_and_tests_on_plain_audio(tmp_path):
    args = arrays.parse_args(["run", "unused.npz", "--mixup", "0.2"])
    args.train_size, args.pretrain_size = 64, 0
    model, trainer = arrays.build_model(args)
    assert [tensor.name for tensor in trainer.inputs] == [
        "audio",
        "partner",
        "weight",
    ]
    audio = np.random.default_rng(0).normal(0, 0.1, (2, 4000))
    audio = audio.astype(np.float32)
    # Weight 1 is the first recording alone: the trainer agrees with the
    # model (SpecAugment is off outside training).
    alone = trainer.predict(
        [audio, audio[::-1], np.ones((2, 1, 1), np.float32)], verbose=0
    )
    np.testing.assert_allclose(
        alone, model.predict(audio, verbose=0), rtol=1e-4, atol=1e-5
    )
    pack_noise(tmp_path, digits=3, takes=4, samples=1200)
    tiny = {"filters": 2, "projection_dim": 4, "units": 4, "dnn_units": 4}
    argv = ["run", str(tmp_path / "real.npz"), "--speakers", "bob"]
    argv += ["--epochs", "1", "--max-samples", "1600", "--mixup", "0.2"]
    argv += ["--model-args", json.dumps(tiny)]
    argv += ["--name", "tiny", "--results-dir", str(tmp_path / "out")]
    assert arrays.main(argv) == 0
    run = json.loads((tmp_path / "out" / "tiny.json").read_text())
    assert run["meta"]["mixup"] == 0.2
    assert np.sum(run["folds"][0]["confusion"]) == 12
    assert "mixup" in (tmp_path / "out" / "tiny.md").read_text()


def test_mixup_options_are_checked(tmp_path, capsys):
    for bad in ("-0.1", "nan", "strong"):
        with pytest.raises(SystemExit):
            arrays.parse_args(["run", "unused.npz", "--mixup", bad])
    pack_noise(tmp_path, digits=2, takes=2, samples=300)
    argv = ["run", str(tmp_path / "real.npz"), "--speakers", "bob"]
    argv += ["--mixup", "0.2", "--adversarial", "0.3"]
    assert arrays.main(argv) == 2
    assert "do not combine" in capsys.readouterr().out


def test_speech_embedding_bench_writes_a_comparable_run(tmp_path):
    from bench import speech_embedding_loso

    pack_noise(tmp_path, digits=3, takes=4, samples=1200)
    argv = [str(tmp_path / "real.npz"), "--speakers", "bob", "--epochs", "2"]
    argv += ["--model", "gru", "--model-args", json.dumps({"units": 4})]
    argv += ["--name", "tiny", "--results-dir", str(tmp_path / "out")]
    assert speech_embedding_loso.main(argv) == 0
    run = json.loads((tmp_path / "out" / "tiny.json").read_text())
    fold = run["folds"][0]
    assert fold["speaker"] == "bob" and np.sum(fold["confusion"]) == 12
    assert len(fold["test_probabilities"]) == 12 and len(fold["history"]) == 2
    assert (
        "SpeechEmbeddingFrontEnd" in (tmp_path / "out" / "tiny.md").read_text()
    )
    # Comparable with the other bench's runs: bench.loso_levers reads it.
    assert run["meta"]["command"].startswith("python -m bench.speech_embedding")

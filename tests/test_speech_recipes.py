"""End-to-end `--smoke` runs of the speech recipes on synthesised FSDD.

The recordings are tones and chirps written as a tiny fake FSDD folder
(`recordings/DIGIT_SPEAKER_INDEX.wav`); each recipe trains for one batch,
exports a SavedModel and reloads it in a process that never imports zoo.
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers_saved_model_cli import saved_model_cli_run
from helpers_zoo_command import run_zoo
from keras import ops

from recipes import connected_digits
from recipes import speech_common as common
from recipes import spoken_digits
from zoo import data as zoo_data
from zoo.data.audio import write_wav
from zoo.data.errors import DataError
from zoo.features import LogMelFrontEnd
from zoo.pretrained_speech_embedding import load_weights
from zoo.speech_embedding import SpeechEmbeddingFrontEnd

RATE = 8000
SPEAKERS = ("george", "jackson", "theo")


def tone(digit: int, speaker: int, take: int) -> np.ndarray:
    """A 0.3 s chirp whose pitch says the digit, with a little noise."""
    time = np.arange(int(0.3 * RATE)) / RATE
    frequency = 300 + 150 * digit + 20 * speaker
    rng = np.random.default_rng(100 * digit + 10 * speaker + take)
    sweep = np.sin(2 * np.pi * frequency * time * (1 + 0.3 * time))
    return (0.5 * sweep + rng.normal(0, 0.01, time.size)).astype(np.float32)


@pytest.fixture(scope="module")
def recordings(tmp_path_factory):
    folder = tmp_path_factory.mktemp("fsdd") / "recordings"
    folder.mkdir()
    for speaker_index, speaker in enumerate(SPEAKERS):
        for digit in range(10):
            for take in (0, 5, 6):
                write_wav(
                    folder / f"{digit}_{speaker}_{take}.wav",
                    tone(digit, speaker_index, take),
                )
    return folder


def smoke_args(recordings, tmp_path, name):
    return [
        "--data",
        str(recordings),
        "--data-dir",
        str(tmp_path / "tfds"),
        "--output-dir",
        str(tmp_path / "run"),
        "--smoke",
        "--batch-size",
        "4",
        "--export",
        str(tmp_path / "models"),
        "--version",
        "3",
    ]


def recorded_metrics(tmp_path) -> dict:
    return json.loads((tmp_path / "run" / "metrics.json").read_text())


def write_synthetic(tmp_path):
    """Two "synthetic" utterances in zoo.data.synthetic_digits' layout."""
    synthetic = tmp_path / "synthetic.npz"
    np.savez(
        synthetic,
        samples=(tone(1, 9, 0) * 32767).astype(np.int16)[:2000],
        offsets=np.array([0, 1000, 2000]),
        digits=np.array([0, 1]),
        speakers=np.array(["flite:slt", "espeak-ng:en-us+f3"]),
        indexes=np.arange(2),
    )
    return synthetic


def write_phrases(tmp_path):
    """Two "phrases" in zoo.data.synthetic_phrases' layout."""
    phrases = tmp_path / "phrases.npz"
    audio = np.concatenate([tone(4, 9, 0), tone(2, 9, 0)])
    np.savez(
        phrases,
        samples=(audio * 32767).astype(np.int16),
        offsets=np.array([0, len(audio) // 2, len(audio)]),
        transcripts=np.array(["4", "42"]),
        speakers=np.array(["flite:slt", "espeak-ng:en-us+f3"]),
        count=2,
        seed=0,
    )
    return phrases


@pytest.fixture(scope="module")
def spoken(recordings, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("spoken")
    synthetic = write_synthetic(tmp_path)
    # Through the console script, as a user runs it.
    result = run_zoo(
        "train",
        "spoken-digits",
        *smoke_args(recordings, tmp_path, "spoken_digits"),
        *("--split", "speaker", "--holdout-speakers", "theo"),
        *("--synthetic", str(synthetic), "--synthetic-ratio", "0.05"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp_path, recorded_metrics(tmp_path)["metrics"]["test"]


@pytest.fixture(scope="module")
def connected(recordings, tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("connected")
    result = run_zoo(
        "train",
        "connected-digits",
        *smoke_args(recordings, tmp_path, "connected_digits"),
        "--synthetic",
        str(write_synthetic(tmp_path)),
        str(write_phrases(tmp_path)),
        *("--validation-speakers", "jackson"),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return tmp_path, recorded_metrics(tmp_path)


def test_spoken_digits_smoke_run_and_export(spoken):
    tmp_path, metrics = spoken
    assert 0.0 <= metrics["accuracy"] <= 1.0
    for name in (
        "metrics.json",
        "curves.png",
        "confusion.png",
        "history.csv",
        "best.keras",
    ):
        assert (tmp_path / "run" / name).exists(), name
    recorded = recorded_metrics(tmp_path)
    assert recorded["data"]["holdout_speakers"] == ["theo"]
    # Validation holds out a whole training speaker: an unseen voice.
    assert recorded["data"]["validation_speakers"] == ["george"]
    assert recorded["task"] == "spoken-digits" and "run" in recorded
    assert recorded["export"].endswith("spoken_digits/3")
    version = tmp_path / "models" / "spoken_digits" / "3"
    card = json.loads(
        (version / "assets.extra" / "model_card.json").read_text()
    )
    assert card["name"] == "spoken_digits" and "command" in card
    assert card["synthetic"].startswith("synthetic.npz, 0.05")


def test_spoken_ensemble_of_log_mel_and_mfcc_members(
    spoken, recordings, tmp_path
):
    trained, _ = spoken
    mfcc_run = smoke_args(recordings, tmp_path / "mfcc", "spoken_digits")
    assert (
        spoken_digits.main(
            [*mfcc_run, "--mels", "24", "--cepstra", "13", "--no-export"]
        )
        == 0
    )
    paths = [
        str(trained / "run" / "best.keras"),
        str(tmp_path / "mfcc" / "run" / "best.keras"),
    ]
    members = [keras.saving.load_model(p, compile=False) for p in paths]
    assert members[1].get_layer("front_end").feature_dim == 13
    assert members[1].get_layer("front_end").num_mel_bins == 24
    ensemble_run = smoke_args(recordings, tmp_path / "both", "spoken_digits")
    assert spoken_digits.main([*ensemble_run, "--ensemble", *paths]) == 0
    version = tmp_path / "both" / "models" / "spoken_digits" / "3"
    card = json.loads(
        (version / "assets.extra" / "model_card.json").read_text()
    )
    assert card["model"] == "average of 2 models"
    assert card["front_end"].count("LogMelFrontEnd") == 2
    assert '"num_cepstra": 13' in card["front_end"]
    assert '"num_mel_bins": 24' in card["front_end"]
    assert [m["path"] for m in card["ensemble"]["members"]] == paths
    assert "--cepstra 13" in card["ensemble"]["members"][1]["command"]
    recorded = recorded_metrics(tmp_path / "both")
    assert "validation" not in recorded["metrics"]  # members' splits differ
    # The export serves the mean of the members' probabilities.
    audio = np.zeros((2, 6000), np.float32)
    audio[0] = np.resize(tone(3, 0, 9), 6000)
    audio[1, :2400] = tone(7, 1, 9)
    expected = np.mean([m.predict_on_batch(audio) for m in members], axis=0)
    served = tf.saved_model.load(str(version)).signatures["serving_default"]
    probabilities = served(audio=tf.constant(audio))["probabilities"]
    np.testing.assert_allclose(probabilities, expected, atol=1e-5)
    assert not np.allclose(expected, members[0].predict_on_batch(audio))


def test_spoken_ensemble_arguments(capsys, tmp_path, connected):
    missing = str(tmp_path / "absent.keras")
    with pytest.raises(DataError, match="cannot load --ensemble .*absent"):
        spoken_digits.ensemble_model([missing, missing])
    ctc = str(connected[0] / "run" / "best.keras")
    with pytest.raises(DataError, match="is not a spoken-digits model"):
        spoken_digits.ensemble_model([ctc, ctc])
    for argv, message in (
        (["--ensemble", "a.keras"], "two or more"),
        (["--ensemble", "a.keras", "b.keras", "--cepstra", "13"], "drop"),
        (["--cepstra", "0"], "--cepstra"),
        (["--ensemble", "a.keras", "b.keras", "--mels", "80"], "drop --mels"),
        (["--mels", "20", "--cepstra", "30"], "more MFCCs than there are"),
        (["--cepstra", "41"], "log-mel bands (40"),
    ):
        with pytest.raises(SystemExit):
            spoken_digits.parse_args(argv)
        assert message in capsys.readouterr().err


def test_spoken_digits_on_the_speech_embedding(recordings, tmp_path):
    argv = smoke_args(recordings, tmp_path, "spoken_digits")
    argv += ["--front-end", "speech-embedding", "--model", "gru"]
    argv += ["--model-args", '{"units": 4}', "--no-augment"]
    assert spoken_digits.main(argv) == 0
    version = tmp_path / "models" / "spoken_digits" / "3"
    card = json.loads(
        (version / "assets.extra" / "model_card.json").read_text()
    )
    assert card["front_end"].startswith("SpeechEmbeddingFrontEnd")
    # Standardised on the training recordings: not the initial 0 and 1.
    model = keras.saving.load_model(tmp_path / "run" / "best.keras")
    front_end = model.get_layer("front_end")
    assert np.any(front_end.feature_mean.numpy() != 0)
    # Frozen: training left the pretrained weights as they were.
    pretrained = load_weights(SpeechEmbeddingFrontEnd())
    for trained, original in zip(
        front_end.weights, pretrained.weights, strict=True
    ):
        if "feature_" not in trained.path:
            np.testing.assert_array_equal(trained.numpy(), original.numpy())
    # As TF Serving loads it, and in TF2 on a right-zero-padded batch.
    audio = tmp_path / "audio.npy"
    np.save(audio, np.resize(tone(4, 0, 9), (2, 6000)))
    output = saved_model_cli_run(version, f"audio={audio}", flag="--inputs")
    assert "Result for output key probabilities:" in output
    serve = tf.saved_model.load(str(version)).signatures["serving_default"]
    batch = np.zeros((2, 6000), np.float32)
    batch[0, :2400] = tone(4, 0, 9)
    batch[1] = np.resize(tone(7, 1, 9), 6000)
    alone = serve(audio=tf.constant(batch[:1, :2400]))["probabilities"]
    padded = serve(audio=tf.constant(batch))["probabilities"].numpy()
    np.testing.assert_allclose(padded[0], alone.numpy()[0], atol=1e-5)


def test_speech_embedding_front_end_arguments(capsys):
    for extra in (["--mels", "20"], ["--cepstra", "13"]):
        with pytest.raises(SystemExit):
            spoken_digits.parse_args(
                ["--front-end", "speech-embedding", *extra]
            )
        assert "own fixed features; drop --" in capsys.readouterr().err


def test_spoken_digits_saved_model_outputs(spoken):
    tmp_path, _ = spoken
    serve = tf.saved_model.load(
        str(tmp_path / "models" / "spoken_digits" / "3")
    ).signatures["serving_default"]
    audio = np.zeros((3, 4000), np.float32)
    audio[0] = np.resize(tone(3, 0, 9), 4000)
    audio[1, :1200] = tone(7, 1, 9)[:1200]  # zero-padded on the right
    outputs = serve(audio=tf.constant(audio))
    probabilities = outputs["probabilities"].numpy()
    assert probabilities.shape == (3, 10) and outputs["digit"].dtype == tf.int64
    # All-zero audio has no valid frame: a finite, fixed guess.
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert np.isfinite(probabilities).all()


def test_connected_digits_smoke_run_and_export(connected):
    tmp_path, recorded = connected
    for key in (
        "greedy_digit_error_rate",
        "beam_search_digit_error_rate",
        "greedy_string_accuracy",
    ):
        assert key in recorded["metrics"]["test"]
    # One pyramid level in --smoke.
    assert recorded["training"]["time_reduction"] == 2
    assert recorded["data"]["synthetic"] == (
        "synthetic.npz, 2 utterances; phrases.npz, 2 utterances"
    )
    # Model selection on a voice the model does not train on.
    assert recorded["data"]["validation_speakers"] == ["jackson"]
    assert (tmp_path / "run" / "curves.png").exists()
    version = tmp_path / "models" / "connected_digits" / "3"
    card = json.loads(
        (version / "assets.extra" / "model_card.json").read_text()
    )
    expected = "train speakers ['george'], validation ['jackson'], test"
    assert expected in card["data"]
    serve = tf.saved_model.load(str(version)).signatures["serving_default"]
    audio = np.zeros((2, 6000), np.float32)
    audio[0] = np.resize(tone(1, 0, 9), 6000)
    outputs = serve(audio=tf.constant(audio))
    assert outputs["digits"].dtype == tf.string
    assert outputs["digits"].shape == (2,)
    assert outputs["logits"].shape[0] == 2 and outputs["logits"].shape[2] == 11
    # Each row's own number of valid frames: ceil(frames / 2) for the clip,
    # none for all-zero audio.
    lengths = outputs["logits_lengths"].numpy()
    assert 0 < lengths[0] <= outputs["logits"].shape[1] and lengths[1] == 0
    # All-zero audio has no valid frame, so nothing is decoded.
    assert outputs["digits"].numpy()[1] == b""
    for digit in outputs["digits"].numpy()[0].decode():
        assert digit.isdigit()


def test_connected_digits_on_the_speech_embedding(recordings, tmp_path):
    argv = smoke_args(recordings, tmp_path, "connected_digits")
    argv += ["--front-end", "speech-embedding", "--embedding-margin", "400"]
    assert connected_digits.main([*argv, "--no-augment"]) == 0
    recorded = recorded_metrics(tmp_path)
    # The embedding is 80 ms apart already: a time-keeping encoder.
    assert recorded["model"] == "bidirectional_gru"
    assert recorded["training"]["time_reduction"] == 1
    checkpoint = tmp_path / "run" / "best.keras"
    front_end = keras.saving.load_model(checkpoint).get_layer("front_end")
    assert front_end.margin == 400
    assert np.any(front_end.feature_mean.numpy() != 0)  # standardised
    version = tmp_path / "models" / "connected_digits" / "3"
    card = json.loads(
        (version / "assets.extra" / "model_card.json").read_text()
    )
    assert card["front_end"].startswith("SpeechEmbeddingFrontEnd")
    # The exported lengths are the front end's own valid embeddings.
    audio = np.zeros((3, 9000), np.float32)
    audio[0] = np.resize(tone(1, 0, 9), 9000)
    audio[1, :2400] = tone(2, 1, 9)
    serve = tf.saved_model.load(str(version)).signatures["serving_default"]
    outputs = serve(audio=tf.constant(audio))
    np.testing.assert_array_equal(
        outputs["logits_lengths"].numpy(), front_end.valid_frames(audio)
    )
    assert outputs["digits"].numpy()[2] == b""
    np.save(tmp_path / "audio.npy", audio[:2])
    output = saved_model_cli_run(
        version, f"audio={tmp_path / 'audio.npy'}", flag="--inputs"
    )
    assert "Result for output key logits_lengths:" in output
    # How a model trained elsewhere (bench.connected_speech_embedding's
    # --save-model) is exported: its encoder and front end, whatever
    # --model and --front-end say; here with beam-search decoding.
    argv[argv.index("--version") + 1] = "4"
    again = [*argv[:-4], "--from-checkpoint", str(checkpoint)]
    again += ["--skip-training", "--decoding", "beam_search"]
    assert connected_digits.main(again) == 0
    version = tmp_path / "models" / "connected_digits" / "4"
    card = json.loads(
        (version / "assets.extra" / "model_card.json").read_text()
    )
    assert card["model"] == "bidirectional_gru"
    assert card["front_end"].startswith("SpeechEmbeddingFrontEnd")
    assert card["decoding"] == "beam_search"
    # Runs on the embedding average too (one front end, shared), and the
    # card names the members' encoder, not the default --model.
    argv[argv.index("--version") + 1] = "5"
    pair = [*argv[:-4], "--ensemble", str(checkpoint), str(checkpoint)]
    assert connected_digits.main(pair) == 0
    card = json.loads(
        (
            tmp_path / "models/connected_digits/5/assets.extra/model_card.json"
        ).read_text()
    )
    assert card["model"] == "bidirectional_gru"
    average, _ = connected_digits.ensemble_model([checkpoint, checkpoint])
    assert (
        len([layer for layer in average.layers if "front_end" in layer.name])
        == 1
    )
    np.testing.assert_allclose(
        average.predict_on_batch(audio[:2]),
        ops.log_softmax(outputs["logits"][:2], axis=-1),
        atol=1e-4,
    )
    # The graph's beam search is the recipe's (`decode`, which scored it).
    serve = tf.saved_model.load(str(version)).signatures["serving_default"]
    outputs = serve(audio=tf.constant(audio))
    expected = connected_digits.decode(
        outputs["logits"].numpy(),
        outputs["logits_lengths"].numpy(),
        "beam_search",
    )
    found = [text.decode() for text in outputs["digits"].numpy()]
    assert found == ["".join(map(str, digits)) for digits in expected]


def test_connected_front_end_arguments(capsys):
    for argv, message in (
        (["--embedding-margin", "800"], "needs --front-end speech-embedding"),
        (["--front-end", "speech-embedding", "--mels", "20"], "drop --mels"),
        (
            ["--front-end", "speech-embedding", "--embedding-margin", "-1"],
            "non-negative",
        ),
        (
            ["--front-end", "speech-embedding", "--ensemble", "a", "b"],
            "drop --front-end",
        ),
    ):
        with pytest.raises(SystemExit):
            connected_digits.parse_args(argv)
        assert message in capsys.readouterr().err
    assert connected_digits.parse_args([]).model == "pyramid_lstm"


@pytest.mark.parametrize("recipe", ["spoken", "connected"])
def test_saved_model_cli_runs_the_exports(recipe, spoken, connected):
    # As TF Serving loads them: a TF1 session restoring the checkpoint.
    tmp_path, _ = spoken if recipe == "spoken" else connected
    name = "spoken_digits" if recipe == "spoken" else "connected_digits"
    audio = tmp_path / "audio.npy"
    np.save(audio, np.resize(tone(4, 0, 9), (2, 6000)))
    output = saved_model_cli_run(
        tmp_path / "models" / name / "3", f"audio={audio}", flag="--inputs"
    )
    keys = (
        ("digit", "probabilities")
        if recipe == "spoken"
        else ("digits", "logits", "logits_lengths")
    )
    for key in keys:
        assert f"Result for output key {key}:" in output


@pytest.mark.parametrize("recipe", ["spoken", "connected"])
def test_saved_models_reject_bad_audio(recipe, spoken, connected):
    tmp_path, _ = spoken if recipe == "spoken" else connected
    name = "spoken_digits" if recipe == "spoken" else "connected_digits"
    serve = tf.saved_model.load(
        str(tmp_path / "models" / name / "3")
    ).signatures["serving_default"]
    good = np.resize(tone(2, 0, 9), (1, 3000))
    with_nan = good.copy()
    with_nan[0, 10] = np.nan
    cases = [
        (with_nan, "NaN"),
        (np.zeros((1, 0), np.float32), "no samples"),
        (good * 32768, "divide by 32768"),
    ]
    for audio, message in cases:
        with pytest.raises(tf.errors.InvalidArgumentError, match=message):
            serve(audio=tf.constant(audio))
    # Stereo or a missing batch axis: the signature declares [batch,
    # samples]; a loaded signature fails at its first rank-dependent op.
    for audio in (np.zeros((1, 3000, 2), np.float32), good[0]):
        with pytest.raises(
            (tf.errors.InvalidArgumentError, ValueError, TypeError),
            match="rank|Can not cast",
        ):
            serve(audio=tf.constant(audio))


@pytest.mark.parametrize("recipe", [spoken_digits, connected_digits])
def test_missing_data_exits_2(recipe, tmp_path, capsys):
    code = recipe.main(
        [
            "--data",
            str(tmp_path / "nowhere"),
            "--smoke",
            "--export",
            str(tmp_path / "models"),
        ]
    )
    assert code == 2
    error = capsys.readouterr().err
    assert error.startswith(f"zoo train {recipe.TASK}: error: ")
    assert "does not exist" in error and "Traceback" not in error
    assert not (tmp_path / "models").exists()


def test_unknown_model_and_bad_split_exit_2(capsys):
    with pytest.raises(SystemExit) as exit_info:
        spoken_digits.parse_args(["--model", "transformer"])
    assert exit_info.value.code == 2
    with pytest.raises(SystemExit):
        spoken_digits.parse_args(["--split", "speaker"])
    assert "--holdout-speakers" in capsys.readouterr().err


def test_wrong_sample_rate_is_a_clear_error(tmp_path, capsys):
    folder = tmp_path / "recordings"
    folder.mkdir()
    write_wav(folder / "1_theo_0.wav", tone(1, 0, 0), sample_rate=16000)
    code = spoken_digits.main(
        [
            "--data",
            str(folder),
            "--data-dir",
            str(tmp_path / "tfds"),
            "--smoke",
            "--no-export",
        ]
    )
    assert code == 2
    error = capsys.readouterr().err
    assert "1_theo_0.wav" in error and "8" in error


def test_loso_results_summary_for_the_model_card(tmp_path):
    path = tmp_path / "loso.json"
    path.write_text(
        json.dumps(
            {
                "meta": {"command": "python -m bench.x run"},
                "folds": [
                    {"speaker": "ann", "test_accuracy": 0.8},
                    {"speaker": "bob", "test_accuracy": 0.9},
                ],
            }
        )
    )
    summary = spoken_digits.loso_summary(str(path))
    assert summary["mean_accuracy"] == 0.85
    assert summary["per_speaker"] == {"ann": 0.8, "bob": 0.9}
    assert summary["command"] == "python -m bench.x run"


@pytest.mark.parametrize(
    "front_end",
    [
        LogMelFrontEnd(num_mel_bins=8, frame_step=160),
        SpeechEmbeddingFrontEnd(margin=1000),
    ],
    ids=["log_mel", "speech_embedding"],
)
def test_pipeline_output_lengths_equal_the_front_ends(front_end):
    # The tf.data map computes lengths with TensorFlow ops under any
    # backend; they must equal the front end's own (keras.ops) rule.
    rng = np.random.default_rng(0)
    for valid in (0, 1, 127, 128, 129, 300, 4000, 12000):
        audio = np.zeros(valid + 200, np.float32)
        audio[:valid] = rng.uniform(0.1, 0.5, valid)
        expected = connected_digits.output_lengths(front_end, audio[None], 4)
        got = connected_digits.pipeline_output_length(
            front_end, tf.constant(audio), 4
        )
        assert int(got) == int(expected[0]), valid


SMALL_CLDNN = json.dumps(
    {"filters": 4, "projection_dim": 8, "units": 8, "dnn_units": 8}
)


def test_bucket_padding_changes_no_prediction_or_loss():
    # The recipes pad batches to bucket lengths (zoo.data.padding), longer
    # than their longest utterance; the default models (narrower) must not
    # see the extra zeros in their predictions or losses.
    from zoo.data import padding

    lengths = (2400, 1100, 3700)  # batch longest 3700 -> bucket 4096
    audio = [np.tile(tone(d, 0, 0), 2)[:n] for d, n in enumerate(lengths)]
    dataset = tf.data.Dataset.from_generator(
        lambda: iter(audio), output_signature=tf.TensorSpec([None])
    )
    plain = next(iter(dataset.padded_batch(3))).numpy()
    bucketed = next(iter(padding.padded_batch(dataset, 3))).numpy()
    assert plain.shape[1] == 3700 and bucketed.shape[1] == 4096

    spoken = spoken_digits.build_model(
        spoken_digits.parse_args(["--model-args", SMALL_CLDNN])
    )
    np.testing.assert_allclose(
        spoken.predict_on_batch(bucketed),
        spoken.predict_on_batch(plain),
        atol=1e-5,
    )

    args = connected_digits.parse_args(["--model-args", '{"units": 8}'])
    model, encoder = connected_digits.build_model(args)
    front_end = model.get_layer("front_end")
    factor = connected_digits.reduction_factor(encoder)
    steps = connected_digits.output_lengths(front_end, plain, factor)
    steps = np.asarray(steps)
    digits = np.array([[3, 1, -1], [4, -1, -1], [1, 5, 9]])
    targets = np.concatenate([steps[:, None], digits], axis=1)
    logits = {
        name: np.asarray(model.predict_on_batch(batch))
        for name, batch in (("plain", plain), ("bucketed", bucketed))
    }
    for row, valid in enumerate(steps):
        np.testing.assert_allclose(
            logits["bucketed"][row, :valid],
            logits["plain"][row, :valid],
            atol=1e-5,
        )
    loss = connected_digits.PackedCTC()
    np.testing.assert_allclose(
        float(loss(targets, logits["bucketed"])),
        float(loss(targets, logits["plain"])),
        rtol=1e-5,
    )


def test_synthetic_utterances_need_synthetic_voices(capsys):
    with pytest.raises(SystemExit) as raised:
        connected_digits.parse_args(["--synthetic-utterances", "10"])
    assert raised.value.code == 2
    assert "--synthetic-utterances needs --synthetic" in capsys.readouterr().err


def test_synthetic_files_too_small_or_missing(tmp_path):
    config = zoo_data.SynthesisConfig()
    phrases = str(write_phrases(tmp_path))
    args = connected_digits.parse_args(
        ["--synthetic", phrases, "--synthetic-utterances", "5"]
    )
    with pytest.raises(DataError, match="holds 2 phrases; asked for 5"):
        connected_digits.synthetic_utterances(args, config)
    args = connected_digits.parse_args(
        ["--synthetic", str(tmp_path / "absent.npz")]
    )
    with pytest.raises(DataError, match="cannot load --synthetic .*absent"):
        connected_digits.synthetic_utterances(args, config)
    # Both kinds together: as many from each file as asked.
    args = connected_digits.parse_args(
        [
            "--synthetic",
            str(write_synthetic(tmp_path)),
            phrases,
            "--synthetic-utterances",
            "2",
        ]
    )
    utterances = connected_digits.synthetic_utterances(args, config)
    assert [u.transcript for u in utterances[2:]] == ["4", "42"]
    assert all(len(u.digits) >= 1 for u in utterances[:2])


@pytest.mark.parametrize("features", [[], ["--mels", "24", "--cepstra", "13"]])
def test_ensemble_averages_the_members_probabilities(
    connected, tmp_path, features
):
    trained, _ = connected
    # A second member: the smoke model, freshly initialised, on log-mels
    # like the first or on MFCCs (its own front end).
    args = connected_digits.parse_args(["--smoke", *features])
    fresh, _ = connected_digits.build_model(args)
    fresh.save(tmp_path / "fresh.keras")
    paths = [str(trained / "run" / "best.keras"), str(tmp_path / "fresh.keras")]
    ensemble, encoder = connected_digits.ensemble_model(paths)
    assert connected_digits.reduction_factor(encoder) == 2
    audio = np.zeros((2, 6000), np.float32)
    audio[0] = np.resize(tone(1, 0, 9), 6000)
    audio[1, :2400] = tone(4, 1, 9)
    members = [
        keras.saving.load_model(path, compile=False).predict_on_batch(audio)
        for path in paths
    ]
    expected = np.log(
        np.mean([keras.ops.softmax(m, axis=-1) for m in members], axis=0)
    )
    logits = np.asarray(ensemble.predict_on_batch(audio))
    np.testing.assert_allclose(logits, expected, atol=1e-5)
    # Saved and reloaded (how another backend's export reaches TensorFlow).
    ensemble.save(tmp_path / "ensemble.keras")
    again = keras.saving.load_model(tmp_path / "ensemble.keras")
    np.testing.assert_allclose(
        np.asarray(again.predict_on_batch(audio)), logits, atol=1e-6
    )
    front_ends = [
        layer for layer in ensemble.layers if isinstance(layer, LogMelFrontEnd)
    ]
    assert [layer.name for layer in front_ends] == (
        ["front_end", "front_end_1"] if features else ["front_end"]
    )
    assert [layer.num_mel_bins for layer in front_ends] == (
        [40, 24] if features else [40]
    )
    summary = common.ensemble_summary(paths, combination="mean")
    assert "--smoke" in summary["members"][0]["command"]
    assert summary["members"][1]["command"] is None


def test_ensemble_arguments(capsys, tmp_path):
    missing = str(tmp_path / "absent.keras")
    with pytest.raises(DataError, match="cannot load --ensemble .*absent"):
        connected_digits.ensemble_model([missing, missing])
    paths = []
    for frame_step in (160, 80):  # 20 ms and 10 ms frames
        model, _ = common.audio_model(
            "pyramid_lstm",
            {"num_mel_bins": 8, "frame_step": frame_step},
            "member",
            head="sequence",
            num_classes=11,
            **connected_digits.SMOKE_ARGS["pyramid_lstm"],
        )
        paths.append(str(tmp_path / f"step{frame_step}.keras"))
        model.save(paths[-1])
    with pytest.raises(DataError, match="frames its audio unlike"):
        connected_digits.ensemble_model(paths)
    for argv, message in (
        (["--ensemble", "a.keras"], "two or more"),
        (
            ["--ensemble", "a.keras", "b.keras", "--from-checkpoint", "c"],
            "exclude each other",
        ),
        (["--ensemble", "a.keras", "b.keras", "--cepstra", "13"], "drop"),
        (["--mels", "12", "--cepstra", "13"], "more MFCCs than there are"),
    ):
        with pytest.raises(SystemExit):
            connected_digits.parse_args(argv)
        assert message in capsys.readouterr().err


@pytest.mark.parametrize("augment", [True, False])
def test_connected_training_order_changes_every_epoch(
    recordings, tmp_path, augment
):
    argv = smoke_args(recordings, tmp_path, "connected_digits")
    args = connected_digits.parse_args(
        argv + ([] if augment else ["--no-augment"])
    )
    args.train_utterances = 12  # --smoke keeps 4: too few to tell orders
    args.smoke = False
    front_end = LogMelFrontEnd(**connected_digits.FRONT_END)
    datasets, _ = connected_digits.load_data(args, front_end, factor=4)

    def order(epoch):
        # Each utterance's digits identify it (augmentation changes the
        # packed frame count in front of them).
        return [
            tuple(row[1:])
            for _, packed in datasets["train"].for_epoch(epoch)
            for row in packed.numpy().tolist()
        ]

    first = order(0)
    assert sorted(first) == sorted(order(1))  # the same utterances
    assert first != order(1) and first == order(0)  # reshuffled, seeded

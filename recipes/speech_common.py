"""What the two speech recipes share beyond recipes.runner.

- `add_data_arguments`/`add_training_arguments`: the common command line.
- `load_recordings`: FSDD with clear errors (exit 2) for bad paths.
- `audio_model`: raw audio Input -> LogMelFrontEnd (or the pretrained
  SpeechEmbeddingFrontEnd) -> a zoo encoder.
- `augment`: waveform augmentation for tf.data (gain, shift, noise, speed).
- `fit`: `zoo.distribute.fit_model` under `--strategy`, resumably.
- `checked_audio`: the in-graph checks of an exported model's `audio`.
- `AUDIO_SPEC`: the exported signatures' input.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import zoo
import zoo.data
from zoo import distribute
from zoo.cli import non_negative_int
from zoo.cli import positive_int
from zoo.data import DataError
from zoo.features import LogMelFrontEnd
from zoo.pretrained_speech_embedding import load_weights
from zoo.speech_embedding import MARGIN as EMBEDDING_MARGIN
from zoo.speech_embedding import SpeechEmbeddingFrontEnd

SAMPLE_RATE = 8000
DEFAULT_DATA = "/work/shared/data/fsdd_5speakers.tar.gz"
# `audio_model`'s front end for `--front-end speech-embedding`.
SPEECH_EMBEDDING = "speech-embedding"
# The exported signatures' input: 8 kHz mono samples in [-1, 1].
AUDIO_SPEC = tf.TensorSpec([None, None], tf.float32, name="audio")


def fail(message: str) -> None:
    """A data problem: the runner prints it on one line and exits 2."""
    raise DataError(message)


def speakers(text: str) -> tuple[str, ...]:
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    if not names:
        raise argparse.ArgumentTypeError("expected speaker names, a,b,...")
    return names


def add_data_arguments(parser: argparse.ArgumentParser):
    group = parser.add_argument_group("Data")
    group.add_argument(
        "--data",
        default=os.environ.get("ZOO_FSDD", DEFAULT_DATA),
        help="FSDD recordings/ folder or .tar.gz (default: %(default)s)",
    )
    group.add_argument(
        "--data-dir",
        default=os.environ.get("ZOO_DATA_DIR"),
        help="TFDS data dir for the prepared recordings",
    )
    group.add_argument(
        "--holdout-speakers",
        type=speakers,
        default=None,
        help="comma-separated test speakers, e.g. theo,george",
    )
    return group


def add_model_arguments(parser, *, default: str, example: str):
    """--model (any registry model taking features) and --model-args."""
    group = parser.add_argument_group("Model")
    group.add_argument(
        "--model",
        default=default,
        help="any registry model taking features input",
    )
    group.add_argument(
        "--model-args",
        type=json.loads,
        default=None,
        help=f"JSON builder overrides, e.g. '{example}'",
    )
    return group


def check_model(parser, args) -> None:
    """parser.error, listing the registry, for an unknown --model."""
    if not zoo.is_model(args.model):
        parser.error(
            f"unknown --model {args.model!r}; choose from "
            f"{', '.join(zoo.list_models())}"
        )


def add_training_arguments(
    parser, *, epochs: int, batch_size: int, learning_rate: float
):
    group = parser.add_argument_group("Training")
    group.add_argument(
        "--epochs",
        type=positive_int,
        default=None,
        help=f"default {epochs} (1 with --smoke)",
    )
    parser.set_defaults(default_epochs=epochs)
    group.add_argument("--batch-size", type=positive_int, default=batch_size)
    group.add_argument("--learning-rate", type=float, default=learning_rate)
    group.add_argument("--patience", type=positive_int, default=6)
    group.add_argument(
        "--no-augment",
        dest="augment",
        action="store_false",
        help="train on the clean recordings only",
    )
    group.add_argument(
        "--output-dir",
        default=None,
        help="checkpoints, logs, curves and metrics.json",
    )
    group.add_argument(
        "--smoke",
        action="store_true",
        help="a tiny model and a few batches (seconds), for tests",
    )
    return group


def smoke_eagerly(args) -> bool:
    """`run_eagerly` for `compile`: --smoke under TensorFlow, where one
    eager batch is faster than tracing; never under JAX or PyTorch, whose
    eager recurrent loops run op by op (tens of seconds a batch)."""
    return bool(args.smoke) and keras.backend.backend() == "tensorflow"


def check_paths(args) -> None:
    """Clear messages for missing inputs, before any slow work."""
    if not Path(args.data).exists():
        fail(
            f"--data {args.data!r} does not exist (an FSDD recordings/ "
            "folder or .tar.gz)"
        )


def load_recordings(args):
    """Every recording of `--data`, or exit 2 with the loader's message."""
    try:
        return zoo.data.load_fsdd_recordings(args.data, data_dir=args.data_dir)
    except (zoo.data.DataError, ValueError, OSError) as error:
        fail(f"cannot load --data {args.data!r}: {error}")


def audio_model(encoder_name: str, front_end, name: str, **encoder_args):
    """Raw audio [batch, samples] -> front end -> `zoo.build(encoder_name)`.

    `front_end` holds `LogMelFrontEnd`'s arguments, or is a built front-end
    layer named "front_end" (`speech_embedding` makes the pretrained one;
    `adapt_speech_embedding` fits its standardisation). Returns
    `(model, encoder)`; the front end's padded frames are zero, which the
    encoder's Masking layer turns into its mask.
    """
    if isinstance(front_end, dict):
        front_end = LogMelFrontEnd(**front_end, name="front_end")
    encoder = zoo.build(
        encoder_name,
        inputs="features",
        feature_dim=front_end.feature_dim,
        **encoder_args,
    )
    audio = keras.Input(shape=(None,), dtype="float32", name="audio")
    outputs = encoder(front_end(audio))
    return keras.Model(audio, outputs, name=name), encoder


def speech_embedding(margin: int | None = None) -> SpeechEmbeddingFrontEnd:
    """The pretrained SpeechEmbeddingFrontEnd ("front_end"; `margin` samples
    of silence around each utterance, default the layer's), or exit 2 with
    the install hint when its weights are missing."""
    options = {} if margin is None else {"margin": margin}
    try:
        return load_weights(
            SpeechEmbeddingFrontEnd(name="front_end", **options)
        )
    except DataError as error:
        fail(f"--front-end speech-embedding: {error}")


def front_end(args, log_mel: dict):
    """`audio_model`'s front end for a recipe's --front-end, --mels,
    --cepstra and --embedding-margin (`log_mel`: the recipe's own
    LogMelFrontEnd arguments)."""
    if args.front_end == SPEECH_EMBEDDING:
        return speech_embedding(args.embedding_margin)
    return front_end_config(log_mel, args)


def adapt_speech_embedding(model: keras.Model, batches) -> int:
    """Fits the standardisation of `model`'s SpeechEmbeddingFrontEnd to the
    valid embeddings of `batches` ((audio, label) batches of the clean
    training recordings); returns how many embeddings it used."""
    front = model.get_layer("front_end")
    raw = []
    for audio, _ in batches:
        audio = audio.numpy()
        vectors = np.asarray(front(audio))
        counts = np.asarray(front.valid_frames(audio))
        raw += [row[:count] for row, count in zip(vectors, counts)]
    raw = np.concatenate(raw)
    front.adapt(raw)
    return len(raw)


def augment(
    audio,
    seed_stream,
    *,
    max_shift: float = 0.1,
    gain_db: float = 6.0,
    speed: float = 0.1,
    min_snr_db: float = 10.0,
    max_snr_db: float = 40.0,
):
    """Random speed (resampling), leading shift, gain and white noise.

    `audio` float32 [samples]; returns float32 [samples'] in [-1, 1].
    """
    seeds = tf.random.experimental.stateless_split(seed_stream, 5)
    length = tf.shape(audio)[0]
    factor = tf.random.stateless_uniform([], seeds[0], 1 - speed, 1 + speed)
    new_length = tf.maximum(
        tf.cast(tf.cast(length, tf.float32) / factor, tf.int32), 1
    )
    audio = tf.image.resize(audio[:, None, None], [new_length, 1])[:, 0, 0]
    shift = tf.random.stateless_uniform(
        [], seeds[1], 0, int(max_shift * SAMPLE_RATE) + 1, dtype=tf.int32
    )
    audio = tf.concat([tf.zeros([shift]), audio], axis=0)
    gain = 10 ** (
        tf.random.stateless_uniform([], seeds[2], -gain_db, gain_db) / 20
    )
    audio = audio * gain
    snr_db = tf.random.stateless_uniform([], seeds[3], min_snr_db, max_snr_db)
    noise = tf.random.stateless_normal(tf.shape(audio), seeds[4])
    power = tf.reduce_mean(tf.square(audio)) + 1e-10
    audio = audio + noise * tf.sqrt(power / 10 ** (snr_db / 10))
    return tf.clip_by_value(audio, -1.0, 1.0)


def augmented(dataset: tf.data.Dataset, seed) -> tf.data.Dataset:
    """Maps `augment` over (audio, label) pairs, a fresh draw per element.

    `seed` (an int or a scalar int64 tensor, e.g. seed + epoch) fixes the
    draws.
    """
    counter = tf.data.Dataset.random(seed=seed)
    return tf.data.Dataset.zip((dataset, counter)).map(
        lambda pair, draw: (
            augment(pair[0], tf.stack([draw, draw // 7 + 1])),
            pair[1],
        ),
        num_parallel_calls=tf.data.AUTOTUNE,
    )


def checked_audio(audio):
    """In-graph checks with clear messages for a served model's `audio`.

    The signature fixes the rank ([batch, samples]), so Grappler would fold
    a rank check away; these refuse empty audio, NaN/inf and int16-scale
    values.
    """
    audio = tf.convert_to_tensor(audio, tf.float32)
    # One zero sample more: reductions over an empty batch trip Grappler.
    padded = tf.pad(audio, [[0, 0], [0, 1]])
    conditions = [
        (tf.size(audio) > 0, "`audio` holds no samples (shape [batch, 0])"),
        (
            tf.reduce_all(tf.math.is_finite(padded)),
            "`audio` holds NaN or inf samples",
        ),
        (
            tf.reduce_max(tf.abs(padded)) <= 1.5,
            "`audio` samples must lie in [-1, 1]; int16 counts? divide "
            "by 32768",
        ),
    ]
    for condition, message in conditions:
        with tf.control_dependencies(
            [tf.debugging.Assert(condition, [message])]
        ):
            audio = tf.identity(audio)
    return audio


def fit(
    args,
    strategy,
    model,
    datasets,
    *,
    monitor: str,
    mode: str,
    metrics=None,
):
    """`zoo.distribute.fit_model` with the zoo's callbacks, resumably.

    `datasets["train"]` may be a `zoo.data.EpochDataset`. Returns (model to
    evaluate and export, history dict, seconds). --smoke trains one quiet
    epoch (unless --epochs says otherwise) without TensorBoard.
    """
    start = time.time()
    model, history = distribute.fit_model(
        model,
        datasets["train"],
        datasets["validation"],
        strategy=strategy,
        epochs=args.epochs or (1 if args.smoke else args.default_epochs),
        output_dir=Path(args.output_dir),
        metrics=metrics,
        verbose=2 if args.smoke else 1,
        monitor=monitor,
        mode=mode,
        patience=args.patience,
        tensorboard=not args.smoke,
    )
    return model, history, time.time() - start


def load_members(paths) -> list:
    """The `--ensemble` members: each run's saved .keras model, or exit 2
    naming the one that does not load."""
    members = []
    for path in paths:
        try:
            members.append(keras.saving.load_model(path, compile=False))
        except (OSError, ValueError) as error:
            fail(f"cannot load --ensemble {path!r}: {error}")
    return members


def ensemble_summary(paths, *, combination: str) -> dict:
    """The card's record of an ensemble: each member's path and, where its
    run's metrics.json lies beside it, the command that trained it."""
    members = []
    for path in paths:
        record = Path(path).parent / "metrics.json"
        run = json.loads(record.read_text())["run"] if record.exists() else {}
        members.append({"path": str(path), "command": run.get("command")})
    return {"members": members, "combination": combination}


def add_front_end_arguments(group, *, embedding_evidence: str) -> None:
    """--front-end, --embedding-margin, --mels and --cepstra: the front end
    of a recipe's model (`embedding_evidence`: where the speech embedding's
    figures for this task are)."""
    group.add_argument(
        "--front-end",
        choices=("log-mel", SPEECH_EMBEDDING),
        default="log-mel",
        help="the model's features: log-mels (or --cepstra MFCCs), or the "
        "pretrained speech embedding (frozen, 96-d every 80 ms; needs the "
        f"`speech` extra; {embedding_evidence})",
    )
    group.add_argument(
        "--embedding-margin",
        type=non_negative_int,
        default=None,
        metavar="SAMPLES",
        help="with --front-end speech-embedding: the silence put around "
        f"each utterance (default: the layer's, {EMBEDDING_MARGIN})",
    )
    group.add_argument(
        "--mels",
        type=positive_int,
        default=None,
        metavar="N",
        help="N log-mel bands (default: the recipe's own, 40)",
    )
    group.add_argument(
        "--cepstra",
        type=positive_int,
        default=None,
        metavar="K",
        help="the first K MFCCs of the log-mels as features (default: the "
        "log-mels themselves)",
    )


def check_front_end(parser, args, front_end: dict) -> None:
    """Exit 2 (argparse) on front-end flags that cannot apply: an
    ensemble takes its members' front ends, K MFCCs need K mels, and the
    speech embedding has fixed features."""
    flags = [
        flag
        for flag, value in (("--mels", args.mels), ("--cepstra", args.cepstra))
        if value
    ]
    if args.ensemble and (flags or args.front_end == SPEECH_EMBEDDING):
        parser.error(
            "--ensemble takes its members' front ends; drop "
            f"{' '.join(flags) or '--front-end'}"
        )
    if args.front_end == SPEECH_EMBEDDING and flags:
        parser.error(
            "--front-end speech-embedding has its own fixed features; "
            f"drop {' '.join(flags)}"
        )
    if args.embedding_margin is not None and args.front_end != SPEECH_EMBEDDING:
        parser.error("--embedding-margin needs --front-end speech-embedding")
    mels = front_end_config(front_end, args)["num_mel_bins"]
    if args.cepstra and args.cepstra > mels:
        parser.error(
            f"--cepstra {args.cepstra} asks for more MFCCs than there are "
            f"log-mel bands ({mels}; --mels sets them)"
        )


def front_end_config(front_end: dict, args) -> dict:
    """A recipe's `LogMelFrontEnd` arguments, with --mels' bands and
    --cepstra's MFCCs."""
    config = dict(front_end)
    if args.mels:
        config["num_mel_bins"] = args.mels
    if args.cepstra:
        config["num_cepstra"] = args.cepstra
    return config


def front_end_summary(model) -> str:
    """The card's front end: each LogMelFrontEnd's settings (an ensemble's
    members may differ)."""
    found = []
    for layer in [model, *getattr(model, "layers", [])]:
        if isinstance(layer, SpeechEmbeddingFrontEnd):
            found.append(
                "SpeechEmbeddingFrontEnd (Google's speech embedding, Lin et "
                "al. 2020, weights from openwakeword 0.5.1; frozen; "
                f"{layer.margin} samples of silence around the audio; "
                "standardised on the training recordings)"
            )
        elif isinstance(layer, LogMelFrontEnd):
            config = layer.get_config()
            settings = {
                key: value
                for key, value in config.items()
                if key not in ("name", "dtype", "trainable")
            }
            found.append("LogMelFrontEnd " + json.dumps(settings))
        elif isinstance(layer, keras.Model) and layer is not model:
            found.append(front_end_summary(layer))  # an ensemble's member
    return "; ".join(summary for summary in found if summary)

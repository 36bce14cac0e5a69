"""Leave-one-speaker-out spoken digits on in-memory arrays, any backend.

The same model family as `recipes.spoken_digits` (raw 8 kHz audio ->
`LogMelFrontEnd` -> a registry encoder -> 10 digits), trained without
tf.data or TFDS, so it runs under JAX or PyTorch too, e.g. on a GPU machine
that has no TensorFlow. Two steps:

    # 1. here: pack the recordings into one .npz (int16 samples)
    python -m bench.speaker_independent_arrays pack \\
        ../shared/data/fsdd_5speakers.tar.gz data/fsdd.npz
    # 2. anywhere: train and test one fold per held-out speaker
    KERAS_BACKEND=jax python -m bench.speaker_independent_arrays run \\
        data/fsdd.npz --epochs 40

Per fold the four other speakers' recordings are split 90/10 (seeded) into
training and validation; the held-out speaker's 500 recordings are the test
set, seen once, with the weights of the epoch of best validation accuracy.
Training draws a fresh augmentation per example and epoch (numpy, seeded):
speed ±`--speed` (resampling), a leading shift up to 100 ms, gain ±6 dB and
white noise at 10-40 dB SNR; SpecAugment masks the log-mel frames inside the
model during training only; `--mixup α` trains on mixes of two recordings'
features and digits. `--synthetic X.npz --synthetic-ratio R` adds R
generated utterances (`zoo.data.synthetic_digits`) per real training
recording to every fold's training set (never to validation or test).
Writes <results>/<name>.{md,json}, with each fold's confusion matrix and
load average; `bench.loso_levers` puts several runs side by side.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import re
import sys
import tarfile
import time
import wave
from pathlib import Path

import numpy as np

SAMPLE_RATE = 8000
DIGITS = 10  # the classes: spoken 0-9
SPEAKERS = ("george", "jackson", "nicolas", "theo", "yweweler")
RESULTS = Path(__file__).resolve().parent / "results"
_NAME = re.compile(r"(?:^|/)(\d)_([a-z]+)_(\d+)\.wav$")


def pack(archive: str, destination: str) -> dict:
    """Reads every DIGIT_SPEAKER_INDEX.wav of a tar.gz or folder into .npz."""
    records = []

    def add(name: str, payload: bytes) -> None:
        match = _NAME.search(name)
        if not match:
            return
        with wave.open(io.BytesIO(payload)) as reader:
            if (
                reader.getframerate() != SAMPLE_RATE
                or reader.getnchannels() != 1
                or reader.getsampwidth() != 2
            ):
                raise ValueError(f"{name}: not 8 kHz mono 16-bit PCM")
            samples = np.frombuffer(
                reader.readframes(reader.getnframes()), "<i2"
            )
        records.append(
            (int(match[1]), match[2], int(match[3]), samples.astype(np.int16))
        )

    source = Path(archive)
    if source.is_dir():
        for path in sorted(source.rglob("*.wav")):
            add(str(path), path.read_bytes())
    else:
        with tarfile.open(source) as tar:
            for member in tar:
                if member.isfile() and member.name.endswith(".wav"):
                    add(member.name, tar.extractfile(member).read())
    if not records:
        raise ValueError(f"no DIGIT_SPEAKER_INDEX.wav recordings in {archive}")
    records.sort(key=lambda r: (r[1], r[0], r[2]))
    lengths = np.array([len(r[3]) for r in records])
    Path(destination).parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(
        destination,
        samples=np.concatenate([r[3] for r in records]),
        offsets=np.concatenate([[0], np.cumsum(lengths)]),
        digits=np.array([r[0] for r in records]),
        speakers=np.array([r[1] for r in records]),
        indexes=np.array([r[2] for r in records]),
    )
    return {"recordings": len(records), "max_samples": int(lengths.max())}


def load(path: str) -> dict:
    data = np.load(path)
    offsets = data["offsets"]
    samples = data["samples"].astype(np.float32) / 32768.0
    return {
        "audio": [
            samples[start:end] for start, end in zip(offsets, offsets[1:])
        ],
        "digits": data["digits"],
        "speakers": data["speakers"].astype(str),
    }


def resampled(audio: np.ndarray, factor: float) -> np.ndarray:
    """Played `factor` times as fast (linear interpolation): tempo, pitch
    and formants all move by `factor`."""
    length = max(int(len(audio) / factor), 1)
    return np.interp(
        np.linspace(0, len(audio) - 1, length), np.arange(len(audio)), audio
    ).astype(np.float32)


def augment(audio: np.ndarray, rng: np.random.Generator, speed: float):
    """Speed (linear resampling), shift, gain and white noise; in [-1, 1]."""
    audio = resampled(audio, rng.uniform(1 - speed, 1 + speed))
    shift = rng.integers(0, SAMPLE_RATE // 10 + 1)
    audio = np.concatenate([np.zeros(shift), audio])
    audio = audio * 10 ** (rng.uniform(-6, 6) / 20)
    power = np.mean(np.square(audio)) + 1e-10
    snr_db = rng.uniform(10, 40)
    audio = audio + rng.normal(size=len(audio)) * np.sqrt(
        power / 10 ** (snr_db / 10)
    )
    return np.clip(audio, -1, 1).astype(np.float32)


def padded(waveforms, length: int) -> np.ndarray:
    """Right-zero-padded (or cut) to `length` samples: one static shape, so
    a compiled step is reused for every batch."""
    batch = np.zeros((len(waveforms), length), np.float32)
    for row, audio in enumerate(waveforms):
        audio = audio[:length]
        batch[row, : len(audio)] = audio
        # The front end reads the last non-zero sample as the end: keep it.
        if len(audio) and audio[-1] == 0:
            batch[row, len(audio) - 1] = 1e-6
    return batch


def build_model(args):
    import keras

    import zoo
    from zoo.features import LogMelFrontEnd
    from zoo.features import SpecAugment

    front = LogMelFrontEnd(
        num_mel_bins=args.mels,
        num_cepstra=args.cepstra,
        normalization=args.normalization,
        name="front_end",
    )
    encoder = zoo.build(
        args.model,
        inputs="features",
        feature_dim=front.feature_dim,
        num_classes=DIGITS,
        output_activation="softmax",
        **json.loads(args.model_args),
    )
    audio = keras.Input(shape=(None,), dtype="float32", name="audio")
    features = front(audio)
    if args.mixup:
        # mixup (Zhang et al., ICLR 2018): train on w·f(a) + (1 − w)·f(b) of
        # two recordings' normalised features, against the same mix of their
        # one-hot digits (`mixed_batch`). A frame stays valid (non-zero,
        # unmasked) where either recording has one.
        partner = keras.Input(shape=(None,), dtype="float32", name="partner")
        weight = keras.Input(shape=(1, 1), dtype="float32", name="weight")
        mixed = weight * features + (1.0 - weight) * front(partner)
    if args.spec_augment:
        masks = SpecAugment(
            frequency_masks=2,
            frequency_width=front.feature_dim // 5,
            time_masks=2,
            time_width=10,
            seed=args.seed,
        )
        if args.mixup:
            mixed = masks(mixed)
        else:
            features = masks(features)
    steps = args.epochs * int(np.ceil(args.train_size / args.batch_size))
    steps += args.pretrain_epochs * int(
        np.ceil(args.pretrain_size / args.batch_size)
    )
    schedule = keras.optimizers.schedules.CosineDecay(
        args.learning_rate, steps, warmup_target=None
    )
    optimizer = keras.optimizers.Adam(schedule, clipnorm=5.0)
    loss = keras.losses.SparseCategoricalCrossentropy()
    if args.mixup:
        trainer = keras.Model([audio, partner, weight], encoder(mixed))
        trainer.compile(
            optimizer=optimizer,
            loss=keras.losses.CategoricalCrossentropy(),
            # The accuracy on each mix's larger share: a progress figure.
            metrics=[keras.metrics.CategoricalAccuracy(name="accuracy")],
        )
        model = keras.Model(audio, encoder(features), name="spoken_digits")
        model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
        return model, trainer
    if not args.adversarial:
        model = keras.Model(audio, encoder(features), name="spoken_digits")
        model.compile(optimizer=optimizer, loss=loss, metrics=["accuracy"])
        return model, model
    # Speaker-adversarial training: a speaker classifier reads the pooled
    # encoding through a gradient-reversal layer; the trainer optimises
    # both heads, the model (shared layers) predicts digits only.
    trunk = keras.Model(
        encoder.input, [encoder.output, encoder.get_layer("pool").output]
    )
    digits, pooled = trunk(features)
    hidden = zoo.layers.GradientReversal(args.adversarial, name="reversal")(
        pooled
    )
    hidden = keras.layers.Dense(64, activation="relu", name="adversary")(hidden)
    speaker = keras.layers.Dense(
        args.num_speakers, activation="softmax", name="speaker"
    )(hidden)
    trainer = keras.Model(audio, {"digit": digits, "speaker": speaker})
    trainer.compile(
        optimizer=optimizer,
        loss={"digit": loss, "speaker": loss},
        metrics={"digit": ["accuracy"]},
    )
    model = keras.Model(audio, digits, name="spoken_digits")
    model.compile(optimizer="adam", loss=loss, metrics=["accuracy"])
    return model, trainer


def reset(model, initial_weights) -> None:
    """Back to the initial weights and a fresh optimizer (zero moments, step
    0), keeping the compiled train step: one compilation for all folds."""
    model.set_weights(initial_weights)
    for variable in model.optimizer.variables:
        variable.assign(np.zeros(variable.shape, variable.dtype))


def mixed_batch(batch, digits, rng, alpha: float):
    """mixup inputs and targets for a `--mixup` trainer: each example is
    paired with the one a random permutation of the epoch puts in its place
    (rarely itself) and weighted w ~ Beta(α, α) against it; the target is
    the same mix of the two one-hot digits."""
    partner = rng.permutation(len(batch))
    weight = rng.beta(alpha, alpha, size=(len(batch), 1, 1))
    weight = weight.astype(np.float32)
    one_hot = np.eye(DIGITS, dtype=np.float32)[digits]
    targets = weight[:, 0] * one_hot + (1.0 - weight[:, 0]) * one_hot[partner]
    return [batch, batch[partner], weight], targets


def synthetic_mask(data) -> np.ndarray:
    """Which utterances are synthetic (`add_synthetic`); none without it."""
    return data.get("synthetic", np.zeros(len(data["digits"]), bool))


def split(data, speaker, args):
    """(train, validation, test) indexes for one held-out speaker.

    Synthetic utterances (`add_synthetic`) only ever join train.
    """
    rng = np.random.default_rng(args.seed)
    synthetic = synthetic_mask(data)
    held_out = data["speakers"] == speaker
    others = np.flatnonzero(~held_out & ~synthetic)
    rng.shuffle(others)
    cut = int(len(others) * 0.9)
    train = others[:cut][: getattr(args, "limit", None)]
    validation = others[cut:][: getattr(args, "limit", None)]
    train = np.concatenate([train, np.flatnonzero(synthetic)])
    return train, validation, np.flatnonzero(held_out)


def add_synthetic(data, path: str, count: int) -> dict:
    """`data` plus the first `count` utterances of a synthetic .npz
    (`zoo.data.synthetic_digits`), marked synthetic: training only."""
    extra = load(path)
    if count > len(extra["digits"]):
        raise ValueError(
            f"--synthetic-ratio asks for {count} utterances; {path} has "
            f"{len(extra['digits'])}"
        )
    real = len(data["digits"])
    return {
        "audio": data["audio"] + extra["audio"][:count],
        "digits": np.concatenate([data["digits"], extra["digits"][:count]]),
        "speakers": np.concatenate(
            [data["speakers"], extra["speakers"][:count]]
        ),
        "synthetic": np.arange(real + count) >= real,
    }


def run_fold(data, speaker, args, models, initial_weights) -> dict:
    model, trainer = models
    reset(trainer, initial_weights)
    rng = np.random.default_rng(args.seed)
    train, validation, test = split(data, speaker, args)
    length = args.max_samples

    def clean(indexes):
        return padded([data["audio"][i] for i in indexes], length)

    x_validation, y_validation = clean(validation), data["digits"][validation]
    x_test, y_test = clean(test), data["digits"][test]
    best, best_weights, history = -1.0, None, []
    start = time.perf_counter()
    synthetic = np.flatnonzero(synthetic_mask(data))
    for epoch in range(args.pretrain_epochs + args.epochs):
        # Pre-training epochs read the synthetic voices alone.
        pool = synthetic if epoch < args.pretrain_epochs else train
        order = rng.permutation(pool)
        waveforms = [
            augment(data["audio"][i], rng, args.speed)
            if args.augment
            else data["audio"][i]
            for i in order
        ]
        inputs, targets = padded(waveforms, length), data["digits"][order]
        if args.adversarial:
            targets = {"digit": targets, "speaker": data["speaker_ids"][order]}
        if args.mixup:
            inputs, targets = mixed_batch(inputs, targets, rng, args.mixup)
        logs = trainer.fit(
            inputs,
            targets,
            batch_size=args.batch_size,
            epochs=1,
            verbose=0,
        ).history
        logs["accuracy"] = logs.get("accuracy", logs.get("digit_accuracy"))
        _, accuracy = model.evaluate(
            x_validation, y_validation, batch_size=256, verbose=0
        )
        history.append(epoch_entry(epoch, logs, accuracy))
        if accuracy >= best:
            best, best_weights = accuracy, model.get_weights()
        print(
            f"{speaker} epoch {epoch + 1}: loss {logs['loss'][0]:.3f} "
            f"acc {logs['accuracy'][0]:.3f} val {accuracy:.3f}",
            flush=True,
        )
    model.set_weights(best_weights)
    fold = tested_fold(
        model,
        (x_test, y_test),
        speaker=speaker,
        best=best,
        seconds=time.perf_counter() - start,
        history=history,
    )
    if args.test_speeds:
        # Test-time speed perturbation: the mean probabilities over copies
        # of each test recording played at these speeds.
        copies = [
            model.predict(
                padded([resampled(data["audio"][i], f) for i in test], length),
                batch_size=256,
                verbose=0,
            )
            for f in args.test_speeds
        ]
        fold["test_speeds"] = scored(np.mean(copies, axis=0), y_test)
        accuracy = fold["test_speeds"]["test_accuracy"]
        print(f"{speaker}: at speeds {args.test_speeds} {accuracy:.4f}")
    return fold


def tested_fold(model, test, *, speaker, best, seconds, history) -> dict:
    """A fold's record: `model` (at its best validation epoch) scored on
    `test` = (inputs, digits), with the fold's training figures."""
    inputs, digits = test
    probabilities = model.predict(inputs, batch_size=256, verbose=0)
    scores = scored(probabilities, digits)
    print(f"{speaker}: test accuracy {scores['test_accuracy']:.4f}", flush=True)
    return {
        "speaker": speaker,
        "test_recordings": int(len(digits)),
        "best_val_accuracy": float(best),
        "training_s": seconds,
        # The 1-, 5- and 15-minute load averages when the fold ended (the
        # CPU is shared: wall times depend on them).
        "load_average": [round(value, 2) for value in os.getloadavg()],
        **scores,
        "history": history,
    }


def epoch_entry(epoch: int, logs: dict, accuracy: float) -> dict:
    """One epoch of a fold's history: its 1-based number, the training
    loss and accuracy (`fit`'s history of one epoch) and validation
    accuracy."""
    return {
        "epoch": epoch + 1,
        "loss": float(logs["loss"][0]),
        "accuracy": float(logs["accuracy"][0]),
        "val_accuracy": float(accuracy),
    }


def scored(probabilities: np.ndarray, digits: np.ndarray) -> dict:
    """Accuracy, confusion and the per-recording probabilities of a fold."""
    predictions = np.argmax(probabilities, -1)
    confusion = np.zeros((DIGITS, DIGITS), np.int64)
    np.add.at(confusion, (digits, predictions), 1)
    return {
        "test_accuracy": float(np.mean(predictions == digits)),
        # Rows: the spoken digit; columns: the predicted one.
        "confusion": confusion.tolist(),
        # Per test recording, in the fold's test order, so that runs can be
        # averaged afterwards (bench.loso_levers "label=a.json+b.json").
        "test_digits": digits.tolist(),
        "test_probabilities": np.round(probabilities, 5).tolist(),
    }


def write_results(directory: Path, name: str, meta: dict, folds) -> None:
    """`name`.json and .md; with --test-speeds also `name`_test_speeds.*,
    the same folds scored on the speed-perturbed copies."""
    runs = {name: (meta, folds)}
    if meta.get("test_speeds"):
        runs[f"{name}_test_speeds"] = (
            {**meta, "scored": f"mean over test speeds {meta['test_speeds']}"},
            [
                {
                    **{k: v for k, v in fold.items() if k != "test_speeds"},
                    **fold["test_speeds"],
                }
                for fold in folds
            ],
        )
    for stem, (run_meta, run_folds) in runs.items():
        (directory / f"{stem}.json").write_text(
            json.dumps({"meta": run_meta, "folds": run_folds}, indent=2) + "\n"
        )
        (directory / f"{stem}.md").write_text(markdown(run_folds, run_meta))


def markdown(folds, meta) -> str:
    spec = " + SpecAugment" if meta["spec_augment"] else ""
    if meta.get("adversarial"):
        spec += f" + speaker adversary (reversal weight {meta['adversarial']})"
    if meta.get("mixup"):
        alpha = meta["mixup"]
        spec += f" + mixup of the features (Beta({alpha}, {alpha}))"
    if meta.get("synthetic"):
        spec += (
            f" + synthetic voices ({meta['synthetic_ratio']} per real "
            "training recording)"
        )
    if meta.get("pretrain_epochs"):
        spec += (
            f", first {meta['pretrain_epochs']} epochs on the synthetic "
            "voices alone"
        )
    features = f"{meta['mels']} mels"
    if meta.get("cepstra"):
        features += f", first {meta['cepstra']} cepstra (MFCC)"
    # Runs before the option normalised by mean and variance.
    normalization = meta.get("normalization", "mean_variance")
    if normalization != "mean_variance":
        features += f", per-utterance normalisation {normalization!r}"
    augmentation = f"on (speed ±{meta['speed']})" if meta["augment"] else "off"
    accuracies = [fold["test_accuracy"] for fold in folds]
    worst = min(folds, key=lambda fold: fold["test_accuracy"])
    lines = [
        "# Spoken digits, leave one speaker out (in-memory arrays)",
        "",
        f"Command: `{meta['command']}`  ",
        f"Backend: {meta['backend']}, device {meta['device']}; versions "
        f"{meta['versions']}; {meta['date']}  ",
        f"Model: `{meta['model']}` {meta['model_args']} on LogMelFrontEnd "
        f"({features}){spec}"
        f"; {meta['epochs']} epochs, batch {meta['batch_size']}, Adam "
        f"{meta['learning_rate']} cosine; augmentation "
        f"{augmentation}."
        + (
            f" Test accuracy: the {meta['scored']}."
            if meta.get("scored")
            else ""
        ),
        "",
        "| held-out speaker | test accuracy | best validation accuracy | "
        "training s |",
        "| --- | --- | --- | --- |",
    ]
    for fold in folds:
        lines.append(
            f"| {fold['speaker']} | {fold['test_accuracy']:.1%} | "
            f"{fold['best_val_accuracy']:.1%} | {fold['training_s']:.0f} |"
        )
    lines += [
        "",
        f"**Mean {np.mean(accuracies):.2%}**, worst {worst['speaker']} "
        f"{worst['test_accuracy']:.1%} ({len(folds)} folds).",
        "",
        "Load average (1, 5, 15 min) at the end of each fold: "
        + "; ".join(
            f"{fold['speaker']} {fold.get('load_average')}" for fold in folds
        )
        + ".",
        "",
        "Confusion over all folds (rows: spoken digit, columns: predicted):",
        "",
        "| | " + " | ".join(str(digit) for digit in range(10)) + " |",
        "| --- " * 11 + "|",
    ]
    confusion = np.sum([fold["confusion"] for fold in folds], axis=0)
    for digit, row in enumerate(confusion):
        lines.append(f"| **{digit}** | " + " | ".join(map(str, row)) + " |")
    return "\n".join(lines) + "\n"


def known_speakers(data, speakers) -> bool:
    """Whether every one of `speakers` is in `data`; prints which are not."""
    unknown = sorted(set(speakers) - set(data["speakers"]))
    if unknown:
        known = sorted(set(data["speakers"]))
        print(f"Unknown speaker(s) {unknown}; have {known}")
    return not unknown


def with_synthetic(data, args, speaker: str) -> dict:
    """`data` plus --synthetic-ratio synthetic utterances per real training
    recording (of the fold holding out `speaker`), or `data` itself."""
    if not args.synthetic:
        return data
    real_train = len(split(data, speaker, args)[0])
    count = int(round(args.synthetic_ratio * real_train))
    return add_synthetic(data, args.synthetic, count)


def environment(module: str) -> dict:
    """A run's command (`python -m module` + argv), backend, device,
    versions and date, for its results' meta."""
    import keras

    versions = {"keras": keras.__version__, "numpy": np.__version__}
    for name in ("jax", "torch", "tensorflow"):
        loaded = sys.modules.get(name)
        if loaded is not None:
            versions[name] = loaded.__version__
    devices = keras.distribution.list_devices()
    return {
        "command": f"python -m {module} " + " ".join(sys.argv[1:]),
        "backend": keras.backend.backend(),
        "device": devices[0] if devices else platform.machine(),
        "versions": versions,
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }


def run(args) -> int:
    import keras

    data = load(args.data)
    speakers = args.speakers.split(",")
    if not known_speakers(data, speakers):
        return 2
    if args.mixup and args.adversarial:
        print("--mixup and --adversarial do not combine: choose one")
        return 2
    if args.pretrain_epochs and not args.synthetic:
        print("--pretrain-epochs needs --synthetic: nothing to pre-train on")
        return 2
    data = with_synthetic(data, args, speakers[0])
    meta = {
        **environment("bench.speaker_independent_arrays"),
        **{
            key: getattr(args, key)
            for key in (
                "model",
                "model_args",
                "mels",
                "cepstra",
                "normalization",
                "spec_augment",
                "epochs",
                "batch_size",
                "learning_rate",
                "augment",
                "speed",
                "seed",
                "synthetic",
                "synthetic_ratio",
                "adversarial",
                "mixup",
                "pretrain_epochs",
                "test_speeds",
            )
        },
    }
    keras.utils.set_random_seed(args.seed)
    args.train_size = len(split(data, speakers[0], args)[0])
    # Speaker labels for the adversary: every synthetic voice is one class.
    synthetic = synthetic_mask(data)
    args.pretrain_size = int(np.sum(synthetic))
    names, data["speaker_ids"] = np.unique(
        np.where(synthetic, "synthetic", data["speakers"]), return_inverse=True
    )
    args.num_speakers = len(names)
    models = build_model(args)
    initial_weights = models[1].get_weights()
    folds = []
    directory = Path(args.results_dir)
    directory.mkdir(parents=True, exist_ok=True)
    for speaker in speakers:
        folds.append(run_fold(data, speaker, args, models, initial_weights))
        # Written after every fold, so a stopped run keeps its folds.
        write_results(directory, args.name, meta, folds)
    print(markdown(folds, meta))
    return 0


def speeds(text: str) -> list[float]:
    """'0.9,1,1.1' -> [0.9, 1.0, 1.1], each a positive factor."""
    try:
        factors = [float(part) for part in text.split(",")]
    except ValueError:
        factors = []
    if not factors or min(factors) <= 0:
        raise argparse.ArgumentTypeError(
            f"expected positive comma-separated factors, got {text!r}"
        )
    return factors


def non_negative(text: str) -> float:
    """A finite number >= 0 (argparse type)."""
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not np.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(
            f"expected a finite number >= 0, got {text!r}"
        )
    return value


def parse_args(argv):
    from zoo.features import NORMALIZATIONS

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    packer = commands.add_parser("pack", help="recordings -> .npz")
    packer.add_argument("source", help="fsdd tar.gz or recordings folder")
    packer.add_argument("destination", help="the .npz to write")
    runner = commands.add_parser("run", help="train and test every fold")
    runner.add_argument("data", help="the .npz written by `pack`")
    runner.add_argument("--speakers", default=",".join(SPEAKERS))
    runner.add_argument("--model", default="cldnn")
    runner.add_argument(
        "--model-args",
        # The recipe's cldnn (recipes/spoken_digits.py MODEL_ARGS).
        default=json.dumps(
            {
                "filters": 32,
                "projection_dim": 64,
                "units": 64,
                "dnn_units": 64,
                "dropout": 0.2,
            }
        ),
        help="JSON of builder overrides",
    )
    runner.add_argument("--mels", type=int, default=40)
    runner.add_argument(
        "--cepstra",
        type=int,
        default=None,
        help="MFCCs: the first K DCT coefficients of the log-mels instead",
    )
    runner.add_argument(
        "--normalization",
        choices=NORMALIZATIONS,
        default="mean_variance",
        help="the front end's per-utterance normalisation",
    )
    runner.add_argument("--epochs", type=int, default=40)
    runner.add_argument("--batch-size", type=int, default=32)
    runner.add_argument("--learning-rate", type=float, default=2e-3)
    runner.add_argument("--speed", type=float, default=0.15)
    runner.add_argument("--max-samples", type=int, default=12000)
    runner.add_argument(
        "--test-speeds",
        type=speeds,
        default=None,
        help="e.g. 0.9,1,1.1: also score the mean prediction over test "
        "copies at these speeds (written as NAME_test_speeds.json)",
    )
    runner.add_argument(
        "--limit", type=int, default=None, help="at most N training examples"
    )
    runner.add_argument("--no-augment", dest="augment", action="store_false")
    runner.add_argument(
        "--no-spec-augment", dest="spec_augment", action="store_false"
    )
    runner.add_argument(
        "--synthetic",
        default=None,
        help="a .npz of zoo.data.synthetic_digits to mix into training",
    )
    runner.add_argument(
        "--synthetic-ratio",
        type=float,
        default=1.0,
        help="synthetic utterances per real training recording",
    )
    runner.add_argument(
        "--adversarial",
        type=float,
        default=0.0,
        help="speaker-adversarial training: the gradient-reversal weight "
        "(0: off)",
    )
    runner.add_argument(
        "--mixup",
        type=non_negative,
        default=0.0,
        help="mixup of the normalised features: α of the Beta(α, α) mixing "
        "weight (0: off; the mixup paper used 0.1 and 0.2 on speech)",
    )
    runner.add_argument(
        "--pretrain-epochs",
        type=int,
        default=0,
        help="epochs on the synthetic voices alone before the --epochs on "
        "real (and mixed-in synthetic) recordings",
    )
    runner.add_argument("--seed", type=int, default=1337)
    runner.add_argument("--results-dir", default=str(RESULTS))
    runner.add_argument(
        "--name", default="spoken_digits_speaker_independent_arrays"
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.command == "pack":
        print(pack(args.source, args.destination))
        return 0
    return run(args)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    sys.exit(main())

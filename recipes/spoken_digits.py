"""Spoken digit classification on FSDD, from raw 8 kHz audio.

Task: which digit (0-9) does an isolated recording say? Data: the Free
Spoken Digit Dataset (5 speakers x 10 digits x 50 takes). The model is
raw audio -> `zoo.features.LogMelFrontEnd` (40 log-mels, 25 ms / 10 ms,
per-utterance normalisation) -> any registry model with features input
(default `cldnn`), so the exported SavedModel takes raw waveforms.

Splits: "customary" (takes 0-4 are test) or "speaker" (`--holdout-speakers`
are test: speaker-independent). With "speaker", validation holds out whole
speakers too (`--validation-speakers`, default the first training speaker
by name), so the checkpoint is chosen on a voice the model never trained
on. Training augments the waveforms (speed +-10 % by resampling, up to
100 ms leading shift, +-6 dB gain, white noise at 10-40 dB SNR);
`--synthetic` mixes in generated voices (`zoo.data.synthetic_digits`).
`--cepstra 13` feeds the first 13 MFCCs instead of the log-mels (`--mels`
sets the bands);
`--ensemble A.keras B.keras` evaluates and exports the mean of trained
runs' probabilities (members may differ in features: log-mel and MFCC
members err on different recordings). `--front-end speech-embedding`
feeds the encoder a pretrained, frozen speech embedding instead
(`zoo.speech_embedding`, 96-d every 80 ms; the `speech` extra), its
standardisation fit to the clean training recordings before training:
the features that hold up on unseen speakers (LOSO 96.7 %).

Expected (2 shared CPU cores): one member of the shipped model (20 epochs,
synthetic voices 1:1) trains in ~5 min and scores 93-97 % on held-back
takes of the training speakers but 81-83 % on an unseen speaker
(leave-one-speaker-out, bench/results/spoken_digits_loso_levers.md); the
shipped average of two log-mel and two MFCC members 98.8 % and 87.0 %;
a bidirectional_gru on the speech embedding (shipped version 8) trains in
~20 min here (the frozen front end runs forward on every batch) and
reaches 96.7 % on unseen speakers
(bench/results/spoken_digits_loso_speech_embedding.md).

    zoo train spoken-digits --split speaker --holdout-speakers theo
    zoo train spoken-digits --split customary --epochs 20 --patience 20 \\
        --synthetic synthetic_digits.npz --synthetic-ratio 0.98

`--strategy` (auto, default, mirrored, multi_worker; TF_CONFIG) trains on
several GPUs or machines: README.md, "Reliability and scale".
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import zoo
import zoo.data
from recipes import runner
from recipes import speech_common as common
from zoo import distribute
from zoo import export
from zoo import training
from zoo.data import epochs
from zoo.data import padding
from zoo.data import synthetic_digits

TASK = "spoken-digits"
NAME = "spoken_digits"
FRONT_END = {"num_mel_bins": 40}
COMBINATION = "probabilities = the mean of the members' probabilities"
# The CLDNN of Sainath et al. (2015), 2-D kernels 9x9 then 4x3 and
# frequency pooling 3, scaled to 2,500 recordings: 32 maps, not 256.
MODEL_ARGS = {
    "cldnn": {
        "filters": 32,
        "projection_dim": 64,
        "units": 64,
        "num_lstm_layers": 2,
        "dnn_units": 64,
        "dropout": 0.2,
    },
}
SMOKE_ARGS = {
    "cldnn": {
        "filters": 2,
        "projection_dim": 4,
        "units": 4,
        "num_lstm_layers": 1,
        "dnn_units": 4,
    }
}


def parse_args(argv=None, prog=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=prog or f"zoo train {TASK}",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = common.add_data_arguments(parser)
    data.add_argument(
        "--split", choices=("customary", "speaker"), default="customary"
    )
    data.add_argument(
        "--synthetic",
        default=None,
        help="a .npz of `python -m zoo.data.synthetic_digits` to mix into "
        "training (never validation or test)",
    )
    data.add_argument(
        "--synthetic-ratio",
        type=float,
        default=1.0,
        help="synthetic utterances per real training recording",
    )
    data.add_argument(
        "--validation-speakers",
        type=common.speakers,
        default=None,
        help="--split speaker: the validation speakers (default: the first "
        "training speaker by name)",
    )
    model = common.add_model_arguments(
        parser, default="cldnn", example='{"units": 32}'
    )
    common.add_front_end_arguments(
        model,
        embedding_evidence="unseen speakers 96 %% vs 80-83 %%, bench/results/"
        "spoken_digits_loso_speech_embedding.md",
    )
    model.add_argument(
        "--ensemble",
        nargs="+",
        default=None,
        metavar="KERAS",
        help="evaluate (and export) the mean of these .keras models' "
        "probabilities (runs' best.keras of this recipe; their front ends "
        "may differ, e.g. log-mel and MFCC members); no training",
    )
    common.add_training_arguments(
        parser, epochs=30, batch_size=32, learning_rate=2e-3
    )
    runner.add_run_arguments(parser)
    parser.add_argument(
        "--loso-results",
        default=None,
        help="a bench.speaker_independent_arrays JSON of these settings: "
        "its leave-one-speaker-out figures go into the model card",
    )
    args = parser.parse_args(argv)
    if args.split == "speaker" and not args.holdout_speakers:
        parser.error("--split speaker needs --holdout-speakers, e.g. theo")
    if args.split == "customary" and (
        args.holdout_speakers or args.validation_speakers
    ):
        parser.error("--holdout-speakers needs --split speaker")
    common.check_model(parser, args)
    if args.ensemble and len(args.ensemble) < 2:
        parser.error("--ensemble needs two or more models")
    common.check_front_end(parser, args, FRONT_END)
    if args.output_dir is None:
        args.output_dir = f"runs/{NAME}/{args.model}-{args.split}"
    return args


def load_data(args):
    """Batched splits; "train" is a `zoo.data.EpochDataset` whose shuffle
    and augmentation are seeded by `--seed` and the epoch."""

    def load(validation_speakers):
        return zoo.data.load_fsdd(
            args.data,
            split=args.split,
            holdout_speakers=args.holdout_speakers or (),
            validation_speakers=validation_speakers,
            data_dir=args.data_dir,
            seed=args.seed,
            shuffle=False,  # Shuffled below, by the epoch.
        )

    try:
        fsdd = load(args.validation_speakers or ())
        if args.split == "speaker" and not args.validation_speakers:
            # Model selection on an unseen voice: hold out a whole speaker.
            training = sorted(
                set(fsdd.info.speakers) - set(args.holdout_speakers)
            )
            if len(training) < 2:
                common.fail(
                    "--split speaker needs two training speakers (one "
                    f"validates); have {training}"
                )
            fsdd = load(training[:1])
    except (zoo.data.DataError, ValueError, OSError) as error:
        common.fail(f"cannot load --data {args.data!r}: {error}")

    def batches(split):
        if args.smoke:
            split = split.take(8)
        # Bucket lengths: a handful of batch shapes, each compiled once
        # under JAX (zoo.data.padding).
        return padding.padded_batch(split, args.batch_size).prefetch(2)

    train_source = fsdd.train
    if args.synthetic:
        count = int(round(args.synthetic_ratio * fsdd.info.num_train))
        try:
            extra = synthetic_digits.load_dataset(args.synthetic, count)
        except (zoo.data.DataError, OSError, KeyError) as error:
            common.fail(f"cannot load --synthetic {args.synthetic!r}: {error}")
        train_source = train_source.concatenate(extra)

    def train(epoch):
        split = epochs.shuffle(train_source, 8192, args.seed, epoch)
        if args.augment:
            split = common.augmented(split, args.seed + epoch)
        return batches(split)

    datasets = {
        "train": zoo.data.EpochDataset(train),
        # Unaugmented and unshuffled: what the speech embedding's
        # standardisation is fit to.
        "train_clean": batches(train_source),
        "validation": batches(fsdd.validation),
        "test": batches(fsdd.test),
    }
    return datasets, fsdd.info


def ensemble_model(paths) -> tuple[keras.Model, list]:
    """(model, members): raw audio -> every member (its own front end and
    encoder) -> the mean of their probabilities (`keras.layers.Average`).

    Members with different front ends (log-mels, MFCCs) make errors on
    different recordings, which is where averaging pays
    (bench/results/spoken_digits_loso_levers.md).
    """
    members = common.load_members(paths)
    audio = keras.Input(shape=(None,), dtype="float32", name="audio")
    outputs = []
    for index, (path, member) in enumerate(zip(paths, members, strict=True)):
        if tuple(member.output_shape) != (None, 10):
            common.fail(
                f"--ensemble {path!r} is not a spoken-digits model (its "
                f"output is shaped {member.output_shape}, not (None, 10))"
            )
        member.name = f"member_{index}"
        outputs.append(member(audio))
    mean = keras.layers.Average(name="mean_probability")(outputs)
    return keras.Model(audio, mean, name=f"{NAME}_ensemble"), members


def build_model(args) -> keras.Model:
    overrides = (SMOKE_ARGS if args.smoke else MODEL_ARGS).get(args.model, {})
    overrides = {**overrides, **(args.model_args or {})}
    model, _ = common.audio_model(
        args.model,
        common.front_end(args, FRONT_END),
        NAME,
        num_classes=10,
        output_activation="softmax",
        **overrides,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate, clipnorm=5.0),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
        run_eagerly=common.smoke_eagerly(args),
    )
    return model


def evaluate(model, dataset) -> dict:
    labels, predictions = [], []
    for audio, label in dataset:
        labels.append(label.numpy())
        predictions.append(
            np.argmax(model.predict_on_batch(audio.numpy()), axis=-1)
        )
    labels, predictions = np.concatenate(labels), np.concatenate(predictions)
    confusion = np.zeros((10, 10), np.int64)
    np.add.at(confusion, (labels, predictions), 1)
    return {
        "accuracy": float(np.mean(labels == predictions)),
        "num_examples": int(len(labels)),
        "confusion": confusion.tolist(),
    }


def plot_confusion(confusion, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    confusion = np.asarray(confusion)
    figure, axis = plt.subplots(figsize=(5, 4.5))
    axis.imshow(confusion, cmap="Blues")
    for (row, column), count in np.ndenumerate(confusion):
        if count:
            axis.text(
                column,
                row,
                count,
                ha="center",
                va="center",
                fontsize=7,
                color="white" if count > confusion.max() / 2 else "black",
            )
    axis.set(
        xticks=range(10),
        yticks=range(10),
        xlabel="predicted",
        ylabel="spoken",
        title=title,
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def digit_endpoint(model: keras.Model) -> export.Endpoint:
    """The exported signature: checked audio -> probabilities and digit."""

    def serve(audio):
        probabilities = model(common.checked_audio(audio), training=False)
        return {
            "probabilities": tf.cast(probabilities, tf.float32),
            "digit": tf.argmax(probabilities, axis=-1, output_type=tf.int64),
        }

    return export.Endpoint(serve, {"audio": common.AUDIO_SPEC})


def export_endpoints(model: keras.Model) -> tuple[dict, tuple]:
    """`runner.ExportPlan.endpoints`: the signatures and what they track
    (nothing: the endpoints' variables are saved without tracking)."""
    return {"serving_default": digit_endpoint(model)}, ()


def loso_summary(path: str) -> dict:
    """The unseen-speaker figures of a LOSO benchmark run, for the card."""
    run = json.loads(Path(path).read_text())
    accuracy = {f["speaker"]: f["test_accuracy"] for f in run["folds"]}
    return {
        "mean_accuracy": round(float(np.mean(list(accuracy.values()))), 4),
        "per_speaker": {k: round(v, 4) for k, v in accuracy.items()},
        "command": run["meta"]["command"],
        "source": Path(path).name,
    }


def export_plan(model, args, dataset, metrics, info) -> runner.ExportPlan:
    card = {
        "name": NAME,
        "task": "isolated spoken digit classification (0-9)",
        "model": (
            f"average of {len(args.ensemble)} models"
            if args.ensemble
            else args.model
        ),
        "front_end": common.front_end_summary(model),
        "inputs": "audio: float32 [batch, samples], 8 kHz mono, in [-1, 1], "
        "zero-padded on the right",
        "outputs": "probabilities: float32 [batch, 10]; digit: int64 [batch]",
        "sample_rate": common.SAMPLE_RATE,
        "all_zero_audio": "has no valid frame; the encoder sees a fully masked "
        "sequence and returns a fixed, input-independent guess",
        "synthetic": (
            f"{Path(args.synthetic).name}, {args.synthetic_ratio} per real "
            "training recording"
            if args.synthetic
            else None
        ),
        "data": f"FSDD {info.speakers}, split={info.split}, "
        f"holdout={list(info.holdout_speakers)}, "
        f"validation={list(info.validation_speakers)}",
        "metrics": {k: v for k, v in metrics.items() if k != "confusion"},
        "parameters": model.count_params(),
    }
    if args.ensemble:
        card["ensemble"] = common.ensemble_summary(
            args.ensemble, combination=COMBINATION
        )
    if args.loso_results:
        card["leave_one_speaker_out"] = loso_summary(args.loso_results)
    probe = next(iter(dataset))[0].numpy()[:4]
    return runner.ExportPlan(
        endpoints=export_endpoints,
        probe_inputs={"audio": probe},
        card=card,
        reference_outputs={
            "probabilities": np.asarray(model.predict_on_batch(probe))
        },
        atol=1e-4,
    )


def train_task(args, strategy) -> runner.Trained | None:
    """Trains and evaluates; the runner writes and exports."""
    datasets, info = load_data(args)
    output_dir = Path(args.output_dir)
    if args.ensemble:
        with strategy.scope():
            model, _ = ensemble_model(args.ensemble)
        history, train_seconds = None, 0.0
    else:
        with strategy.scope():
            model = build_model(args)
        if args.front_end == common.SPEECH_EMBEDDING:
            count = common.adapt_speech_embedding(
                model, datasets["train_clean"]
            )
            print(f"speech embedding standardised on {count} embeddings")
        model, history, train_seconds = common.fit(
            args,
            strategy,
            model,
            datasets,
            monitor="val_accuracy",
            mode="max",
            metrics={"accuracy": "sparse_categorical_accuracy"},
        )
    if not distribute.is_chief(strategy):
        return None
    test = evaluate(model, datasets["test"])
    if history:
        training.plot_history(
            history,
            output_dir / "curves.png",
            f"{args.model} on FSDD ({args.split})",
        )
        metrics = {"validation": {"accuracy": max(history["val_accuracy"])}}
    else:
        # No validation figure: members trained with other seeds drew other
        # validation recordings, some of which another member trained on.
        output_dir.mkdir(parents=True, exist_ok=True)
        metrics = {}
    label = f"average of {len(args.ensemble)}" if args.ensemble else args.model
    plot_confusion(
        test["confusion"],
        output_dir / "confusion.png",
        f"{label}: test accuracy {test['accuracy']:.1%}",
    )
    return runner.Trained(
        model=model,
        metrics={**metrics, "test": test},
        training={
            "epochs_run": len(history["loss"]) if history else 0,
            "train_seconds": round(train_seconds, 1),
            "ensemble": args.ensemble,
        },
        model_config=args.model_args or {},
        data={
            "split": args.split,
            "holdout_speakers": list(info.holdout_speakers),
            "validation_speakers": list(info.validation_speakers),
            "speakers": list(info.speakers),
        },
        export=export_plan(model, args, datasets["test"], test, info),
        summary=f"test accuracy {test['accuracy']:.4f} on "
        f"{test['num_examples']} recordings ({train_seconds:.0f} s training)",
    )


def main(argv=None, prog=None) -> int:
    """`zoo train spoken-digits`: the exit code (0 done, 2 a usage or data
    error)."""
    args = parse_args(argv, prog)
    return runner.run(TASK, args, train_task, argv, check=check_paths)


def check_paths(args) -> None:
    common.check_paths(args)
    if args.loso_results and not Path(args.loso_results).is_file():
        common.fail(f"--loso-results {args.loso_results!r} does not exist")


if __name__ == "__main__":
    raise SystemExit(main())

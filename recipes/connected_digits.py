"""Connected-digit recognition with CTC, from raw 8 kHz audio.

Task: transcribe an utterance of 1-7 digits ("4071"). Data: utterances
synthesised from FSDD recordings (`zoo.data.make_connected_digits`: trimmed
digits, random pauses, gain and white/pink/babble noise at 5-30 dB SNR);
the recordings of `--holdout-speakers` (default theo) are the test set. The
model is raw audio -> `zoo.features.LogMelFrontEnd` (40 log-mels, 20 ms
frames) -> an encoder with a per-frame head over 11 classes (digits 0-9,
blank 10), trained with CTC. The default encoder, `pyramid_lstm`, halves
the time axis at each of its 2 levels, so its outputs are 80 ms apart.
`--front-end speech-embedding` feeds the encoder the pretrained, frozen
speech embedding instead (`zoo.speech_embedding`: already one vector per
80 ms, so the default encoder becomes `bidirectional_gru`, which keeps the
time axis; `--embedding-margin` sets its silence around the utterance);
on an unseen speaker the shipped version 4 (three such runs averaged,
`--decoding beam_search`) errs on 9.5 % of digits against 14.3 % for the
log-mel pyramid (bench/results/connected_digits_speech_embedding.md).
Metrics: digit error rate (edit distance / reference digits) and string
accuracy, with greedy and beam-search decoding. `--synthetic` adds
training utterances from generated voices: their digits joined
(`zoo.data.synthetic_digits`) or digit strings spoken whole
(`zoo.data.synthetic_phrases`); bench/results/connected_digits_synthetic.md.

Expected (2 shared CPU cores): see bench/results/connected_digits.md.

    zoo train connected-digits --train-utterances 800 \
        --batch-size 16 --epochs 12 --version 1

`--strategy` (auto, default, mirrored, multi_worker; TF_CONFIG) trains on
several GPUs or machines: README.md, "Reliability and scale".
"""

from __future__ import annotations

import argparse
import hashlib
import json
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf
from keras import ops

import zoo
import zoo.data
from recipes import runner
from recipes import speech_common as common
from zoo import distribute
from zoo import export
from zoo import training
from zoo.cli import positive_int
from zoo.data import epochs
from zoo.data import padding
from zoo.data import synthetic_digits
from zoo.data import synthetic_phrases
from zoo.data.connected_digits import BLANK
from zoo.data.connected_digits import NUM_CLASSES
from zoo.data.connected_digits import phrase_utterances
from zoo.data.connected_digits import synthesize_utterances
from zoo.data.connected_digits import to_dataset

TASK = "connected-digits"
NAME = "connected_digits"
# 20 ms frames: half the recurrent steps of 10 ms, still ~15 per digit.
FRONT_END = {"num_mel_bins": 40, "frame_step": 160}
MODEL_ARGS = {
    "pyramid_lstm": {"units": 48, "num_levels": 2, "dropout": 0.1},
    "bidirectional_lstm": {"units": 48, "num_layers": 3, "dropout": 0.1},
    "bidirectional_gru": {"units": 64},
}
SMOKE_ARGS = {
    "pyramid_lstm": {"units": 4, "num_levels": 1},
    "bidirectional_lstm": {"units": 4, "num_layers": 1},
    "bidirectional_gru": {"units": 4},
}
DECODERS = ("greedy", "beam_search")
# The default encoders: the pyramid reduces the log-mels' 20 ms frames to
# 80 ms; the speech embedding is 80 ms apart already.
DEFAULT_MODEL = {
    "log-mel": "pyramid_lstm",
    "speech-embedding": "bidirectional_gru",
}


def parse_args(argv=None, prog=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=prog or f"zoo train {TASK}",
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    data = common.add_data_arguments(parser)
    data.add_argument("--train-utterances", type=positive_int, default=3000)
    data.add_argument("--test-utterances", type=positive_int, default=300)
    data.add_argument(
        "--validation-speakers",
        type=common.speakers,
        default=None,
        help="speakers whose recordings make the validation utterances, "
        "e.g. george: model selection on an unseen voice (default: a "
        "seeded 10%% of the training speakers' recordings)",
    )
    data.add_argument(
        "--synthetic",
        nargs="+",
        default=None,
        metavar="NPZ",
        help="extra training utterances (never validation or test) from "
        "generated voices: a .npz of `python -m zoo.data.synthetic_digits` "
        "(its digits joined like the real ones) or of `python -m "
        "zoo.data.synthetic_phrases` (digit strings spoken whole); several "
        "files add up",
    )
    data.add_argument(
        "--synthetic-utterances",
        type=positive_int,
        default=None,
        help="how many from each --synthetic file (default: as many as "
        "--train-utterances)",
    )
    model = common.add_model_arguments(
        parser, default=None, example='{"num_levels": 2}'
    )
    common.add_front_end_arguments(
        model,
        embedding_evidence="bench/results/connected_digits_speech_embedding.md",
    )
    model.add_argument("--beam-width", type=positive_int, default=16)
    model.add_argument(
        "--decoding",
        choices=DECODERS,
        default="greedy",
        help="how the exported model turns logits into `digits` (both are "
        "measured on the test set either way)",
    )
    model.add_argument(
        "--from-checkpoint",
        default=None,
        help="start from this .keras model (e.g. a run's best.keras), "
        "optimizer state included, and train --epochs more",
    )
    model.add_argument(
        "--skip-training",
        action="store_true",
        help="with --from-checkpoint: only evaluate (and export)",
    )
    model.add_argument(
        "--ensemble",
        nargs="+",
        default=None,
        metavar="KERAS",
        help="evaluate (and export) the average of these .keras models' "
        "per-frame probabilities (runs' best.keras of this recipe, one "
        "front end); no training",
    )
    common.add_training_arguments(
        parser, epochs=30, batch_size=32, learning_rate=2e-3
    )
    runner.add_run_arguments(parser)
    args = parser.parse_args(argv)
    args.holdout_speakers = args.holdout_speakers or ("theo",)
    if args.synthetic_utterances and not args.synthetic:
        parser.error("--synthetic-utterances needs --synthetic")
    if args.ensemble and args.from_checkpoint:
        parser.error("--ensemble and --from-checkpoint exclude each other")
    if args.ensemble and len(args.ensemble) < 2:
        parser.error("--ensemble needs two or more models")
    common.check_front_end(parser, args, FRONT_END)
    args.model = args.model or DEFAULT_MODEL[args.front_end]
    common.check_model(parser, args)
    if args.output_dir is None:
        args.output_dir = f"runs/{NAME}/{args.model}"
    return args


@keras.saving.register_keras_serializable(package="zoo_recipes")
class PackedCTC(keras.losses.Loss):
    """Mean CTC over packed targets: y_true = [output length, digits, -1...].

    The output length travels in y_true because a loss sees no input. The
    encoder's output mask is ignored on purpose: CTC already scores whole
    utterances, and Keras' per-frame mask weighting does not apply to it.
    """

    def call(self, y_true, y_pred):
        # Keras may have expanded y_true to [batch, 1 + digits, 1].
        y_true = ops.reshape(y_true, (ops.shape(y_true)[0], -1))
        output_length = ops.cast(y_true[:, 0], "int32")
        labels = ops.cast(y_true[:, 1:], "int32")
        label_length = ops.sum(ops.cast(labels >= 0, "int32"), axis=1)
        return ops.ctc_loss(
            ops.maximum(labels, 0),
            y_pred,
            label_length,
            output_length,
            mask_index=BLANK,
        )

    def __call__(self, y_true, y_pred, sample_weight=None):
        return ops.mean(self.call(y_true, ops.cast(y_pred, "float32")))


COMBINATION = (
    "logits = log of the mean of the members' per-frame softmax probabilities"
)


@keras.saving.register_keras_serializable(package="zoo_recipes")
class MeanProbabilityLogits(keras.layers.Layer):
    """The logits of an average of models: log((1/K) sum_k softmax(z_k)).

    Call arguments: a list of K logits tensors [batch, time, classes] with
    one mask (the models share their front end and time reduction, so
    their masks are the same); returns log-probabilities of the same
    shape, which softmax and CTC decoding take as logits.
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.supports_masking = True

    def call(self, inputs):
        log_probabilities = ops.stack(
            [ops.log_softmax(ops.cast(x, "float32"), axis=-1) for x in inputs]
        )
        count = ops.cast(len(inputs), "float32")
        return ops.logsumexp(log_probabilities, axis=0) - ops.log(count)

    def compute_mask(self, inputs, mask=None):
        return None if mask is None else mask[0]

    def compute_output_shape(self, input_shape):
        return input_shape[0]


# Front-end settings that place the frames (LogMelFrontEnd's, and the
# speech embedding's margin); members must share them.
FRAMING = ("sample_rate", "frame_length", "frame_step", "fft_length", "margin")


def ensemble_model(paths) -> tuple[keras.Model, keras.Model]:
    """(model, first member's encoder): raw audio -> the members' front ends
    (one per distinct setting: log-mels, MFCCs) -> each member's encoder ->
    `MeanProbabilityLogits`. The first front end keeps the name
    "front_end" (the pipeline reads its frame counts)."""
    members = common.load_members(paths)
    first_layer = members[0].get_layer("front_end")
    first = first_layer.get_config()
    audio = keras.Input(shape=(None,), dtype="float32", name="audio")
    features, encoders, outputs = {}, [], []
    for index, (path, member) in enumerate(zip(paths, members, strict=True)):
        front_end = member.get_layer("front_end")
        config = front_end.get_config()
        if type(front_end) is not type(first_layer) or any(
            config.get(key) != first.get(key) for key in FRAMING
        ):
            common.fail(
                f"--ensemble {path!r} frames its audio unlike "
                f"{paths[0]!r} (the front end's kind or its "
                f"{', '.join(FRAMING)} differ): their outputs would not "
                "line up"
            )
        # One front end per distinct setting and weights (a speech
        # embedding's standardisation is a weight).
        key = json.dumps({k: v for k, v in config.items() if k != "name"})
        key += hashlib.sha256(
            b"".join(np.asarray(w).tobytes() for w in front_end.get_weights())
        ).hexdigest()
        if key not in features:
            front_end.name = (
                "front_end" if not features else f"front_end_{len(features)}"
            )
            features[key] = front_end(audio)
        encoder = member.layers[-1]  # audio -> front end -> encoder
        encoder.name = f"member_{index}_{encoder.name}"
        encoders.append(encoder)
        outputs.append(encoder(features[key]))
    logits = MeanProbabilityLogits(name="mean_probability")(outputs)
    return keras.Model(audio, logits, name=f"{NAME}_ensemble"), encoders[0]


def reduction_factor(encoder) -> int:
    """How many input frames make one output step (probed: 64 frames in)."""
    probe = np.ones((1, 64, encoder.input_shape[-1]), np.float32)
    return 64 // int(encoder(probe).shape[1])


def output_lengths(front_end, audio, factor: int):
    """The valid output steps of each utterance: ceil(valid frames / k)."""
    frames = front_end.valid_frames(audio)
    return (frames + factor - 1) // factor


def pipeline_output_length(front_end, audio, factor: int):
    """`output_lengths` of one utterance inside a tf.data map, under any
    Keras backend: TensorFlow ops on the map's tensor (`keras.ops` would
    be JAX's or PyTorch's there), with the front end's own frame rule."""
    positions = tf.range(1, tf.shape(audio)[0] + 1)
    length = tf.reduce_max(
        tf.concat([tf.where(audio != 0, positions, 0), [0]], axis=0)
    )
    frames = front_end.frames_of_length(length, xp=tf.experimental.numpy)
    return tf.cast((frames + factor - 1) // factor, tf.int32)


def load_data(args, front_end, factor: int):
    recordings = common.load_recordings(args)
    sizes = {
        "train": args.train_utterances,
        "validation": max(args.test_utterances // 2, 1),
        "test": args.test_utterances,
    }
    config = zoo.data.SynthesisConfig()
    if args.smoke:
        sizes = {"train": 4, "validation": 2, "test": 2}
        config = zoo.data.SynthesisConfig(max_digits=2, max_pause=0.1)
    try:
        corpus = zoo.data.make_connected_digits(
            recordings,
            num_utterances=sizes,
            config=config,
            holdout_speakers=args.holdout_speakers,
            validation_speakers=args.validation_speakers,
            seed=args.seed,
        )
    except ValueError as error:
        common.fail(str(error))

    train_source = corpus.train
    if args.synthetic:
        utterances = list(corpus.utterances["train"])
        utterances += synthetic_utterances(args, config)
        # Interleaved once, so that the 512-utterance shuffle buffer does
        # not see the real and the synthetic utterances as two blocks.
        order = np.random.default_rng(args.seed).permutation(len(utterances))
        train_source = to_dataset([utterances[i] for i in order])

    def pack(audio, digits):
        length = pipeline_output_length(front_end, audio, factor)
        return audio, tf.concat([[length], digits], axis=0)

    def batches(dataset):
        # Audio padded to bucket lengths, targets to the longest transcript:
        # a handful of batch shapes, each compiled once under JAX.
        return padding.padded_batch(
            dataset.map(pack),
            args.batch_size,
            padded_shapes=([None], [1 + config.max_digits]),
            padding_values=(0.0, -1),
        ).prefetch(2)

    def train(epoch):
        # Shuffle and augmentation seeded by the epoch: a resumed run sees
        # the batches of an uninterrupted one.
        # (--no-augment drops the perturbation, never the shuffle.)
        dataset = epochs.shuffle(train_source, 512, args.seed, epoch)
        if args.augment:
            dataset = common.augmented(dataset, args.seed + epoch)
        return batches(dataset)

    datasets = {
        "train": zoo.data.EpochDataset(train),
        "train_clean": batches(corpus.train),
        "validation": batches(corpus.validation),
        "test": batches(corpus.test),
    }
    return datasets, corpus


def synthetic_utterances(args, config) -> list:
    """`synthetic_count` training utterances from each `--synthetic` file:
    phrases spoken whole, or digits joined like the real ones (one voice's
    per utterance: `synthetic_digits.speaker_of` groups them)."""
    utterances = []
    for index, path in enumerate(args.synthetic):
        seed = args.seed + 1 + index
        try:
            if synthetic_phrases.is_phrase_file(path):
                phrases = synthetic_phrases.load_phrases(
                    path, synthetic_count(args)
                )
                utterances += phrase_utterances(
                    phrases, seed=seed, config=config
                )
                continue
            recordings = synthetic_digits.load_recordings(path)
        except (zoo.data.DataError, OSError, KeyError, ValueError) as error:
            common.fail(f"cannot load --synthetic {path!r}: {error}")
        utterances += synthesize_utterances(
            recordings, synthetic_count(args), seed=seed, config=config
        )
    return utterances


def synthetic_count(args) -> int:
    if args.smoke:
        return 2
    return args.synthetic_utterances or args.train_utterances


def synthetic_summary(args) -> str | None:
    if not args.synthetic:
        return None
    return "; ".join(
        f"{Path(path).name}, {synthetic_count(args)} utterances"
        for path in args.synthetic
    )


def build_model(args):
    overrides = (SMOKE_ARGS if args.smoke else MODEL_ARGS).get(args.model, {})
    overrides = {**overrides, **(args.model_args or {})}
    model, encoder = common.audio_model(
        args.model,
        common.front_end(args, FRONT_END),
        NAME,
        head="sequence",
        num_classes=NUM_CLASSES,
        output_activation=None,
        **overrides,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate, clipnorm=5.0),
        loss=PackedCTC(name="ctc"),
        run_eagerly=common.smoke_eagerly(args),
    )
    return model, encoder


def decode(logits, lengths, strategy: str, beam_width: int = 16):
    """Decoded digit lists: greedy or beam search (prefix merge)."""
    decoded, _ = ops.ctc_decode(
        logits,
        lengths,
        strategy=strategy,
        beam_width=beam_width,
        top_paths=1,
        mask_index=BLANK,
    )
    return [[int(d) for d in row if d >= 0] for row in np.asarray(decoded[0])]


def edit_distance(reference, hypothesis) -> int:
    previous = list(range(len(hypothesis) + 1))
    for i, ref in enumerate(reference, 1):
        current = [i]
        for j, hyp in enumerate(hypothesis, 1):
            current.append(
                min(
                    previous[j] + 1,
                    current[j - 1] + 1,
                    previous[j - 1] + (ref != hyp),
                )
            )
        previous = current
    return previous[-1]


def evaluate(model, dataset, beam_width: int) -> dict:
    references, hypotheses = [], {"greedy": [], "beam_search": []}
    seconds = 0.0
    for audio, packed in dataset:
        start = time.perf_counter()
        logits = model.predict_on_batch(audio.numpy())
        seconds += time.perf_counter() - start
        lengths = packed[:, 0].numpy()
        references += [
            [int(d) for d in row if d >= 0] for row in packed[:, 1:].numpy()
        ]
        for strategy in hypotheses:
            hypotheses[strategy] += decode(
                logits, lengths, strategy, beam_width
            )
    digits = sum(len(r) for r in references)
    metrics = {
        "num_utterances": len(references),
        "num_digits": digits,
        "inference_seconds": round(seconds, 3),
    }
    for strategy, decoded in hypotheses.items():
        errors = sum(edit_distance(r, h) for r, h in zip(references, decoded))
        metrics[f"{strategy}_digit_error_rate"] = errors / max(digits, 1)
        metrics[f"{strategy}_string_accuracy"] = float(
            np.mean([r == h for r, h in zip(references, decoded)])
        )
    return metrics


def transcription_endpoint(
    model, front_end, factor: int, decoding: str, beam_width: int
) -> export.Endpoint:
    """The exported signature: checked audio -> digit strings (greedy or
    beam-search decoding, as `decode` does), the logits and each
    utterance's number of valid logit frames."""

    def serve(audio):
        audio = common.checked_audio(audio)
        logits = tf.cast(model(audio, training=False), tf.float32)
        lengths = tf.cast(output_lengths(front_end, audio, factor), tf.int32)
        time_major = tf.transpose(logits, (1, 0, 2))
        if decoding == "beam_search":
            # TensorFlow's beam search takes the last class as the blank,
            # which BLANK is.
            decoded, _ = tf.nn.ctc_beam_search_decoder(
                time_major, lengths, beam_width=beam_width, top_paths=1
            )
        else:
            decoded, _ = tf.nn.ctc_greedy_decoder(
                time_major, lengths, blank_index=BLANK
            )
        dense = tf.sparse.to_dense(decoded[0], default_value=-1)
        characters = tf.where(dense >= 0, tf.strings.as_string(dense), "")
        return {
            "digits": tf.strings.reduce_join(characters, axis=1),
            "logits": logits,
            "logits_lengths": lengths,
        }

    return export.Endpoint(serve, {"audio": common.AUDIO_SPEC})


def export_endpoints(
    model: keras.Model,
    factor: int,
    decoding: str = "greedy",
    beam_width: int = 16,
) -> tuple[dict, tuple]:
    """`runner.ExportPlan.endpoints`: the signatures and what they track
    (nothing: the endpoints' variables are saved without tracking)."""
    endpoint = transcription_endpoint(
        model, model.get_layer("front_end"), factor, decoding, beam_width
    )
    return {"serving_default": endpoint}, ()


def export_plan(model, args, factor, dataset, metrics, corpus):
    card = {
        "name": NAME,
        "task": "connected digit recognition (CTC, "
        + (
            f"beam search, width {args.beam_width})"
            if args.decoding == "beam_search"
            else "greedy)"
        ),
        "decoding": args.decoding,
        "model": args.model,
        "front_end": common.front_end_summary(model),
        "time_reduction": factor,
        "inputs": "audio: float32 [batch, samples], 8 kHz mono, in [-1, 1], "
        "zero-padded on the right",
        "outputs": "digits: string [batch], e.g. b'4071'; logits: float32 "
        "[batch, time', 11] (class 10 = CTC blank); logits_lengths: int32 "
        "[batch], the valid frames of each row of logits",
        "sample_rate": common.SAMPLE_RATE,
        "all_zero_audio": "no valid frame: digits is b'' (empty string)",
        "synthetic": synthetic_summary(args),
        "ensemble": common.ensemble_summary(
            args.ensemble, combination=COMBINATION
        )
        if args.ensemble
        else None,
        "data": f"connected digits from FSDD; train speakers "
        f"{list(corpus.speakers['train'])}, validation "
        f"{list(corpus.speakers['validation'])}"
        f"{'' if args.validation_speakers else ' (other recordings)'}, "
        f"test {list(corpus.speakers['test'])}",
        "metrics": metrics,
        "parameters": model.count_params(),
    }
    probe = next(iter(dataset))[0].numpy()[:4]
    return runner.ExportPlan(
        endpoints=export_endpoints,
        probe_inputs={"audio": probe},
        card=card,
        options={
            "factor": factor,
            "decoding": args.decoding,
            "beam_width": args.beam_width,
        },
        reference_outputs={"logits": np.asarray(model.predict_on_batch(probe))},
        atol=1e-4,
    )


def make_model(args) -> tuple[keras.Model, keras.Model]:
    """(model, encoder): built, loaded with --from-checkpoint, or the
    average of --ensemble's models."""
    if args.ensemble:
        model, encoder = ensemble_model(args.ensemble)
        # The card's model: the first member's encoder ("member_0_<name>").
        args.model = encoder.name.split("_", 2)[2]
        return model, encoder
    if not args.from_checkpoint:
        return build_model(args)
    model = keras.saving.load_model(args.from_checkpoint)
    model.optimizer.learning_rate.assign(args.learning_rate)
    encoder = model.layers[-1]  # audio -> front end -> encoder
    args.model = encoder.name  # the card's, whatever --model said
    return model, encoder


def train_task(args, strategy) -> runner.Trained | None:
    """Trains (unless --skip-training) and evaluates; the runner writes and
    exports."""
    with strategy.scope():
        model, encoder = make_model(args)
    factor = reduction_factor(encoder)
    datasets, corpus = load_data(args, model.get_layer("front_end"), factor)
    history, train_seconds = None, 0.0
    if not (args.ensemble or args.from_checkpoint) and (
        args.front_end == common.SPEECH_EMBEDDING
    ):
        count = common.adapt_speech_embedding(model, datasets["train_clean"])
        print(f"speech embedding standardised on {count} embeddings")
    if not (args.ensemble or (args.from_checkpoint and args.skip_training)):
        model, history, train_seconds = common.fit(
            args,
            strategy,
            model,
            datasets,
            monitor="val_loss",
            mode="min",
        )
    if not distribute.is_chief(strategy):
        return None
    test = evaluate(model, datasets["test"], args.beam_width)
    epochs_run = len(history["loss"]) if history else 0
    if history:
        training.plot_history(
            history,
            Path(args.output_dir) / "curves.png",
            f"{args.model} CTC on connected digits",
        )
    card_metrics = {
        **test,
        "train_seconds": round(train_seconds, 1),
        "epochs_run": epochs_run,
        "time_reduction": factor,
        "checkpoint": args.from_checkpoint,
        "ensemble": args.ensemble,
    }
    return runner.Trained(
        model=model,
        metrics={"test": test},
        training={
            "epochs_run": epochs_run,
            "train_seconds": round(train_seconds, 1),
            "seconds_per_epoch": round(train_seconds / max(epochs_run, 1), 1),
            "time_reduction": factor,
            "checkpoint": args.from_checkpoint,
            "ensemble": args.ensemble,
        },
        model_config=args.model_args or {},
        data={
            "holdout_speakers": list(args.holdout_speakers),
            "validation_speakers": list(corpus.speakers["validation"])
            if args.validation_speakers
            else None,
            "synthetic": synthetic_summary(args),
        },
        export=export_plan(
            model, args, factor, datasets["test"], card_metrics, corpus
        ),
        summary=f"test digit error rate {test['greedy_digit_error_rate']:.4f}"
        f" (greedy), {test['beam_search_digit_error_rate']:.4f} (beam); "
        f"string accuracy {test['greedy_string_accuracy']:.4f}",
    )


def main(argv=None, prog=None) -> int:
    """`zoo train connected-digits`: the exit code (0 done, 2 a usage or
    data error)."""
    args = parse_args(argv, prog)
    return runner.run(TASK, args, train_task, argv, check=common.check_paths)


if __name__ == "__main__":
    raise SystemExit(main())

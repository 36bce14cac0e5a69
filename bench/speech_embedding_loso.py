"""Leave-one-speaker-out spoken digits on the pretrained speech embedding.

The model is `zoo.speech_embedding.SpeechEmbeddingFrontEnd` (frozen,
Google's speech embedding: one 96-d vector per 80 ms) -> a registry
encoder with `inputs="features"` -> 10 digits, the model
`recipes.spoken_digits --front-end speech-embedding` trains. The front end
is frozen and training does not augment, so every recording's embeddings
are the same in every epoch: this bench computes them once, with the
Keras layer itself, and trains only the encoder on them (exact, and ~50x
faster than recomputing them per batch).

    python -m bench.speech_embedding_loso data/fsdd.npz --model gru \\
        --model-args '{"units": 64}' --epochs 30 \\
        [--synthetic data/synthetic_2000.npz --synthetic-ratio 1.0]

The folds, splits (90/10 of the other speakers, seeded) and synthetic
mixing are those of `bench.speaker_independent_arrays`; so is the output
(<results>/<name>.{json,md}, per-recording probabilities included), so
`bench.loso_levers` compares and averages runs of both benches.
Needs the `speech` extra (`pip install -e ".[speech]"`) for the weights.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from bench import speaker_independent_arrays as arrays
from zoo.speech_embedding import standardisation

FRONT_END = "SpeechEmbeddingFrontEnd (frozen, 96-d every 80 ms)"


def embed(front_end, audio, batch_size: int = 64) -> list[np.ndarray]:
    """Each recording's valid raw embeddings, float32 [windows, 96] (before
    the standardisation), computed by `front_end` (a SpeechEmbeddingFrontEnd
    with the pretrained weights) in batches of similar length."""
    order = np.argsort([len(a) for a in audio])
    found = [None] * len(audio)
    for start in range(0, len(order), batch_size):
        rows = order[start : start + batch_size]
        length = max(len(audio[i]) for i in rows)
        batch = arrays.padded([audio[i] for i in rows], length)
        vectors = np.asarray(front_end(batch))
        counts = np.asarray(front_end.valid_frames(batch))
        for row, index in enumerate(rows):
            found[index] = vectors[row, : counts[row]]
    return found


def stacked(sequences, length: int) -> np.ndarray:
    """Zero-padded (masked by the encoders) to [n, length, 96]."""
    batch = np.zeros((len(sequences), length, sequences[0].shape[-1]), "f4")
    for row, sequence in enumerate(sequences):
        batch[row, : len(sequence)] = sequence[:length]
    return batch


def build_encoder(args, train_size: int):
    import keras

    import zoo

    encoder = zoo.build(
        args.model,
        inputs="features",
        feature_dim=96,
        num_classes=arrays.DIGITS,
        output_activation="softmax",
        **json.loads(args.model_args),
    )
    steps = args.epochs * int(np.ceil(train_size / args.batch_size))
    schedule = keras.optimizers.schedules.CosineDecay(args.learning_rate, steps)
    encoder.compile(
        optimizer=keras.optimizers.Adam(schedule, clipnorm=5.0),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    return encoder


def run_fold(data, features, speaker, args, encoder, initial) -> dict:
    arrays.reset(encoder, initial)
    train, validation, test = arrays.split(data, speaker, args)
    # The front end's standardisation, fit to this fold's training set.
    mean, scale = standardisation(np.concatenate([features[i] for i in train]))
    features = [(f - mean) / scale for f in features]
    length = max(len(f) for f in features)
    x = {
        name: stacked([features[i] for i in indexes], length)
        for name, indexes in (
            ("train", train),
            ("validation", validation),
            ("test", test),
        )
    }
    digits = data["digits"]
    rng = np.random.default_rng(args.seed)
    best, best_weights, history = -1.0, None, []
    start = time.perf_counter()
    for epoch in range(args.epochs):
        order = rng.permutation(len(train))
        logs = encoder.fit(
            x["train"][order],
            digits[train][order],
            batch_size=args.batch_size,
            epochs=1,
            verbose=0,
        ).history
        _, accuracy = encoder.evaluate(
            x["validation"], digits[validation], batch_size=256, verbose=0
        )
        history.append(arrays.epoch_entry(epoch, logs, accuracy))
        if accuracy >= best:
            best, best_weights = accuracy, encoder.get_weights()
    encoder.set_weights(best_weights)
    return arrays.tested_fold(
        encoder,
        (x["test"], digits[test]),
        speaker=speaker,
        best=best,
        seconds=time.perf_counter() - start,
        history=history,
    )


def markdown(folds, meta) -> str:
    """The bench's table, with the model line naming this front end."""
    text = arrays.markdown(
        folds, {**meta, "mels": 32, "cepstra": None, "spec_augment": False}
    )
    synthetic = (
        f" + synthetic voices ({meta['synthetic_ratio']} per real training "
        "recording)"
        if meta.get("synthetic")
        else ""
    )
    model_line = (
        f"Model: `{meta['model']}` {meta['model_args']} on {FRONT_END}"
        f"{synthetic}; {meta['epochs']} epochs, batch {meta['batch_size']}, "
        f"Adam {meta['learning_rate']} cosine; no augmentation (the "
        f"embeddings are computed once: {meta['embedding_s']:.0f} s)."
    )
    lines = [
        model_line if line.startswith("Model: ") else line
        for line in text.splitlines()
    ]
    return "\n".join(lines) + "\n"


def run(args) -> int:
    import keras

    from zoo.pretrained_speech_embedding import load_weights
    from zoo.speech_embedding import SpeechEmbeddingFrontEnd

    data = arrays.load(args.data)
    speakers = args.speakers.split(",")
    if not arrays.known_speakers(data, speakers):
        return 2
    data = arrays.with_synthetic(data, args, speakers[0])
    keras.utils.set_random_seed(args.seed)
    start = time.perf_counter()
    features = embed(load_weights(SpeechEmbeddingFrontEnd()), data["audio"])
    embedding_s = time.perf_counter() - start
    print(f"embedded {len(features)} recordings in {embedding_s:.0f} s")
    meta = {
        **arrays.environment("bench.speech_embedding_loso"),
        "front_end": FRONT_END,
        "embedding_s": round(embedding_s, 1),
        "augment": False,
        "speed": 0.0,
        **{
            key: getattr(args, key)
            for key in (
                "model",
                "model_args",
                "epochs",
                "batch_size",
                "learning_rate",
                "seed",
                "synthetic",
                "synthetic_ratio",
            )
        },
    }
    train_size = len(arrays.split(data, speakers[0], args)[0])
    encoder = build_encoder(args, train_size)
    initial = encoder.get_weights()
    directory = Path(args.results_dir)
    directory.mkdir(parents=True, exist_ok=True)
    folds = []
    for speaker in speakers:
        folds.append(run_fold(data, features, speaker, args, encoder, initial))
        # Written after every fold, so a stopped run keeps its folds.
        (directory / f"{args.name}.json").write_text(
            json.dumps({"meta": meta, "folds": folds}, indent=2) + "\n"
        )
        (directory / f"{args.name}.md").write_text(markdown(folds, meta))
    print(markdown(folds, meta))
    return 0


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench.speech_embedding_loso",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument(
        "data", help=".npz from speaker_independent_arrays pack"
    )
    parser.add_argument("--model", default="gru", help="registry encoder")
    parser.add_argument(
        "--model-args", default="{}", help="JSON keyword arguments for it"
    )
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--speakers", default=",".join(arrays.SPEAKERS))
    parser.add_argument("--synthetic", help="a zoo.data.synthetic_digits .npz")
    parser.add_argument(
        "--synthetic-ratio",
        type=arrays.non_negative,
        default=1.0,
        help="synthetic utterances per real training recording",
    )
    parser.add_argument("--results-dir", default=str(arrays.RESULTS))
    parser.add_argument("--name", default="spoken_digits_loso_speech_embedding")
    args = parser.parse_args(argv)
    try:
        json.loads(args.model_args)
    except ValueError as error:
        parser.error(f"--model-args is not JSON: {error}")
    return args


def main(argv=None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())

"""Connected digits (CTC) on the pretrained speech embedding, speaker held out.

The connected-digit recipe's data (`zoo.data.make_connected_digits`: FSDD
digits joined with pauses and noise; test utterances from the held-out
speaker only) -> `SpeechEmbeddingFrontEnd` (frozen; one 96-d vector per
80 ms) -> a registry encoder with `head="sequence"` over 11 classes (blank
10) -> CTC. The front end is frozen and nothing is augmented, so each
utterance is embedded once, by the Keras layer itself, and only the
encoder trains (the recipe would recompute the embeddings every epoch,
~5 min an epoch on 2 CPU cores at 3,000 utterances). Reports the digit error
rate (DER) with greedy and beam-search decoding, the recipe's metrics.

    python -m bench.connected_speech_embedding \\
        ../shared/data/fsdd_5speakers.tar.gz --train-utterances 3000 \\
        --epochs 20 [--margin 3100] [--features-cache F.npz] \\
        [--save-model runs/connected_embedding]

Writes <results>/<name>.{json,md}. Needs the `speech` extra.

- `--features-cache` keeps the embeddings of each split (its key: data,
  sizes, speakers, seed, margin, synthetic files) for the next run of
  other encoder settings, or with other synthetic voices.
- `--synthetic` adds the recipe's training utterances from generated
  voices (digits of `python -m zoo.data.synthetic_digits` files, joined).
- `--save-model` writes the recipe's own model (raw audio -> the
  standardised front end -> this encoder, compiled with the recipe's
  loss), which `zoo train connected-digits --from-checkpoint ...
  --skip-training` evaluates and exports.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import sys
import time
from pathlib import Path

import numpy as np

from bench.speech_embedding_loso import embed

RESULTS = Path(__file__).resolve().parent / "results"
MAX_DIGITS = 7  # zoo.data.SynthesisConfig's default


def packed(features, utterances, mean, scale):
    """(x [n, windows, 96] standardised and zero-padded, y [n, 1 + 7]: the
    output length, then the digits padded with -1: the recipe's
    `PackedCTC` targets)."""
    longest = max(len(f) for f in features)
    x = np.zeros((len(features), longest, features[0].shape[-1]), "f4")
    y = np.full((len(features), 1 + MAX_DIGITS), -1, "f4")
    for row, (vectors, utterance) in enumerate(zip(features, utterances)):
        x[row, : len(vectors)] = (vectors - mean) / scale
        y[row, 0] = len(vectors)
        y[row, 1 : 1 + len(utterance.digits)] = utterance.digits
    return x, y


def cached_features(path, keys: dict, compute) -> dict:
    """{split: `compute(split)`} (lists of [windows, 96] arrays), each split
    kept in the .npz `path` under its key (the settings that make its
    utterances) and computed only when the cache has it under no such
    key; the file is rewritten with this run's splits."""
    path = Path(path) if path else None
    features, found = {}, {}
    if path and path.exists():
        with np.load(path) as cached:
            for split, key in keys.items():
                if json.loads(str(cached.get(f"{split}_key", "null"))) == key:
                    features[split] = np.split(
                        cached[f"{split}_vectors"],
                        np.cumsum(cached[f"{split}_lengths"])[:-1],
                    )
                    found[split] = True
    for split in keys:
        if split not in features:
            print(f"embedding the {split} utterances")
            features[split] = compute(split)
    if path and len(found) < len(keys):
        arrays = {}
        for split, vectors in features.items():
            arrays[f"{split}_key"] = json.dumps(keys[split])
            arrays[f"{split}_vectors"] = np.concatenate(vectors)
            arrays[f"{split}_lengths"] = [len(v) for v in vectors]
        partial = path.with_suffix(".partial.npz")
        np.savez(partial, **arrays)
        partial.replace(path)  # never a half-written cache
    return features


def digit_error_rate(encoder, x, y, strategy: str) -> tuple[float, float]:
    """(DER, string accuracy) of `encoder` on packed data."""
    logits = encoder.predict(x, batch_size=64, verbose=0)
    return logits_error_rate(logits, y, strategy)


def logits_error_rate(logits, y, strategy: str) -> tuple[float, float]:
    """(DER, string accuracy) of per-frame `logits` for packed targets."""
    from recipes.connected_digits import decode
    from recipes.connected_digits import edit_distance

    hypotheses = decode(logits, y[:, 0].astype("int32"), strategy)
    references = [[int(d) for d in row if d >= 0] for row in y[:, 1:]]
    errors = sum(
        edit_distance(r, h) for r, h in zip(references, hypotheses, strict=True)
    )
    strings = np.mean([r == h for r, h in zip(references, hypotheses)])
    return errors / sum(len(r) for r in references), float(strings)


def prepare(args) -> dict:
    """The corpus, its embeddings (cached) and the packed splits: {"corpus",
    "utterances", "front_end" (pretrained, not yet standardised), "train"
    (the raw real training embeddings), "mean" (their standardisation's),
    "data" ({split: (x, y)}, standardised), "sizes", "embedding_s"}."""
    import zoo.data
    from recipes.connected_digits import synthetic_utterances
    from zoo.pretrained_speech_embedding import load_weights
    from zoo.speech_embedding import SpeechEmbeddingFrontEnd
    from zoo.speech_embedding import standardisation

    recordings = zoo.data.load_fsdd_recordings(
        args.data, data_dir=args.data_dir
    )
    sizes = {
        "train": args.train_utterances,
        "validation": max(args.test_utterances // 2, 1),
        "test": args.test_utterances,
    }
    corpus = zoo.data.make_connected_digits(
        recordings,
        num_utterances=sizes,
        holdout_speakers=tuple(args.holdout_speakers.split(",")),
        seed=args.seed,
    )
    front_end = load_weights(
        SpeechEmbeddingFrontEnd(margin=args.margin, name="front_end")
    )
    start = time.perf_counter()
    utterances = dict(corpus.utterances)
    if args.synthetic:
        # The recipe's --synthetic utterances, training only.
        utterances["synthetic"] = synthetic_utterances(
            args, zoo.data.SynthesisConfig()
        )
    # What makes each split's utterances: the corpus for all, and the
    # synthetic files for theirs.
    corpus_key = {
        "data": Path(args.data).name,
        "sizes": sizes,
        "holdout_speakers": args.holdout_speakers,
        "seed": args.seed,
        "margin": args.margin,
    }
    keys = {split: {**corpus_key, "split": split} for split in utterances}
    if args.synthetic:
        keys["synthetic"]["files"] = [Path(p).name for p in args.synthetic]
        keys["synthetic"]["count"] = len(utterances["synthetic"])
    features = cached_features(
        args.features_cache,
        keys,
        lambda split: embed(
            front_end, [u.audio for u in utterances[split]], 32
        ),
    )
    embedding_s = time.perf_counter() - start
    # Standardised on the real training recordings, as the recipe does.
    train_raw = np.concatenate(features["train"])
    mean, scale = standardisation(train_raw)
    training = ["train", "synthetic"] if args.synthetic else ["train"]
    data = {
        split: packed(features[split], utterances[split], mean, scale)
        for split in ("validation", "test")
    }
    data["train"] = packed(
        [vectors for split in training for vectors in features[split]],
        [utterance for split in training for utterance in utterances[split]],
        mean,
        scale,
    )
    return {
        "corpus": corpus,
        "utterances": utterances,
        "front_end": front_end,
        "train": train_raw,
        "mean": mean,
        "data": data,
        "sizes": sizes,
        "embedding_s": embedding_s,
    }


def run(args) -> int:
    import keras

    from recipes.connected_digits import NAME as CONNECTED_NAME
    from recipes.connected_digits import NUM_CLASSES
    from recipes.connected_digits import PackedCTC
    from recipes.speech_common import audio_model

    prepared = prepare(args)
    data, front_end = prepared["data"], prepared["front_end"]
    corpus, utterances = prepared["corpus"], prepared["utterances"]
    sizes, embedding_s = prepared["sizes"], prepared["embedding_s"]
    # Initial weights and batch order; the corpus (and test set) stay.
    keras.utils.set_random_seed(
        args.seed if args.training_seed is None else args.training_seed
    )
    # The recipe's model; only its encoder trains here, on the cached
    # embeddings (the front end is frozen).
    model, encoder = audio_model(
        args.model,
        front_end,
        CONNECTED_NAME,
        head="sequence",
        num_classes=NUM_CLASSES,
        output_activation=None,
        **json.loads(args.model_args),
    )
    front_end.adapt(prepared["train"])
    # The encoder's graph, compiled apart: the saved model then holds one
    # optimizer, its own (a compiled inner model would shadow it).
    trainer = keras.Model(encoder.input, encoder.output)
    trainer.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate, clipnorm=5.0),
        loss=PackedCTC(),
    )
    best, best_weights, history = np.inf, None, []
    start = time.perf_counter()
    for epoch in range(args.epochs):
        logs = trainer.fit(
            *data["train"], batch_size=args.batch_size, epochs=1, verbose=0
        ).history
        der, _ = digit_error_rate(encoder, *data["validation"], "greedy")
        history.append(
            {"epoch": epoch + 1, "loss": logs["loss"][0], "val_der": der}
        )
        print(
            f"epoch {epoch + 1}: loss {logs['loss'][0]:.3f} val DER {der:.4f}"
        )
        if der <= best:
            best, best_weights = der, encoder.get_weights()
    training_s = time.perf_counter() - start
    encoder.set_weights(best_weights)
    test = {}
    for strategy in ("greedy", "beam_search"):
        der, strings = digit_error_rate(encoder, *data["test"], strategy)
        test[f"{strategy}_digit_error_rate"] = der
        test[f"{strategy}_string_accuracy"] = strings
    meta = {
        "command": args.command,
        "backend": keras.backend.backend(),
        "versions": {"keras": keras.__version__, "numpy": np.__version__},
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "embedding_s": round(embedding_s, 1),
        "training_s": round(training_s, 1),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "utterances": sizes,
        "synthetic_utterances": len(utterances.get("synthetic", ())),
        "test_digits": int(
            sum(len(u.digits) for u in corpus.utterances["test"])
        ),
        **{
            key: getattr(args, key)
            for key in (
                "holdout_speakers",
                "model",
                "model_args",
                "margin",
                "synthetic",
                "epochs",
                "batch_size",
                "learning_rate",
                "seed",
                "training_seed",
            )
        },
    }
    result = {"meta": meta, "best_val_der": best, "test": test}
    result["history"] = history
    if args.save_model:
        save_model(model, trainer.optimizer, args.save_model, result)
    return write_results(args, result, markdown(result))


def evaluate(args) -> int:
    """`--evaluate`: the validation and test DER of saved models (this
    bench's --save-model) and of the mean of their per-frame probabilities
    (the recipe's `--ensemble`), on the cached embeddings."""
    import keras
    from keras import ops

    import zoo.data
    from recipes.connected_digits import MeanProbabilityLogits

    prepared = prepare(args)
    mean = prepared["mean"]
    logits = []  # (name, {split: logits})
    for path in args.evaluate:
        model = keras.saving.load_model(path)
        front_end = model.get_layer("front_end")
        if front_end.margin != args.margin or not np.allclose(
            front_end.feature_mean.numpy(), mean, atol=1e-4
        ):
            raise zoo.data.DataError(
                f"--evaluate {path!r} was not trained on this corpus (its "
                "front end's margin or standardisation differs); give the "
                "--margin, sizes and --seed it was trained with"
            )
        encoder = model.layers[-1]  # audio -> front end -> encoder
        logits.append(
            (
                path,
                {
                    split: encoder.predict(x, batch_size=64, verbose=0)
                    for split, (x, _) in prepared["data"].items()
                    if split != "train"
                },
            )
        )
    if len(args.evaluate) > 1:
        average = MeanProbabilityLogits()
        members = [found for _, found in logits]
        logits.append(
            (
                "mean of the models' probabilities",
                {
                    split: np.asarray(
                        average(
                            [ops.convert_to_tensor(m[split]) for m in members]
                        )
                    )
                    for split in ("validation", "test")
                },
            )
        )
    rows = []
    for name, found in logits:
        row = {"models": name}
        for split in ("validation", "test"):
            y = prepared["data"][split][1]
            for strategy in ("greedy", "beam_search"):
                der, _ = logits_error_rate(found[split], y, strategy)
                row[f"{split}_{strategy}_digit_error_rate"] = der
        rows.append(row)
    text = (
        "| models | validation DER greedy | test DER greedy | test DER beam |\n"
        "| --- | --- | --- | --- |\n"
    )
    for row in rows:
        text += (
            f"| {row['models']} | "
            f"{row['validation_greedy_digit_error_rate']:.2%} | "
            f"{row['test_greedy_digit_error_rate']:.2%} | "
            f"{row['test_beam_search_digit_error_rate']:.2%} |\n"
        )
    return write_results(
        args,
        {"command": args.command, "rows": rows},
        f"Command: `{args.command}`\n\n{text}",
    )


def write_results(args, result: dict, text: str) -> int:
    """<results>/<name>.json and .md; prints the markdown; exit code 0."""
    directory = Path(args.results_dir)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{args.name}.json").write_text(
        json.dumps(result, indent=2) + "\n"
    )
    (directory / f"{args.name}.md").write_text(text)
    print(text)
    return 0


def save_model(model, optimizer, folder, result) -> None:
    """Writes `model` (audio -> front end -> the trained encoder) as a
    recipe run folder does: `best.keras`, compiled with the recipe's loss
    and the encoder's `optimizer`, state included (the same variables
    train: the front end is frozen), so --from-checkpoint can train on; and
    `metrics.json`, whose command the recipe's --ensemble cards cite."""
    from recipes.connected_digits import PackedCTC
    from zoo import training

    model.compile(optimizer=optimizer, loss=PackedCTC(name="ctc"))
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    partial = folder / "best.partial.keras"
    model.save(partial)
    partial.replace(folder / "best.keras")
    record = {"run": {"command": result["meta"]["command"]}, **result}
    training.write_json(folder / "metrics.json", record)
    print(f"saved {folder / 'best.keras'}")


def synthetic_note(meta) -> str:
    if not meta.get("synthetic"):
        return ""
    names = ", ".join(Path(path).name for path in meta["synthetic"])
    return f" + {meta['synthetic_utterances']} synthetic ({names})"


def markdown(result) -> str:
    meta, test = result["meta"], result["test"]
    return (
        "# Connected digits on the speech embedding, speaker "
        f"{meta['holdout_speakers']} held out\n\n"
        f"Command: `{meta['command']}`  \n"
        f"{meta['date']}; {meta['utterances']} utterances"
        f"{synthetic_note(meta)}; `{meta['model']}` "
        f"{meta['model_args']} on SpeechEmbeddingFrontEnd (frozen, margin "
        f"{meta['margin']} samples), CTC, {meta['epochs']} epochs, batch "
        f"{meta['batch_size']}, Adam {meta['learning_rate']}; embedding "
        f"{meta['embedding_s']:.0f} s, training {meta['training_s']:.0f} s; "
        f"load average {meta['load_average']}.\n\n"
        "| decoding | digit error rate | string accuracy |\n"
        "| --- | --- | --- |\n"
        f"| greedy | **{test['greedy_digit_error_rate']:.2%}** | "
        f"{test['greedy_string_accuracy']:.1%} |\n"
        f"| beam search (16) | {test['beam_search_digit_error_rate']:.2%} | "
        f"{test['beam_search_string_accuracy']:.1%} |\n\n"
        f"Test: {meta['utterances']['test']} utterances "
        f"({meta['test_digits']} digits) of the held-out speaker; best "
        f"validation DER {result['best_val_der']:.2%} (other speakers' "
        "held-back recordings).\n"
    )


def parse_args(argv):
    parser = argparse.ArgumentParser(
        prog="python -m bench.connected_speech_embedding",
        description=__doc__.split("\n\n")[0],
    )
    parser.add_argument("data", help="FSDD recordings folder or .tar.gz")
    parser.add_argument("--data-dir", default=None, help="TFDS cache folder")
    parser.add_argument("--holdout-speakers", default="theo")
    parser.add_argument("--train-utterances", type=int, default=3000)
    parser.add_argument("--test-utterances", type=int, default=200)
    parser.add_argument("--model", default="bidirectional_gru")
    parser.add_argument("--model-args", default='{"units": 64}')
    parser.add_argument(
        "--margin",
        type=int,
        default=800,
        help="silence (samples) the front end puts around each utterance",
    )
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument(
        "--training-seed",
        type=int,
        default=None,
        help="seeds the initial weights and batch order only (default: "
        "--seed, which also makes the corpus)",
    )
    parser.add_argument(
        "--synthetic",
        nargs="+",
        default=None,
        metavar="NPZ",
        help="the recipe's --synthetic: extra training utterances joined "
        "from `python -m zoo.data.synthetic_digits` files",
    )
    parser.add_argument(
        "--synthetic-utterances",
        type=int,
        default=None,
        help="how many from each --synthetic file (default: as many as "
        "--train-utterances)",
    )
    parser.set_defaults(smoke=False)  # read by the recipe's synthetic_count
    parser.add_argument(
        "--features-cache",
        default=None,
        metavar="NPZ",
        help="keep the embeddings here for later runs of this corpus",
    )
    parser.add_argument(
        "--save-model",
        default=None,
        metavar="FOLDER",
        help="write the best epoch's audio model as FOLDER/best.keras (the "
        "connected-digit recipe's --from-checkpoint or --ensemble member) "
        "with FOLDER/metrics.json",
    )
    parser.add_argument(
        "--evaluate",
        nargs="+",
        default=None,
        metavar="KERAS",
        help="train nothing: the validation and test DER of these "
        "--save-model files and of their average",
    )
    parser.add_argument("--results-dir", default=str(RESULTS))
    parser.add_argument(
        "--name", default="connected_digits_speech_embedding_run"
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    args.command = "python -m bench.connected_speech_embedding " + shlex.join(
        argv
    )
    return evaluate(args) if args.evaluate else run(args)


if __name__ == "__main__":
    raise SystemExit(main())

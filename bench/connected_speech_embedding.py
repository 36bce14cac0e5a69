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
        --epochs 20 [--margin 3100]

Writes <results>/<name>.{json,md}. Needs the `speech` extra.
"""

from __future__ import annotations

import argparse
import json
import os
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


def digit_error_rate(encoder, x, y, strategy: str) -> tuple[float, float]:
    """(DER, string accuracy) of `encoder` on packed data."""
    from recipes.connected_digits import decode
    from recipes.connected_digits import edit_distance

    logits = encoder.predict(x, batch_size=64, verbose=0)
    hypotheses = decode(logits, y[:, 0].astype("int32"), strategy)
    references = [[int(d) for d in row if d >= 0] for row in y[:, 1:]]
    errors = sum(
        edit_distance(r, h) for r, h in zip(references, hypotheses, strict=True)
    )
    strings = np.mean([r == h for r, h in zip(references, hypotheses)])
    return errors / sum(len(r) for r in references), float(strings)


def run(args) -> int:
    import keras

    import zoo
    import zoo.data
    from recipes.connected_digits import NUM_CLASSES
    from recipes.connected_digits import PackedCTC
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
    front_end = load_weights(SpeechEmbeddingFrontEnd(margin=args.margin))
    start = time.perf_counter()
    features = {
        split: embed(front_end, [u.audio for u in corpus.utterances[split]], 32)
        for split in sizes
    }
    embedding_s = time.perf_counter() - start
    mean, scale = standardisation(np.concatenate(features["train"]))
    data = {
        split: packed(features[split], corpus.utterances[split], mean, scale)
        for split in sizes
    }
    keras.utils.set_random_seed(args.seed)
    encoder = zoo.build(
        args.model,
        inputs="features",
        feature_dim=96,
        head="sequence",
        num_classes=NUM_CLASSES,
        output_activation=None,
        **json.loads(args.model_args),
    )
    encoder.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate, clipnorm=5.0),
        loss=PackedCTC(),
    )
    best, best_weights, history = np.inf, None, []
    start = time.perf_counter()
    for epoch in range(args.epochs):
        logs = encoder.fit(
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
        "command": "python -m bench.connected_speech_embedding "
        + " ".join(sys.argv[1:]),
        "backend": keras.backend.backend(),
        "versions": {"keras": keras.__version__, "numpy": np.__version__},
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "embedding_s": round(embedding_s, 1),
        "training_s": round(training_s, 1),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "utterances": sizes,
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
                "epochs",
                "batch_size",
                "learning_rate",
                "seed",
            )
        },
    }
    result = {"meta": meta, "best_val_der": best, "test": test}
    result["history"] = history
    directory = Path(args.results_dir)
    directory.mkdir(parents=True, exist_ok=True)
    (directory / f"{args.name}.json").write_text(
        json.dumps(result, indent=2) + "\n"
    )
    (directory / f"{args.name}.md").write_text(markdown(result))
    print(markdown(result))
    return 0


def markdown(result) -> str:
    meta, test = result["meta"], result["test"]
    return (
        "# Connected digits on the speech embedding, speaker "
        f"{meta['holdout_speakers']} held out\n\n"
        f"Command: `{meta['command']}`  \n"
        f"{meta['date']}; {meta['utterances']} utterances; `{meta['model']}` "
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
    parser.add_argument("--results-dir", default=str(RESULTS))
    parser.add_argument(
        "--name", default="connected_digits_speech_embedding_run"
    )
    return parser.parse_args(argv)


def main(argv=None) -> int:
    return run(parse_args(argv))


if __name__ == "__main__":
    raise SystemExit(main())

"""IMDB calibration of an exported model, measured as a consumer sees it.

Feeds the validation reviews (the recipe's seeded split), whole and cut to
their first 20 and first 5 words (`zoo.text.first_words`), through the
SavedModel's `serving_default` (loaded with `tf.saved_model.load`, so the
`EvidenceScaling` inside the graph is what is measured) and reports
accuracy, mean confidence and ECE (15 bins) per length, with a reliability
diagram. The scaling was fitted on these same reviews, so a 2-fold
cross-fit (fit on one half of the reviews, ECE on the other, both ways;
from the run's imdb.keras) shows what it gives on reviews it never saw.
Also prints what the model returns for odd inputs.

    nice -n 10 python bench/imdb_calibration.py \\
        --data /path/to/aclImdb_v1.tar.gz --data-dir /tmp/zoo_tfds_imdb \\
        --model saved_models/imdb/3 --run runs/imdb
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import zoo.text  # noqa: E402
from recipes import imdb as recipe  # noqa: E402
from zoo import calibration  # noqa: E402
from zoo.data import load_imdb  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
ODD_INPUTS = [
    "",
    " ",
    "\n\t ",
    "x",
    "good",
    "bad",
    "okay",
    "!!!",
    "A wonderful film!",
    "a dull, overlong film",
    "This film was neither good nor bad, just okay.",
    "not my kind of film, but the actors try hard",
]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--model", required=True, help="a version folder")
    parser.add_argument("--run", default="runs/imdb", help="its run folder")
    parser.add_argument("--output", default=str(RESULTS / "imdb_calibration"))
    return parser.parse_args(argv)


def cut(texts, words):
    return texts if words is None else zoo.text.first_words(texts, words)


def main(argv=None) -> int:
    args = parse_args(argv)
    splits = load_imdb(args.data, data_dir=args.data_dir, seed=args.seed)
    texts, labels = [], []
    for text, label in splits.validation.batch(1000):
        texts.append(text)
        labels.append(label.numpy())
    texts, labels = tf.concat(texts, 0), np.concatenate(labels)
    serve = tf.saved_model.load(args.model).signatures["serving_default"]

    def probability(batch):
        return np.concatenate(
            [
                serve(text=batch[start : start + 500])["probability"].numpy()
                for start in range(0, int(batch.shape[0]), 500)
            ]
        )

    rows, curves = {}, {}
    for words in recipe.REPORTED_WORDS:
        name = recipe.words_name(words)
        p = probability(cut(texts, words))
        curves[name] = (p, labels)
        rows[name] = {
            "accuracy": round(float(np.mean((p > 0.5) == labels)), 4),
            "mean_confidence": round(float(np.mean(np.maximum(p, 1 - p))), 4),
            "ece": round(calibration.expected_calibration_error(p, labels), 4),
        }
    calibration.reliability_diagram(
        curves,
        Path(args.output).with_suffix(".png"),
        f"IMDB validation through {args.model}",
    )
    # 2-fold cross-fit from the run's Keras model (same weights).
    classifier = keras.saving.load_model(
        Path(args.run) / "imdb.keras", safe_mode=True
    )
    vectorizer = classifier.get_layer("vectorizer")
    network = next(
        layer for layer in classifier.layers if isinstance(layer, keras.Model)
    )
    dataset = tf.data.Dataset.from_tensor_slices((texts, labels))
    logits = {
        words: recipe.review_logits(network, vectorizer, dataset, 256, words)
        for words in recipe.CALIBRATION_WORDS
    }
    order = np.random.default_rng(args.seed).permutation(len(labels))
    halves = (order[: len(order) // 2], order[len(order) // 2 :])
    cross = {}
    for fit_half, test_half in (halves, halves[::-1]):
        fitted = calibration.fit_evidence_scaling(
            *(
                np.concatenate([part[fit_half] for part in parts])
                for parts in zip(*logits.values())
            )
        )
        for words in recipe.REPORTED_WORDS:
            z, n, y = (part[test_half] for part in logits[words])
            p = 1 / (1 + np.exp(-calibration.scale_logits(z, n, **fitted)))
            cross.setdefault(recipe.words_name(words), []).append(
                round(calibration.expected_calibration_error(p, y), 4)
            )
    odd = probability(tf.constant(ODD_INPUTS))
    report = {
        "model": args.model,
        "validation": rows,
        "cross_fit_ece": cross,
        "odd_inputs": {text: float(p) for text, p in zip(ODD_INPUTS, odd)},
        "load_average": os.getloadavg(),
    }
    Path(args.output).with_suffix(".json").write_text(
        json.dumps(report, indent=2) + "\n"
    )
    print(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

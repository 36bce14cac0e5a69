"""Two IMDB recipe runs on the same validation reviews, paired.

Loads two runs' `imdb.keras` (raw text in, probability out), labels the
recipe's validation reviews (same data, split and seed as the recipe)
with each, and prints both accuracies and McNemar's statistic over the
reviews exactly one of them gets right: z = (b - c) / sqrt(b + c), b the
reviews only the second gets right, c those only the first does
(|z| > 1.96: a difference at the 5% level).

    python bench/imdb_paired.py --data DATA --data-dir /tmp/zoo_tfds_imdb \\
        runs/ablation/default/imdb.keras runs/ablation/other/imdb.keras
"""

from __future__ import annotations

import argparse
import json

import keras
import numpy as np

from recipes import imdb


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("first", help="the first run's imdb.keras")
    parser.add_argument("second", help="the second run's imdb.keras")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    _, validation, _, _ = imdb.recipe_splits(args.data, args.data_dir)
    batches = list(validation.batch(500))
    labels = np.concatenate([label.numpy() for _, label in batches])
    right = []
    for path in (args.first, args.second):
        model = keras.saving.load_model(path)
        probability = np.concatenate(
            [np.asarray(model(text)) for text, _ in batches]
        )
        right.append((probability > 0.5) == labels)
    first, second = right
    only_second = int(np.sum(~first & second))
    only_first = int(np.sum(first & ~second))
    result = {
        "first": args.first,
        "second": args.second,
        "reviews": int(labels.size),
        "first_accuracy": round(float(first.mean()), 4),
        "second_accuracy": round(float(second.mean()), 4),
        "only_second_right": only_second,
        "only_first_right": only_first,
        "mcnemar_z": round(
            (only_second - only_first)
            / max(np.sqrt(only_second + only_first), 1.0),
            2,
        ),
    }
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""How far averaging the models we have can take IMDB validation accuracy.

Members, each scored on the recipe's 5,000 validation reviews (same data,
split and seed as `recipes/imdb.py`):
- trained recipe runs, `--run NAME=runs/.../imdb.keras` (raw text in,
  probability out; the member's score is the logit log(p / (1 - p)));
- with `--sklearn`, four linear models on the recipe's training reviews
  (scikit-learn, `pip install scikit-learn`): NB-weighted logistic
  regression on binary word 1-2-grams and 1-3-grams of the cleaned text
  (Wang & Manning 2012), and tf-idf logistic regression on character 2-5-
  grams and on word 1-3-grams (punctuation `!?` kept) of the raw text.

It prints and writes every member's accuracy, the accuracy of every
equal-weight average of 2 to 4 members' standardised scores (score / its
standard deviation), and a logistic regression over all members' scores
fitted on the validation reviews themselves and scored in sample. Both
are optimistic: the best of many averages is chosen on the reviews it is
scored on, and the stack's weights are fitted on them (it maximises the
likelihood, not the accuracy, so it can land below the best average).
Weights fitted on a split carved from train would score lower on average.

    python bench/imdb_ensemble_ceiling.py --data DATA --sklearn \\
        --run nbsvm=runs/imdb/imdb.keras \\
        --output bench/results/imdb_ensemble_ceiling
"""

from __future__ import annotations

import argparse
import itertools
import json
import time
from pathlib import Path

import keras
import numpy as np

import zoo.text
from recipes import imdb

WORDS = r"(?u)\b\w+\b"
WORDS_AND_MARKS = r"(?u)\b\w[\w']*\b|[!?]"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--run",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="a recipe run's imdb.keras (repeatable)",
    )
    parser.add_argument("--sklearn", action="store_true")
    parser.add_argument("--output", default=None, help="writes .md and .json")
    return parser.parse_args(argv)


def reviews(dataset):
    texts, labels = [], []
    for text, label in dataset.batch(1000):
        texts.append(text.numpy())
        labels.append(label.numpy())
    return np.concatenate(texts), np.concatenate(labels)


def cleaned(texts):
    return [
        text.decode("utf-8", "replace")
        for text in zoo.text.standardize_review(texts).numpy()
    ]


def naive_bayes_ratios(presence, labels, alpha=1.0):
    positive = alpha + np.asarray(presence[labels == 1].sum(0)).ravel()
    negative = alpha + np.asarray(presence[labels == 0].sum(0)).ravel()
    return np.log(positive / positive.sum()) - np.log(negative / negative.sum())


def linear_members(train, validation) -> dict:
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    (train_raw, train_labels), (validation_raw, _) = train, validation
    train_clean, validation_clean = cleaned(train_raw), cleaned(validation_raw)
    train_raw = [text.decode("utf-8", "replace") for text in train_raw]
    validation_raw = [
        text.decode("utf-8", "replace") for text in validation_raw
    ]

    def fit(vectorizer, train_texts, validation_texts, inverse_strength, nb):
        x_train = vectorizer.fit_transform(train_texts)
        x_validation = vectorizer.transform(validation_texts)
        if nb:
            ratios = naive_bayes_ratios(x_train, train_labels)
            x_train = x_train.multiply(ratios).tocsr()
            x_validation = x_validation.multiply(ratios).tocsr()
        model = LogisticRegression(
            C=inverse_strength, max_iter=1000, solver="liblinear"
        ).fit(x_train, train_labels)
        return model.decision_function(x_validation)

    specs = {
        "nb_lr_words_1_2": (
            CountVectorizer(
                ngram_range=(1, 2), token_pattern=WORDS, binary=True
            ),
            "clean",
            1.0,
            True,
        ),
        "nb_lr_words_1_3": (
            CountVectorizer(
                ngram_range=(1, 3), token_pattern=WORDS, binary=True
            ),
            "clean",
            1.0,
            True,
        ),
        "tfidf_lr_chars_2_5": (
            TfidfVectorizer(
                analyzer="char_wb",
                ngram_range=(2, 5),
                sublinear_tf=True,
                min_df=2,
            ),
            "raw",
            10.0,
            False,
        ),
        "tfidf_lr_words_1_3": (
            TfidfVectorizer(
                ngram_range=(1, 3),
                token_pattern=WORDS_AND_MARKS,
                sublinear_tf=True,
                min_df=2,
            ),
            "raw",
            30.0,
            False,
        ),
    }
    texts = {
        "clean": (train_clean, validation_clean),
        "raw": (train_raw, validation_raw),
    }
    scores = {}
    for name, (vectorizer, kind, inverse_strength, nb) in specs.items():
        started = time.perf_counter()
        scores[name] = fit(vectorizer, *texts[kind], inverse_strength, nb)
        print(f"{name}: {time.perf_counter() - started:.0f} s", flush=True)
    return scores


def run_scores(path, validation_texts) -> np.ndarray:
    model = keras.saving.load_model(path)
    probabilities = np.concatenate(
        [
            np.asarray(model(validation_texts[start : start + 500])).reshape(-1)
            for start in range(0, len(validation_texts), 500)
        ]
    ).astype(np.float64)
    probabilities = np.clip(probabilities, 1e-12, 1 - 1e-12)
    return np.log(probabilities) - np.log1p(-probabilities)


def ceiling(scores: dict, labels) -> dict:
    from sklearn.linear_model import LogisticRegression

    def accuracy(score):
        return round(float(np.mean((score > 0) == labels)), 4)

    standardised = {name: s / s.std() for name, s in scores.items()}
    averages = [
        {
            "members": list(combination),
            "accuracy": accuracy(
                sum(standardised[name] for name in combination)
            ),
        }
        for size in range(2, min(4, len(scores)) + 1)
        for combination in itertools.combinations(scores, size)
    ]
    averages.sort(key=lambda row: -row["accuracy"])
    stack = np.stack(list(standardised.values()), 1)
    in_sample = LogisticRegression(max_iter=1000).fit(stack, labels)
    return {
        "members": {name: accuracy(s) for name, s in scores.items()},
        "averages": averages,
        "in_sample_stack_accuracy": round(
            float(np.mean(in_sample.predict(stack) == labels)), 4
        ),
        "in_sample_stack_weights": dict(
            zip(scores, np.round(in_sample.coef_[0], 3).tolist())
        ),
    }


def markdown(result, command) -> str:
    lines = [
        "# IMDB: how far averaging the models we have goes",
        "",
        f"Command: `{command}`",
        "",
        "Validation reviews: the recipe's 5,000 (seed 1337).",
        "",
        "| member | validation accuracy |",
        "|---|---|",
    ]
    lines += [
        f"| {name} | {value} |" for name, value in result["members"].items()
    ]
    lines += [
        "",
        "Equal-weight averages of standardised scores, best ten of "
        f"{len(result['averages'])} (chosen on these reviews: optimistic):",
        "",
        "| members | validation accuracy |",
        "|---|---|",
    ]
    lines += [
        f"| {' + '.join(row['members'])} | {row['accuracy']} |"
        for row in result["averages"][:10]
    ]
    lines += [
        "",
        "A logistic regression over all members' scores, fitted on the "
        "validation reviews and scored on them (in sample, optimistic): "
        f"**{result['in_sample_stack_accuracy']}** (weights "
        f"{result['in_sample_stack_weights']}).",
        "",
    ]
    return "\n".join(lines)


def main(argv=None) -> int:
    import sys

    args = parse_args(argv)
    train, validation, _, _ = imdb.recipe_splits(args.data, args.data_dir)
    validation_texts, labels = reviews(validation)
    scores = {}
    for spec in args.run:
        name, _, path = spec.partition("=")
        scores[name] = run_scores(path, validation_texts)
    if args.sklearn:
        scores.update(
            linear_members(reviews(train), (validation_texts, labels))
        )
    if not scores:
        raise SystemExit(
            "nothing to average: give --run NAME=PATH or --sklearn"
        )
    result = ceiling(scores, labels)
    print(json.dumps(result["members"], indent=1))
    print(json.dumps(result["averages"][:10], indent=1))
    print("in-sample stack:", result["in_sample_stack_accuracy"])
    if args.output:
        command = "python bench/imdb_ensemble_ceiling.py " + " ".join(
            sys.argv[1:]
        )
        Path(args.output + ".json").write_text(json.dumps(result, indent=1))
        Path(args.output + ".md").write_text(markdown(result, command))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

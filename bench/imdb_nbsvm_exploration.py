"""IMDB exploration of NBSVM settings, in-process, before the recipe runs.

Quick runs on the recipe's split (`load_imdb(DATA, seed=1337)`, reviews
cleaned by `zoo.text.standardize_review`): the zoo's `NaiveBayesBag`
trained alone on the first `--length` token ids (words and n-grams, a
`--vocabulary-size` vocabulary adapted on train), validation accuracy
after every epoch; and, with `--sklearn`, the same features in
scikit-learn (binary counts, NB log-count ratios, liblinear logistic
regression; `pip install scikit-learn`), as a check of the Keras layer.
`--save DIR` keeps each run's validation logits (z(pos) − z(neg)) for
comparing ensembles. The recipe's own figures are in
bench/results/imdb_ablation_nbsvm.md; this script's are in
bench/results/imdb_exploration.md.

    python bench/imdb_nbsvm_exploration.py --data DATA \\
        --runs "dropout=0.5,epochs=4" "dropout=0.0,epochs=3"
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import zoo.text  # noqa: E402
from zoo.data import load_imdb  # noqa: E402
from zoo.layers import NaiveBayesBag  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--ngrams", type=int, choices=(2, 3), default=2)
    parser.add_argument("--vocabulary-size", type=int, default=200000)
    parser.add_argument("--length", type=int, default=2000)
    parser.add_argument(
        "--runs",
        nargs="*",
        default=["dropout=0.5,epochs=4"],
        help="comma-separated key=value settings per Keras run: dropout, "
        "epochs, learning_rate, batch_size, adapt (0: r = 1, plain LR)",
    )
    parser.add_argument(
        "--sklearn",
        nargs="*",
        type=float,
        default=[],
        metavar="C",
        help="inverse L2 strengths of scikit-learn NB-LR runs",
    )
    parser.add_argument("--save", default=None)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


def cleaned(dataset):
    texts, labels = [], []
    for text, label in dataset.batch(1024):
        texts.append(zoo.text.standardize_review(text).numpy())
        labels.append(label.numpy())
    return np.concatenate(texts), np.concatenate(labels)


def token_ids(args, train_texts, validation_texts):
    vectorizer = zoo.text.make_vectorizer(
        max_tokens=args.vocabulary_size,
        sequence_length=args.length,
        ngrams=args.ngrams,
        standardize=False,
    )
    vectorizer.adapt(tf.data.Dataset.from_tensor_slices(train_texts).batch(512))

    def ids(texts):
        batches = tf.data.Dataset.from_tensor_slices(texts).batch(1000)
        return np.concatenate([vectorizer(b).numpy() for b in batches])

    return ids(train_texts).astype("int32"), ids(validation_texts).astype(
        "int32"
    )


def keras_run(args, settings, train, validation) -> dict:
    (x_train, y_train), (x_validation, y_validation) = train, validation
    keras.utils.set_random_seed(args.seed)
    bag = NaiveBayesBag(
        args.vocabulary_size,
        2,
        token_dropout=float(settings.get("dropout", 0.5)),
        seed=args.seed,
    )
    if int(settings.get("adapt", 1)):
        bag.adapt(x_train, y_train)
    tokens = keras.Input((None,), dtype="int32")
    model = keras.Model(tokens, bag(tokens))
    model.compile(
        keras.optimizers.Adam(float(settings.get("learning_rate", 1e-3))),
        keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    started, accuracies = time.perf_counter(), []
    for _ in range(int(settings.get("epochs", 4))):
        model.fit(
            x_train,
            y_train,
            batch_size=int(settings.get("batch_size", 64)),
            epochs=1,
            verbose=0,
        )
        logits = model.predict(x_validation, batch_size=500, verbose=0)
        logit = logits[:, 1] - logits[:, 0]
        accuracies.append(round(float(np.mean((logit > 0) == y_validation)), 4))
    return {
        "accuracy_per_epoch": accuracies,
        "seconds": round(time.perf_counter() - started, 1),
        "logit": logit,
    }


def sklearn_run(train, validation, inverse_strength) -> dict:
    """NB-LR on binary n-gram presence: the features X̂ ⊙ r (Wang &
    Manning), liblinear logistic regression."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    def presence(ids, vocabulary):
        rows = np.repeat(np.arange(len(ids)), ids.shape[1])
        matrix = sparse.csr_matrix(
            (np.ones(ids.size, np.float32), (rows, ids.reshape(-1))),
            shape=(len(ids), vocabulary),
        )
        matrix.data[:] = 1.0  # Repeats summed: presence again.
        matrix[:, 0] = 0
        matrix.eliminate_zeros()
        return matrix

    (x_train, y_train), (x_validation, y_validation) = train, validation
    vocabulary = int(max(x_train.max(), x_validation.max())) + 1
    train_set, validation_set = (
        presence(x_train, vocabulary),
        presence(x_validation, vocabulary),
    )
    ratios = NaiveBayesBag(vocabulary, 2).adapt(x_train, y_train)
    started = time.perf_counter()
    classifier = LogisticRegression(
        C=inverse_strength, solver="liblinear", max_iter=1000
    ).fit(train_set.multiply(ratios).tocsr(), y_train)
    logit = classifier.decision_function(
        validation_set.multiply(ratios).tocsr()
    )
    return {
        "accuracy": round(float(np.mean((logit > 0) == y_validation)), 4),
        "seconds": round(time.perf_counter() - started, 1),
        "logit": logit,
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    splits = load_imdb(
        args.data, data_dir=args.data_dir, seed=1337, shuffle=False
    )
    train_texts, train_labels = cleaned(splits.train)
    validation_texts, validation_labels = cleaned(splits.validation)
    x_train, x_validation = token_ids(args, train_texts, validation_texts)
    train = (x_train, train_labels)
    validation = (x_validation, validation_labels)
    save = Path(args.save) if args.save else None
    if save:
        save.mkdir(parents=True, exist_ok=True)
    features = (
        f"ngrams {args.ngrams}, vocabulary {args.vocabulary_size}, first "
        f"{args.length} ids"
    )
    for spec in args.runs:
        settings = dict(item.split("=") for item in spec.split(",") if item)
        result = keras_run(args, settings, train, validation)
        print(
            f"keras NaiveBayesBag {spec} ({features}): accuracy per epoch "
            f"{result['accuracy_per_epoch']}, {result['seconds']} s"
        )
        if save:
            np.save(
                save / f"keras_{spec.replace(',', '_')}.npy", result["logit"]
            )
    for inverse_strength in args.sklearn:
        result = sklearn_run(train, validation, inverse_strength)
        print(
            f"sklearn NB-LR C={inverse_strength} ({features}): accuracy "
            f"{result['accuracy']}, {result['seconds']} s"
        )
        if save:
            np.save(save / f"sklearn_C{inverse_strength}.npy", result["logit"])
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

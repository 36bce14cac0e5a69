"""IMDB "search space odyssey": the zoo's token models under one budget.

Every model gets the same recipe (`recipes.imdb`): the same training
reviews, the same `TextVectorization` (vocabulary, max length, n-grams),
the same embedding size, ~64 units or filters, the same epochs, batch size
and learning rate; validation accuracy is measured on the full 5,000-review
validation split. A tf-idf bag-of-bigrams logistic regression (plain Keras:
TextVectorization(output_mode="tf_idf") + Dense(1, sigmoid)) is the
baseline. Results go to bench/results/imdb_variants.{json,md,png}; the JSON
is rewritten after every model, so an interrupted run keeps its rows.

    nice -n 10 python bench/imdb_variants.py \\
        --data /path/to/aclImdb_v1.tar.gz --train-limit 10000 --epochs 1
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

import zoo  # noqa: E402
import zoo.text  # noqa: E402
from recipes import imdb as recipe  # noqa: E402
from zoo import training  # noqa: E402
from zoo.data import load_imdb  # noqa: E402
from zoo.models import composite  # noqa: E402

MODELS = (
    "mlp",
    "cnn",
    "default",
    "naive_rnn",
    "gru",
    "lstm",
    "cifg_lstm",
    "peephole_lstm",
    "nas_rnn",
    "bidirectional_lstm",
    "stacked_lstm",
)
RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=None)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--models", nargs="*", default=list(MODELS))
    parser.add_argument("--baseline", action="store_true", default=True)
    parser.add_argument("--no-baseline", dest="baseline", action="store_false")
    parser.add_argument(
        "--train-limit",
        type=int,
        default=None,
        help="the first N (shuffled) training reviews",
    )
    parser.add_argument(
        "--validation-limit",
        type=int,
        default=None,
        help="the first N validation reviews (smoke runs)",
    )
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--max-length", type=int, default=200)
    parser.add_argument("--vocabulary-size", type=int, default=20000)
    parser.add_argument("--ngrams", type=int, choices=(1, 2), default=1)
    parser.add_argument("--embedding-dim", type=int, default=64)
    parser.add_argument("--units", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--learning-rate", type=float, default=1e-3)
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--output", default=str(RESULTS / "imdb_variants"))
    return parser.parse_args(argv)


def recipe_args(args, model: str):
    """The recipe's arguments for one model under the shared budget."""
    name = recipe.DEFAULT_MODEL if model == "default" else model
    namespace = recipe.parse_args(
        [
            "--model",
            name,
            "--max-length",
            str(args.max_length),
            "--vocabulary-size",
            str(args.vocabulary_size),
            "--ngrams",
            str(args.ngrams),
            "--embedding-dim",
            str(args.embedding_dim),
            "--units",
            str(args.units),
            "--batch-size",
            str(args.batch_size),
            "--learning-rate",
            str(args.learning_rate),
            "--seed",
            str(args.seed),
        ]
    )
    return namespace


def run_model(args, model, vectorizer, train, validation) -> dict:
    settings = recipe_args(args, model)
    overrides = recipe.model_overrides(settings)
    if settings.model == "cnn":
        # The registry's CNN, not the recipe's settings of it.
        for key in recipe.CNN_CONFIG:
            overrides.pop(key)
    keras.utils.set_random_seed(args.seed)
    network = zoo.build(
        settings.model,
        inputs="tokens",
        vocabulary_size=vectorizer.vocabulary_size(),
        num_classes=2,
        output_activation=None,
        **overrides,
    )
    # NBSVM parts (the default's first member) fit their ratios first.
    recipe.fit_naive_bayes(network, vectorizer, train, args.batch_size)
    # token_pipeline no longer shuffles (the recipe shuffles per epoch).
    train_tokens = recipe.token_pipeline(
        train, vectorizer, args.batch_size
    ).shuffle(512, seed=args.seed)
    validation_tokens = recipe.token_pipeline(
        validation, vectorizer, args.batch_size
    )
    # An average's members train one after the other, as in the recipe.
    parts = composite.member_models(network)
    started = time.perf_counter()
    for part in parts or [network]:
        recipe.compile_model(part, settings)
        history = part.fit(
            train_tokens,
            validation_data=validation_tokens,
            epochs=args.epochs,
            shuffle=False,
            verbose=2,
        )
    seconds = time.perf_counter() - started
    if parts:
        recipe.compile_model(network, settings)
        accuracy = network.evaluate(validation_tokens, verbose=0)[1]
    else:
        accuracy = max(history.history["val_accuracy"])
    return {
        "model": model
        if model != "default"
        else f"default ({recipe.DEFAULT_MODEL})",
        "structure": zoo.describe(settings.model)["structure"],
        "validation_accuracy": accuracy,
        "parameters": network.count_params(),
        "train_time_s": round(seconds, 1),
    }


def run_baseline(args, train, validation) -> dict:
    """tf-idf of words and bigrams → logistic regression, in plain Keras."""
    vectorizer = keras.layers.TextVectorization(
        max_tokens=100000,
        standardize=zoo.text.standardize_review,
        ngrams=2,
        output_mode="tf_idf",
    )
    vectorizer.adapt(train.map(lambda text, label: text).batch(512))

    def pipeline(dataset, shuffle):
        # Dense tf-idf rows are 400 kB each: vectorized on the fly, not
        # cached (sparse=True output fails for tf_idf in Keras 3.15).
        if shuffle:
            dataset = dataset.shuffle(4096, seed=args.seed)
        return (
            dataset.batch(args.batch_size)
            .map(
                lambda text, label: (vectorizer(text), label),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
            .prefetch(tf.data.AUTOTUNE)
        )

    keras.utils.set_random_seed(args.seed)
    inputs = keras.Input(shape=(vectorizer.vocabulary_size(),))
    outputs = keras.layers.Dense(1, activation="sigmoid")(inputs)
    network = keras.Model(inputs, outputs, name="tfidf_logistic_regression")
    network.compile(
        keras.optimizers.Adam(args.learning_rate),
        "binary_crossentropy",
        metrics=["accuracy"],
    )
    started = time.perf_counter()
    history = network.fit(
        pipeline(train, True),
        validation_data=pipeline(validation, False),
        epochs=max(args.epochs, 3),
        verbose=2,
    )
    return {
        "model": "baseline: tf-idf bigrams + logistic regression",
        "structure": "tf-idf (100k words and bigrams) → Dense(1, sigmoid)",
        "validation_accuracy": max(history.history["val_accuracy"]),
        "parameters": network.count_params(),
        "train_time_s": round(time.perf_counter() - started, 1),
        "epochs": max(args.epochs, 3),
    }


def write_results(args, rows, metadata, complete: bool) -> None:
    output = Path(args.output)
    budget = (
        f"{args.train_limit or 'all'} training reviews, {args.epochs} "
        f"epoch(s), max length {args.max_length}, vocabulary "
        f"{args.vocabulary_size}, {'bigrams' if args.ngrams == 2 else 'words'}"
        f", embedding {args.embedding_dim}, {args.units} units/filters, "
        f"batch {args.batch_size}, Adam {args.learning_rate}"
    )
    if not args.models:
        budget = (
            f"{args.train_limit or 'all'} training reviews, "
            f"{max(args.epochs, 3)} epochs, batch {args.batch_size}, Adam "
            f"{args.learning_rate} (baseline only)"
        )
    payload = {
        "budget": budget,
        "complete": complete,
        "rows": rows,
        **metadata,
        "load_average_end": os.getloadavg(),
    }
    training.write_json(output.with_suffix(".json"), payload)
    lines = [
        "# IMDB: the zoo's sequence models under one budget"
        if args.models
        else "# IMDB: the tf-idf logistic regression baseline",
        "",
        f"Budget (equal for every model): {budget}. Validation: "
        f"{args.validation_limit or 'all 5,000'} reviews of the validation "
        "split (a seeded 20% of train); the best epoch is reported. The "
        "baseline (100k-token tf-idf, its own vectorizer) trains for at "
        "least 3 epochs (it is linear and fast).",
        "",
        f"Command: `{metadata['command']}`  ",
        f"Machine: {metadata['machine']}, shared (load average at the end "
        f"{', '.join(f'{x:.1f}' for x in os.getloadavg())}); "
        f"commit {metadata['git_commit']}; {metadata['date']}.",
        ""
        if complete
        else "\n**Partial: the run was interrupted; only "
        "the rows below completed.**\n",
        "| model | structure | validation accuracy | parameters | "
        "train time (s) |",
        "|---|---|---|---|---|",
    ]
    for row in sorted(rows, key=lambda r: -r["validation_accuracy"]):
        lines.append(
            f"| {row['model']} | {row['structure']} | "
            f"{row['validation_accuracy']:.4f} | {row['parameters']:,} | "
            f"{row['train_time_s']:.0f} |"
        )
    from zoo.export import atomic_write_text

    atomic_write_text(output.with_suffix(".md"), "\n".join(lines) + "\n")
    plot(rows, output.with_suffix(".png"), budget)


def plot(rows, path, budget) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = sorted(rows, key=lambda r: r["validation_accuracy"])
    figure, axis = plt.subplots(figsize=(8, 0.45 * len(rows) + 1.5))
    names = [row["model"].split(" (")[0] for row in rows]
    values = [row["validation_accuracy"] for row in rows]
    bars = axis.barh(names, values, color="tab:blue")
    for bar, value in zip(bars, values):
        axis.text(
            value + 0.003,
            bar.get_y() + bar.get_height() / 2,
            f"{value:.3f}",
            va="center",
            fontsize=8,
        )
    axis.set_xlim(0.45, 1.0)
    axis.set_xlabel("validation accuracy")
    axis.set_title(
        textwrap.fill(f"IMDB, equal budget: {budget}", 80), fontsize=8
    )
    axis.grid(axis="x", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)


def main(argv=None) -> int:
    args = parse_args(argv)
    metadata = training.run_metadata(argv)
    splits = load_imdb(args.data, data_dir=args.data_dir, seed=args.seed)
    train = splits.train
    if args.train_limit:
        train = train.take(args.train_limit).cache()
    validation = splits.validation
    if args.validation_limit:
        validation = validation.take(args.validation_limit)
    validation = validation.cache()
    rows = []
    if args.baseline:
        rows.append(run_baseline(args, train, validation))
        write_results(args, rows, metadata, complete=False)
    if args.models:
        # One vectorizer, adapted on the training reviews, for every model.
        settings = recipe_args(args, "cnn")
        vectorizer = recipe.adapt_vectorizer(settings, train)
    for model in args.models:
        rows.append(run_model(args, model, vectorizer, train, validation))
        print(rows[-1], flush=True)
        write_results(args, rows, metadata, complete=False)
    write_results(args, rows, metadata, complete=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

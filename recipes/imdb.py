"""IMDB sentiment: raw movie reviews → P(positive), with a zoo model.

Task: binary sentiment of IMDB reviews (Maas et al., 2011).
Data: the 25,000 labelled training reviews, split 80/20 into train and
validation by `zoo.data.load_imdb` (seeded); the test split is used only
when the source has one. Text processing lives in the model: a
`TextVectorization` layer (cleaning by `zoo.text.standardize_review`, words
and word pairs, a 200,000-token vocabulary adapted on train only) turns a
review into token ids (unigrams then bigrams; whole reviews by default,
batched with reviews of similar length; `--max-length N` truncates to N
tokens), and the zoo model classifies the ids.

The default model is `nbsvm` (Wang & Manning 2012): a linear model over
the set of the review's words and bigrams, each scaled by its naive-Bayes
log-count ratio, fitted on the training reviews before training
(`fit_naive_bayes`). It beat every sequence model of the zoo on the CPU
budget (bench/results/imdb_ablation_nbsvm.md). `--model average` trains
the members of an average one after the other (`--train-members`).

Then `EvidenceScaling` (`zoo.calibration`), fitted on the validation
reviews whole and cut to their first 50, 20, 10 and 5 words, scales the
logit by a saturating function of the review's token count, so that the
confidence follows the evidence: short texts get probabilities near 0.5,
the empty string exactly 0.5. It is part of the exported graph.

Expected (default settings): 92.2% validation accuracy after 4 epochs
(the best epoch restored), ECE (15 bins) 0.02-0.04 on whole validation
reviews and their first 20 and 5 words; about 20 s of training on 2 CPU
cores, 2.5 minutes for the whole command from a fresh clone. The ablation
of issue 15's ideas is in bench/results/imdb_ablation_nbsvm.md (earlier
rounds, on the CNN: imdb_ablation.md, imdb_ablation_region.md), the
tf-idf baseline (90.9%) in README.md's IMDB section, the other zoo models
under one budget in bench/results/imdb_variants.md.

Outputs: `--output-dir` (default runs/imdb) gets TensorBoard logs,
history.csv, learning_curves.png, best.keras, imdb.keras (raw text in,
probability out) and metrics.json (recipes/runner.py gives its layout);
`--export DIR` (default saved_models) gets `DIR/imdb/<version>/`, a TF
Serving SavedModel whose `serving_default` signature maps `text`
(tf.string [None]) to `probability` (float32 [None], P(positive)) and
`label` (int64 [None], 1 = positive), with a model card in assets.extra/.

    zoo train imdb --data /path/to/aclImdb_v1.tar.gz
    zoo train imdb --smoke --data /path/to/aclImdb   # seconds

`--strategy` (auto, default, mirrored, multi_worker; the cluster from
TF_CONFIG) trains on several GPUs or machines: README.md, "Reliability and
scale". A killed run resumes when rerun with the same command.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

import zoo
import zoo.models.bag
import zoo.text
from recipes import runner
from zoo import calibration
from zoo import distribute
from zoo import export
from zoo import training
from zoo.data import epochs
from zoo.data import load_imdb
from zoo.models import composite

TASK = "imdb"

DEFAULT_MODEL = "nbsvm"
# The recipe's settings of the CNN (the default before NBSVM; validated on
# IMDB: bench/results/imdb_ablation.md).
CNN_CONFIG = {
    "kernel_size": 3,
    "num_blocks": 1,
    "pool_size": 1,
    "pooling": "average",
}
# The recipe's dropout (before the head; for NBSVM, of tokens): 0.5, but
# none for NBSVM, whose token dropout did not pay (0.9208 with 0.5, 0.9222
# without: bench/results/imdb_ablation_nbsvm.md).
DROPOUT = 0.5
MODEL_DROPOUT = {"nbsvm": 0.0}
NGRAM_NAMES = {1: "words", 2: "words and bigrams", 3: "words to trigrams"}
# Review lengths (words; None = whole) whose calibration is fitted together
# and reported: whole reviews and their first 50, 20, 10 and 5 words.
CALIBRATION_WORDS = (None, 50, 20, 10, 5)
REPORTED_WORDS = (None, 20, 5)
# Inputs that show what the exported model does with odd text.
PROBE_TEXTS = [
    b"A wonderful, moving film.<br /><br />The best acting I've seen!",
    b"Dull, predictable and far too long. A waste of time.",
    b"",
    b"Caf\xe9 cr\xe8me: not UTF-8 \xff\xfe",
]


def parse_args(argv=None, prog=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog=prog or f"zoo train {TASK}", description=__doc__.splitlines()[0]
    )
    data = parser.add_argument_group("Data")
    data.add_argument(
        "--data",
        default=None,
        help="aclImdb folder or "
        "aclImdb*.tar.gz; default: TFDS imdb_reviews (online)",
    )
    data.add_argument("--data-dir", default=None, help="TFDS data dir")
    data.add_argument(
        "--max-length",
        type=int,
        default=0,
        help="tokens "
        "kept per review (unigrams then bigrams, so about "
        "max_length/2 words); the rest is truncated; 0: whole reviews "
        "(each batch padded to its longest)",
    )
    data.add_argument("--vocabulary-size", type=int, default=200000)
    data.add_argument("--ngrams", type=int, choices=(1, 2, 3), default=2)
    model = parser.add_argument_group("Model")
    model.add_argument(
        "--model",
        default=DEFAULT_MODEL,
        help="any registry name that accepts tokens (zoo.list_models())",
    )
    model.add_argument("--embedding-dim", type=int, default=64)
    model.add_argument(
        "--units",
        type=int,
        default=64,
        help="units, filters or hidden units, whichever the model has",
    )
    model.add_argument(
        "--dropout",
        type=float,
        default=None,
        help=f"default {DROPOUT}; for nbsvm {MODEL_DROPOUT['nbsvm']} (the "
        "rate of its token dropout)",
    )
    model.add_argument(
        "--model-args",
        type=json.loads,
        default=None,
        help="JSON object of builder overrides, e.g. "
        "'{\"kernel_size\": 5}' (applied last)",
    )
    train_group = parser.add_argument_group("Training")
    train_group.add_argument(
        "--epochs", type=int, default=None, help="default 4 (1 with --smoke)"
    )
    train_group.add_argument(
        "--train-members",
        choices=("separately", "jointly"),
        default="separately",
        help="an average of models: train each member alone on its own "
        "loss, one after the other (an ensemble), or the average as one",
    )
    train_group.add_argument("--batch-size", type=int, default=64)
    train_group.add_argument("--learning-rate", type=float, default=1e-3)
    train_group.add_argument("--output-dir", default="runs/imdb")
    train_group.add_argument(
        "--smoke",
        action="store_true",
        help="200 "
        "train / 100 validation reviews, a tiny model, "
        "1 epoch: seconds (for tests)",
    )
    runner.add_run_arguments(parser)
    args = parser.parse_args(argv)
    if args.smoke:
        args.max_length, args.vocabulary_size = 64, 1000
        args.embedding_dim, args.units = 8, 8
    if args.epochs is None:
        args.epochs = 1 if args.smoke else 4
    if args.max_length < 0:
        parser.error(
            f"--max-length must be 0 or positive, got {args.max_length}"
        )
    return args


def sequence_length(max_length: int) -> int | None:
    """The vectorizer's output length: None (whole reviews) for 0."""
    return max_length or None


def load_data(args):
    """(train, validation, test or None, info) of raw (text, label) pairs."""
    splits = load_imdb(args.data, data_dir=args.data_dir, seed=args.seed)
    train, validation = splits.train, splits.validation
    if args.smoke:
        train, validation = train.take(200), validation.take(100)
    return train, validation, splits.test, splits.info


def recipe_splits(data, data_dir=None):
    """`load_data` for just `--data` and `--data-dir`: the recipe's reviews,
    split and seed, for benchmarks that compare runs on them."""
    arguments = ["--data", str(data)]
    if data_dir:
        arguments += ["--data-dir", str(data_dir)]
    return load_data(parse_args(arguments))


def model_overrides(args) -> dict:
    """The registry hyperparameters the recipe sets for `args.model`."""
    if not zoo.is_model(args.model):
        zoo.describe(args.model)  # Raises, listing close matches.
    description = zoo.describe(args.model)
    if "tokens" not in description["inputs"]:
        raise ValueError(
            f"Model {args.model!r} does not accept token inputs; choose one "
            "of: "
            + ", ".join(
                name
                for name in zoo.list_models()
                if "tokens" in zoo.describe(name)["inputs"]
            )
        )
    defaults = description["defaults"]
    dropout = args.dropout
    if dropout is None:
        dropout = MODEL_DROPOUT.get(args.model, DROPOUT)
    overrides = {"embedding_dim": args.embedding_dim, "dropout": dropout}
    for key in ("units", "filters", "hidden_units"):
        if key in defaults:
            overrides[key] = args.units
    if args.model == "cnn":
        overrides.update(CNN_CONFIG)
    if args.model_args is not None:
        if not isinstance(args.model_args, dict):
            raise ValueError(
                f"--model-args must be a JSON object, got {args.model_args!r}"
            )
        overrides.update(args.model_args)
    return overrides


def build_model(args, vectorizer):
    """The training-time model: token ids [batch, time] → class logits."""
    model = zoo.build(
        args.model,
        inputs="tokens",
        vocabulary_size=vectorizer.vocabulary_size(),
        num_classes=2,
        output_activation=None,
        **model_overrides(args),
    )
    return compile_model(model, args)


def adapt_vectorizer(args, train):
    """TextVectorization adapted on the training texts only.

    It is the input pipeline's: it takes text cleaned by
    `zoo.text.standardize_review` (`tokenize` cleans first), so that it
    runs in tf.data under every Keras backend; `export_endpoints` puts
    the cleaning and its vocabulary back into the exported model.
    """
    vectorizer = zoo.text.make_vectorizer(
        max_tokens=args.vocabulary_size,
        sequence_length=sequence_length(args.max_length),
        ngrams=None if args.ngrams == 1 else args.ngrams,
        standardize=False,
    )
    vectorizer.adapt(
        train.map(lambda text, label: zoo.text.standardize_review(text)).batch(
            512
        )
    )
    return vectorizer


def tokenize(vectorizer, text):
    """Raw reviews -> token ids with the pipeline's vectorizer."""
    return vectorizer(zoo.text.standardize_review(text))


# Whole reviews (no --max-length) are batched with reviews of similar
# length (token counts between two boundaries), so that a batch is padded
# to its own longest review, not to the longest of a random batch.
LENGTH_BOUNDARIES = (64, 128, 192, 256, 320, 384, 512, 640, 768, 1024, 1536)


def token_pipeline(dataset, vectorizer, batch_size):
    """Vectorizes once: batched, cached token ids and labels.

    A vectorizer of fixed output length pads every batch to it; one
    without (whole reviews) gets batches grouped by length.
    """
    if vectorizer.get_config()["output_sequence_length"] is not None:
        return (
            dataset.batch(batch_size)
            .map(
                lambda text, label: (tokenize(vectorizer, text), label),
                num_parallel_calls=tf.data.AUTOTUNE,
            )
            .cache()
        )
    ids = dataset.map(
        lambda text, label: (tokenize(vectorizer, text[None])[0], label),
        num_parallel_calls=tf.data.AUTOTUNE,
    )
    return ids.bucket_by_sequence_length(
        lambda token_ids, label: tf.shape(token_ids)[0],
        list(LENGTH_BOUNDARIES),
        [batch_size] * (len(LENGTH_BOUNDARIES) + 1),
    ).cache()


def fit_naive_bayes(model, vectorizer, train_data, batch_size) -> None:
    """Fits the naive-Bayes ratios of the model's NBSVM parts (if any) on
    the training reviews' token ids, before training."""
    if not zoo.models.bag.naive_bayes_bags(model):
        return
    batches = list(token_pipeline(train_data, vectorizer, batch_size))
    zoo.models.bag.adapt_naive_bayes(
        model,
        [ids.numpy() for ids, _ in batches],
        [labels.numpy() for _, labels in batches],
    )


def compile_model(model, args) -> keras.Model:
    """Adam and the cross-entropy of class logits (under the strategy's
    scope when the model was built there)."""
    model.compile(
        optimizer=keras.optimizers.Adam(args.learning_rate),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
        metrics=["accuracy"],
    )
    return model


def train(args, strategy, model, vectorizer, train_data, validation_data):
    """Fits under `strategy`, resumably; returns (model, history, seconds).

    The batches are shuffled in an order seeded by `--seed` and the epoch,
    so a run resumed after a kill sees those of an uninterrupted run. The
    members of an `average` composite are trained one after the other,
    each on its own loss (`--train-members separately`, the default), or
    the average as one model (`jointly`).
    """
    output_dir = Path(args.output_dir)
    tokens = token_pipeline(train_data, vectorizer, args.batch_size)
    shuffled = epochs.EpochDataset(
        lambda epoch: epochs.shuffle(tokens, 512, args.seed, epoch)
    )
    validation = token_pipeline(
        validation_data, vectorizer, args.batch_size
    ).prefetch(tf.data.AUTOTUNE)

    def fit(part, folder):
        return distribute.fit_model(
            part,
            shuffled,
            validation,
            strategy=strategy,
            epochs=args.epochs,
            output_dir=folder,
            metrics={"accuracy": "sparse_categorical_accuracy"},
            verbose=2 if args.smoke else 1,
        )

    members = (
        composite.member_models(model)
        if args.train_members == "separately"
        else []
    )
    started = time.perf_counter()
    if members:
        model, history = fit_members(model, members, fit, strategy, args)
    else:
        model, history = fit(model, output_dir)
    seconds = time.perf_counter() - started
    if distribute.is_chief(strategy) and not members:
        training.plot_history(
            history,
            output_dir / "learning_curves.png",
            title=f"IMDB, {args.model}",
        )
    return model, history, seconds


# A member trained to the end in a run that has not finished: its weights,
# so that a resumed run skips it (its backup is gone once it finished).
MEMBER_DONE = "trained.weights.h5"


def epochs_run(history: dict):
    """Epochs trained: a count, or {member: count} for members trained
    one by one."""
    if "accuracy" in history:
        return len(history["accuracy"])
    return {name: len(part["accuracy"]) for name, part in history.items()}


def fit_members(model, members, fit, strategy, args):
    """Trains each member alone (its own optimizer, early stopping and
    backup in `output_dir/<member>/`), then returns the composite with the
    trained weights and {member name: its Keras history} (members skipped
    on a resume have none)."""
    output_dir = Path(args.output_dir)
    history = {}
    for member in members:
        folder = output_dir / member.name
        done = folder / MEMBER_DONE
        if done.exists():
            member.load_weights(done)
            continue
        with strategy.scope():
            compile_model(member, args)
        trained, member_history = fit(member, folder)
        if trained is not member:  # Multi-worker: a local copy.
            member.set_weights(trained.get_weights())
        history[member.name] = member_history
        if distribute.is_chief(strategy):
            training.plot_history(
                member_history,
                folder / "learning_curves.png",
                title=f"IMDB, {args.model}: {member.name} alone",
            )
            partial = folder / "partial.weights.h5"
            member.save_weights(partial)
            os.replace(partial, done)
    if distribute.is_chief(strategy):
        for member in members:
            (output_dir / member.name / MEMBER_DONE).unlink(missing_ok=True)
    if distribute.uses_custom_loop(strategy):
        model = distribute.local_copy(model)
    return model, history


def evaluate(model, vectorizer, datasets: dict, batch_size: int) -> dict:
    """Accuracy and loss on each named split (None splits are skipped)."""
    results = {}
    for name, dataset in datasets.items():
        if dataset is None:
            continue
        loss, accuracy = model.evaluate(
            token_pipeline(dataset, vectorizer, batch_size).prefetch(
                tf.data.AUTOTUNE
            ),
            verbose=0,
        )
        results[name] = {"accuracy": float(accuracy), "loss": float(loss)}
    return results


def review_logits(model, vectorizer, dataset, batch_size, words=None):
    """(logits z, token counts n, labels) of a split's reviews, NumPy.

    z = logit(positive) − logit(negative) of the token model; `words`
    cuts each review to its first so many words first (None: whole).
    """

    def vectorize(text, label):
        if words is not None:
            text = zoo.text.first_words(text, words)
        # Cleaned like the training text (`first_words` output is clean
        # already; cleaning it again changes nothing).
        return tokenize(vectorizer, text), label

    logits, counts, labels = [], [], []
    batches = dataset.batch(batch_size).map(
        vectorize, num_parallel_calls=tf.data.AUTOTUNE
    )
    for ids, label in batches.prefetch(tf.data.AUTOTUNE):
        # convert_to_numpy: a PyTorch output still requires grad.
        output = keras.ops.convert_to_numpy(model(ids, training=False))
        output = output.astype(np.float64)
        logits.append(output[:, 1] - output[:, 0])
        counts.append(np.count_nonzero(ids.numpy(), axis=1))
        labels.append(label.numpy())
    return tuple(np.concatenate(part) for part in (logits, counts, labels))


def words_name(words) -> str:
    return "whole" if words is None else f"first_{words}_words"


def calibrate(model, vectorizer, dataset, batch_size, output_dir=None):
    """Fits `EvidenceScaling` on the validation reviews cut to several
    lengths; returns (its arguments, {length name: figures}).

    The figures (accuracy, mean confidence, ECE with 15 bins, before and
    after the scaling) are for whole reviews and their first 20 and 5
    words; `output_dir` gets reliability.png (after) and
    reliability_unscaled.png (before).
    """
    cut = {
        words: review_logits(model, vectorizer, dataset, batch_size, words)
        for words in CALIBRATION_WORDS
    }
    fitted = calibration.fit_evidence_scaling(
        *(np.concatenate(part) for part in zip(*cut.values()))
    )
    figures, curves, unscaled = {}, {}, {}
    for words in REPORTED_WORDS:
        logits, counts, labels = cut[words]
        scaled = calibration.scale_logits(logits, counts, **fitted)
        probability = 1 / (1 + np.exp(-scaled))
        before = 1 / (1 + np.exp(-logits))
        name = words_name(words)
        figures[name] = {
            "accuracy": round(float(np.mean((logits > 0) == labels)), 4),
            "mean_confidence": round(
                float(np.mean(np.maximum(probability, 1 - probability))), 4
            ),
            "ece": round(
                calibration.expected_calibration_error(probability, labels),
                4,
            ),
            "ece_unscaled": round(
                calibration.expected_calibration_error(before, labels), 4
            ),
        }
        curves[name] = (probability, labels)
        unscaled[name] = (before, labels)
    if output_dir is not None:
        calibration.reliability_diagram(
            curves,
            Path(output_dir) / "reliability.png",
            "IMDB validation, EvidenceScaling " + json.dumps(fitted),
        )
        calibration.reliability_diagram(
            unscaled,
            Path(output_dir) / "reliability_unscaled.png",
            "IMDB validation, unscaled logits",
        )
    return fitted, figures


def end_to_end(vectorizer, model, scaling=None) -> keras.Model:
    """Raw strings [batch] → P(positive) [batch] as one Keras model.

    P(positive) = σ(z'), z' the `EvidenceScaling` (arguments `scaling`;
    None: unscaled) of z = logit(positive) − logit(negative).

    Wraps an uncompiled Functional model over the same layers (and
    weights), so that neither the `.keras` file nor the SavedModel carries
    the optimizer's state (2× the weights). `clone_model` would not do:
    it compiles the clone when the original is compiled.
    """
    inference = keras.Model(model.input, model.output, name=model.name)
    text = keras.Input(shape=(), dtype="string", name="text")
    token_ids = vectorizer(text)
    logits = inference(token_ids)
    logit = logits[:, 1] - logits[:, 0]
    logit = calibration.EvidenceScaling(
        **(scaling or {}), name="evidence_scaling"
    )([logit, token_ids])
    probability = keras.layers.Activation("sigmoid", name="probability")(logit)
    return keras.Model(text, probability, name=f"imdb_{model.name}")


def review_endpoint(classifier: keras.Model) -> export.Endpoint:
    """The exported signature: `text` [None] -> probability and label."""

    def serve(text):
        # The signature's [None] is not checked when the signature is
        # called (as TF Serving does); EnsureShape checks the rank at run
        # time: "Shape of tensor text [1,1] is not compatible with expected
        # shape [?]" instead of an error from deep inside the vectorizer.
        text = tf.ensure_shape(text, [None], name="text")
        probability = tf.cast(classifier(text, training=False), "float32")
        label = tf.cast(probability > 0.5, tf.int64)
        return {"probability": probability, "label": label}

    return export.Endpoint(
        serve, {"text": tf.TensorSpec([None], tf.string, name="text")}
    )


def review_classifier(
    model: keras.Model,
    *,
    vocabulary: list[str],
    max_tokens: int,
    max_length: int,
    ngrams: int,
    scaling: dict | None = None,
) -> keras.Model:
    """Raw text -> calibrated P(positive): `model` with the cleaning, the
    training pipeline's vocabulary and the `EvidenceScaling` inside."""
    vectorizer = zoo.text.make_vectorizer(
        max_tokens=max_tokens,
        sequence_length=sequence_length(max_length),
        ngrams=None if ngrams == 1 else ngrams,
        vocabulary=vocabulary,
    )
    return end_to_end(vectorizer, model, scaling)


def export_endpoints(model: keras.Model, **options) -> tuple[dict, tuple]:
    """`runner.ExportPlan.endpoints`: the signature, and the vectorizer to
    track for its lookup table (the weights are saved without tracking;
    tracking the model would save them twice)."""
    classifier = review_classifier(model, **options)
    endpoints = {"serving_default": review_endpoint(classifier)}
    return endpoints, (classifier.get_layer("vectorizer"),)


def calibrated_probability(model, token_ids, scaling) -> np.ndarray:
    """What the exported model gives for `token_ids`, computed from the
    trained token model under any backend (NumPy scaling)."""
    logits = np.asarray(model.predict_on_batch(token_ids), np.float64)
    counts = np.count_nonzero(np.asarray(token_ids), axis=1)
    scaled = calibration.scale_logits(
        logits[:, 1] - logits[:, 0], counts, **scaling
    )
    return (1 / (1 + np.exp(-scaled))).astype(np.float32)


def train_task(args, strategy) -> runner.Trained | None:
    """Loads, fits and evaluates; the runner writes and exports."""
    train_data, validation_data, test_data, info = load_data(args)
    output_dir = Path(args.output_dir)
    vectorizer = adapt_vectorizer(args, train_data)
    with strategy.scope():
        model = build_model(args, vectorizer)
    fit_naive_bayes(model, vectorizer, train_data, args.batch_size)
    model, history, seconds = train(
        args, strategy, model, vectorizer, train_data, validation_data
    )
    if not distribute.is_chief(strategy):
        return None
    results = evaluate(
        model,
        vectorizer,
        {"validation": validation_data, "test": test_data},
        args.batch_size,
    )
    scaling, calibration_figures = calibrate(
        model, vectorizer, validation_data, args.batch_size, output_dir
    )
    results["validation"]["calibration"] = calibration_figures
    options = {
        "vocabulary": vectorizer.get_vocabulary(),
        "max_tokens": args.vocabulary_size,
        "max_length": args.max_length,
        "ngrams": args.ngrams,
        "scaling": scaling,
    }
    review_classifier(model, **options).save(output_dir / "imdb.keras")
    probe = np.array(PROBE_TEXTS, dtype=bytes)
    probability = calibrated_probability(
        model, tokenize(vectorizer, probe), scaling
    )
    overrides = model_overrides(args)
    validation_accuracy = results["validation"]["accuracy"]
    test_accuracy = results.get("test", {}).get("accuracy")
    data = {
        "source": info.source,
        "num_train": info.num_train,
        "num_validation": info.num_validation,
        "seed": info.seed,
        "test": "measured"
        if "test" in results
        else "absent: the source has no test split; validation accuracy "
        "(a seeded 20% of train) is reported",
        "vocabulary_size": vectorizer.vocabulary_size(),
        "max_length": args.max_length,
        "ngrams": args.ngrams,
        "calibration": "EvidenceScaling fitted on the validation reviews "
        "(whole and cut to their first 50, 20, 10 and 5 words)",
    }
    card = {
        "name": TASK,
        "task": "binary sentiment of English movie reviews",
        "model": f"{args.model} {overrides}",
        "inputs": "text: tf.string [None], raw review (any bytes; invalid "
        "UTF-8 becomes U+FFFD)",
        "outputs": "probability: float32 [None] P(positive), calibrated "
        "by EvidenceScaling (fewer words, closer to 0.5; no word: 0.5); "
        "label: int64 [None], 1 = positive (probability > 0.5)",
        "preprocessing": "lower case, <br /> and punctuation removed, "
        f"{NGRAM_NAMES[args.ngrams]}, "
        + (
            f"first {args.max_length} tokens kept"
            if args.max_length
            else "whole reviews"
        ),
        "data": f"IMDB (Maas et al. 2011) from {info.source}: "
        f"{info.num_train} train / {info.num_validation} validation",
        "validation_accuracy": round(validation_accuracy, 4),
        "calibration": {
            "evidence_scaling": scaling,
            **{
                name: {
                    "accuracy": figures["accuracy"],
                    "ece": figures["ece"],
                }
                for name, figures in calibration_figures.items()
            },
        },
        "test_accuracy": test_accuracy,
    }
    return runner.Trained(
        model=model,
        metrics=results,
        training={
            "epochs_run": epochs_run(history),
            "train_seconds": round(seconds, 1),
            "load_average": os.getloadavg(),
        },
        model_config={**overrides, "evidence_scaling": scaling},
        data=data,
        export=runner.ExportPlan(
            endpoints=export_endpoints,
            # Bytes ("S"): the verifying process loads them without pickle.
            probe_inputs={"text": probe},
            card=card,
            options=options,
            reference_outputs={"probability": probability},
        ),
        summary=f"validation accuracy {validation_accuracy:.4f} in "
        f"{seconds:.0f} s; ECE "
        + ", ".join(
            f"{name} {figures['ece']:.3f}"
            for name, figures in calibration_figures.items()
        ),
    )


def main(argv=None, prog=None) -> int:
    """`zoo train imdb`: the exit code (0 done, 2 a usage or data error)."""
    args = parse_args(argv, prog)
    return runner.run(TASK, args, train_task, argv, check=model_overrides)


if __name__ == "__main__":
    raise SystemExit(main())

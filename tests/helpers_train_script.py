"""A tiny, deterministic training run for the resume and determinism tests.

Trains `zoo.build("gru", ...)` on synthetic token data made from `--seed`
with `zoo.training.standard_callbacks` (so with the atomic backup), and
writes `final.weights.npz` (the final weights, i.e. the best epoch's, which
EarlyStopping restores), `last_epoch.weights.npz` (the weights after the
last epoch this process ran) and `metrics.json` (the
validation metrics of the final model, the epochs this process ran) under
`--output-dir`. `--sleep` seconds after every batch slow training down, so
a test can kill it in the middle of an epoch.

Run: python tests/helpers_train_script.py --output-dir OUT --epochs 6
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import zoo  # noqa: E402
from zoo import training  # noqa: E402


class SleepPerBatch(keras.callbacks.Callback):
    """Slows training down so that a kill lands inside an epoch."""

    def __init__(self, seconds: float):
        super().__init__()
        self.seconds = seconds

    def on_train_batch_end(self, batch, logs=None):
        time.sleep(self.seconds)


class LastEpochWeights(keras.callbacks.Callback):
    """Keeps the weights at the end of the last epoch run (before
    EarlyStopping restores the best ones)."""

    def __init__(self):
        super().__init__()
        self.weights = None

    def on_epoch_end(self, epoch, logs=None):
        self.weights = self.model.get_weights()


def synthetic_data(seed: int, samples: int, length: int = 6):
    """Token ids in [1, 50); the label is whether id 7 occurs."""
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, 50, size=(samples, length)).astype("int32")
    # Some right padding, so masking is exercised too.
    lengths = rng.integers(2, length + 1, size=samples)
    tokens[np.arange(length)[None, :] >= lengths[:, None]] = 0
    labels = (tokens == 7).any(axis=1).astype("int32")
    tokens[: samples // 2, 0] = np.where(labels[: samples // 2], 7, 3)
    return tokens, labels


def parse_args(argv):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--samples", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--sleep", type=float, default=0.0)
    parser.add_argument("--dropout", type=float, default=0.25)
    return parser.parse_args(argv)


def main(argv=None) -> dict:
    args = parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()
    output_dir = Path(args.output_dir)
    x_train, y_train = synthetic_data(args.seed, args.samples)
    x_valid, y_valid = synthetic_data(args.seed + 1, args.samples // 2)
    model = zoo.build(
        "gru", vocabulary_size=50, embedding_dim=4, units=4,
        dropout=args.dropout,
    )
    model.compile(
        optimizer=keras.optimizers.Adam(0.02),
        loss="sparse_categorical_crossentropy",
        metrics=["accuracy"],
    )
    callbacks = training.standard_callbacks(
        output_dir, monitor="val_accuracy", patience=args.epochs,
        tensorboard=False,
    )
    last_epoch = LastEpochWeights()
    callbacks.insert(0, last_epoch)
    if args.sleep:
        callbacks.append(SleepPerBatch(args.sleep))
    # shuffle=False: the batch order is then a function of the epoch only,
    # which a resumed run needs to repeat an uninterrupted one exactly.
    history = model.fit(
        x_train, y_train, validation_data=(x_valid, y_valid),
        epochs=args.epochs, batch_size=args.batch_size, shuffle=False,
        callbacks=callbacks, verbose=0,
    )
    evaluation = model.evaluate(x_valid, y_valid, verbose=0, return_dict=True)
    np.savez(
        output_dir / "final.weights.npz",
        *[np.asarray(weight) for weight in model.get_weights()],
    )
    if last_epoch.weights is not None:
        np.savez(output_dir / "last_epoch.weights.npz", *last_epoch.weights)
    metrics = {
        "evaluation": {k: float(v) for k, v in evaluation.items()},
        "epochs_run_here": len(history.epoch),
        "first_epoch_here": history.epoch[0] if history.epoch else None,
    }
    training.write_json(output_dir / "metrics.json", metrics)
    print(json.dumps(metrics))
    return metrics


if __name__ == "__main__":
    main()

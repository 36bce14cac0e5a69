"""One worker of a tiny `zoo.distribute.fit_model` run, for the tests.

Creates the strategy first (as MultiWorkerMirroredStrategy requires; the
cluster comes from TF_CONFIG, and without one it is a one-worker cluster),
builds and compiles `zoo.build("gru", ...)` in its scope, and trains it on
synthetic data with a fixed global batch through `fit_model`, with the
standard callbacks set to stop early: `--monitor val_loss --mode max` waits
for a rise of the validation loss, which training drives down. Writes under
`--output-dir`:

- `result-<task>.json`: history, worker, chief, replicas, and the returned
  model's evaluation on the validation data (run on every worker: the
  returned model lives outside the strategy, so no collective is needed);
- `weights-<task>.npz`: the returned model's weights.

Run: python tests/helpers_distribute_script.py --output-dir OUT \
    --strategy multi_worker --epochs 4
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tensorflow as tf  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from zoo import distribute  # noqa: E402


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output-dir", required=True)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--global-batch-size", type=int, default=8)
    parser.add_argument("--monitor", default="val_loss")
    parser.add_argument("--mode", default="max")
    parser.add_argument("--patience", type=int, default=2)
    distribute.add_strategy_argument(parser)
    args = parser.parse_args(argv)

    strategy = distribute.strategy_from_name(args.strategy)
    import keras
    import numpy as np
    from helpers_train_script import synthetic_data

    import zoo

    keras.utils.set_random_seed(args.seed)
    tf.config.experimental.enable_op_determinism()
    output_dir = Path(args.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    x_train, y_train = synthetic_data(args.seed, 64)
    x_valid, y_valid = synthetic_data(args.seed + 1, 32)

    def dataset(x, y):
        return tf.data.Dataset.from_tensor_slices((x, y)).batch(
            args.global_batch_size
        )

    with strategy.scope():
        model = zoo.build("gru", vocabulary_size=50, embedding_dim=4, units=4)
        model.compile(
            optimizer=keras.optimizers.Adam(0.02),
            loss="sparse_categorical_crossentropy",
            metrics=["accuracy"],
        )
    model, history = distribute.fit_model(
        model,
        dataset(x_train, y_train),
        dataset(x_valid, y_valid),
        strategy=strategy,
        epochs=args.epochs,
        output_dir=output_dir,
        metrics={"accuracy": "sparse_categorical_accuracy"},
        verbose=0,
        monitor=args.monitor,
        mode=args.mode,
        patience=args.patience,
        tensorboard=False,
    )
    loss, accuracy = model.evaluate(dataset(x_valid, y_valid), verbose=0)
    resolver = getattr(strategy, "cluster_resolver", None)
    task = (
        f"{resolver.task_type}-{resolver.task_id}"
        if resolver is not None and resolver.task_type
        else "single"
    )
    np.savez(
        output_dir / f"weights-{task}.npz",
        *[np.asarray(v) for v in model.get_weights()],
    )
    result = {
        "task": task,
        "chief": distribute.is_chief(strategy),
        "replicas": strategy.num_replicas_in_sync,
        "strategy": type(strategy).__name__,
        "history": history,
        "evaluation": {"val_loss": loss, "val_accuracy": accuracy},
    }
    (output_dir / f"result-{task}.json").write_text(json.dumps(result))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

"""One worker of a tiny `zoo.distribute.fit_distributed` run, for the tests.

Creates the strategy first (as MultiWorkerMirroredStrategy requires; the
cluster comes from TF_CONFIG), trains `zoo.build("gru", ...)` on synthetic
data with a fixed global batch, and writes `result-<task>.json` (history,
worker, chief) and `weights-<task>.npz` under `--output-dir`.

Run: python tests/helpers_distribute_script.py --output-dir OUT \
    --strategy multi_worker --epochs 3
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
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--global-batch-size", type=int, default=8)
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

    model, history = distribute.fit_distributed(
        lambda: zoo.build(
            "gru", vocabulary_size=50, embedding_dim=4, units=4
        ),
        "sparse_categorical_crossentropy",
        dataset(x_train, y_train),
        dataset(x_valid, y_valid),
        strategy=strategy,
        epochs=args.epochs,
        checkpoint_dir=output_dir / "checkpoints",
        optimizer_fn=lambda: keras.optimizers.Adam(0.02),
        metrics={"accuracy": "sparse_categorical_accuracy"},
        verbose=False,
    )
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
    }
    (output_dir / f"result-{task}.json").write_text(json.dumps(result))
    print(json.dumps(result))


if __name__ == "__main__":
    main()

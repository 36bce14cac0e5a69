"""Data-parallel training on `tf.distribute`: one device, GPUs, machines.

- `strategy_from_name("auto" | "default" | "mirrored" | "multi_worker")`
  and `add_strategy_argument(parser)` (the recipes' `--strategy`).
- `fit_distributed`: a small custom training loop that works under every
  strategy, `MultiWorkerMirroredStrategy` included. Keras 3's `model.fit`
  does not run under that strategy (keras-team/keras#20585, open since
  Keras 3.0 / TF 2.16), so the recipes train with this loop when
  `--strategy multi_worker` is given (or `auto` finds several workers).
- `fit_model`: what every recipe calls: `model.fit` with the standard
  callbacks on one worker, `fit_distributed` on several.

Several machines: every machine runs the same command with its own
`TF_CONFIG` (the same `cluster`, its own `task`), e.g. for the first of two

    TF_CONFIG='{"cluster": {"worker": ["host0:12345", "host1:12345"]},
                "task": {"type": "worker", "index": 0}}'

Worker 0 is the chief: it alone writes checkpoints and results; the other
workers write theirs to temporary folders that are removed (TensorFlow's
recommendation, since saving can involve collective ops every worker must
join). `checkpoint_dir` should be storage every worker can read (a shared
file system or a bucket), so that every worker resumes from the same epoch;
`fit_distributed` checks that they do.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

import keras
import tensorflow as tf

from zoo import training
from zoo.export import atomic_write_text

STRATEGIES = ("auto", "default", "mirrored", "multi_worker")


def _cluster_size(tf_config: dict) -> int:
    cluster = tf_config.get("cluster", {})
    return sum(len(cluster.get(kind, [])) for kind in ("chief", "worker"))


def strategy_from_name(name: str = "auto") -> tf.distribute.Strategy:
    """The `tf.distribute.Strategy` called `name`.

    - "auto": `MultiWorkerMirroredStrategy` when `TF_CONFIG` names a cluster
      of several workers, `MirroredStrategy` on a machine with several
      GPUs, else TensorFlow's default (no-op) strategy.
    - "default": the default strategy (one device).
    - "mirrored": `MirroredStrategy`, every local GPU (or the CPU).
    - "multi_worker": `MultiWorkerMirroredStrategy`; the cluster and this
      worker's task come from the `TF_CONFIG` environment variable. Create
      it at the start of the program, before other TensorFlow work.

    Raises:
        ValueError: For an unknown name, or an unreadable `TF_CONFIG`.
    """
    if name not in STRATEGIES:
        raise ValueError(
            f"Received an invalid value for argument `strategy`, expected "
            f"one of {list(STRATEGIES)}, got {name!r}."
        )
    tf_config = _tf_config()
    if name == "auto":
        if _cluster_size(tf_config) > 1:
            name = "multi_worker"
        elif len(tf.config.list_physical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "default"
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    return tf.distribute.MultiWorkerMirroredStrategy()


def _tf_config() -> dict:
    text = os.environ.get("TF_CONFIG", "")
    if not text.strip():
        return {}
    try:
        config = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(
            f"The TF_CONFIG environment variable is not valid JSON: {error}."
        ) from error
    if not isinstance(config, dict):
        raise ValueError(
            f"TF_CONFIG must be a JSON object, got {type(config).__name__}."
        )
    return config


def add_strategy_argument(parser) -> argparse.Action:
    """Adds `--strategy {auto,default,mirrored,multi_worker}` to a parser
    (or an argument group)."""
    return parser.add_argument(
        "--strategy",
        choices=STRATEGIES,
        default="auto",
        help=(
            "tf.distribute strategy: auto (several workers in TF_CONFIG -> "
            "multi_worker, several GPUs -> mirrored, else default), "
            "default, mirrored (local GPUs), multi_worker (cluster from "
            "TF_CONFIG; one process per machine)."
        ),
    )


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the results (worker 0 or the chief)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.cluster_spec().as_dict():
        return True
    task_type, task_id = resolver.task_type, resolver.task_id
    if task_type == "chief":
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return task_type in (None, "worker") and task_id == 0 and not has_chief


def worker_directory(directory, strategy: tf.distribute.Strategy) -> Path:
    """`directory` on the chief, a private temporary folder elsewhere."""
    directory = Path(directory)
    if is_chief(strategy):
        return directory
    resolver = strategy.cluster_resolver
    return directory / f".worker-{resolver.task_type}-{resolver.task_id}"


def _per_example(function, name: str) -> Callable:
    """A function (y_true, y_pred) -> per-example values, from a name,
    a `keras.losses.Loss`/function, or a callable."""
    if isinstance(function, keras.losses.Loss):
        return function.call  # The unreduced per-example values.
    if isinstance(function, str) and name == "loss":
        try:
            resolved = keras.losses.get(function)
        except ValueError as error:
            raise ValueError(
                "Received an invalid value for `loss`, expected the name of "
                "a Keras loss (e.g. 'sparse_categorical_crossentropy'), got "
                f"{function!r}."
            ) from error
        if isinstance(resolved, keras.losses.Loss):
            return resolved.call
        return resolved
    if isinstance(function, str):
        resolved = getattr(keras.metrics, function, None)
        if resolved is None or isinstance(resolved, type):
            raise ValueError(
                f"Received an invalid value for `{name}`, expected the name "
                "of a per-example function in keras.metrics (e.g. "
                f"'sparse_categorical_accuracy'), got {function!r}."
            )
        return resolved
    if not callable(function):
        raise ValueError(
            f"Received an invalid value for `{name}`, expected a callable "
            f"(y_true, y_pred) -> per-example values, got {function!r}."
        )
    return function


def fit_distributed(
    build_model_fn: Callable[[], keras.Model],
    loss_fn,
    train_dataset: tf.data.Dataset | Callable[[int], tf.data.Dataset],
    validation_dataset: tf.data.Dataset | None = None,
    *,
    strategy: tf.distribute.Strategy,
    epochs: int,
    checkpoint_dir,
    optimizer_fn: Callable[[], keras.optimizers.Optimizer],
    metrics: dict | None = None,
    max_to_keep: int = 2,
    verbose: bool = True,
) -> tuple[keras.Model, dict]:
    """Trains `build_model_fn()` data-parallel under `strategy`, resumably.

    Each step runs `strategy.run` on every replica's share of one global
    batch; the per-replica loss is sum(per-example losses) / (examples in
    the *global* batch), so the gradients the optimizer all-reduces (sums)
    equal those of one device on the whole batch. Epoch losses and metrics
    are example-weighted means, summed across replicas with
    `strategy.reduce`. After every epoch a `tf.train.CheckpointManager`
    saves the model, the optimizer and the epoch counter (the chief to
    `checkpoint_dir`, other workers to temporary folders they remove); a
    rerun restores the latest checkpoint and continues with the next epoch.

    Args:
        build_model_fn: Returns a new, built `keras.Model`; called under
            `strategy.scope()`.
        loss_fn: Per-example loss: a name ("sparse_categorical_crossentropy"),
            a `keras.losses.Loss` (its unreduced values are used), or a
            function (y_true, y_pred) -> [batch].
        train_dataset: (inputs, targets) batches of the *global* batch size,
            identical on every worker (same seed); sharded by element. Or
            a function epoch -> such a dataset (e.g.
            `zoo.data.EpochDataset.for_epoch`), called at every epoch, so
            that a resumed run sees the batches of an uninterrupted one.
        validation_dataset: The same for validation, or None.
        strategy: From `strategy_from_name`.
        epochs: Total epochs, counting those of a resumed run.
        checkpoint_dir: Folder of the checkpoints (shared storage when
            several machines train).
        optimizer_fn: Returns a new optimizer; called under the scope.
        metrics: name -> per-example metric (a name such as
            "sparse_categorical_accuracy", or a function).
        max_to_keep: Checkpoints kept.
        verbose: Print one line per epoch (chief only).

    Returns:
        (model, history): the trained (uncompiled) model and a dict like
        Keras' `History.history` ("loss", metric names, "val_" ones), covering
        every epoch, those of an interrupted earlier run included.
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise ValueError(
            "Received an invalid value for argument `epochs`, expected a "
            f"positive integer, got {epochs!r}."
        )
    loss_function = _per_example(loss_fn, "loss")
    metric_functions = {
        name: _per_example(function, name)
        for name, function in (metrics or {}).items()
    }
    chief = is_chief(strategy)
    write_dir = worker_directory(checkpoint_dir, strategy)
    write_dir.mkdir(parents=True, exist_ok=True)

    with strategy.scope():
        model = build_model_fn()
        optimizer = optimizer_fn()
        optimizer.build(model.trainable_variables)
        epoch_counter = tf.Variable(
            0, dtype=tf.int64, trainable=False, name="epoch"
        )
    checkpoint = tf.train.Checkpoint(
        model=model, optimizer=optimizer, epoch=epoch_counter
    )
    # Restore from the chief's folder: the folder everyone resumes from.
    latest = tf.train.latest_checkpoint(str(checkpoint_dir))
    if latest:
        checkpoint.restore(latest).assert_existing_objects_matched()
    manager = tf.train.CheckpointManager(
        checkpoint, str(write_dir), max_to_keep=max_to_keep
    )
    history_path = Path(checkpoint_dir) / "history.json"
    history = {}
    if latest and history_path.exists():
        history = json.loads(history_path.read_text(encoding="utf-8"))
    _check_same_epoch(strategy, epoch_counter)

    options = tf.data.Options()
    options.experimental_distribute.auto_shard_policy = (
        tf.data.experimental.AutoShardPolicy.DATA
    )

    def distributed(dataset):
        if dataset is None:
            return None
        return strategy.experimental_distribute_dataset(
            dataset.with_options(options)
        )

    train_data = None if callable(train_dataset) else distributed(train_dataset)
    validation_data = distributed(validation_dataset)

    def sums(targets, predictions):
        """[loss sum, metric sums...] over this replica's examples."""
        values = [loss_function(targets, predictions)]
        values += [f(targets, predictions) for f in metric_functions.values()]
        return [tf.reduce_sum(tf.cast(v, tf.float32)) for v in values]

    def train_replica(inputs, targets):
        context = tf.distribute.get_replica_context()
        count = tf.cast(tf.shape(targets)[0], tf.float32)
        global_count = context.all_reduce(tf.distribute.ReduceOp.SUM, count)
        with tf.GradientTape() as tape:
            predictions = model(inputs, training=True)
            per_example = tf.cast(
                loss_function(targets, predictions), tf.float32
            )
            loss = tf.reduce_sum(per_example) / tf.maximum(global_count, 1.0)
            if model.losses:
                loss += tf.add_n(model.losses) / strategy.num_replicas_in_sync
        gradients = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(gradients, model.trainable_variables))
        return [count] + sums(targets, predictions)

    def evaluate_replica(inputs, targets):
        predictions = model(inputs, training=False)
        count = tf.cast(tf.shape(targets)[0], tf.float32)
        return [count] + sums(targets, predictions)

    # reduce_retracing: padded batches of new lengths reuse one graph.
    @tf.function(reduce_retracing=True)
    def train_step(batch):
        per_replica = strategy.run(train_replica, args=batch)
        return [
            strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
            for v in per_replica
        ]

    @tf.function(reduce_retracing=True)
    def evaluate_step(batch):
        per_replica = strategy.run(evaluate_replica, args=batch)
        return [
            strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
            for v in per_replica
        ]

    names = ["loss", *metric_functions]

    def run_epoch(step, dataset):
        totals = None
        for batch in dataset:
            values = [float(v) for v in step(batch)]
            totals = (
                values
                if totals is None
                else [a + b for a, b in zip(totals, values)]
            )
        if totals is None or totals[0] == 0:
            raise ValueError("The dataset yielded no examples.")
        return {n: s / totals[0] for n, s in zip(names, totals[1:])}

    for epoch in range(int(epoch_counter.numpy()), epochs):
        start = time.monotonic()
        if callable(train_dataset):
            train_data = distributed(train_dataset(epoch))
        logs = run_epoch(train_step, train_data)
        if validation_data is not None:
            validation = run_epoch(evaluate_step, validation_data)
            logs.update({f"val_{k}": v for k, v in validation.items()})
        for key, value in logs.items():
            history.setdefault(key, []).append(value)
        epoch_counter.assign(epoch + 1)
        manager.save(checkpoint_number=epoch + 1)  # Every worker must save.
        if chief:
            atomic_write_text(history_path, json.dumps(history) + "\n")
            if verbose:
                shown = ", ".join(f"{k}={v:.4f}" for k, v in logs.items())
                print(
                    f"Epoch {epoch + 1}/{epochs} "
                    f"({time.monotonic() - start:.1f}s): {shown}",
                    flush=True,
                )
    if not chief:
        shutil.rmtree(write_dir, ignore_errors=True)
    return model, history


def uses_custom_loop(strategy: tf.distribute.Strategy) -> bool:
    """Whether `fit_model` trains with `fit_distributed` (several workers'
    strategy) rather than Keras' `fit`."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def fit_model(
    model: keras.Model,
    train_data,
    validation_data: tf.data.Dataset | None = None,
    *,
    strategy: tf.distribute.Strategy,
    epochs: int,
    output_dir,
    rebuild: Callable[[], keras.Model],
    metrics: dict | None = None,
    verbose: int = 1,
    **callback_options,
) -> tuple[keras.Model, dict]:
    """Trains a compiled `model` under `strategy`, resumably: the recipes'
    one call for every `--strategy`.

    - One worker (the default strategy, `MirroredStrategy`): `model.fit`
      with `zoo.training.standard_callbacks(output_dir,
      **callback_options)`, exactly as without a strategy.
    - `MultiWorkerMirroredStrategy`: `fit_distributed` with the model's
      compiled loss and optimizer and `metrics`, checkpointing under
      `output_dir/checkpoints` (no early stopping or best-model
      checkpoint: the result is the last epoch's weights). The weights
      are then copied into `rebuild()`, a model outside the strategy:
      evaluating or exporting the distributed model would need every
      worker to join its collective ops. After it only the chief
      (`is_chief`) should evaluate and write.

    Args:
        model: Compiled, built under `strategy.scope()`.
        train_data: A `tf.data.Dataset`, or a `zoo.data.EpochDataset`
            (a pipeline seeded by the epoch, so that a resumed run sees the
            batches of an uninterrupted one).
        validation_data: A `tf.data.Dataset` or None.
        strategy: From `strategy_from_name`.
        epochs: Total epochs, counting those of a resumed run.
        output_dir: The run's folder (backups, checkpoints, logs).
        rebuild: Returns a new compiled model like `model` (called outside
            the strategy's scope; multi-worker only).
        metrics: name -> per-example metric for `fit_distributed`, e.g.
            {"accuracy": "sparse_categorical_accuracy"}.
        verbose: Keras' `verbose`.
        **callback_options: For `standard_callbacks` (monitor, mode,
            patience, tensorboard).

    Returns:
        (model, history): the trained model to evaluate and export, and a
        dict like Keras' `History.history`.
    """
    epoch_made = callable(getattr(train_data, "for_epoch", None))
    if not uses_custom_loop(strategy):
        callbacks = training.standard_callbacks(output_dir, **callback_options)
        if epoch_made:
            callbacks.insert(0, training.SetDataEpoch(train_data))
            train_data = train_data.dataset()
        history = model.fit(
            train_data,
            validation_data=validation_data,
            epochs=epochs,
            shuffle=False,  # Datasets shuffle themselves.
            callbacks=callbacks,
            verbose=verbose,
        )
        return model, history.history
    trained, history = fit_distributed(
        lambda: model,
        model.loss,
        train_data.for_epoch if epoch_made else train_data,
        validation_data,
        strategy=strategy,
        epochs=epochs,
        checkpoint_dir=Path(output_dir) / "checkpoints",
        optimizer_fn=lambda: model.optimizer,
        metrics=metrics,
        verbose=bool(verbose),
    )
    local = rebuild()
    local.set_weights(trained.get_weights())
    return local, history


def _check_same_epoch(strategy, epoch_counter: tf.Variable) -> None:
    """Raises if the workers restored different epochs (unshared storage)."""
    if strategy.num_replicas_in_sync == 1:
        return

    @tf.function
    def spread():
        def replica():
            # Zero on every replica only if all hold the same value.
            context = tf.distribute.get_replica_context()
            value = tf.cast(epoch_counter.read_value(), tf.float32)
            total = context.all_reduce(tf.distribute.ReduceOp.SUM, value)
            return tf.abs(total - strategy.num_replicas_in_sync * value)

        return strategy.reduce(
            tf.distribute.ReduceOp.SUM, strategy.run(replica), axis=None
        )

    if float(spread()) != 0.0:
        raise RuntimeError(
            "The workers restored different epochs from `checkpoint_dir`: "
            "it must be storage that every worker reads (a shared file "
            "system or a bucket)."
        )

"""Data-parallel training on `tf.distribute`: one device, GPUs, machines.

- `strategy_from_name("auto" | "default" | "mirrored" | "multi_worker")`
  and `add_strategy_argument(parser)` (the recipes' `--strategy`).
- `DistributedTrainer`: Keras' `fit` for `MultiWorkerMirroredStrategy`,
  where `model.fit` does not run (keras-team/keras#20585, open since
  Keras 3.0 / TF 2.16): a small custom loop, under every strategy, that
  drives the same Keras callbacks (early stopping, best checkpoint, CSV,
  TensorBoard) and backs itself up so that a rerun resumes.
- `fit_model`: what every recipe calls: `model.fit` with the standard
  callbacks on one worker, `DistributedTrainer` with the same callbacks on
  several, then `local_copy`: the trained model outside the strategy, for
  the chief to evaluate and export.

Several machines: every machine runs the same command with its own
`TF_CONFIG` (the same `cluster`, its own `task`), e.g. for the first of two

    TF_CONFIG='{"cluster": {"worker": ["host0:12345", "host1:12345"]},
                "task": {"type": "worker", "index": 0}}'

Worker 0 is the chief: it alone writes checkpoints and results; the other
workers write theirs to temporary folders that are removed (TensorFlow's
recommendation, since saving can involve collective ops every worker must
join). `checkpoint_dir` should be storage every worker can read (a shared
file system or a bucket), so that every worker resumes from the same epoch;
`DistributedTrainer` checks that they do.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from zoo import training

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


class DistributedTrainer:
    """Keras' `fit` where it cannot run: a loop of `strategy.run` steps.

    Keras 3's `model.fit` does not run under `MultiWorkerMirroredStrategy`
    (keras-team/keras#20585); this loop does, and under every other
    strategy too. It trains a model compiled under `strategy.scope()` with
    the model's own loss and optimizer, and drives the same Keras callbacks
    as `fit` at the epoch level.

    Each step runs `strategy.run` on every replica's share of one global
    batch; the per-replica loss is sum(per-example losses) / (examples in
    the *global* batch), so the gradients the optimizer all-reduces (sums)
    equal those of one device on the whole batch. Epoch losses and metrics
    are example-weighted means, summed across replicas with
    `strategy.reduce`, so every worker logs the same values.

    Callbacks: real `keras.callbacks.Callback` objects get `set_model`,
    `set_params`, `on_train_begin`, `on_epoch_begin(epoch)`,
    `on_epoch_end(epoch, logs)` (logs "loss", the `metrics` names and
    their "val_" versions) and `on_train_end`, and may set
    `model.stop_training`, as in `fit`: `EarlyStopping` (restoring the
    best weights too), `zoo.training.AtomicModelCheckpoint`, `CSVLogger`,
    `TensorBoard` (epoch summaries), `SetDataEpoch`. Batch and test hooks
    are not called: none of the recipes' callbacks needs them, and a
    Python call per batch would slow every step. The workers must agree
    to stop (they see the same logs); a disagreement raises instead of
    leaving one worker waiting in a collective forever.

    Backup: the trainer is its own `BackupAndRestore` (which it refuses as
    a callback). After every epoch a `tf.train.CheckpointManager` saves the
    model, the optimizer and the epoch counter (every worker saves; the
    chief to `checkpoint_dir`, the others to temporary folders they
    remove), and the chief first writes `trainer-state-<epoch>.npz` beside
    it: the history, whether a callback stopped training, and the states
    of `EarlyStopping` and of callbacks with `get_state`/`set_state` (as
    `zoo.training.AtomicBackupAndRestore` keeps them). A rerun restores
    the latest checkpoint and that state from `checkpoint_dir` on every
    worker, checks that all restored the same epoch, and continues with
    the next epoch (or not at all, if a callback had stopped training).

    Args:
        model: A built model compiled under `strategy.scope()`; its loss
            is used per example: a Keras loss name, a `keras.losses.Loss`
            (its unreduced `call`), or a function (y_true, y_pred) ->
            [batch].
        strategy: From `strategy_from_name`.
        checkpoint_dir: Folder of the checkpoints (shared storage when
            several machines train).
        metrics: name -> per-example metric (a name such as
            "sparse_categorical_accuracy", or a function), logged as name
            and "val_" + name.
        max_to_keep: Checkpoints kept.

    Example:

    ```python
    with strategy.scope():
        model = zoo.build("gru", vocabulary_size=20000)
        model.compile("adam", loss="sparse_categorical_crossentropy")
    trainer = DistributedTrainer(model, strategy, checkpoint_dir="run/ckpt")
    history = trainer.fit(train, validation, epochs=10, callbacks=[
        keras.callbacks.EarlyStopping(patience=2, restore_best_weights=True)
    ])
    ```
    """

    STATE = "trainer-state-{epoch}.npz"

    def __init__(
        self,
        model: keras.Model,
        strategy: tf.distribute.Strategy,
        *,
        checkpoint_dir,
        metrics: dict | None = None,
        max_to_keep: int = 2,
    ):
        if not getattr(model, "compiled", False) or model.optimizer is None:
            raise ValueError(
                "Received an invalid value for argument `model`: it is not "
                "compiled; compile it (loss and optimizer) under "
                "`strategy.scope()` first."
            )
        self.model = model
        self.strategy = strategy
        self.checkpoint_dir = Path(checkpoint_dir)
        self.metrics = dict(metrics or {})
        self.max_to_keep = max_to_keep
        self._loss = _per_example(model.loss, "loss")
        self._metrics = {
            name: _per_example(function, name)
            for name, function in self.metrics.items()
        }
        with strategy.scope():
            if not model.optimizer.built:
                model.optimizer.build(model.trainable_variables)
            self._epoch = tf.Variable(
                0, dtype=tf.int64, trainable=False, name="epoch"
            )
            # Whether this worker's callbacks stopped training.
            self._stop = tf.Variable(False, trainable=False, name="stop")
        self._checkpoint = tf.train.Checkpoint(
            model=model, optimizer=model.optimizer, epoch=self._epoch
        )
        self._train_step = self._distributed(self._train_replica)
        self._evaluate_step = self._distributed(self._evaluate_replica)
        self._stop_spread = _spread_function(strategy, self._stop)

    def fit(
        self,
        train,
        validation: tf.data.Dataset | None = None,
        *,
        epochs: int,
        callbacks=(),
        verbose: bool = True,
    ) -> dict:
        """Trains to `epochs` (counting those of a resumed run).

        Args:
            train: (inputs, targets) batches of the *global* batch size,
                identical on every worker (same seed), sharded by element;
                or a `zoo.data.EpochDataset`, whose `for_epoch(epoch)` is
                trained on at each epoch, so that a resumed run sees the
                batches of an uninterrupted one.
            validation: The same for validation (a dataset), or None.
            epochs: Total epochs, counting those of a resumed run.
            callbacks: Keras callbacks (see the class docstring), e.g.
                `zoo.training.standard_callbacks(..., backup=False)`.
            verbose: Print one line per epoch (chief only).

        Returns:
            A dict like Keras' `History.history` ("loss", metric names,
            "val_" ones), covering every epoch, those of an interrupted
            earlier run included.
        """
        if type(epochs) is not int or epochs < 1:
            raise ValueError(
                "Received an invalid value for argument `epochs`, expected "
                f"a positive integer, got {epochs!r}."
            )
        epoch_made = callable(getattr(train, "for_epoch", None))
        if not epoch_made and not isinstance(train, tf.data.Dataset):
            raise ValueError(
                "Received an invalid value for argument `train`, expected "
                "a tf.data.Dataset or an object with for_epoch(epoch) (a "
                f"zoo.data.EpochDataset), got {train!r}."
            )
        callbacks = list(callbacks)
        logged = ["loss", *self._metrics]
        if validation is not None:
            logged += [f"val_{name}" for name in logged]
        _check_callbacks(callbacks, logged)
        stateful = [c for c in callbacks if _backed_up(c)]

        write_dir = worker_directory(self.checkpoint_dir, self.strategy)
        write_dir.mkdir(parents=True, exist_ok=True)
        manager = tf.train.CheckpointManager(
            self._checkpoint, str(write_dir), max_to_keep=self.max_to_keep
        )
        state, arrays = self._restore(len(stateful))
        _check_same_epoch(self.strategy, self._epoch)
        callback_list = keras.callbacks.CallbackList(
            callbacks, model=self.model, epochs=epochs, verbose=0
        )
        self.model.stop_training = False
        callback_list.on_train_begin()
        # After on_train_begin, which resets them (as in BackupAndRestore).
        # (_restore checked that the states match these callbacks.)
        for index, callback_state in enumerate(state["callbacks"]):
            training._set_callback_state(
                stateful[index], callback_state, arrays.get(index)
            )

        history, stopped = state["history"], state["stopped"]
        train_data = None if epoch_made else self._distribute(train)
        validation_data = self._distribute(validation)
        logs = None
        epoch = int(self._epoch.numpy())
        while epoch < epochs and not stopped:
            start = time.monotonic()
            callback_list.on_epoch_begin(epoch)
            if epoch_made:
                train_data = self._distribute(train.for_epoch(epoch))
            logs = self._epoch_logs(train_data, validation_data)
            callback_list.on_epoch_end(epoch, dict(logs))
            stopped = self._agree_to_stop(epoch)
            for key, value in logs.items():
                history.setdefault(key, []).append(value)
            epoch += 1
            self._save(manager, epoch, history, stopped, stateful)
            if verbose and is_chief(self.strategy):
                shown = ", ".join(f"{k}={v:.4f}" for k, v in logs.items())
                seconds = time.monotonic() - start
                print(
                    f"Epoch {epoch}/{epochs} ({seconds:.1f}s): {shown}",
                    flush=True,
                )
        callback_list.on_train_end(logs)
        if not is_chief(self.strategy):
            shutil.rmtree(write_dir, ignore_errors=True)
        return history

    def _distributed(self, replica_function) -> Callable:
        strategy = self.strategy

        # reduce_retracing: padded batches of new lengths reuse one graph.
        @tf.function(reduce_retracing=True)
        def step(batch):
            per_replica = strategy.run(replica_function, args=batch)
            return [
                strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
                for v in per_replica
            ]

        return step

    def _sums(self, targets, predictions) -> list:
        """[loss sum, metric sums...] over this replica's examples."""
        values = [self._loss(targets, predictions)]
        values += [f(targets, predictions) for f in self._metrics.values()]
        return [tf.reduce_sum(tf.cast(v, tf.float32)) for v in values]

    def _train_replica(self, inputs, targets):
        model = self.model
        context = tf.distribute.get_replica_context()
        count = tf.cast(tf.shape(targets)[0], tf.float32)
        global_count = context.all_reduce(tf.distribute.ReduceOp.SUM, count)
        with tf.GradientTape() as tape:
            predictions = model(inputs, training=True)
            per_example = tf.cast(self._loss(targets, predictions), tf.float32)
            loss = tf.reduce_sum(per_example) / tf.maximum(global_count, 1.0)
            if model.losses:
                loss += tf.add_n(model.losses) / (
                    self.strategy.num_replicas_in_sync
                )
        gradients = tape.gradient(loss, model.trainable_variables)
        model.optimizer.apply_gradients(
            zip(gradients, model.trainable_variables)
        )
        return [count] + self._sums(targets, predictions)

    def _evaluate_replica(self, inputs, targets):
        predictions = self.model(inputs, training=False)
        count = tf.cast(tf.shape(targets)[0], tf.float32)
        return [count] + self._sums(targets, predictions)

    def _distribute(self, dataset):
        if dataset is None:
            return None
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA
        )
        return self.strategy.experimental_distribute_dataset(
            dataset.with_options(options)
        )

    def _run_epoch(self, step, dataset, split: str) -> dict:
        totals = None
        for batch in dataset:
            values = [float(v) for v in step(batch)]
            totals = (
                values
                if totals is None
                else [a + b for a, b in zip(totals, values)]
            )
        if totals is None or totals[0] == 0:
            raise ValueError(f"The {split} dataset yielded no examples.")
        names = ["loss", *self._metrics]
        return {n: s / totals[0] for n, s in zip(names, totals[1:])}

    def _epoch_logs(self, train_data, validation_data) -> dict:
        logs = self._run_epoch(self._train_step, train_data, "training")
        if validation_data is not None:
            validation = self._run_epoch(
                self._evaluate_step, validation_data, "validation"
            )
            logs.update({f"val_{k}": v for k, v in validation.items()})
        return logs

    def _agree_to_stop(self, epoch: int) -> bool:
        stop = bool(getattr(self.model, "stop_training", False))
        if self.strategy.num_replicas_in_sync == 1:
            return stop
        self._stop.assign(stop)
        if float(self._stop_spread()):
            raise RuntimeError(
                f"After epoch {epoch + 1} the callbacks stopped training on "
                "some workers and not on others; they must decide from the "
                "logs alone (which every worker shares)."
            )
        return stop

    def _state_path(self, epoch: int) -> Path:
        return self.checkpoint_dir / self.STATE.format(epoch=epoch)

    def _restore(self, stateful_count: int) -> tuple[dict, dict]:
        """Restores the latest checkpoint of `checkpoint_dir`, the folder
        every worker resumes from; its (state, callback arrays)."""
        fresh = {"history": {}, "stopped": False, "callbacks": []}
        latest = tf.train.latest_checkpoint(str(self.checkpoint_dir))
        if not latest:
            return fresh, {}
        self._checkpoint.restore(latest).assert_existing_objects_matched()
        path = self._state_path(int(self._epoch.numpy()))
        if not path.exists():
            raise FileNotFoundError(
                f"The checkpoint {latest} has no trainer state {path.name} "
                "beside it (an older zoo wrote it?); remove "
                f"{self.checkpoint_dir} to train from scratch."
            )
        arrays = {}  # callback index -> [(position, array)]
        with np.load(path, allow_pickle=False) as data:
            state = json.loads(str(data["state"]))
            for key in data.files:
                if key.startswith("callback_"):
                    _, index, position = key.split("_")
                    arrays.setdefault(int(index), []).append(
                        (int(position), data[key])
                    )
        if len(state["callbacks"]) != stateful_count:
            raise ValueError(
                f"{path} holds the states of {len(state['callbacks'])} "
                f"callbacks, but this run has {stateful_count} stateful "
                "callbacks: resume with the callbacks of the first run."
            )
        return state, {
            index: [array for _, array in sorted(items, key=lambda i: i[0])]
            for index, items in arrays.items()
        }

    def _save(self, manager, epoch, history, stopped, stateful) -> None:
        """The backup of `epoch` (completed epochs): the chief's state file,
        then every worker's checkpoint, which commits it."""
        self._epoch.assign(epoch)
        chief = is_chief(self.strategy)
        if chief:
            self._write_state(epoch, history, stopped, stateful)
        manager.save(checkpoint_number=epoch)  # Every worker must save.
        if chief:
            self._remove_stale_states(manager)

    def _write_state(self, epoch, history, stopped, stateful) -> None:
        states, arrays = [], {}
        for index, callback in enumerate(stateful):
            callback_state, weights = training._get_callback_state(callback)
            states.append(callback_state)
            for position, array in enumerate(weights or []):
                arrays[f"callback_{index}_{position}"] = np.asarray(array)
        state = {"history": history, "stopped": stopped, "callbacks": states}
        path = self._state_path(epoch)
        temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex[:8]}")
        try:
            with open(temporary, "wb") as handle:
                np.savez(handle, state=np.array(json.dumps(state)), **arrays)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temporary, path)
        finally:
            temporary.unlink(missing_ok=True)

    def _remove_stale_states(self, manager) -> None:
        kept = {
            self.STATE.format(epoch=int(path.rsplit("-", 1)[1]))
            for path in manager.checkpoints
        }
        for path in self.checkpoint_dir.glob(self.STATE.format(epoch="*")):
            if path.name not in kept:
                path.unlink(missing_ok=True)


def _backed_up(callback) -> bool:
    """Whether the trainer backs up `callback`'s state: the callbacks
    `zoo.training.AtomicBackupAndRestore` accepts."""
    return isinstance(callback, keras.callbacks.EarlyStopping) or (
        hasattr(callback, "get_state") and hasattr(callback, "set_state")
    )


def _check_callbacks(callbacks: list, logged: list) -> None:
    for callback in callbacks:
        if isinstance(callback, keras.callbacks.BackupAndRestore):
            raise ValueError(
                f"Received an invalid callback {type(callback).__name__}: "
                "DistributedTrainer backs up and resumes by itself (to "
                "`checkpoint_dir`); pass standard_callbacks(..., "
                "backup=False)."
            )
        if not isinstance(callback, keras.callbacks.Callback):
            raise ValueError(
                "Received an invalid value in `callbacks`, expected "
                f"keras.callbacks.Callback objects, got {callback!r}."
            )
        monitor = getattr(callback, "monitor", None)
        if isinstance(monitor, str) and monitor not in logged:
            raise ValueError(
                f"{type(callback).__name__} monitors {monitor!r}, which "
                f"this loop does not log (it logs {logged}): pass its "
                "metric in `metrics` (name -> per-example function) and "
                "validation data for 'val_' names."
            )


def uses_custom_loop(strategy: tf.distribute.Strategy) -> bool:
    """Whether `fit_model` trains with `DistributedTrainer` (several
    workers' strategy) rather than Keras' `fit`."""
    return isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy)


def local_copy(model: keras.Model) -> keras.Model:
    """A compiled copy of `model` outside every strategy.

    `keras.models.clone_model` rebuilds the model from its config and
    compiles it from the model's own compile config (loss, optimizer
    settings, metrics; registered custom objects such as a recipe's loss
    are found by their registered names); the weights are then copied.
    Its variables are plain ones, so one worker alone can evaluate and
    export it: the distributed model's would need every worker to join
    their collective ops. Call it outside any `strategy.scope()`.
    """
    if tf.distribute.has_strategy():
        raise RuntimeError(
            "local_copy was called inside a strategy's scope, where the "
            "copy's variables would be distributed too; call it outside "
            "`strategy.scope()`."
        )
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    return copy


def fit_model(
    model: keras.Model,
    train_data,
    validation_data: tf.data.Dataset | None = None,
    *,
    strategy: tf.distribute.Strategy,
    epochs: int,
    output_dir,
    metrics: dict | None = None,
    verbose: int = 1,
    **callback_options,
) -> tuple[keras.Model, dict]:
    """Trains a compiled `model` under `strategy`, resumably: the recipes'
    one call for every `--strategy`.

    Both paths use `zoo.training.standard_callbacks(output_dir,
    **callback_options)`: best checkpoint (`best.keras`), early stopping
    (restoring the best weights), `history.csv`, TensorBoard logs.

    - One worker (the default strategy, `MirroredStrategy`): `model.fit`,
      with the standard backup (`output_dir/backup`).
    - `MultiWorkerMirroredStrategy`: `DistributedTrainer` with the model's
      compiled loss and optimizer and `metrics`, backing up under
      `output_dir/checkpoints`. Only the chief writes to `output_dir`;
      the other workers' callbacks write to temporary folders they remove.
      The result is `local_copy(model)`, a compiled model outside the
      strategy, which the chief (`is_chief`) evaluates and exports alone.

    Args:
        model: Compiled, built under `strategy.scope()`.
        train_data: A `tf.data.Dataset`, or a `zoo.data.EpochDataset`
            (a pipeline seeded by the epoch, so that a resumed run sees the
            batches of an uninterrupted one).
        validation_data: A `tf.data.Dataset` or None.
        strategy: From `strategy_from_name`.
        epochs: Total epochs, counting those of a resumed run.
        output_dir: The run's folder (backups, checkpoints, logs).
        metrics: name -> per-example metric for `DistributedTrainer`, e.g.
            {"accuracy": "sparse_categorical_accuracy"}.
        verbose: Keras' `verbose`.
        **callback_options: For `standard_callbacks` (monitor, mode,
            patience, tensorboard).

    Returns:
        (model, history): the trained model to evaluate and export, and a
        dict like Keras' `History.history`.
    """
    if not uses_custom_loop(strategy):
        callbacks = training.standard_callbacks(output_dir, **callback_options)
        if callable(getattr(train_data, "for_epoch", None)):
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
    run_dir = worker_directory(output_dir, strategy)
    callbacks = training.standard_callbacks(
        run_dir, backup=False, **callback_options
    )
    trainer = DistributedTrainer(
        model,
        strategy,
        checkpoint_dir=Path(output_dir) / "checkpoints",
        metrics=metrics,
    )
    history = trainer.fit(
        train_data,
        validation_data,
        epochs=epochs,
        callbacks=callbacks,
        verbose=bool(verbose),
    )
    if not is_chief(strategy):
        shutil.rmtree(run_dir, ignore_errors=True)
    return local_copy(model), history


def _spread_function(strategy, variable: tf.Variable) -> Callable:
    """A function () -> sum over replicas of |sum of all values - n * own
    value| of `variable` (made in the strategy's scope), the same on every
    worker: zero exactly when every worker holds the same value."""

    @tf.function
    def spread():
        def replica():
            context = tf.distribute.get_replica_context()
            value = tf.cast(variable.read_value(), tf.float32)
            total = context.all_reduce(tf.distribute.ReduceOp.SUM, value)
            own = tf.abs(total - strategy.num_replicas_in_sync * value)
            return context.all_reduce(tf.distribute.ReduceOp.SUM, own)

        return strategy.experimental_local_results(strategy.run(replica))[0]

    return spread


def _check_same_epoch(strategy, epoch_counter: tf.Variable) -> None:
    """Raises if the workers restored different epochs (unshared storage)."""
    if strategy.num_replicas_in_sync == 1:
        return
    if float(_spread_function(strategy, epoch_counter)()) != 0.0:
        raise RuntimeError(
            "The workers restored different epochs from `checkpoint_dir`: "
            "it must be storage that every worker reads (a shared file "
            "system or a bucket)."
        )

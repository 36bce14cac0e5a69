"""Training pipelines whose order depends on (seed, epoch) only.

`dataset.shuffle(n, seed=s)` reshuffles on every pass in an order that
depends on how many passes this *process* has made. A run resumed from a
backup at epoch k starts counting again, so its epoch k sees the order of
epoch 0, and the resumed run drifts away from an uninterrupted one.

Here the training pipeline is a function of the epoch, `make(epoch)`, and
`shuffle(dataset, buffer_size, seed, epoch)` seeds its order with
`seed + epoch`. `EpochDataset` turns `make` into what the training loops
take:

- Keras' `fit`: `EpochDataset.dataset()`, one dataset whose every pass
  calls `make` with the epoch held in a variable, which the
  `zoo.training.SetDataEpoch` callback sets at the start of each epoch
  (Keras iterates the dataset after `on_epoch_begin`).
- `zoo.distribute.DistributedTrainer`: `EpochDataset.for_epoch`, called with
  each epoch's index.

A resumed run restores the epoch from its backup, so epoch k sees the same
batches in the same order as in an uninterrupted run.
"""

from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf


def shuffle(
    dataset: tf.data.Dataset, buffer_size: int, seed: int, epoch
) -> tf.data.Dataset:
    """`dataset` shuffled in an order fixed by `seed` and `epoch`.

    `epoch` is an int or a scalar integer tensor (as `EpochDataset` passes
    it); the order is the same in every process, pass and run.
    """
    epoch_seed = tf.cast(epoch, tf.int64) + seed
    return dataset.shuffle(
        buffer_size, seed=epoch_seed, reshuffle_each_iteration=False
    )


class EpochDataset:
    """A training pipeline made afresh for every epoch by `make(epoch)`.

    Args:
        make: epoch (a scalar int64 tensor) -> `tf.data.Dataset`; the same
            element structure for every epoch. Datasets it closes over
            (e.g. a `cache()`d pipeline) are shared by all epochs.

    Example:

    ```python
    tokens = texts.batch(64).map(vectorize).cache()
    train = EpochDataset(lambda epoch: shuffle(tokens, 512, 1337, epoch))
    model.fit(train.dataset(), callbacks=[SetDataEpoch(train)], ...)
    ```
    """

    def __init__(self, make: Callable[[tf.Tensor], tf.data.Dataset]):
        if not callable(make):
            raise ValueError(
                "Received an invalid value for argument `make`, expected a "
                f"function epoch -> tf.data.Dataset, got {make!r}."
            )
        self.make = make
        self._epoch = None

    @property
    def epoch(self) -> tf.Variable:
        """The epoch `dataset()` reads on each pass (a variable created on
        first use: call `dataset()` outside any strategy's scope)."""
        if self._epoch is None:
            self._epoch = tf.Variable(
                0, dtype=tf.int64, trainable=False, name="data_epoch"
            )
        return self._epoch

    def set_epoch(self, epoch: int) -> None:
        """The epoch that the next pass of `dataset()` makes."""
        self.epoch.assign(int(epoch))

    def for_epoch(self, epoch: int) -> tf.data.Dataset:
        """The pipeline of one epoch."""
        return self.make(tf.constant(int(epoch), tf.int64))

    def dataset(self) -> tf.data.Dataset:
        """One dataset for Keras' `fit`: each pass is `make(epoch)`."""
        epoch = self.epoch
        start = tf.data.Dataset.from_tensors(tf.constant(0, tf.int64))
        dataset = start.flat_map(lambda _: self.make(epoch.read_value()))
        # flat_map hides the length; keep it for Keras' progress bar.
        length = int(self.for_epoch(0).cardinality())
        if length >= 0:
            dataset = dataset.apply(
                tf.data.experimental.assert_cardinality(length)
            )
        return dataset.prefetch(tf.data.AUTOTUNE)

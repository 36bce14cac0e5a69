"""`zoo.data.epochs`: training pipelines ordered by (seed, epoch) only.

The property a resume needs: the batches of epoch k do not depend on how
many epochs this process has run, in a plain pass, in Keras' `fit` (with
`SetDataEpoch`) and in a `fit` that starts at epoch k as a resumed run does.
A plain `shuffle(seed=s)` fails this (checked too, so the test can fail).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import training
from zoo.data import EpochDataset
from zoo.data import epochs

SIZE = 12


def _order(dataset) -> list[int]:
    return [int(x) for x, _ in dataset.unbatch()]


def _make(epoch):
    numbers = tf.data.Dataset.range(SIZE)
    pairs = numbers.map(lambda i: (tf.cast(i, tf.float32), i % 2))
    return epochs.shuffle(pairs, SIZE, 7, epoch).batch(4)


def test_shuffle_order_is_a_function_of_seed_and_epoch():
    data = EpochDataset(_make)
    orders = [_order(data.for_epoch(epoch)) for epoch in range(3)]
    assert all(sorted(order) == list(range(SIZE)) for order in orders)
    assert len({tuple(order) for order in orders}) == 3  # Epochs differ.
    # A second pass, and a new pipeline, give the same order per epoch.
    assert _order(data.for_epoch(1)) == orders[1]
    assert _order(EpochDataset(_make).for_epoch(2)) == orders[2]
    # `dataset()` makes each pass with the epoch last set.
    dataset = data.dataset()
    assert dataset.cardinality() == 3  # Batches; kept through flat_map.
    for epoch in (2, 0, 2):
        data.set_epoch(epoch)
        assert _order(dataset) == orders[epoch]


def test_plain_seeded_shuffle_depends_on_passes_made():
    # The problem solved here: pass 2 of a fresh pipeline != its epoch 2.
    def plain():
        return tf.data.Dataset.range(SIZE).shuffle(SIZE, seed=7)

    fresh = [int(i) for i in plain()]
    pipeline = plain()
    passes = [[int(i) for i in pipeline] for _ in range(3)]
    assert passes[0] == fresh and passes[2] != fresh


def _fit_orders(initial_epoch: int, total: int) -> dict:
    """Keras' fit over an EpochDataset; the order each epoch saw."""
    seen = []

    def make(epoch):
        def note(x, epoch):
            seen.append((int(epoch), int(x)))
            return x

        def logged(x, y):
            x = tf.numpy_function(note, [x, epoch], tf.float32)
            return tf.reshape(x, []), y

        numbers = tf.data.Dataset.range(SIZE)
        pairs = numbers.map(lambda i: (tf.cast(i, tf.float32), i % 2))
        shuffled = epochs.shuffle(pairs, SIZE, 7, epoch).map(logged)
        return shuffled.map(lambda x, y: (x[None], y)).batch(4)

    data = EpochDataset(make)
    model = keras.Sequential([keras.Input((1,)), keras.layers.Dense(1)])
    model.compile("sgd", "mse")
    model.fit(
        data.dataset(),
        epochs=total,
        initial_epoch=initial_epoch,
        shuffle=False,
        callbacks=[training.SetDataEpoch(data)],
        verbose=0,
    )
    orders = {}
    for epoch, x in seen:
        orders.setdefault(epoch, []).append(x)
    return orders


def test_keras_fit_and_a_resumed_fit_see_the_same_epochs():
    expected = {e: _order(EpochDataset(_make).for_epoch(e)) for e in range(3)}
    assert _fit_orders(0, 3) == expected
    assert _fit_orders(2, 3) == {2: expected[2]}  # As a resumed run.


def test_bad_arguments():
    with pytest.raises(ValueError, match="`make`"):
        EpochDataset(np.arange(3))
    with pytest.raises(ValueError, match="`data`.*set_epoch"):
        training.SetDataEpoch([1, 2])

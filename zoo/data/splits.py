"""Deterministic, seeded train/validation carving for `tf.data` pipelines.

Two ways, both reproducible and disjoint:

- `window_split`: TFDS split slicing. A prepared TFDS split stores its
  examples in an order fixed by the hashes of their keys (TFDS shuffles
  them when it prepares the data, the same way on every machine), so a
  window of that order is a sample mixed across labels; the seed moves the
  window. Nothing is read to carve it.
- `carve` (with `read_keys` and `select`) for carves that depend on what a
  key says, such as FSDD's speakers and takes: a key's rank is the SHA-256
  hash of `"{seed}:{key}"`, so a carve depends only on the set of keys and
  the seed, not on the order in which examples are stored.
"""

import hashlib
from collections.abc import Callable
from collections.abc import Iterable
from collections.abc import Mapping

import tensorflow as tf


def check_fraction(value: float, name: str = "validation_fraction") -> float:
    """Returns `value` if it is a fraction in [0, 1), else raises ValueError."""
    if not isinstance(value, int | float) or not 0.0 <= value < 1.0:
        raise ValueError(
            f"Received an invalid value for argument `{name}`, expected a "
            f"number in [0, 1), got {value!r}."
        )
    return float(value)


def seeded_order(keys: Iterable[str], seed: int) -> list[str]:
    """Returns the keys sorted by their seeded hash (a stable shuffle)."""
    return sorted(
        set(keys),
        key=lambda key: hashlib.sha256(f"{seed}:{key}".encode()).digest(),
    )


def window_split(
    split: str, num_examples: int, fraction: float, seed: int
) -> tuple[str, str | None]:
    """TFDS split strings (train, validation) carving `split` in two.

    Validation is `round(fraction * num_examples)` consecutive examples of
    `split`, starting at an offset chosen by the seed and wrapping around
    its end; train is the rest. Validation is None for an empty carve.

    >>> window_split("train", 10, 0.3, seed=1)
    ('train[:3]+train[6:]', 'train[3:6]')
    """
    count = int(round(check_fraction(fraction) * num_examples))
    if count == 0:
        return split, None
    digest = hashlib.sha256(f"{seed}".encode()).digest()
    start = int.from_bytes(digest[:8], "big") % num_examples
    end = start + count
    if end <= num_examples:
        validation = [(start, end)]
        train = [(0, start), (end, num_examples)]
    else:
        validation = [(start, num_examples), (0, end - num_examples)]
        train = [(end - num_examples, start)]

    def spec(ranges):
        pieces = [
            split
            + "["
            + (f"{a}" if a else "")
            + ":"
            + (f"{b}" if b < num_examples else "")
            + "]"
            for a, b in ranges
            if b > a
        ]
        return "+".join(pieces)

    return spec(train), spec(validation)


def carve(keys: Iterable[str], fraction: float, seed: int) -> set[str]:
    """Returns the `round(fraction * len(keys))` keys chosen for validation."""
    order = seeded_order(keys, seed)
    return set(order[: int(round(check_fraction(fraction) * len(order)))])


def select(
    dataset: tf.data.Dataset,
    key_fn: Callable[[dict], tf.Tensor],
    assignment: Mapping[str, str],
    split: str,
) -> tf.data.Dataset:
    """Keeps the examples whose key is assigned to `split`.

    Args:
        dataset: a dataset of feature dicts.
        key_fn: maps an element to its key (a tf.string scalar).
        assignment: key -> split name, for every key in `dataset`.
        split: the split to keep.

    Returns:
        The filtered dataset, with its cardinality set (so `len()` works).
    """
    keys = [key for key, name in assignment.items() if name == split]
    if not keys:
        return dataset.take(0).apply(tf.data.experimental.assert_cardinality(0))
    table = tf.lookup.StaticHashTable(
        tf.lookup.KeyValueTensorInitializer(
            tf.constant(keys, tf.string), tf.ones([len(keys)], tf.int64)
        ),
        default_value=0,
    )
    dataset = dataset.filter(lambda example: table.lookup(key_fn(example)) > 0)
    return dataset.apply(tf.data.experimental.assert_cardinality(len(keys)))


def read_keys(
    dataset: tf.data.Dataset, key_fn: Callable[[dict], tf.Tensor]
) -> list[str]:
    """Returns every element's key, in dataset order (one pass)."""
    keys = dataset.map(key_fn, num_parallel_calls=tf.data.AUTOTUNE)
    return [
        key.decode()
        for batch in keys.batch(4096).as_numpy_iterator()
        for key in batch
    ]

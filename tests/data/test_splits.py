"""Tests of the seeded validation carve."""

import pytest
import tensorflow as tf

from zoo.data import splits


def test_carve_is_exact_seeded_and_order_free():
    keys = [f"train/pos/{index}_8.txt" for index in range(100)]
    chosen = splits.carve(keys, 0.2, seed=7)
    assert len(chosen) == 20 and chosen <= set(keys)
    assert chosen == splits.carve(reversed(keys), 0.2, seed=7)
    assert chosen != splits.carve(keys, 0.2, seed=8)
    assert splits.carve(keys, 0.0, seed=7) == set()


def test_carve_is_stable_across_machines():
    # SHA-256 ranks: this golden value must never change.
    assert splits.seeded_order(["a", "b", "c", "d"], seed=1337) == [
        "c",
        "a",
        "b",
        "d",
    ]


def test_select_filters_and_sets_cardinality():
    dataset = tf.data.Dataset.from_tensor_slices({"key": ["a", "b", "c"]})
    assignment = {"a": "train", "b": "validation", "c": "train"}
    key_fn = lambda example: example["key"]  # noqa: E731
    train = splits.select(dataset, key_fn, assignment, "train")
    assert len(train) == 2
    assert [x["key"] for x in train.as_numpy_iterator()] == [b"a", b"c"]
    assert len(splits.select(dataset, key_fn, assignment, "test")) == 0


@pytest.mark.parametrize("fraction", [-0.1, 1.0, "0.2", None])
def test_check_fraction(fraction):
    with pytest.raises(ValueError, match="`validation_fraction`"):
        splits.check_fraction(fraction)

"""zoo.data.padding: the bucket rule and the padded batches it makes."""

import bisect

import numpy as np
import pytest
import tensorflow as tf

from zoo.data import padding


def test_bucket_length_examples():
    got = [padding.bucket_length(n) for n in (1, 8, 9, 17, 8192, 8193, 10241)]
    assert got == [1, 8, 10, 20, 8192, 10240, 12288]


@pytest.mark.parametrize("per_octave", [1, 2, 4, 8])
def test_bucket_rule(per_octave):
    boundaries = padding.bucket_boundaries(per_octave)
    assert boundaries == sorted(set(boundaries)) and boundaries[-1] < 2**31
    rng = np.random.default_rng(0)
    lengths = [*range(1, 3000), *rng.integers(1, 2**30, 2000).tolist()]
    for length in lengths:
        bucket = padding.bucket_length(length, per_octave)
        # The smallest boundary that holds the length ...
        assert bucket == boundaries[bisect.bisect_left(boundaries, length)]
        # ... growing it by less than 1/per_octave.
        assert length <= bucket < length * (1 + 1 / per_octave)
    # `per_octave` boundaries in each octave above 2·per_octave.
    octave = [b for b in boundaries if 2**20 < b <= 2**21]
    assert len(octave) == per_octave


def utterances(lengths):
    """(audio, label) with audio 1..n (no zero inside) and a label of
    length n % 3 + 1, as tf.data elements."""
    return tf.data.Dataset.from_generator(
        lambda: (
            (np.arange(1, n + 1, dtype=np.float32), np.full(n % 3 + 1, n))
            for n in lengths
        ),
        output_signature=(
            tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([None], tf.int64),
        ),
    )


def test_padded_batch_pads_to_buckets_and_keeps_the_elements():
    lengths = [300, 5000, 9000, 4097, 1, 17]
    dataset = utterances(lengths)
    values = (0.0, tf.constant(-1, tf.int64))
    plain = list(dataset.padded_batch(2, padding_values=values))
    bucketed = list(padding.padded_batch(dataset, 2, padding_values=values))
    assert len(plain) == len(bucketed) == 3
    for (audio, label), (long_audio, long_label) in zip(plain, bucketed):
        assert long_audio.shape[1] == padding.bucket_length(audio.shape[1])
        assert long_label.shape[1] == padding.bucket_length(label.shape[1])
        # The same elements, then more of the same padding values.
        width, label_width = audio.shape[1], label.shape[1]
        np.testing.assert_array_equal(long_audio[:, :width], audio)
        assert not np.any(long_audio[:, width:])
        np.testing.assert_array_equal(long_label[:, :label_width], label)
        assert np.all(long_label[:, label_width:] == -1)


def test_padded_batch_leaves_fixed_axes_and_single_tensors():
    dataset = utterances([5000, 300])
    audio, label = next(
        iter(padding.padded_batch(dataset, 2, padded_shapes=([None], [4])))
    )
    assert audio.shape == (2, 5120) and label.shape == (2, 4)
    audio_only = dataset.map(lambda audio, label: audio)
    (batch,) = list(padding.padded_batch(audio_only, 2))
    assert batch.shape == (2, 5120)

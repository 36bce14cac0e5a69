"""Padded batches whose lengths come from a small set: the bucket rule.

`dataset.padded_batch(n)` pads each batch to its own longest element, so
variable-length audio gives nearly every batch a new shape (spoken digits:
64 shapes in 64 training batches of one epoch). TensorFlow's `tf.function`
relaxes to an unknown length after a few shapes; JAX's `jit` compiles
once per shape, and that compilation dominated a JAX epoch (PyTorch's
speech steps measured as slow either way: bench/results/speech_padding.md).

`padded_batch` here pads each variable axis further, up to its bucket
boundary `bucket_length(n)`: the smallest m·2^k >= n with
BUCKETS_PER_OCTAVE <= m < 2·BUCKETS_PER_OCTAVE (every n up to
2·BUCKETS_PER_OCTAVE is its own boundary). With 4 buckets per octave a
batch grows by less than a quarter, and one octave of lengths gives at most
4 shapes. The elements and their order are those of `padded_batch`; only
the number of trailing padding values differs, which the zoo's speech
models ignore (`LogMelFrontEnd` zeroes, and the encoders mask, the frames
that reach into the padding).
"""

from __future__ import annotations

import tensorflow as tf

BUCKETS_PER_OCTAVE = 4
# Boundaries up to 2**31: every length a tf.int32 shape can hold.
_MAX_LENGTH = 2**31 - 1


def bucket_length(length: int, per_octave: int = BUCKETS_PER_OCTAVE) -> int:
    """The bucket boundary of `length`: the padded length of a batch whose
    longest element is `length` (see the module docstring).

    >>> [bucket_length(n) for n in (5, 8, 9, 10, 11, 8193, 10240, 10241)]
    [5, 8, 10, 10, 12, 10240, 10240, 12288]
    """
    if length <= 2 * per_octave:
        return length
    # m·2^k with per_octave <= m < 2·per_octave: keep the top bits of
    # length - 1 and round up.
    shift = (length - 1).bit_length() - per_octave.bit_length()
    quantum = 1 << shift
    return -(-length // quantum) * quantum


def bucket_boundaries(per_octave: int = BUCKETS_PER_OCTAVE) -> list[int]:
    """Every boundary of `bucket_length`, ascending, up to 2**31 - 1."""
    boundaries = [1]
    while True:
        following = bucket_length(boundaries[-1] + 1, per_octave)
        if following > _MAX_LENGTH:
            return boundaries
        boundaries.append(following)


def padded_batch(
    dataset: tf.data.Dataset,
    batch_size: int,
    *,
    padded_shapes=None,
    padding_values=None,
    per_octave: int = BUCKETS_PER_OCTAVE,
) -> tf.data.Dataset:
    """`dataset.padded_batch(...)`, each variable axis then padded up to
    `bucket_length` of its length, with the same padding values.

    Axes that `padded_shapes` fixes are left as they are; `padding_values`
    defaults to zeros as in `tf.data`.
    """
    batched = dataset.padded_batch(
        batch_size, padded_shapes=padded_shapes, padding_values=padding_values
    )
    boundaries = tf.constant(bucket_boundaries(per_octave), tf.int32)
    specs = tf.nest.flatten(batched.element_spec)
    if padding_values is None:
        values = [tf.zeros([], spec.dtype) for spec in specs]
    else:
        values = [
            tf.cast(value, spec.dtype)
            for value, spec in zip(
                tf.nest.flatten(padding_values), specs, strict=True
            )
        ]

    def to_bucket(length):
        index = tf.searchsorted(boundaries, [length], side="left")[0]
        # Past the last boundary (near 2**31) a length is its own bucket.
        last = tf.size(boundaries) - 1
        return tf.maximum(boundaries[tf.minimum(index, last)], length)

    def pad(*components):
        # tf.data passes a tuple element as arguments, anything else as one.
        structure = components if len(components) > 1 else components[0]
        flat = tf.nest.flatten(structure)
        padded = []
        for tensor, spec, value in zip(flat, specs, values, strict=True):
            # The batch axis stays; only the padded (unknown) axes grow.
            widths = [[0, 0]]
            for axis, size in enumerate(spec.shape[1:], start=1):
                if size is None:
                    length = tf.shape(tensor)[axis]
                    widths.append([0, to_bucket(length) - length])
                else:
                    widths.append([0, 0])
            if any(size is None for size in spec.shape[1:]):
                tensor = tf.pad(tensor, widths, constant_values=value)
            padded.append(tensor)
        return tf.nest.pack_sequence_as(structure, padded)

    return batched.map(pad, num_parallel_calls=tf.data.AUTOTUNE)

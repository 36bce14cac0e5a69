"""VocabularyClip: token ids of a large vocabulary → ids of its head."""

from __future__ import annotations

import keras
from keras import ops

from zoo.layers import validation


@keras.saving.register_keras_serializable(package="zoo")
class VocabularyClip(keras.layers.Layer):
    """Token ids [batch, time] → the same ids, those ≥ `vocabulary_size`
    replaced by `oov_id`.

    A vocabulary sorted by frequency (as `keras.layers.TextVectorization`
    builds it: 0 padding, 1 out-of-vocabulary, then the most frequent
    tokens first) holds the vocabulary of its first n tokens as its first
    n ids. So one vectorizer can feed models of different vocabulary
    sizes: a bag of n-grams that wants every n-gram, and an embedding that
    wants only the frequent ones, the rarer tokens read as out of its
    vocabulary.

        x'_t = x_t if x_t < n else oov_id

    Args:
        vocabulary_size: n, the smaller vocabulary (ids in [0, n) are kept).
        oov_id: The id rarer tokens become (default 1, TextVectorization's
            out-of-vocabulary id); must lie in [0, n).

    Call arguments:
        inputs: Integer ids [batch, time].

    Returns:
        int32 ids of the same shape; padding (0) stays 0. No mask: the
        model that reads the ids masks them (its embedding, say).

    Example:

    ```python
    VocabularyClip(100)(np.array([[5, 99, 100, 4096, 0]]))
    # [[5, 99, 1, 1, 0]]
    ```
    """

    def __init__(self, vocabulary_size: int, oov_id: int = 1, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = validation.positive_int(
            "vocabulary_size", vocabulary_size
        )
        if (
            isinstance(oov_id, bool)
            or not isinstance(oov_id, int)
            or not 0 <= oov_id < vocabulary_size
        ):
            raise ValueError(
                "Received an invalid value for argument `oov_id`, expected "
                f"an integer in [0, {vocabulary_size}), got {oov_id!r}."
            )
        self.oov_id = oov_id

    def call(self, inputs):
        ids = ops.cast(inputs, "int32")
        return ops.where(ids < self.vocabulary_size, ids, self.oov_id)

    def compute_output_shape(self, input_shape):
        return tuple(input_shape)

    def get_config(self):
        config = super().get_config()
        config.update(
            {"vocabulary_size": self.vocabulary_size, "oov_id": self.oov_id}
        )
        return config

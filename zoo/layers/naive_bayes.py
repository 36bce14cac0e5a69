"""NaiveBayesBag: a linear model over the set of a text's n-grams, each
feature scaled by its naive-Bayes log-count ratio (NBSVM)."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops

from zoo.layers import embedding
from zoo.layers import validation


@keras.saving.register_keras_serializable(package="zoo")
class NaiveBayesBag(keras.layers.Layer):
    """Token ids [batch, time] → scores [batch, output_dim], linear in the
    naive-Bayes-scaled presence of each token.

    Wang & Manning's NBSVM: a text is the binary vector x̂ of the tokens
    (words, n-grams) it contains, at most once each; each feature f is
    scaled by its log-count ratio r_f, and a linear model reads the result:

        z_k = b_k + Σ_{f ∈ set(text)} r_f · W[f, k]

        r_f = log((p_f / ‖p‖₁) / (q_f / ‖q‖₁)),
        p = α + Σ_{positive texts} x̂,  q = α + Σ_{negative texts} x̂

    r is fitted from labelled token ids by `adapt` (two classes, label 1
    positive), and is not trained; W and b are. Scaling by r makes the
    features that naive Bayes finds telling cheap to use, which acts as a
    prior on the linear weights: with words and bigrams, NBSVM beats both
    naive Bayes and a plain linear model on long reviews (Wang & Manning
    2012: 91.2% on IMDB's test split). Before `adapt`, r = 1: a plain
    linear model over the set of tokens.

    The set is computed inside the model (sort the ids, keep each run's
    first), so it takes the same padded token ids as the other models;
    repeated tokens and padding (0) count nothing.

    Args:
        input_dim: Vocabulary size: ids lie in [0, input_dim), 0 = padding.
        output_dim: Scores per text (logits of a classifier: its classes).
        smoothing: α, the pseudo-count added to p and q by `adapt`.
        token_dropout: In training, each token of the set is left out with
            this probability (the sum rescaled by 1 / (1 - rate)): a text
            seen with some of its n-grams missing, as short texts are.
        seed: Seed of the token dropout.
        embeddings_initializer: For W (default zeros: the model starts at
            z = b and learns from the scaled features).

    Call arguments:
        inputs: Integer ids [batch, time], 0 = padding. An empty time axis,
            and in eager calls ids outside [0, input_dim), raise a
            ValueError naming them (as `TokenEmbedding`).

    Returns:
        [batch, output_dim]; no mask (the time axis is summed away).

    Example:

    ```python
    layer = NaiveBayesBag(20000, 2)
    layer.adapt(token_ids, labels)     # NumPy, labels in {0, 1}
    layer(token_ids)                   # [batch, 2]
    ```

    Reference:
        Wang and Manning, "Baselines and Bigrams: Simple, Good Sentiment
        and Topic Classification", ACL 2012.
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        smoothing: float = 1.0,
        token_dropout: float = 0.0,
        seed: int | None = None,
        embeddings_initializer="zeros",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.input_dim = validation.positive_int("input_dim", input_dim)
        self.output_dim = validation.positive_int("output_dim", output_dim)
        if not isinstance(smoothing, (int, float)) or not smoothing > 0:
            raise ValueError(
                "Received an invalid value for argument `smoothing`, "
                f"expected a positive number, got {smoothing!r}."
            )
        self.smoothing = float(smoothing)
        self.token_dropout = validation.fraction("token_dropout", token_dropout)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.embeddings_initializer = keras.initializers.get(
            embeddings_initializer
        )

    def build(self, input_shape):
        embedding.check_shape(self, input_shape)
        self.embeddings = self.add_weight(
            shape=(self.input_dim, self.output_dim),
            initializer=self.embeddings_initializer,
            name="embeddings",
        )
        self.bias = self.add_weight(
            shape=(self.output_dim,), initializer="zeros", name="bias"
        )
        # Fitted by `adapt`, saved with the model, never trained.
        self.log_count_ratios = self.add_weight(
            shape=(self.input_dim,),
            initializer="ones",
            trainable=False,
            name="log_count_ratios",
        )

    def call(self, inputs, mask=None, training=False):
        # `mask` is not needed: padding is the id 0, counted nowhere.
        embedding.check_shape(self, inputs.shape)
        embedding.check_values(self, inputs, padding=True)
        # The set of tokens: sorted, a token counts where it differs from
        # its left neighbour (the first one differs from the 0 padded in
        # front of it); padding (0) never counts.
        ids = ops.sort(ops.cast(inputs, "int32"), axis=-1)
        previous = ops.pad(ids[:, :-1], [[0, 0], [1, 0]])
        present = ops.logical_and(ids != 0, ids != previous)
        scale = ops.take(self.log_count_ratios, ids, axis=0)
        scale = scale * ops.cast(present, scale.dtype)
        if training and self.token_dropout > 0:
            scale = keras.random.dropout(
                scale, self.token_dropout, seed=self.seed_generator
            )
        weights = ops.take(self.embeddings, ids, axis=0)
        return ops.einsum("bt,btk->bk", scale, weights) + self.bias

    def adapt(self, token_ids, labels) -> np.ndarray:
        """Fits r from labelled texts; returns it (float32 [input_dim]).

        Args:
            token_ids: int ids [texts, time] (NumPy or tensor), 0 = padding,
                or an iterable of such batches.
            labels: 0/1 per text, or an iterable of batches matching
                `token_ids`.

        Raises:
            ValueError: Labels other than 0 and 1 or not one per text, ids
                outside [0, input_dim), or one class missing.
        """
        if not self.built:
            self.build((None, None))
        if hasattr(token_ids, "shape"):
            token_ids, labels = [token_ids], [labels]
        counts = np.zeros((2, self.input_dim), np.float64)
        for ids, label in zip(token_ids, labels):
            ids = np.asarray(ops.convert_to_numpy(ids)).astype(np.int64)
            label = np.asarray(ops.convert_to_numpy(label)).reshape(-1)
            if ids.ndim != 2 or len(label) != len(ids):
                raise ValueError(
                    f"NaiveBayesBag `{self.name}` adapts on token ids "
                    "[texts, time] with one label per text, got ids of "
                    f"shape {ids.shape} and {len(label)} labels."
                )
            if not np.isin(label, (0, 1)).all():
                raise ValueError(
                    f"NaiveBayesBag `{self.name}` adapts on two classes: "
                    "labels must be 0 or 1, got "
                    f"{sorted(set(label.tolist()) - {0, 1})[:5]}."
                )
            if ids.size and (ids.min() < 0 or ids.max() >= self.input_dim):
                raise ValueError(
                    f"NaiveBayesBag `{self.name}` received token ids outside "
                    f"[0, {self.input_dim})."
                )
            rows = np.repeat(np.arange(len(ids)), ids.shape[1])
            unique = np.unique(np.stack([rows, ids.reshape(-1)]), axis=1)
            texts, tokens = unique
            np.add.at(counts, (label[texts], tokens), 1.0)
        counts[:, 0] = 0.0  # padding
        if not (counts.sum(axis=1) > 0).all():
            raise ValueError(
                f"NaiveBayesBag `{self.name}` needs texts of both classes "
                "to adapt."
            )
        p, q = counts[1] + self.smoothing, counts[0] + self.smoothing
        ratios = np.log(p / p.sum()) - np.log(q / q.sum())
        ratios[0] = 0.0
        ratios = ratios.astype(np.float32)
        self.log_count_ratios.assign(ratios)
        return ratios

    def compute_output_shape(self, input_shape):
        return (input_shape[0], self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "input_dim": self.input_dim,
                "output_dim": self.output_dim,
                "smoothing": self.smoothing,
                "token_dropout": self.token_dropout,
                "seed": self.seed,
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer
                ),
            }
        )
        return config

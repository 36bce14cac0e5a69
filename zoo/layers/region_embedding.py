"""RegionEmbedding: a convolution over one-hot words, computed by lookups."""

from __future__ import annotations

import keras
from keras import ops

from zoo.layers import embedding
from zoo.layers import validation

MODES = ("seq", "bow")


@keras.saving.register_keras_serializable(package="zoo")
class RegionEmbedding(keras.layers.Layer):
    """Token ids [batch, time] → region vectors [batch, time, output_dim].

    Johnson & Zhang's region embedding: a 1-D convolution of width r
    ("same" padding) over the one-hot vectors of the words, with a bias
    and an activation. Over one-hot input, W·x_t for a word w is row w of
    W, so the convolution is a sum of table rows, computed by lookups
    instead of a [time, vocabulary] matrix product:

        seq-CNN:  u_t = act(b + Σ_{k=0}^{r-1} E_k[x_{t+k-p}])
        bow-CNN:  u_t = act(b + Σ_{k=0}^{r-1} E[x_{t+k-p}])

    with p = (r - 1) // 2 (the extra step of an even region goes to the
    right, as in Keras' "same" padding), one table E_k [input_dim,
    output_dim] per position in the region ("seq", the word order inside
    the region matters) or one shared table E ("bow", a bag of the
    region's words). Padding ids (0) and steps beyond either end add
    nothing. With r = 1 both are an embedding with a bias and an
    activation.

    Args:
        input_dim: Vocabulary size: ids lie in [0, input_dim), 0 = padding.
        output_dim: Feature maps per region (the paper: 1000).
        region_size: r, words per region (the paper: 2 to 3 for IMDB).
        mode: "seq" (one table per region position) or "bow" (one table).
        activation: Applied to the sum (default "relu").
        embeddings_initializer: For the tables (default uniform ±0.05, as
            `keras.layers.Embedding`).

    Call arguments:
        inputs: Integer ids, [batch, time], right-padded with 0. An empty
            time axis, and in eager calls ids outside [0, input_dim), raise
            a ValueError that names them (as `TokenEmbedding`).

    Returns:
        [batch, time, output_dim]; the mask [batch, time] is `ids != 0`
        (a step is valid where its centre word is real).

    Example:

    ```python
    layer = RegionEmbedding(30000, 500, region_size=3)
    layer(np.array([[4, 17, 9, 0]]))   # [1, 4, 500]
    ```

    Reference:
        Johnson and Zhang, "Effective Use of Word Order for Text
        Categorization with Convolutional Neural Networks", NAACL 2015.
    """

    def __init__(
        self,
        input_dim: int,
        output_dim: int,
        region_size: int = 3,
        mode: str = "seq",
        activation="relu",
        embeddings_initializer="uniform",
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.input_dim = validation.positive_int("input_dim", input_dim)
        self.output_dim = validation.positive_int("output_dim", output_dim)
        self.region_size = validation.positive_int("region_size", region_size)
        self.mode = validation.one_of("mode", mode, MODES)
        self.activation = keras.activations.get(activation)
        self.embeddings_initializer = keras.initializers.get(
            embeddings_initializer
        )
        self.supports_masking = True

    def build(self, input_shape):
        tables = self.region_size if self.mode == "seq" else 1
        # The tables stacked along the rows, E_k = rows [k·V, (k+1)·V): one
        # variable read by plain lookups keeps its gradient sparse (slicing
        # a [r, V, d] variable first would make it dense).
        self.embeddings = self.add_weight(
            shape=(tables * self.input_dim, self.output_dim),
            initializer=self.embeddings_initializer,
            name="embeddings",
        )
        self.bias = self.add_weight(
            shape=(self.output_dim,), initializer="zeros", name="bias"
        )
        embedding.check_shape(self, input_shape)

    def call(self, inputs, mask=None):
        # Named errors, as TokenEmbedding's, instead of a failed gather.
        embedding.check_shape(self, inputs.shape)
        embedding.check_values(self, inputs, padding=True)
        # The mask comes from the ids themselves (0 = padding).
        ids = ops.cast(inputs, "int32")
        time = ops.shape(ids)[1]
        left = (self.region_size - 1) // 2
        right = self.region_size - 1 - left
        # [batch, left + time + right]: region k of step t reads id t+k-left.
        padded = ops.pad(ids, [[0, 0], [left, right]])
        total = None
        for k in range(self.region_size):
            window = padded[:, k : k + time]
            offset = k * self.input_dim if self.mode == "seq" else 0
            vectors = ops.take(self.embeddings, window + offset, axis=0)
            # Padding and the ends contribute nothing: [batch, time, 1].
            vectors = vectors * ops.cast(window != 0, vectors.dtype)[..., None]
            total = vectors if total is None else total + vectors
        return self.activation(total + self.bias)

    def compute_mask(self, inputs, mask=None):
        return ops.not_equal(inputs, 0)

    def compute_output_shape(self, input_shape):
        return (*tuple(input_shape), self.output_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "input_dim": self.input_dim,
                "output_dim": self.output_dim,
                "region_size": self.region_size,
                "mode": self.mode,
                "activation": keras.activations.serialize(self.activation),
                "embeddings_initializer": keras.initializers.serialize(
                    self.embeddings_initializer
                ),
            }
        )
        return config

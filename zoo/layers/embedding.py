"""TokenEmbedding: `keras.layers.Embedding` that checks its token ids."""

from __future__ import annotations

import keras
import numpy as np
from keras import ops


@keras.saving.register_keras_serializable(package="zoo")
class TokenEmbedding(keras.layers.Embedding):
    """Token ids [batch, time] → vectors [batch, time, output_dim], checked.

    Exactly `keras.layers.Embedding` (the same arguments, weight and mask:
    with `mask_zero=True`, id 0 is padding and masked), except that ids it
    cannot embed raise a `ValueError` naming the problem wherever that can
    be known when the layer is called:

    - an empty time axis (`time = 0`), from the static shape: when a model
      is built on such an input, when a call is traced with it (e.g. the
      first `predict` batch) and in eager calls;
    - ids outside [0, input_dim), when the ids' values exist at call time
      (eager calls). Keras' `take` wraps a negative id around (id -3 reads
      row input_dim - 3, silently), and an id past the end fails deep in
      the gather on a CPU and reads zeros on a GPU.

    While a call is traced (`fit`, `predict`, an exported graph) the values
    are unknown and only the shape is checked; an exported graph keeps
    Keras' behaviour for out-of-range ids.

    Args:
        input_dim: Vocabulary size: ids lie in [0, input_dim).
        output_dim: Size of each embedding vector.
        **kwargs: Any other argument of `keras.layers.Embedding`
            (`mask_zero`, `embeddings_initializer`, ...).

    Call arguments:
        inputs: Integer ids, [batch, time].

    Returns:
        [batch, time, output_dim]; the mask [batch, time] is `ids != 0`
        when `mask_zero`.

    Example:

    ```python
    embedding = TokenEmbedding(20, 4, mask_zero=True)
    embedding(np.array([[3, 5, 0]]))   # [1, 3, 4]
    embedding(np.array([[3, -1]]))     # ValueError: ... negative token ids
    ```
    """

    def build(self, input_shape=None):
        if input_shape is not None:
            check_shape(self, input_shape)
        super().build(input_shape)

    def call(self, inputs):
        check_shape(self, inputs.shape)
        check_values(self, inputs, padding=self.mask_zero)
        return super().call(inputs)


def check_shape(layer, shape) -> None:
    """Names an empty time axis in token ids [batch, time] given to `layer`."""
    shape = tuple(shape)
    if len(shape) >= 2 and shape[1] == 0:
        raise ValueError(
            f"{type(layer).__name__} `{layer.name}` received token ids "
            f"with an empty time axis (shape {shape}); every sequence "
            "needs at least one step (an empty text can be one padding "
            "id, 0)."
        )


def check_values(layer, inputs, padding: bool) -> None:
    """Names ids outside [0, layer.input_dim) in an eager call; traced
    calls (values unknown) pass."""
    ids = _values_if_concrete(inputs)
    if ids is None or ids.size == 0:
        return
    for bad, what in (
        (ids < 0, "negative token ids"),
        (ids >= layer.input_dim, "token ids past the vocabulary"),
    ):
        if bad.any():
            where = tuple(int(i) for i in np.argwhere(bad)[0])
            raise ValueError(
                f"{type(layer).__name__} `{layer.name}` received {what} "
                f"(e.g. {ids[where]} at index {where}); ids must lie in "
                f"[0, {layer.input_dim}) (vocabulary size {layer.input_dim}"
                f"{', 0 = padding' if padding else ''})."
            )


def _values_if_concrete(tensor) -> np.ndarray | None:
    """The values of `tensor` if they exist now (an eager call), else None
    (a traced call: a symbolic tensor, a JAX tracer, a meta tensor)."""
    try:
        return np.asarray(ops.convert_to_numpy(tensor))
    except (TypeError, ValueError, NotImplementedError, RuntimeError):
        return None

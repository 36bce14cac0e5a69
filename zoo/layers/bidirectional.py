"""The bidirectional RNN: two passes over time merged by a third function."""

from __future__ import annotations

import keras
from keras import ops

from zoo.layers import validation

# f3: how the two directions merge into one output, or None (kept apart).
MERGED_MODES = ("concat", "sum", "mul", "ave", "dense")
MERGE_MODES = (*MERGED_MODES, None)


def _as_list(value):
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _as_shape_list(shape):
    """[shape] for one output shape, the list itself for several."""
    if shape and isinstance(shape[0], (list, tuple)):
        return list(shape)
    return [tuple(shape)]


@keras.saving.register_keras_serializable(package="zoo")
class Bidirectional(keras.layers.Layer):
    """Runs a forward and a backward copy of an RNN and merges them with f3.

    With f1 the forward layer and f2 a copy reading the sequence from the end,
    the output at step t is y_t = f3(a_t, b_t), where a_t is f1's output at t
    and b_t f2's output at t (f2's output sequence is reversed back, so both
    describe the same step). f3 is `merge_mode`:

        "concat" [a; b]   "sum" a + b   "mul" a ⊙ b   "ave" (a + b) / 2
        "dense"  W·[a; b] + c, a learned projection to `merge_units`
        None     the two outputs, [a, b], unmerged

    Args:
        layer: A recurrent layer instance (a zoo layer or a Keras one, such
            as `keras.layers.LSTM`); it becomes the forward direction.
        merge_mode: f3, one of the above (default "concat").
        backward_layer: Optional layer for the backward direction; by
            default a copy of `layer` with `go_backwards` flipped.
        merge_units: Output size of the "dense" merge (default: the wrapped
            layer's `units`).

    Call arguments:
        inputs: [batch, time, features]. mask: optional [batch, time].
        initial_state: Optional list: the forward states, then the backward
            ones. training: passed on.

    Output shape: [batch, (time,) merged] (merged = 2·units for concat,
        merge_units for dense, units otherwise), a list of two for None;
        with `return_state` on the wrapped layer, followed by the forward
        then the backward final states.

    Masking: both directions skip masked steps; the output mask is the input
        mask when sequences are returned. As in `keras.layers.Bidirectional`,
        a layer that returns sequences outputs zeros at masked steps (both
        directions get `zero_output_for_mask=return_sequences`), so the
        output equals Keras' wrapper around the same layer at every step.

    Example:
        >>> from zoo.layers import LSTM
        >>> layer = Bidirectional(LSTM(4, return_sequences=True))
        >>> tuple(layer(keras.ops.ones((2, 6, 3))).shape)
        (2, 6, 8)

    Reference:
        Schuster & Paliwal, "Bidirectional Recurrent Neural Networks", IEEE
        Trans. Signal Processing 1997.
    """

    def __init__(
        self,
        layer,
        merge_mode: str | None = "concat",
        backward_layer=None,
        merge_units: int | None = None,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(layer, keras.layers.Layer) or not hasattr(
            layer, "go_backwards"
        ):
            raise ValueError(
                "Received an invalid value for argument `layer`, expected a "
                f"recurrent layer instance, got {layer!r}."
            )
        self.merge_mode = validation.one_of(
            "merge_mode", merge_mode, MERGE_MODES
        )
        if merge_units is not None:
            validation.positive_int("merge_units", merge_units)
        self.merge_units = merge_units
        config = layer.get_config()
        self.forward_layer = layer.__class__.from_config(
            {**config, "name": "forward_" + config["name"]}
        )
        if backward_layer is None:
            backward_config = {
                **config,
                "name": "backward_" + config["name"],
                "go_backwards": not config["go_backwards"],
            }
            backward_layer = layer.__class__.from_config(backward_config)
        self.backward_layer = backward_layer
        for direction in (self.forward_layer, self.backward_layer):
            # Zeros at masked steps, as keras.layers.Bidirectional does.
            if hasattr(direction, "zero_output_for_mask"):
                direction.zero_output_for_mask = direction.return_sequences
        self.return_sequences = layer.return_sequences
        self.return_state = layer.return_state
        self.supports_masking = True
        self.merge_dense = None
        if merge_mode == "dense":
            self.merge_dense = keras.layers.Dense(
                merge_units or layer.units, name="merge_dense"
            )

    def build(self, sequences_shape, initial_state_shape=None):
        self.forward_layer.build(sequences_shape)
        self.backward_layer.build(sequences_shape)
        if self.merge_dense is not None:
            units = self.forward_layer.units + self.backward_layer.units
            self.merge_dense.build(tuple(sequences_shape[:-1]) + (units,))

    def _split_states(self, initial_state):
        if initial_state is None:
            return None, None
        states = _as_list(initial_state)
        half = len(states) // 2
        return states[:half], states[half:]

    def call(self, sequences, initial_state=None, mask=None, training=None):
        forward_state, backward_state = self._split_states(initial_state)
        forward = self.forward_layer(
            sequences,
            initial_state=forward_state,
            mask=mask,
            training=training,
        )
        backward = self.backward_layer(
            sequences,
            initial_state=backward_state,
            mask=mask,
            training=training,
        )
        forward, backward = _as_list(forward), _as_list(backward)
        a, b = forward[0], backward[0]
        if self.return_sequences:
            # The backward layer emits its outputs last step first.
            b = ops.flip(b, axis=1)
        merged = self._merge(a, b)
        if not self.return_state:
            return merged
        merged = merged if isinstance(merged, list) else [merged]
        return merged + forward[1:] + backward[1:]

    def _merge(self, a, b):
        mode = self.merge_mode
        if mode == "concat":
            return ops.concatenate([a, b], axis=-1)
        if mode == "sum":
            return a + b
        if mode == "mul":
            return a * b
        if mode == "ave":
            return (a + b) / 2.0
        if mode == "dense":
            return self.merge_dense(ops.concatenate([a, b], axis=-1))
        return [a, b]

    def compute_mask(self, inputs, mask=None):
        output_mask = mask if self.return_sequences else None
        count = 2 if self.merge_mode is None else 1
        if self.return_state:
            states = len(self.forward_layer.state_size) * 2
            return [output_mask] * count + [None] * states
        return [output_mask] * 2 if count == 2 else output_mask

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        forward = _as_shape_list(
            self.forward_layer.compute_output_shape(sequences_shape)
        )
        output = list(forward[0])
        units = output[-1]
        if self.merge_mode == "concat":
            output[-1] = units + self.backward_layer.units
        elif self.merge_mode == "dense":
            output[-1] = self.merge_units or self.forward_layer.units
        shapes = [tuple(output)] * (2 if self.merge_mode is None else 1)
        if not self.return_state:
            return shapes[0] if len(shapes) == 1 else shapes
        return shapes + forward[1:] * 2

    @property
    def units(self) -> int:
        if self.merge_mode == "concat":
            return self.forward_layer.units + self.backward_layer.units
        if self.merge_mode == "dense":
            return self.merge_units or self.forward_layer.units
        return self.forward_layer.units

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "layer": keras.saving.serialize_keras_object(
                    self.forward_layer
                ),
                "merge_mode": self.merge_mode,
                "backward_layer": keras.saving.serialize_keras_object(
                    self.backward_layer
                ),
                "merge_units": self.merge_units,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        # Files saved before fuse_directions was removed (it never changed
        # results) still load.
        config.pop("fuse_directions", None)
        layer = keras.saving.deserialize_keras_object(config.pop("layer"))
        backward = keras.saving.deserialize_keras_object(
            config.pop("backward_layer")
        )
        # Names were prefixed when first wrapped; keep them stable.
        layer_config = layer.get_config()
        layer_config["name"] = layer_config["name"].removeprefix("forward_")
        layer = layer.__class__.from_config(layer_config)
        return cls(layer, backward_layer=backward, **config)

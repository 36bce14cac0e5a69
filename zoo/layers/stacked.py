"""The deep (stacked) RNN: each layer's outputs are the next one's inputs."""

from __future__ import annotations

import keras

from zoo.layers import validation


@keras.saving.register_keras_serializable(package="zoo")
class StackedRNN(keras.layers.Layer):
    """A deep RNN: h', y = f1(h, x); b', c = f2(b, y); ...

    Each layer reads the whole output sequence of the one below. Between
    layers, optional dropout; optional residual connections add a layer's
    input to its output wherever the two have the same size (Wu et al.
    2016), which eases training of deep stacks.

    Args:
        layers: A list of recurrent layers (zoo or Keras layers, or
            `Bidirectional` wrappers). Every layer but the last must have
            `return_sequences=True`; the last one decides whether the stack
            returns sequences and states.
        residual: Add each layer's input to its output when their feature
            sizes match (never around the first layer if they differ).
        dropout: Dropout rate applied between layers (not after the last).

    Call arguments: inputs [batch, time, features]; mask [batch, time];
        training; initial_state: optional list with one entry (a list of
        state tensors, or None) per layer.

    Output shape: the last layer's.

    Masking: the mask reaches every layer; the output mask is the input
        mask when the stack returns sequences.

    Example:
        >>> from zoo.layers import LSTM
        >>> stack = StackedRNN([LSTM(8, return_sequences=True), LSTM(8)])
        >>> tuple(stack(keras.ops.ones((2, 5, 3))).shape)
        (2, 8)

    Reference:
        Graves, Mohamed & Hinton, "Speech Recognition with Deep Recurrent
        Neural Networks", ICASSP 2013; Wu et al. 2016 (residual stacks).
    """

    def __init__(
        self,
        layers,
        residual: bool = False,
        dropout: float = 0.0,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(layers, (list, tuple)) or not layers:
            raise ValueError(
                "Received an invalid value for argument `layers`, expected a "
                f"non-empty list of recurrent layers, got {layers!r}."
            )
        for index, layer in enumerate(layers[:-1]):
            if not getattr(layer, "return_sequences", False):
                raise ValueError(
                    f"Layer {index} ({layer.name}) of the stack must have "
                    "`return_sequences=True` to feed the layer above it."
                )
        self.stack = list(layers)
        self.residual = validation.boolean("residual", residual)
        self.dropout = validation.fraction("dropout", dropout)
        self.dropout_layers = [
            keras.layers.Dropout(self.dropout, name=f"dropout_{index}")
            for index in range(len(self.stack) - 1)
        ]
        last = self.stack[-1]
        self.return_sequences = getattr(last, "return_sequences", False)
        self.return_state = getattr(last, "return_state", False)
        self.supports_masking = True

    def build(self, sequences_shape, initial_state_shape=None):
        shape = tuple(sequences_shape)
        for layer in self.stack:
            layer.build(shape)
            output_shape = layer.compute_output_shape(shape)
            if isinstance(output_shape, list):
                output_shape = output_shape[0]
            shape = tuple(output_shape)

    def call(self, sequences, initial_state=None, mask=None, training=None):
        states = initial_state or [None] * len(self.stack)
        if len(states) != len(self.stack):
            raise ValueError(
                f"`initial_state` needs one entry per layer "
                f"({len(self.stack)}), got {len(states)}."
            )
        outputs = sequences
        for index, layer in enumerate(self.stack):
            inputs = outputs
            outputs = layer(
                inputs,
                initial_state=states[index],
                mask=mask,
                training=training,
            )
            last = index == len(self.stack) - 1
            result = outputs
            if isinstance(outputs, (list, tuple)):
                outputs = outputs[0]
            if (
                self.residual
                and inputs.shape[-1] == outputs.shape[-1]
                and len(outputs.shape) == 3
            ):
                outputs = outputs + inputs
            if last:
                if isinstance(result, (list, tuple)):
                    return [outputs] + list(result[1:])
                return outputs
            outputs = self.dropout_layers[index](outputs, training=training)
        return outputs

    def compute_mask(self, inputs, mask=None):
        output_mask = mask if self.return_sequences else None
        if self.return_state:
            return [output_mask] + [None] * len(self.stack[-1].state_size)
        return output_mask

    def compute_output_shape(self, sequences_shape, initial_state_shape=None):
        shape = tuple(sequences_shape)
        for layer in self.stack:
            shape = layer.compute_output_shape(shape)
            if isinstance(shape, list) and layer is not self.stack[-1]:
                shape = shape[0]
        return shape

    @property
    def units(self) -> int:
        return self.stack[-1].units

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "layers": [
                    keras.saving.serialize_keras_object(layer)
                    for layer in self.stack
                ],
                "residual": self.residual,
                "dropout": self.dropout,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        layers = [
            keras.saving.deserialize_keras_object(layer)
            for layer in config.pop("layers")
        ]
        return cls(layers, **config)

"""The pyramidal RNN: the Listen-Attend-Spell listener."""

from __future__ import annotations

import keras

from zoo.layers import validation
from zoo.layers.bidirectional import MERGED_MODES
from zoo.layers.bidirectional import Bidirectional
from zoo.layers.time_reduction import MODES as TIME_REDUCTION_MODES
from zoo.layers.time_reduction import TimeReduction


@keras.saving.register_keras_serializable(package="zoo")
class PyramidRNN(keras.layers.Layer):
    """A bidirectional RNN whose every level halves the time axis.

    A bottom bidirectional layer reads the T input frames; then each of the
    N pyramid levels concatenates pairs of consecutive outputs
    (TimeReduction(2, "concat")) and runs another bidirectional layer:

        h^0_t = BRNN_0(h^0_{t-1}, x_t)
        h^j_t = BRNN_j(h^j_{t-1}, [h^{j-1}_{2t}; h^{j-1}_{2t+1}])

    so the output has ceil(T / 2^N) steps. Higher levels run over ever
    shorter sequences, which is why the pyramid trains faster than a flat
    stack of the same depth, and the encoder's output rate suits attention
    or CTC over long utterances.

    Args:
        layer: Template recurrent layer (e.g. `zoo.layers.LSTM(256)`); every
            level uses a fresh copy of it with `return_sequences=True`.
        num_levels: N, the number of pyramid levels (default 3).
        merge_mode: f3 of the bidirectional layers (default "concat").
        reduction_mode: How pairs of frames are merged (TimeReduction mode,
            default "concat" as in the paper).
        reduction_factor: Frames merged per level (default 2).

    Call arguments: inputs [batch, time, features]; mask [batch, time];
        training.

    Output shape: [batch, ceil(time / factor^N), merged units].

    Masking: the mask is reduced with the time axis (a reduced step is valid
        if any of its frames is) and returned.

    Example:
        >>> from zoo.layers import LSTM
        >>> pyramid = PyramidRNN(LSTM(4), num_levels=2)
        >>> tuple(pyramid(keras.ops.ones((1, 16, 3))).shape)
        (1, 4, 8)

    Reference:
        Chan, Jaitly, Le & Vinyals, "Listen, Attend and Spell", ICASSP 2016.
    """

    def __init__(
        self,
        layer,
        num_levels: int = 3,
        merge_mode: str = "concat",
        reduction_mode: str = "concat",
        reduction_factor: int = 2,
        **kwargs,
    ):
        super().__init__(**kwargs)
        if not isinstance(layer, keras.layers.Layer):
            raise ValueError(
                "Received an invalid value for argument `layer`, expected a "
                f"recurrent layer instance, got {layer!r}."
            )
        self.num_levels = validation.non_negative_int("num_levels", num_levels)
        self.merge_mode = validation.one_of(
            "merge_mode", merge_mode, MERGED_MODES
        )
        self.reduction_mode = validation.one_of(
            "reduction_mode", reduction_mode, TIME_REDUCTION_MODES
        )
        self.reduction_factor = validation.positive_int(
            "reduction_factor", reduction_factor
        )
        template = layer.get_config()
        template.update(return_sequences=True, return_state=False)
        self.template = layer.__class__.from_config(template)

        def fresh(index):
            config = dict(template, name=f"{template['name']}_{index}")
            return layer.__class__.from_config(config)

        self.levels = [
            Bidirectional(fresh(0), merge_mode=merge_mode, name="level_0")
        ]
        self.reductions = []
        for index in range(1, self.num_levels + 1):
            self.reductions.append(
                TimeReduction(
                    self.reduction_factor,
                    reduction_mode,
                    name=f"reduction_{index}",
                )
            )
            self.levels.append(
                Bidirectional(
                    fresh(index), merge_mode=merge_mode, name=f"level_{index}"
                )
            )
        self.supports_masking = True

    def build(self, sequences_shape):
        shape = tuple(sequences_shape)
        self.levels[0].build(shape)
        shape = self.levels[0].compute_output_shape(shape)
        for reduction, level in zip(self.reductions, self.levels[1:]):
            shape = reduction.compute_output_shape(shape)
            level.build(shape)
            shape = level.compute_output_shape(shape)

    def call(self, sequences, mask=None, training=None):
        outputs = self.levels[0](sequences, mask=mask, training=training)
        for reduction, level in zip(self.reductions, self.levels[1:]):
            reduced = reduction(outputs, mask=mask)
            mask = reduction.compute_mask(None, mask)
            outputs = level(reduced, mask=mask, training=training)
        return outputs

    def compute_mask(self, inputs, mask=None):
        for reduction in self.reductions:
            mask = reduction.compute_mask(None, mask)
        return mask

    def compute_output_shape(self, sequences_shape):
        shape = self.levels[0].compute_output_shape(tuple(sequences_shape))
        for reduction, level in zip(self.reductions, self.levels[1:]):
            shape = level.compute_output_shape(
                reduction.compute_output_shape(shape)
            )
        return shape

    @property
    def time_reduction(self) -> int:
        """How many input frames one output step covers."""
        return self.reduction_factor**self.num_levels

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "layer": keras.saving.serialize_keras_object(self.template),
                "num_levels": self.num_levels,
                "merge_mode": self.merge_mode,
                "reduction_mode": self.reduction_mode,
                "reduction_factor": self.reduction_factor,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        layer = keras.saving.deserialize_keras_object(config.pop("layer"))
        return cls(layer, **config)

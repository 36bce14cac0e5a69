"""Pyramidal RNN models: the Listen-Attend-Spell listener as an encoder."""

from __future__ import annotations

from zoo import layers as zoo_layers
from zoo.layers import validation
from zoo.models import common
from zoo.models import convolutional
from zoo.registry import register_model


def _pyramid(
    *,
    inputs: str = "features",
    units: int = 128,
    num_levels: int = 3,
    merge_mode: str = "concat",
    reduction_mode: str = "concat",
    pooling: str = "max",
    recurrent_dropout: float = 0.0,
    convolution: str | None = None,
):
    """Hyperparameters of the pyramid models (a template); speech features
    are the default input. `convolution="time_frequency"` puts the CLDNN's
    front end (`filters`, `kernel_sizes`, `frequency_pool_sizes`,
    `projection_dim`) before the first level."""


def _lstm(*, variant: str | None = None):
    """The LSTM variant (a template); see `zoo.layers.LSTM_VARIANTS`."""


def _create_pyramid(name: str, cell: str, config: dict):
    common.check_common(config)
    pooling = validation.one_of(
        "pooling", config["pooling"], common.GLOBAL_POOLINGS
    )
    if config["convolution"] is not None:
        validation.one_of(
            "convolution", config["convolution"], ("time_frequency",)
        )
    convolutional.check_time_frequency(config)
    model_input, sequence = common.model_inputs(**config)
    if config["convolution"] == "time_frequency":
        sequence = convolutional.time_frequency_front_end(sequence, config)
    template = common.recurrent_layer(
        cell,
        config["units"],
        variant=config.get("variant"),
        recurrent_dropout=config["recurrent_dropout"],
        name=cell,
    )
    hidden = zoo_layers.PyramidRNN(
        template,
        num_levels=config["num_levels"],
        merge_mode=config["merge_mode"],
        reduction_mode=config["reduction_mode"],
        name="pyramid",
    )(sequence)
    return common.finish_model(model_input, hidden, config, name, pooling)


@register_model(
    structure="features/embedding → [2-D conv front end] → BiLSTM → "
    "N × (halve time, BiLSTM) → head",
    reference="Chan et al., Listen, Attend and Spell, ICASSP 2016",
)
@common.hyperparameters(_pyramid, _lstm, convolutional.TIME_FREQUENCY)
def pyramid_lstm(*, name, **config):
    """The LAS listener: each of N BiLSTM levels halves the time axis."""
    return _create_pyramid(name, "lstm", config)


@register_model(
    structure="features/embedding → [2-D conv front end] → BiGRU → "
    "N × (halve time, BiGRU) → head",
    reference="Chan et al., Listen, Attend and Spell, ICASSP 2016",
)
@common.hyperparameters(_pyramid, convolutional.TIME_FREQUENCY)
def pyramid_gru(*, name, **config):
    """The pyramidal encoder with GRU cells."""
    return _create_pyramid(name, "gru", config)

"""Pyramidal RNN models: the Listen-Attend-Spell listener as an encoder."""

from __future__ import annotations

from zoo import layers as zoo_layers
from zoo.layers import validation
from zoo.models import common
from zoo.registry import register_model

PYRAMID_DEFAULTS = {
    **common.COMMON_DEFAULTS,
    "inputs": "features",
    "units": 128,
    "num_levels": 3,
    "merge_mode": "concat",
    "reduction_mode": "concat",
    "pooling": "max",
    "recurrent_dropout": 0.0,
}
PYRAMID_LSTM_DEFAULTS = {**PYRAMID_DEFAULTS, "variant": None}


def _create_pyramid(name: str, cell: str, config: dict):
    common.check_common(config)
    pooling = validation.one_of(
        "pooling", config["pooling"], ("max", "average")
    )
    model_input, sequence = common.model_inputs(**config)
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
    defaults=PYRAMID_LSTM_DEFAULTS,
    structure="features/embedding → BiLSTM → N × (halve time, BiLSTM) → head",
    reference="Chan et al., Listen, Attend and Spell, ICASSP 2016",
)
def pyramid_lstm(**overrides):
    """The LAS listener: each of N BiLSTM levels halves the time axis."""
    config = {**PYRAMID_LSTM_DEFAULTS, **overrides}
    return _create_pyramid("pyramid_lstm", "lstm", config)


@register_model(
    defaults=PYRAMID_DEFAULTS,
    structure="features/embedding → BiGRU → N × (halve time, BiGRU) → head",
    reference="Chan et al., Listen, Attend and Spell, ICASSP 2016",
)
def pyramid_gru(**overrides):
    """The pyramidal encoder with GRU cells."""
    return _create_pyramid(
        "pyramid_gru", "gru", {**PYRAMID_DEFAULTS, **overrides}
    )

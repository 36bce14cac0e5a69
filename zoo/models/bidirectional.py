"""Bidirectional RNN models: two directions merged by f3."""

from __future__ import annotations

from zoo import layers as zoo_layers
from zoo.layers import validation
from zoo.models import common
from zoo.registry import register_model

BIDIRECTIONAL_DEFAULTS = {
    **common.COMMON_DEFAULTS,
    "units": 128,
    "num_layers": 1,
    "merge_mode": "concat",
    "pooling": "max",
    "recurrent_dropout": 0.0,
}
BIDIRECTIONAL_LSTM_DEFAULTS = {**BIDIRECTIONAL_DEFAULTS, "variant": None}


def _create_bidirectional(name: str, cell: str, config: dict):
    common.check_common(config)
    num_layers = validation.positive_int("num_layers", config["num_layers"])
    pooling = validation.one_of("pooling", config["pooling"], common.POOLINGS)
    # The model needs one merged output: f3 = None (both) is for layers.
    validation.one_of(
        "merge_mode",
        config["merge_mode"],
        ("concat", "sum", "mul", "ave", "dense"),
    )
    keep_sequence = common.keeps_sequence(config)
    model_input, hidden = common.model_inputs(**config)
    for index in range(num_layers):
        last = index == num_layers - 1
        layer = common.recurrent_layer(
            cell,
            config["units"],
            variant=config.get("variant"),
            recurrent_dropout=config["recurrent_dropout"],
            return_sequences=keep_sequence or not last,
            name=f"{cell}_{index}",
        )
        hidden = zoo_layers.Bidirectional(
            layer,
            merge_mode=config["merge_mode"],
            name=f"bidirectional_{index}",
        )(hidden)
    return common.finish_model(model_input, hidden, config, name, pooling)


@register_model(
    defaults=BIDIRECTIONAL_LSTM_DEFAULTS,
    structure="embedding/features → BiLSTM (f3 = concat) → max pool → head",
    reference="Schuster & Paliwal 1997; Graves & Schmidhuber 2005",
)
def bidirectional_lstm(**overrides):
    """Forward and backward LSTMs merged by f3, pooled over time."""
    config = {**BIDIRECTIONAL_LSTM_DEFAULTS, **overrides}
    return _create_bidirectional("bidirectional_lstm", "lstm", config)


@register_model(
    defaults=BIDIRECTIONAL_DEFAULTS,
    structure="embedding/features → BiGRU (f3 = concat) → max pool → head",
    reference="Schuster & Paliwal 1997; Cho et al. 2014",
)
def bidirectional_gru(**overrides):
    """Forward and backward GRUs merged by f3, pooled over time."""
    config = {**BIDIRECTIONAL_DEFAULTS, **overrides}
    return _create_bidirectional("bidirectional_gru", "gru", config)

"""Bidirectional RNN models: two directions merged by f3."""

from __future__ import annotations

from zoo import layers as zoo_layers
from zoo.layers import validation
from zoo.layers.bidirectional import MERGED_MODES
from zoo.models import common
from zoo.registry import register_model


def _bidirectional(
    *,
    units: int = 128,
    num_layers: int = 1,
    merge_mode: str = "concat",
    pooling: str = "max",
    recurrent_dropout: float = 0.0,
):
    """Hyperparameters of the bidirectional models (a template)."""


def _lstm(*, variant: str | None = None):
    """The LSTM variant (a template); see `zoo.layers.LSTM_VARIANTS`."""


def _create_bidirectional(name: str, cell: str, config: dict):
    common.check_common(config)
    num_layers = validation.positive_int("num_layers", config["num_layers"])
    pooling = validation.one_of("pooling", config["pooling"], common.POOLINGS)
    # The model needs one merged output: f3 = None (both) is for layers.
    validation.one_of("merge_mode", config["merge_mode"], MERGED_MODES)
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
    structure="embedding/features → BiLSTM (f3 = concat) → max pool → head",
    reference="Schuster & Paliwal 1997; Graves & Schmidhuber 2005",
)
@common.hyperparameters(_bidirectional, _lstm)
def bidirectional_lstm(*, name, **config):
    """Forward and backward LSTMs merged by f3, pooled over time."""
    return _create_bidirectional(name, "lstm", config)


@register_model(
    structure="embedding/features → BiGRU (f3 = concat) → max pool → head",
    reference="Schuster & Paliwal 1997; Cho et al. 2014",
)
@common.hyperparameters(_bidirectional)
def bidirectional_gru(*, name, **config):
    """Forward and backward GRUs merged by f3, pooled over time."""
    return _create_bidirectional(name, "gru", config)

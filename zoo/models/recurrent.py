"""Single-layer and stacked (deep) RNN models over the zoo's cells."""

from __future__ import annotations

from zoo import layers as zoo_layers
from zoo.layers import validation
from zoo.models import common
from zoo.registry import register_model

RNN_DEFAULTS = {
    **common.COMMON_DEFAULTS,
    "units": 128,
    "pooling": "last",
    "recurrent_dropout": 0.0,
}
LSTM_DEFAULTS = {**RNN_DEFAULTS, "variant": None}
STACKED_DEFAULTS = {**RNN_DEFAULTS, "num_layers": 2, "residual": False}
STACKED_LSTM_DEFAULTS = {**STACKED_DEFAULTS, "variant": None}


def _encode_and_head(model_input, sequence, recurrent, *, name, **config):
    """Runs `recurrent` (a callable over sequences) and adds the head.

    pooling "last" takes the last output (the final state h); "max" and
    "average" pool all outputs over time. The sequence head keeps every
    step.
    """
    pooling = validation.one_of("pooling", config["pooling"], common.POOLINGS)
    hidden = recurrent(sequence, common.keeps_sequence(config))
    return common.finish_model(model_input, hidden, config, name, pooling)


def _create_recurrent(name: str, cell: str, config: dict):
    common.check_common(config)
    model_input, sequence = common.model_inputs(**config)

    def recurrent(sequence, return_sequences):
        layer = common.recurrent_layer(
            cell,
            config["units"],
            variant=config.get("variant"),
            recurrent_dropout=config["recurrent_dropout"],
            return_sequences=return_sequences,
            name=f"{cell}_rnn",
        )
        return layer(sequence)

    return _encode_and_head(
        model_input, sequence, recurrent, name=name, **config
    )


def _create_stacked(name: str, cell: str, config: dict):
    common.check_common(config)
    num_layers = validation.positive_int("num_layers", config["num_layers"])
    model_input, sequence = common.model_inputs(**config)

    def recurrent(sequence, return_sequences):
        stack = [
            common.recurrent_layer(
                cell,
                config["units"],
                variant=config.get("variant"),
                recurrent_dropout=config["recurrent_dropout"],
                return_sequences=return_sequences or index < num_layers - 1,
                name=f"{cell}_{index}",
            )
            for index in range(num_layers)
        ]
        return zoo_layers.StackedRNN(
            stack,
            residual=config["residual"],
            dropout=config["dropout"],
            name="stacked_rnn",
        )(sequence)

    return _encode_and_head(
        model_input, sequence, recurrent, name=name, **config
    )


@register_model(
    defaults=RNN_DEFAULTS,
    structure="embedding/features → naive RNN → head",
    reference="Elman, Cognitive Science 1990",
)
def naive_rnn(**overrides):
    """The naive RNN h' = tanh(W^h·h + W^i·x + b) and a dense head."""
    return _create_recurrent(
        "naive_rnn", "naive", {**RNN_DEFAULTS, **overrides}
    )


@register_model(
    defaults=LSTM_DEFAULTS,
    structure="embedding/features → LSTM (NP) → head",
    reference="Hochreiter & Schmidhuber 1997; Greff et al. 2015",
)
def lstm(**overrides):
    """A single LSTM layer (stock/NP by default; any Greff variant)."""
    return _create_recurrent("lstm", "lstm", {**LSTM_DEFAULTS, **overrides})


@register_model(
    defaults={**LSTM_DEFAULTS, "variant": "V"},
    structure="embedding/features → peephole LSTM (V) → head",
    reference="Gers & Schmidhuber 2000; Greff et al. 2015",
)
def peephole_lstm(**overrides):
    """The vanilla LSTM of Greff et al.: gates peep at the cell state."""
    config = {**LSTM_DEFAULTS, "variant": "V", **overrides}
    return _create_recurrent("peephole_lstm", "lstm", config)


@register_model(
    defaults={**LSTM_DEFAULTS, "variant": "CIFG"},
    structure="embedding/features → CIFG LSTM (f = 1 − i) → head",
    reference="Greff et al. 2015",
)
def cifg_lstm(**overrides):
    """The LSTM with coupled input and forget gates (f = 1 - i)."""
    config = {**LSTM_DEFAULTS, "variant": "CIFG", **overrides}
    return _create_recurrent("cifg_lstm", "lstm", config)


@register_model(
    defaults=RNN_DEFAULTS,
    structure="embedding/features → GRU → head",
    reference="Cho et al. 2014",
)
def gru(**overrides):
    """A single GRU layer (reset and update gates, reset_after=True)."""
    return _create_recurrent("gru", "gru", {**RNN_DEFAULTS, **overrides})


@register_model(
    defaults=RNN_DEFAULTS,
    structure="embedding/features → NAS cell RNN → head",
    reference="Zoph & Le, ICLR 2017",
)
def nas_rnn(**overrides):
    """The recurrent cell found by neural architecture search."""
    return _create_recurrent("nas_rnn", "nas", {**RNN_DEFAULTS, **overrides})


@register_model(
    defaults=STACKED_LSTM_DEFAULTS,
    structure="embedding/features → N stacked LSTMs → head",
    reference="Graves, Mohamed & Hinton, ICASSP 2013",
)
def stacked_lstm(**overrides):
    """The deep RNN: LSTM layers stacked, each reading the one below."""
    config = {**STACKED_LSTM_DEFAULTS, **overrides}
    return _create_stacked("stacked_lstm", "lstm", config)


@register_model(
    defaults=STACKED_DEFAULTS,
    structure="embedding/features → N stacked GRUs → head",
    reference="Graves, Mohamed & Hinton, ICASSP 2013",
)
def stacked_gru(**overrides):
    """The deep RNN with GRU layers."""
    return _create_stacked(
        "stacked_gru", "gru", {**STACKED_DEFAULTS, **overrides}
    )

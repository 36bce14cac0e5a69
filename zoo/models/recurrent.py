"""Single-layer and stacked (deep) RNN models over the zoo's cells."""

from __future__ import annotations

from zoo import layers as zoo_layers
from zoo.layers import validation
from zoo.models import common
from zoo.registry import register_model


def _recurrent(
    *,
    units: int = 128,
    pooling: str = "last",
    recurrent_dropout: float = 0.0,
):
    """Hyperparameters of the single-layer RNN models (a template)."""


def _lstm(*, variant: str | None = None):
    """The LSTM variant (a template); see `zoo.layers.LSTM_VARIANTS`."""


def _stacked(*, num_layers: int = 2, residual: bool = False):
    """Hyperparameters of the stacked models (a template)."""


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
    structure="embedding/features → naive RNN → head",
    reference="Elman, Cognitive Science 1990",
)
@common.hyperparameters(_recurrent)
def naive_rnn(*, name, **config):
    """The naive RNN h' = tanh(W^h·h + W^i·x + b) and a dense head."""
    return _create_recurrent(name, "naive", config)


@register_model(
    structure="embedding/features → LSTM (NP) → head",
    reference="Hochreiter & Schmidhuber 1997; Greff et al. 2015",
)
@common.hyperparameters(_recurrent, _lstm)
def lstm(*, name, **config):
    """A single LSTM layer (stock/NP by default; any Greff variant)."""
    return _create_recurrent(name, "lstm", config)


@register_model(
    structure="embedding/features → peephole LSTM (V) → head",
    reference="Gers & Schmidhuber 2000; Greff et al. 2015",
)
@common.hyperparameters(_recurrent, _lstm, variant="V")
def peephole_lstm(*, name, **config):
    """The vanilla LSTM of Greff et al.: gates peep at the cell state."""
    return _create_recurrent(name, "lstm", config)


@register_model(
    structure="embedding/features → CIFG LSTM (f = 1 − i) → head",
    reference="Greff et al. 2015",
)
@common.hyperparameters(_recurrent, _lstm, variant="CIFG")
def cifg_lstm(*, name, **config):
    """The LSTM with coupled input and forget gates (f = 1 - i)."""
    return _create_recurrent(name, "lstm", config)


@register_model(
    structure="embedding/features → GRU → head",
    reference="Cho et al. 2014",
)
@common.hyperparameters(_recurrent)
def gru(*, name, **config):
    """A single GRU layer (reset and update gates, reset_after=True)."""
    return _create_recurrent(name, "gru", config)


@register_model(
    structure="embedding/features → NAS cell RNN → head",
    reference="Zoph & Le, ICLR 2017",
)
@common.hyperparameters(_recurrent)
def nas_rnn(*, name, **config):
    """The recurrent cell found by neural architecture search."""
    return _create_recurrent(name, "nas", config)


@register_model(
    structure="embedding/features → N stacked LSTMs → head",
    reference="Graves, Mohamed & Hinton, ICASSP 2013",
)
@common.hyperparameters(_recurrent, _stacked, _lstm)
def stacked_lstm(*, name, **config):
    """The deep RNN: LSTM layers stacked, each reading the one below."""
    return _create_stacked(name, "lstm", config)


@register_model(
    structure="embedding/features → N stacked GRUs → head",
    reference="Graves, Mohamed & Hinton, ICASSP 2013",
)
@common.hyperparameters(_recurrent, _stacked)
def stacked_gru(*, name, **config):
    """The deep RNN with GRU layers."""
    return _create_stacked(name, "gru", config)

"""Pieces every builder shares: the input kinds, the heads, the cells."""

from __future__ import annotations

import keras

from zoo import layers as zoo_layers
from zoo.layers import validation

INPUT_KINDS = ("tokens", "features")
HEADS = ("classify", "sequence")
POOLINGS = ("last", "max", "average")

# Hyperparameters every builder takes, with their documented defaults.
COMMON_DEFAULTS = {
    "inputs": "tokens",
    "vocabulary_size": 20000,
    "embedding_dim": 128,
    "feature_dim": 40,
    "head": "classify",
    "num_classes": 2,
    "output_activation": "softmax",
    "dropout": 0.0,
}

CELLS = {
    "naive": zoo_layers.NaiveRNN,
    "lstm": zoo_layers.LSTM,
    "gru": zoo_layers.GRU,
    "nas": zoo_layers.NAS,
}


def check_common(config: dict) -> None:
    """Validates the common hyperparameters with clear ValueErrors."""
    inputs, head = config["inputs"], config["head"]
    vocabulary_size = config["vocabulary_size"]
    output_activation = config["output_activation"]
    num_classes, dropout = config["num_classes"], config["dropout"]
    validation.one_of("inputs", inputs, INPUT_KINDS)
    validation.one_of("head", head, HEADS)
    validation.positive_int("num_classes", num_classes)
    if inputs == "tokens":
        validation.positive_int("vocabulary_size", vocabulary_size)
        validation.positive_int("embedding_dim", config["embedding_dim"])
        if vocabulary_size < 2:
            raise ValueError(
                "Received an invalid value for argument `vocabulary_size`, "
                "expected at least 2 (id 0 is padding), got "
                f"{vocabulary_size!r}."
            )
    else:
        validation.positive_int("feature_dim", config["feature_dim"])
    validation.fraction("dropout", dropout)
    try:
        keras.activations.get(output_activation)
    except (ValueError, TypeError) as error:
        raise ValueError(
            "Received an invalid value for argument `output_activation`, "
            f"got {output_activation!r}."
        ) from error


def model_inputs(
    *, inputs, vocabulary_size, embedding_dim, feature_dim, **_
) -> tuple[keras.KerasTensor, keras.KerasTensor]:
    """The Input and the masked sequence it gives, for either input kind.

    "tokens": int ids [batch, time] (0 = padding, masked) embedded to
    [batch, time, embedding_dim] by a `TokenEmbedding`, which names bad ids
    (negative, past the vocabulary) and an empty time axis. "features":
    float [batch, time, feature_dim]; all-zero frames (right padding) are
    masked.
    """
    if inputs == "tokens":
        tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
        sequence = zoo_layers.TokenEmbedding(
            vocabulary_size, embedding_dim, mask_zero=True, name="embedding"
        )(tokens)
        return tokens, sequence
    features = keras.Input(
        shape=(None, feature_dim), dtype="float32", name="features"
    )
    sequence = keras.layers.Masking(0.0, name="padding_mask")(features)
    return features, sequence


def recurrent_layer(cell: str, units: int, *, variant=None, **arguments):
    """A zoo recurrent layer of the given cell ("naive", "lstm", ...)."""
    validation.one_of("cell", cell, CELLS)
    validation.positive_int("units", units)
    if variant is not None:
        if cell != "lstm":
            raise ValueError(
                f"`variant` only applies to LSTM cells, got cell={cell!r}."
            )
        arguments["variant"] = variant
    return CELLS[cell](units, **arguments)


def pool_sequence(sequence, pooling: str, name: str = "pool"):
    """[batch, time, f] -> [batch, f] with masked max or average pooling."""
    validation.one_of("pooling", pooling, ("max", "average"))
    if pooling == "max":
        return zoo_layers.GlobalMaskedMaxPooling1D(name=name)(sequence)
    return zoo_layers.GlobalMaskedAveragePooling1D(name=name)(sequence)


def keeps_sequence(config: dict) -> bool:
    """Whether the encoder must return every step (sequence head or pooling)."""
    return config["head"] == "sequence" or config["pooling"] != "last"


def finish_model(
    model_input, hidden, config: dict, name: str, pooling: str | None = None
) -> keras.Model:
    """Pools over time (classify head), then the output layer z = W·a + b.

    `pooling` "max"/"average" pools [batch, time, f] to [batch, f] for the
    classify head; None or "last" means `hidden` needs no pooling. Dropout
    comes before the dense output layer, whose output is float32 even under
    mixed precision. Works for [batch, f] (classify) and [batch, time, f]
    (sequence) alike. Returns the Functional model named `name`.
    """
    if config["head"] == "classify" and pooling in ("max", "average"):
        hidden = pool_sequence(hidden, pooling)
    if config["dropout"]:
        hidden = keras.layers.Dropout(config["dropout"], name="head_dropout")(
            hidden
        )
    outputs = keras.layers.Dense(
        config["num_classes"],
        activation=config["output_activation"],
        dtype="float32",
        name="output",
    )(hidden)
    return keras.Model(model_input, outputs, name=name)

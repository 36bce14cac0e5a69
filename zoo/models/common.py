"""Pieces every builder shares: the input kinds, the heads, the cells."""

from __future__ import annotations

import functools
import inspect

import keras

from zoo import layers as zoo_layers
from zoo.layers import validation

INPUT_KINDS = ("tokens", "features")
HEADS = ("classify", "sequence")
# Pooling over time for the classify head: over all steps, or the last one
# (recurrent encoders only).
GLOBAL_POOLINGS = ("max", "average")
POOLINGS = ("last", *GLOBAL_POOLINGS)


def common_hyperparameters(
    *,
    inputs: str = "tokens",
    vocabulary_size: int = 20000,
    embedding_dim: int = 128,
    feature_dim: int = 40,
    head: str = "classify",
    num_classes: int = 2,
    output_activation: str | None = "softmax",
    dropout: float = 0.0,
):
    """The hyperparameters every builder takes, with their defaults.

    A signature template for `hyperparameters`; never called.
    """


def hyperparameters(*templates, **defaults):
    """Gives a builder the typed keyword-only parameters of its templates.

    The decorated function `create(*, name, **config)` becomes a builder
    whose signature (shown by `help` and read by the registry) is `name`,
    the parameters of `common_hyperparameters`, then those of `templates`
    (signature-only functions; a later one wins), with `defaults`
    replacing their defaults. Called, it binds the caller's arguments to
    that signature, fills in the defaults, and passes the full config on.
    """

    def decorator(create):
        parameters = {}
        for template in (common_hyperparameters, *templates):
            signature = inspect.signature(template)
            parameters.update(signature.parameters)
        for key, value in defaults.items():
            parameters[key] = parameters[key].replace(default=value)
        name = inspect.Parameter(
            "name", inspect.Parameter.KEYWORD_ONLY, annotation="str"
        )
        signature = inspect.Signature(
            [name, *parameters.values()], return_annotation="keras.Model"
        )

        @functools.wraps(create)
        def builder(**arguments):
            bound = signature.bind(**arguments)
            bound.apply_defaults()
            return create(**bound.arguments)

        builder.__signature__ = signature
        return builder

    return decorator


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
    validation.one_of("pooling", pooling, GLOBAL_POOLINGS)
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
    if config["head"] == "classify" and pooling in GLOBAL_POOLINGS:
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

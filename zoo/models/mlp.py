"""The fully connected baseline: no recurrence, no convolution."""

from __future__ import annotations

import keras

from zoo.layers import validation
from zoo.models import common
from zoo.registry import register_model


def _mlp(
    *,
    hidden_units: int = 128,
    num_layers: int = 2,
    pooling: str = "average",
):
    """Hyperparameters of the MLP (a template)."""


def _create_mlp(name: str, config: dict):
    common.check_common(config)
    validation.positive_int("hidden_units", config["hidden_units"])
    validation.non_negative_int("num_layers", config["num_layers"])
    model_input, hidden = common.model_inputs(**config)
    if config["head"] == "classify":
        # A bag of embeddings: order is thrown away.
        hidden = common.pool_sequence(hidden, config["pooling"])
    for index in range(config["num_layers"]):
        # z = W·a + b, a = relu(z), per example or per step.
        hidden = keras.layers.Dense(
            config["hidden_units"], activation="relu", name=f"dense_{index}"
        )(hidden)
    return common.finish_model(model_input, hidden, config, name)


@register_model(
    structure="embedding/features → average pool → N × dense → head",
    reference="Rumelhart, Hinton & Williams 1986",
)
@common.hyperparameters(_mlp)
def mlp(*, name, **config):
    """The baseline: pooled embeddings through fully connected layers."""
    return _create_mlp(name, config)

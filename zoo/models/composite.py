"""Composites of registered models: the average of their logits."""

from __future__ import annotations

import keras

from zoo import registry
from zoo.layers import validation
from zoo.models import common
from zoo.registry import register_model

# Keys of the common hyperparameters that every member shares (the input,
# the vocabulary and the head); the output activation is the composite's.
SHARED = (
    "inputs",
    "vocabulary_size",
    "embedding_dim",
    "feature_dim",
    "head",
    "num_classes",
    "dropout",
)


def _average(
    *,
    members: tuple = ("region_cnn", "cnn"),
    member_args: tuple = (
        {"filters": 500, "pooling": "average"},
        {"kernel_size": 3, "num_blocks": 1, "pool_size": 1},
    ),
):
    """Hyperparameters of the average (a template): registry names, and
    one dict of builder overrides per member."""


def _create_average(name: str, config: dict):
    common.check_common(config)
    members = validation.sequence(
        "members",
        config["members"],
        "at least two registry names",
        min_length=2,
    )
    member_args = config["member_args"]
    if not isinstance(member_args, (list, tuple)) or len(member_args) != len(
        members
    ):
        raise ValueError(
            "Received an invalid value for argument `member_args`, expected "
            f"one dict per member ({len(members)}), got {member_args!r}."
        )
    shared = {key: config[key] for key in SHARED}
    model_input = None
    logits = []
    for index, (member, overrides) in enumerate(zip(members, member_args)):
        if member == name:
            raise ValueError(f"`members` cannot contain {name!r} itself.")
        built = registry.build(
            member, **shared, **dict(overrides), output_activation=None
        )
        if model_input is None:
            model_input = keras.Input(
                shape=built.input.shape[1:],
                dtype=built.input.dtype,
                name=built.input.name,
            )
        # Renamed, so that two members of one kind can sit side by side.
        member_model = keras.Model(
            built.input, built.output, name=f"member_{index}_{member}"
        )
        logits.append(member_model(model_input))
    # z = (1/M) Σ_m z_m: the members' evidence averaged before the output.
    outputs = keras.layers.Average(name="average", dtype="float32")(logits)
    if config["output_activation"] is not None:
        outputs = keras.layers.Activation(
            config["output_activation"], name="output", dtype="float32"
        )(outputs)
    return keras.Model(model_input, outputs, name=name)


@register_model(
    structure="M registered models on the same input → average of their "
    "logits → output activation (trained jointly)",
    reference="Dietterich, MCS 2000 (ensembles); Johnson & Zhang, NAACL "
    "2015 (seq2-bown-CNN combines several region embeddings)",
)
@common.hyperparameters(_average)
def average(*, name, **config):
    """The average of several zoo models' logits, as one model."""
    return _create_average(name, config)

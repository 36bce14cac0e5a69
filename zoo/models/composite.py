"""Composites of registered models: the average of their logits."""

from __future__ import annotations

import keras

from zoo import layers as zoo_layers
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
    one dict of builder overrides per member. A member's overrides win
    over the shared hyperparameters; a smaller `vocabulary_size` makes
    that member read only the head of the shared (frequency-sorted)
    vocabulary, the rarer ids as out-of-vocabulary."""


def _clips(vocabulary_size, shared_size, index) -> bool:
    """Whether a member's own vocabulary is a head of the shared one
    (smaller), not the shared one; more than shared raises."""
    validation.positive_int("vocabulary_size", vocabulary_size)
    if vocabulary_size > shared_size:
        raise ValueError(
            f"Member {index} asks for vocabulary_size={vocabulary_size}, "
            f"more than the composite's {shared_size}: a member can only "
            "read the head of the shared vocabulary."
        )
    return vocabulary_size < shared_size


def member_models(model: keras.Model) -> list[keras.Model]:
    """The members of an `average` composite, each a model from the shared
    input to its own logits (sharing the composite's weights), in order;
    [] for any other model. Training them one by one trains the members
    independently, as an ensemble's are."""
    return [
        layer
        for layer in model.layers
        if isinstance(layer, keras.Model) and layer.name.startswith("member_")
    ]


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
        # A member's own overrides win over the shared values (a linear
        # member may want another dropout than a convolutional one).
        built = registry.build(
            member, **{**shared, **dict(overrides)}, output_activation=None
        )
        if model_input is None:
            model_input = keras.Input(
                shape=built.input.shape[1:],
                dtype=built.input.dtype,
                name=built.input.name,
            )
        # Renamed, so that two members of one kind can sit side by side;
        # a member of a smaller vocabulary clips the ids first, inside its
        # own model (so that it can be trained alone on the shared ids).
        member_name = f"member_{index}_{member}"
        own_vocabulary = dict(overrides).get("vocabulary_size")
        if (
            own_vocabulary is not None
            and config["inputs"] == "tokens"
            and _clips(own_vocabulary, config["vocabulary_size"], index)
        ):
            tokens = keras.Input(
                shape=(None,), dtype="int32", name=built.input.name
            )
            clipped = zoo_layers.VocabularyClip(
                own_vocabulary, name="vocabulary"
            )(tokens)
            member_model = keras.Model(tokens, built(clipped), name=member_name)
        else:
            member_model = keras.Model(
                built.input, built.output, name=member_name
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
    "logits → output activation (members trained jointly, or one by one "
    "with `member_models`)",
    reference="Dietterich, MCS 2000 (ensembles); Johnson & Zhang, NAACL "
    "2015 (seq2-bown-CNN combines several region embeddings)",
)
@common.hyperparameters(_average)
def average(*, name, **config):
    """The average of several zoo models' logits, as one model."""
    return _create_average(name, config)

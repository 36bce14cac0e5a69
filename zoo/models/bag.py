"""Bag-of-n-grams models: no order beyond what the n-grams keep."""

from __future__ import annotations

import keras

from zoo import layers as zoo_layers
from zoo.models import common
from zoo.registry import register_model


def _nbsvm(*, smoothing: float = 1.0):
    """Hyperparameters of NBSVM (a template): `smoothing` is the
    pseudo-count α of the naive-Bayes ratios."""


def _create_nbsvm(name: str, config: dict):
    common.check_common(config)
    if config["inputs"] != "tokens" or config["head"] != "classify":
        raise ValueError(
            "NBSVM reads the set of a text's tokens: it takes "
            "inputs='tokens' and head='classify', got "
            f"inputs={config['inputs']!r}, head={config['head']!r}."
        )
    tokens = keras.Input(shape=(None,), dtype="int32", name="tokens")
    # z = b + Σ_{f ∈ set(text)} r_f · W[f]: the bag is the whole model;
    # `dropout` leaves tokens out of the set in training.
    outputs = zoo_layers.NaiveBayesBag(
        config["vocabulary_size"],
        config["num_classes"],
        smoothing=config["smoothing"],
        token_dropout=config["dropout"],
        name="naive_bayes_bag",
        dtype="float32",
    )(tokens)
    if config["output_activation"] is not None:
        outputs = keras.layers.Activation(
            config["output_activation"], name="output", dtype="float32"
        )(outputs)
    return keras.Model(tokens, outputs, name=name)


def adapt_naive_bayes(model: keras.Model, token_ids, labels) -> int:
    """Fits the ratios of every `NaiveBayesBag` in `model` (members of a
    composite included) on labelled token ids; returns how many it fitted.

    `token_ids` and `labels` are arrays, or iterables of batches (a second
    pass must see the same data: pass lists, not one-shot iterators).
    """
    bags = naive_bayes_bags(model)
    for bag in bags:
        bag.adapt(token_ids, labels)
    return len(bags)


def naive_bayes_bags(model: keras.Model) -> list:
    """The `NaiveBayesBag` layers of `model`, composites' members included."""
    bags = []
    for layer in model.layers:
        if isinstance(layer, zoo_layers.NaiveBayesBag):
            bags.append(layer)
        elif isinstance(layer, keras.Model):
            bags.extend(naive_bayes_bags(layer))
    return bags


@register_model(
    structure="tokens → set of n-grams, each scaled by its naive-Bayes "
    "log-count ratio → linear → head",
    reference="Wang & Manning, ACL 2012 (NBSVM); Mesnil et al., ICLR 2015 "
    "workshop",
    inputs=("tokens",),
    heads=("classify",),
)
@common.hyperparameters(_nbsvm)
def nbsvm(*, name, **config):
    """A linear model over the naive-Bayes-scaled set of n-grams."""
    return _create_nbsvm(name, config)

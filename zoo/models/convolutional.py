"""Convolutional models: a CNN along time, the region-embedding CNN and
the CLDNN."""

from __future__ import annotations

import keras

from zoo import layers as zoo_layers
from zoo.layers import validation
from zoo.models import common
from zoo.registry import register_model

POOL_TYPES = {
    "max": zoo_layers.MaskedMaxPooling1D,
    "average": zoo_layers.MaskedAveragePooling1D,
    "l2": zoo_layers.L2Pooling1D,
}


def _cnn(
    *,
    filters: int = 128,
    kernel_size: int = 5,
    strides: int = 1,
    padding: str = "same",
    num_blocks: int = 2,
    pool_type: str = "max",
    pool_size: int = 2,
    pooling: str = "max",
    convolution: str | None = None,
):
    """Hyperparameters of the CNN (a template). Speech features take
    `convolution="time_frequency"`: the CLDNN's 2-D front end (convolutions
    over time × frequency, frequency pooling, linear projection) before the
    `num_blocks` Conv1D blocks; with `num_blocks=0` the model is a 2-D CNN
    pooled globally over time."""


def _region_cnn(
    *,
    filters: int = 1000,
    region_sizes: tuple = (3,),
    mode: str = "seq",
    pooling: str = "max",
):
    """Hyperparameters of the region-embedding CNN (a template): `filters`
    maps per region size, one `RegionEmbedding` per entry of
    `region_sizes` ("seq" or "bow" `mode`), pooled over time and joined."""


# The CLDNN's convolution: over time x frequency (the paper's), or along
# time with the bins as channels (the zoo's first form, kept to compare).
CONVOLUTIONS = ("time_frequency", "time")


def time_frequency_hyperparameters(
    *,
    filters: int = 128,
    kernel_sizes: tuple = ((9, 9), (4, 3)),
    frequency_pool_sizes: tuple = (3, 1),
    projection_dim: int = 128,
):
    """Hyperparameters of the time-frequency front end (a template):
    `filters` maps in each 2-D layer, a (time, frequency) kernel and a
    frequency pooling size per layer (Sainath et al. 2015: 256 maps, 9x9
    then 4x3, pooling 3 after the first), then a linear projection."""


TIME_FREQUENCY = time_frequency_hyperparameters


def _cldnn(
    *,
    inputs: str = "features",
    convolution: str = "time_frequency",
    kernel_size: int = 5,
    pool_type: str = "max",
    pool_size: int = 1,
    units: int = 128,
    num_lstm_layers: int = 2,
    variant: str | None = None,
    dnn_units: int = 128,
    dnn_layers: int = 1,
    pooling: str = "max",
):
    """Hyperparameters of the CLDNN (a template); speech features are the
    default input."""


def _conv_block(
    hidden,
    index,
    *,
    filters,
    kernel_size,
    strides,
    padding,
    pool_type,
    pool_size,
):
    """Convolution (sparse, shared weights) then pooling along time."""
    hidden = zoo_layers.MaskedConv1D(
        filters,
        kernel_size,
        strides=strides,
        padding=padding,
        activation="relu",
        name=f"conv_{index}",
    )(hidden)
    if pool_size > 1:
        pool = POOL_TYPES[validation.one_of("pool_type", pool_type, POOL_TYPES)]
        hidden = pool(pool_size, padding="same", name=f"pool_{index}")(hidden)
    return hidden


def check_time_frequency(config: dict) -> None:
    """ValueErrors naming any bad front-end hyperparameter."""
    validation.positive_int("filters", config["filters"])
    validation.positive_int("projection_dim", config["projection_dim"])
    kernel_sizes = config["kernel_sizes"]
    pool_sizes = config["frequency_pool_sizes"]
    for key, value in (
        ("kernel_sizes", kernel_sizes),
        ("frequency_pool_sizes", pool_sizes),
    ):
        validation.sequence(
            key, value, "a non-empty tuple with one entry per layer"
        )
    for value in pool_sizes:
        validation.positive_int("frequency_pool_sizes", value)
    if len(kernel_sizes) != len(pool_sizes):
        raise ValueError(
            "`kernel_sizes` and `frequency_pool_sizes` need one entry per "
            f"layer, got {kernel_sizes!r} and {pool_sizes!r}."
        )


def time_frequency_front_end(hidden, config: dict):
    """[batch, time, bins] -> `TimeFrequencyConv` -> linear projection.

    The projection (no activation) shrinks F_L x filters per frame to
    `projection_dim` before the recurrent layers (Sainath et al. 2015).
    Its builders (cnn, cldnn, pyramid) have run `check_time_frequency`
    on `config` up front.
    """
    kernel_sizes = tuple(config["kernel_sizes"])
    hidden = zoo_layers.TimeFrequencyConv(
        (config["filters"],) * len(kernel_sizes),
        kernel_sizes,
        tuple(config["frequency_pool_sizes"]),
        name="time_frequency_conv",
    )(hidden)
    return keras.layers.Dense(config["projection_dim"], name="projection")(
        hidden
    )


def _create_cnn(name: str, config: dict):
    common.check_common(config)
    validation.positive_int("filters", config["filters"])
    validation.positive_int("kernel_size", config["kernel_size"])
    validation.positive_int("strides", config["strides"])
    validation.one_of("padding", config["padding"], ("same", "causal"))
    validation.positive_int("pool_size", config["pool_size"])
    validation.one_of("pool_type", config["pool_type"], POOL_TYPES)
    validation.one_of("pooling", config["pooling"], common.GLOBAL_POOLINGS)
    if config["convolution"] is None:
        validation.positive_int("num_blocks", config["num_blocks"])
    else:
        validation.one_of(
            "convolution", config["convolution"], ("time_frequency",)
        )
        if config["inputs"] != "features":
            raise ValueError(
                "`convolution` 'time_frequency' needs inputs='features' (a "
                f"time × frequency map); got inputs={config['inputs']!r}."
            )
        validation.non_negative_int("num_blocks", config["num_blocks"])
    # Checked even when unused, as the pyramid does: a typo in a front-end
    # key should not wait for the day the front end is switched on.
    check_time_frequency(config)
    model_input, hidden = common.model_inputs(**config)
    if config["convolution"] == "time_frequency":
        hidden = time_frequency_front_end(hidden, config)
    for index in range(config["num_blocks"]):
        hidden = _conv_block(
            hidden,
            index,
            filters=config["filters"],
            kernel_size=config["kernel_size"],
            strides=config["strides"],
            padding=config["padding"],
            pool_type=config["pool_type"],
            pool_size=config["pool_size"],
        )
    return common.finish_model(
        model_input, hidden, config, name, config["pooling"]
    )


def _region_layer(config: dict, region_size: int, index: int):
    """One region embedding: lookups over token ids, or (features) the
    same convolution over dense frames."""
    name = f"region_{index}"
    if config["inputs"] == "tokens":
        return zoo_layers.RegionEmbedding(
            config["vocabulary_size"],
            config["filters"],
            region_size=region_size,
            mode=config["mode"],
            name=name,
        )
    if config["mode"] != "seq":
        raise ValueError(
            "`mode` 'bow' needs token inputs (a bag of words); got "
            f"inputs={config['inputs']!r}."
        )
    return zoo_layers.MaskedConv1D(
        config["filters"],
        region_size,
        padding="same",
        activation="relu",
        name=name,
    )


def _create_region_cnn(name: str, config: dict):
    common.check_common(config)
    validation.positive_int("filters", config["filters"])
    region_sizes = validation.sequence(
        "region_sizes",
        config["region_sizes"],
        "a non-empty tuple of positive integers",
    )
    for region_size in region_sizes:
        validation.positive_int("region_sizes", region_size)
    validation.one_of("mode", config["mode"], zoo_layers.REGION_MODES)
    validation.one_of("pooling", config["pooling"], common.GLOBAL_POOLINGS)
    if config["inputs"] == "tokens":
        # The region embedding is the word embedding: no separate one.
        model_input = keras.Input(shape=(None,), dtype="int32", name="tokens")
        sequence = model_input
    else:
        model_input, sequence = common.model_inputs(**config)
    branches = []
    for index, region_size in enumerate(region_sizes):
        hidden = _region_layer(config, region_size, index)(sequence)
        if config["head"] == "classify":
            hidden = common.pool_sequence(
                hidden, config["pooling"], name=f"pool_{index}"
            )
        branches.append(hidden)
    hidden = (
        branches[0]
        if len(branches) == 1
        else keras.layers.Concatenate(name="regions")(branches)
    )
    return common.finish_model(model_input, hidden, config, name)


def _create_cldnn(name: str, config: dict):
    common.check_common(config)
    for key in (
        "filters",
        "kernel_size",
        "projection_dim",
        "units",
        "num_lstm_layers",
        "dnn_units",
    ):
        validation.positive_int(key, config[key])
    validation.non_negative_int("dnn_layers", config["dnn_layers"])
    validation.positive_int("pool_size", config["pool_size"])
    validation.one_of("pool_type", config["pool_type"], POOL_TYPES)
    validation.one_of("pooling", config["pooling"], common.GLOBAL_POOLINGS)
    convolution = validation.one_of(
        "convolution", config["convolution"], CONVOLUTIONS
    )
    check_time_frequency(config)
    model_input, hidden = common.model_inputs(**config)
    if convolution == "time_frequency":
        # C: 2-D convolution and frequency pooling reduce spectral
        # variation; a linear layer shrinks the features (Sainath 2015).
        hidden = time_frequency_front_end(hidden, config)
    else:
        # The first form: a Conv1D along time, the bins as channels.
        hidden = _conv_block(
            hidden,
            0,
            filters=config["filters"],
            kernel_size=config["kernel_size"],
            strides=1,
            padding="same",
            pool_type=config["pool_type"],
            pool_size=config["pool_size"],
        )
        hidden = keras.layers.Dense(
            config["projection_dim"], name="projection"
        )(hidden)
    # L: LSTMs model time.
    stack = [
        common.recurrent_layer(
            "lstm",
            config["units"],
            variant=config["variant"],
            return_sequences=True,
            name=f"lstm_{index}",
        )
        for index in range(config["num_lstm_layers"])
    ]
    hidden = zoo_layers.StackedRNN(stack, name="lstm_stack")(hidden)
    # D: fully connected layers z = W·a + b, a = relu(z).
    for index in range(config["dnn_layers"]):
        hidden = keras.layers.Dense(
            config["dnn_units"], activation="relu", name=f"dnn_{index}"
        )(hidden)
    return common.finish_model(
        model_input, hidden, config, name, config["pooling"]
    )


@register_model(
    structure="embedding/features → [2-D conv over time × frequency → "
    "linear] → N × (Conv1D, pool along time) → global max pool → head",
    reference="Kim, EMNLP 2014; LeCun et al. 1998; Sainath et al. 2015",
)
# _cnn last: its `filters` (the same default) documents the Conv1D maps.
@common.hyperparameters(TIME_FREQUENCY, _cnn)
def cnn(*, name, **config):
    """1-D convolutions along time with local and global pooling."""
    return _create_cnn(name, config)


@register_model(
    structure="features/embedding → 2 × (2-D conv over time × frequency, "
    "max pool along frequency) → linear → 2 × LSTM → DNN → head",
    reference="Sainath et al., ICASSP 2015",
)
@common.hyperparameters(_cldnn, TIME_FREQUENCY)
def cldnn(*, name, **config):
    """Convolution, LSTM and fully connected layers, in that order."""
    return _create_cldnn(name, config)


@register_model(
    structure="region embedding (convolution over one-hot word regions, "
    "lookups) per region size → global pool → concatenate → head",
    reference="Johnson & Zhang, NAACL 2015 (seq-CNN, bow-CNN)",
)
@common.hyperparameters(_region_cnn, dropout=0.5)
def region_cnn(*, name, **config):
    """Wide region embeddings of words (seq- or bow-CNN), pooled."""
    return _create_region_cnn(name, config)

"""The `average` composite: the mean of its members' logits."""

import numpy as np
import pytest

import zoo

MEMBER_ARGS = (
    {"filters": 4},
    {"filters": 4, "kernel_size": 3, "num_blocks": 1, "pool_size": 1},
)


def test_average_is_the_mean_of_the_members_logits(rng):
    model = zoo.build(
        "average",
        vocabulary_size=30,
        embedding_dim=4,
        member_args=MEMBER_ARGS,
        output_activation=None,
    )
    tokens = rng.integers(1, 30, size=(3, 9)).astype("int32")
    tokens[1, 5:] = 0
    members = [
        np.asarray(model.get_layer(name)(tokens))
        for name in ("member_0_region_cnn", "member_1_cnn")
    ]
    np.testing.assert_allclose(
        model(tokens), (members[0] + members[1]) / 2, atol=1e-6
    )


def test_two_members_of_one_kind_sit_side_by_side(rng):
    model = zoo.build(
        "average",
        members=("cnn", "cnn"),
        member_args=(MEMBER_ARGS[1], MEMBER_ARGS[1]),
        vocabulary_size=30,
        embedding_dim=4,
    )
    tokens = rng.integers(1, 30, size=(2, 6)).astype("int32")
    np.testing.assert_allclose(np.sum(model(tokens), -1), 1.0, atol=1e-6)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"members": ("cnn",), "member_args": ({},)}, "members"),
        ({"members": ("cnn", "cnn"), "member_args": ({},)}, "member_args"),
        ({"members": ("cnn", "average"), "member_args": ({}, {})}, "itself"),
    ],
)
def test_bad_members_raise(arguments, message):
    with pytest.raises(ValueError, match=message):
        zoo.build("average", vocabulary_size=30, **arguments)

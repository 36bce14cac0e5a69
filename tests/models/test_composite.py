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


def nbsvm_and_cnn():
    """An average of NBSVM (vocabulary 30) and a CNN reading ids < 20."""
    return zoo.build(
        "average",
        members=("nbsvm", "cnn"),
        member_args=({}, {**MEMBER_ARGS[1], "vocabulary_size": 20}),
        vocabulary_size=30,
        embedding_dim=4,
        output_activation=None,
    )


def test_a_member_reads_the_head_of_a_larger_vocabulary(rng):
    """An NBSVM member sees every id; the CNN member only ids < 20, the
    rarer ones as out-of-vocabulary (1)."""
    model = nbsvm_and_cnn()
    member = model.get_layer("member_1_cnn")
    assert member.get_layer("cnn").get_layer("embedding").input_dim == 20
    tokens = np.array([[3, 25, 29, 0], [3, 1, 1, 0]], "int32")
    cnn = np.asarray(member.get_layer("cnn")(tokens[1:]))
    np.testing.assert_allclose(member(tokens[:1]), cnn, atol=1e-6)
    clipped = np.asarray(member.get_layer("vocabulary")(tokens))
    np.testing.assert_array_equal(clipped, [[3, 1, 1, 0], [3, 1, 1, 0]])
    nbsvm = np.asarray(model.get_layer("member_0_nbsvm")(tokens[:1]))
    np.testing.assert_allclose(model(tokens[:1]), (nbsvm + cnn) / 2, atol=1e-6)


def test_a_member_cannot_ask_for_more_vocabulary_than_shared():
    with pytest.raises(ValueError, match="head of the shared vocabulary"):
        zoo.build(
            "average",
            members=("nbsvm", "cnn"),
            member_args=({}, {"vocabulary_size": 40}),
            vocabulary_size=30,
        )


def test_naive_bayes_members_are_adapted(rng):
    from zoo.models import bag

    model = zoo.build(
        "average",
        members=("nbsvm", "cnn"),
        member_args=({}, MEMBER_ARGS[1]),
        vocabulary_size=30,
        embedding_dim=4,
    )
    tokens = rng.integers(1, 30, size=(8, 9))
    assert bag.adapt_naive_bayes(model, tokens, np.arange(8) % 2) == 1
    ratios = np.asarray(
        model.get_layer("member_0_nbsvm")
        .get_layer("naive_bayes_bag")
        .log_count_ratios
    )
    assert ratios[0] == 0 and not np.allclose(ratios[1:], 1.0)


def test_member_models_share_the_composites_weights(rng):
    from zoo.models import composite

    model = nbsvm_and_cnn()
    members = composite.member_models(model)
    assert [m.name for m in members] == ["member_0_nbsvm", "member_1_cnn"]
    assert composite.member_models(zoo.build("cnn")) == []
    tokens = rng.integers(1, 30, size=(2, 7)).astype("int32")
    np.testing.assert_allclose(
        model(tokens), (members[0](tokens) + members[1](tokens)) / 2, atol=1e-6
    )
    variables = {id(v) for m in members for v in m.weights}
    assert variables == {id(v) for v in model.weights}

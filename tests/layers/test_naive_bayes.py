import keras
import numpy as np
import pytest
from layer_checks import run_layer_test

from zoo.layers import NaiveBayesBag

VOCABULARY = 13


def reference_scores(layer, ids):
    """b + Σ_{f ∈ set(text)} r_f · W[f], one text at a time in NumPy."""
    weights = np.asarray(layer.embeddings)
    ratios = np.asarray(layer.log_count_ratios)
    scores = []
    for text in ids:
        tokens = sorted(set(text.tolist()) - {0})
        scores.append(
            np.asarray(layer.bias)
            + sum((ratios[f] * weights[f] for f in tokens), 0.0)
        )
    return np.array(scores)


def reference_ratios(ids, labels, smoothing):
    """r_f = log((p_f/|p|)/(q_f/|q|)), p (q) = α + how many positive
    (negative) texts contain f; r_0 = 0 (padding)."""
    p = np.full(VOCABULARY, smoothing)
    q = np.full(VOCABULARY, smoothing)
    for text, label in zip(ids, labels):
        for f in set(text.tolist()) - {0}:
            (p if label == 1 else q)[f] += 1
    p[0] = q[0] = smoothing
    ratios = np.log(p / p.sum()) - np.log(q / q.sum())
    ratios[0] = 0.0
    return ratios


@pytest.fixture
def texts(rng):
    ids = rng.integers(1, VOCABULARY, size=(6, 9))
    ids[1, 5:] = 0  # right padding
    ids[2, :] = 4  # one token, repeated
    ids[3, 6:] = 0
    return ids, np.array([1, 0, 1, 1, 0, 0])


@pytest.mark.parametrize("smoothing", [1.0, 0.25])
def test_adapt_fits_the_log_count_ratios(texts, smoothing):
    ids, labels = texts
    layer = NaiveBayesBag(VOCABULARY, 2, smoothing=smoothing)
    fitted = layer.adapt(ids, labels)
    expected = reference_ratios(ids, labels, smoothing)
    np.testing.assert_allclose(fitted, expected, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(
        layer.log_count_ratios, expected, rtol=1e-5, atol=1e-6
    )


def test_adapt_on_batches_equals_adapt_on_all(texts):
    ids, labels = texts
    whole = NaiveBayesBag(VOCABULARY, 2).adapt(ids, labels)
    # Batches of different padded lengths, as a length-bucketed pipeline.
    batched = NaiveBayesBag(VOCABULARY, 2).adapt(
        [ids[:2], ids[2:4, :7], ids[4:]], [labels[:2], labels[2:4], labels[4:]]
    )
    np.testing.assert_allclose(batched, whole, rtol=1e-6)


def test_scores_equal_the_scaled_sum_over_the_set_of_tokens(texts, rng):
    ids, labels = texts
    layer = NaiveBayesBag(VOCABULARY, 3)
    layer.adapt(ids, labels)
    layer.embeddings.assign(rng.normal(size=(VOCABULARY, 3)))
    layer.bias.assign(rng.normal(size=3))
    np.testing.assert_allclose(
        layer(ids), reference_scores(layer, ids), rtol=1e-5, atol=1e-5
    )


def test_order_repetition_and_padding_change_nothing(rng):
    layer = NaiveBayesBag(VOCABULARY, 2, embeddings_initializer="normal")
    text = np.array([[3, 7, 7, 2, 9]])
    shuffled = np.array([[9, 2, 7, 3, 3, 3, 0, 0]])
    np.testing.assert_allclose(layer(text), layer(shuffled), atol=1e-6)
    # No token: the bias alone.
    np.testing.assert_allclose(
        layer(np.zeros((1, 4), "int32")), [np.asarray(layer.bias)]
    )


def test_token_dropout_only_in_training(texts):
    ids, labels = texts
    layer = NaiveBayesBag(
        VOCABULARY, 2, token_dropout=0.5, seed=1, embeddings_initializer="ones"
    )
    layer.adapt(ids, labels)
    inference = np.asarray(layer(ids))
    np.testing.assert_allclose(inference, reference_scores(layer, ids))
    trained = np.asarray(layer(ids, training=True))
    assert not np.allclose(trained, inference)


@pytest.mark.parametrize(
    "labels, message",
    [
        (np.array([0, 1, 2, 1, 0, 0]), "labels must be 0 or 1"),
        (np.zeros(6, "int64"), "both classes"),
        (np.array([0, 1, 1]), "one label per text"),
    ],
)
def test_adapt_names_bad_labels(texts, labels, message):
    ids, _ = texts
    with pytest.raises(ValueError, match=message):
        NaiveBayesBag(VOCABULARY, 2).adapt(ids, labels)


def test_ids_past_the_vocabulary_are_named(texts):
    ids, labels = texts
    layer = NaiveBayesBag(VOCABULARY - 1, 2)
    with pytest.raises(ValueError, match="outside"):
        layer.adapt(ids + 1, labels)
    with pytest.raises(ValueError, match="past the vocabulary"):
        layer(ids + 1)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"output_dim": 0}, "output_dim"),
        ({"smoothing": 0}, "smoothing"),
        ({"token_dropout": 1.0}, "token_dropout"),
    ],
)
def test_bad_arguments_name_the_argument(arguments, message):
    values = {"input_dim": VOCABULARY, "output_dim": 2, **arguments}
    with pytest.raises(ValueError, match=message):
        NaiveBayesBag(**values)


def test_standard_layer_checks(texts, tmp_path):
    ids, labels = texts

    def adapted():
        layer = NaiveBayesBag(VOCABULARY, 2, token_dropout=0.2, seed=0)
        layer.adapt(ids, labels)
        return layer

    run_layer_test(adapted, ids.astype("int32"), tmp_path=tmp_path)


def test_fitted_ratios_survive_a_keras_file(texts, tmp_path):
    ids, labels = texts
    tokens = keras.Input(shape=(None,), dtype="int32")
    layer = NaiveBayesBag(VOCABULARY, 2, name="bag")
    model = keras.Model(tokens, layer(tokens))
    layer.adapt(ids, labels)
    model.save(tmp_path / "bag.keras")
    restored = keras.saving.load_model(tmp_path / "bag.keras")
    np.testing.assert_allclose(
        restored.get_layer("bag").log_count_ratios, layer.log_count_ratios
    )

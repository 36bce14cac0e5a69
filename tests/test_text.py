"""Tests of `zoo.text`: review standardization and the vectorizer."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from zoo import text


def standardize(*reviews):
    output = text.standardize_review(tf.constant(list(reviews)))
    return [item.decode("utf-8") for item in output.numpy()]


@pytest.mark.parametrize(
    "review, expected",
    [
        ("One.<br /><br />Two", "one two"),
        ("a<br/>b<BR>c< br / >d", "a b c d"),
        ("Hello, World! (really?)", "hello world really"),
        ("good.Bad;ugly--fine", "good bad ugly fine"),
        ("Don't, it's Ann’s", "dont its anns"),
        ("GREAT Film", "great film"),
        ("ÉCOLE Ñandú", "école ñandú"),
        ("  many \t\n spaces  ", "many spaces"),
        ("", ""),
        ("!!!", ""),
        ("dull\x85boring\u2028bad\xa0film", "dull boring bad film"),
    ],
)
def test_standardize_review(review, expected):
    assert standardize(review) == [expected]


def test_invalid_utf8_becomes_replacement_character():
    output = text.standardize_review(tf.constant([b"Caf\xe9 OK", b"\xff"]))
    assert [item.decode("utf-8") for item in output.numpy()] == [
        "caf\ufffd ok",
        "\ufffd",
    ]


def test_keeps_shape():
    output = text.standardize_review(tf.constant([["A"], ["B."]]))
    assert output.shape == (2, 1)


def test_vectorizer_truncates_pads_and_uses_bigrams():
    vectorizer = text.make_vectorizer(
        max_tokens=100, sequence_length=6, ngrams=2
    )
    vectorizer.adapt(tf.constant(["Good film.", "Bad film!<br />bad"]))
    vocabulary = vectorizer.get_vocabulary()
    assert "good film" in vocabulary and "<br" not in " ".join(vocabulary)
    ids = vectorizer(tf.constant(["good film good film good film", ""]))
    assert ids.shape == (2, 6)
    # Unigrams come first; a long review is cut, an empty one is all padding.
    assert (
        ids.numpy()[0].tolist()
        == [vocabulary.index("good"), vocabulary.index("film")] * 3
    )
    assert ids.numpy()[1].tolist() == [0] * 6


def test_vectorizer_config_round_trips_without_lambda():
    vectorizer = text.make_vectorizer(max_tokens=50, sequence_length=4)
    vectorizer.adapt(tf.constant(["a b c"]))
    config = keras.saving.serialize_keras_object(vectorizer)
    assert config["config"]["standardize"]["config"] == (
        "zoo>standardize_review"
    )
    restored = keras.saving.deserialize_keras_object(config, safe_mode=True)
    assert restored._standardize is text.standardize_review


def test_vectorizer_saved_in_keras_file_reloads_safely(tmp_path):
    vectorizer = text.make_vectorizer(max_tokens=50, sequence_length=4)
    vectorizer.adapt(tf.constant(["Nice one.", "bad one"]))
    inputs = keras.Input(shape=(), dtype="string")
    model = keras.Model(inputs, vectorizer(inputs))
    model.save(tmp_path / "vectorizer.keras")
    restored = keras.saving.load_model(
        tmp_path / "vectorizer.keras", safe_mode=True
    )
    reviews = np.array(["NICE one!", ""], dtype=object)
    np.testing.assert_array_equal(restored(reviews), model(reviews))


def test_vocabulary_with_line_separators_reloads(tmp_path):
    # NEL (U+0085) inside a token used to break the saved vocabulary file
    # into lines: "The passed vocabulary has at least one repeated term".
    vectorizer = text.make_vectorizer(max_tokens=50, sequence_length=4)
    vectorizer.adapt(tf.constant(["so\x85dull", "so\u2029bad", "x\x1cy"]))
    assert all("\x85" not in word for word in vectorizer.get_vocabulary())
    inputs = keras.Input(shape=(), dtype="string")
    model = keras.Model(inputs, vectorizer(inputs))
    model.save(tmp_path / "vectorizer.keras")
    restored = keras.saving.load_model(
        tmp_path / "vectorizer.keras", safe_mode=True
    )
    reviews = np.array(["so dull", "x\x85y"], dtype=object)
    np.testing.assert_array_equal(restored(reviews), model(reviews))


def test_first_words():
    reviews = tf.constant(["One, two<br />three four!", "", "   a  "])
    got = text.first_words(reviews, 2).numpy().tolist()
    assert got == [b"one two", b"", b"a"]
    with pytest.raises(ValueError, match="`count`"):
        text.first_words(reviews, 0)


@pytest.mark.parametrize(
    "arguments",
    [
        {"max_tokens": 0},
        {"sequence_length": 0},
        {"sequence_length": 2.5},
        {"ngrams": 4},
    ],
)
def test_bad_arguments(arguments):
    with pytest.raises(ValueError, match="Received an invalid value"):
        text.make_vectorizer(**arguments)

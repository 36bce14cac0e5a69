"""Text preprocessing for the zoo's text models (IMDB reviews).

The cleaning lives inside the model, so an exported SavedModel takes raw
strings: `standardize_review` is a registered, serializable function (no
`Lambda`) that `keras.layers.TextVectorization` calls, and
`make_vectorizer` builds that layer with the zoo's documented settings.

`standardize_review(text)`:
    1. invalid UTF-8 bytes become U+FFFD (so any byte string is accepted);
    2. lower-casing (Unicode aware: "É" → "é");
    3. HTML line breaks (`<br />`, `<br/>`, `<br>`) become spaces;
    4. apostrophes are dropped ("don't" → "dont"), other ASCII punctuation
       becomes a space ("good.Bad" → "good bad");
    5. runs of white space (any Unicode separator or control character,
       such as NEL U+0085) collapse to one space, ends trimmed.

Example:

    vectorizer = make_vectorizer(max_tokens=20000, sequence_length=400)
    vectorizer.adapt(train_texts)            # train split only
    ids = vectorizer(["A <br />great film!"])  # int64 [1, 400], 0 = padding

TensorFlow-only (tf.strings, imported lazily so that importing this module
is cheap on any backend); the layers in `zoo.layers` stay backend-agnostic.
"""

from __future__ import annotations

import keras

_HTML_BREAK = r"<\s*br\s*/?\s*>"
_APOSTROPHE = r"['\x{2019}]"
_PUNCTUATION = r"[[:punct:]]"
# \s is ASCII white space only in RE2; NEL (U+0085, in 596 IMDB train
# reviews), U+2028/2029 and other controls must also separate tokens, or
# they end up inside vocabulary entries, which a saved vocabulary file
# splits into lines (a `.keras` file that no longer loads).
_SPACES = r"[\s\p{Z}\p{Cc}]+"


@keras.saving.register_keras_serializable(package="zoo")
def standardize_review(text):
    """Cleans raw reviews: valid UTF-8, lower case, no `<br />` or punctuation.

    Args:
        text: a tf.string tensor of any shape (raw reviews, any bytes).

    Returns:
        A tf.string tensor of the same shape. Invalid UTF-8 bytes are
        replaced by U+FFFD; an empty string stays empty.
    """
    # Imported here so that `import zoo` does not need TensorFlow.
    import tensorflow as tf

    text = tf.convert_to_tensor(text, dtype=tf.string)
    # Make any byte string valid UTF-8 first: `lower` needs valid input.
    text = tf.strings.unicode_transcode(
        text,
        input_encoding="UTF-8",
        output_encoding="UTF-8",
        errors="replace",
        replacement_char=0xFFFD,
    )
    text = tf.strings.lower(text, encoding="utf-8")
    text = tf.strings.regex_replace(text, _HTML_BREAK, " ")
    # Apostrophes join ("don't" -> "dont"); other punctuation separates.
    text = tf.strings.regex_replace(text, _APOSTROPHE, "")
    text = tf.strings.regex_replace(text, _PUNCTUATION, " ")
    text = tf.strings.regex_replace(text, _SPACES, " ")
    return tf.strings.strip(text)


def make_vectorizer(
    *,
    max_tokens: int = 20000,
    sequence_length: int | None = 400,
    ngrams: int | None = None,
    output_mode: str = "int",
    name: str = "vectorizer",
    standardize: bool = True,
    vocabulary: list[str] | None = None,
) -> keras.layers.TextVectorization:
    """A `TextVectorization` layer using `standardize_review`.

    Args:
        max_tokens: vocabulary size including padding (0) and OOV (1).
        sequence_length: "int" mode only: outputs are truncated (the end of
            long reviews is dropped) or zero-padded to this many tokens.
            With `ngrams=2` the token list is all unigrams then all bigrams,
            so a review of w words has 2w - 1 tokens.
        ngrams: None for words only, 2 for words and word pairs.
        output_mode: "int" (token ids) or "tf_idf"/"multi_hot"/"count".
        name: the layer name.
        standardize: False builds the same layer without the cleaning step,
            for text already cleaned by `standardize_review`. Input
            pipelines under a backend other than TensorFlow need it: there
            Keras hands a callable `standardize` NumPy strings, which a
            `tf.data` map cannot give it. The vocabulary is the same.
        vocabulary: the tokens of an adapted layer (`get_vocabulary()`),
            or None to `adapt` later.

    Raises:
        ValueError: For a non-positive `max_tokens` or `sequence_length`,
            or `ngrams` other than None, 1, 2 or 3.
    """
    if not isinstance(max_tokens, int) or max_tokens < 3:
        raise ValueError(
            "Received an invalid value for argument `max_tokens`, expected "
            f"an integer of at least 3, got {max_tokens!r}."
        )
    if output_mode == "int" and (
        sequence_length is not None
        and (not isinstance(sequence_length, int) or sequence_length < 1)
    ):
        raise ValueError(
            "Received an invalid value for argument `sequence_length`, "
            f"expected a positive integer or None, got {sequence_length!r}."
        )
    if ngrams not in (None, 1, 2, 3):
        raise ValueError(
            "Received an invalid value for argument `ngrams`, expected None, "
            f"1, 2 or 3, got {ngrams!r}."
        )
    return keras.layers.TextVectorization(
        max_tokens=max_tokens,
        standardize=standardize_review if standardize else None,
        split="whitespace",
        ngrams=ngrams,
        output_mode=output_mode,
        output_sequence_length=(
            sequence_length if output_mode == "int" else None
        ),
        vocabulary=vocabulary,
        name=name,
    )


def first_words(text, count: int):
    """The first `count` words of each review, cleaned (a tf.string tensor).

    The review is cleaned by `standardize_review` (which leaves a cleaned
    review unchanged), split on spaces, and its first `count` words joined
    by single spaces: the shorter inputs that users send, cut from real
    reviews, for measuring calibration on little evidence.

    Args:
        text: a tf.string tensor [batch] of raw reviews.
        count: the number of words kept (a positive integer).
    """
    import tensorflow as tf

    if not isinstance(count, int) or count < 1:
        raise ValueError(
            "Received an invalid value for argument `count`, expected a "
            f"positive integer, got {count!r}."
        )
    words = tf.strings.split(standardize_review(text), sep=" ")
    return tf.strings.reduce_join(words[:, :count], axis=-1, separator=" ")

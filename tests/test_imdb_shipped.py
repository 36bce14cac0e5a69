"""The shipped IMDB model: its confidence follows the evidence.

Issue 15's calibration targets, as the model card records them (ECE with
15 bins on the validation reviews: ≤ 0.03 whole, ≤ 0.05 cut to their first
20 and 5 words), and what the exported graph gives for texts with little
or no evidence, through `tf.saved_model.load` as a consumer loads it.
"""

import json
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from zoo import export

FOLDER = Path(__file__).resolve().parents[1] / "saved_models" / "imdb"


@pytest.fixture(scope="module")
def shipped():
    versions = export.version_folders(FOLDER)
    folder = versions[max(versions)]
    card = json.loads((folder / "assets.extra" / "model_card.json").read_text())
    serve = tf.saved_model.load(str(folder)).signatures["serving_default"]
    return card, serve


def test_card_states_accuracy_and_the_three_eces(shipped):
    card, _ = shipped
    calibration = card["calibration"]
    assert 0.9 <= card["validation_accuracy"] <= 1.0
    assert calibration["whole"]["ece"] <= 0.03
    assert calibration["first_20_words"]["ece"] <= 0.05
    assert calibration["first_5_words"]["ece"] <= 0.05
    assert set(calibration["evidence_scaling"]) == {
        "scale",
        "half_evidence",
        "power",
    }


def test_no_words_give_one_half_and_few_words_stay_near_it(shipped):
    _, serve = shipped
    texts = ["", " ", "\n\t ", "!!!", "x", "good", "bad"]
    outputs = serve(text=tf.constant(texts))
    probability = outputs["probability"].numpy()
    np.testing.assert_array_equal(probability[:4], 0.5)
    np.testing.assert_array_equal(outputs["label"].numpy()[:4], 0)
    # One word is little evidence: well inside (0.2, 0.8).
    assert np.all(np.abs(probability[4:] - 0.5) < 0.3), probability


def test_more_words_more_confidence(shipped):
    _, serve = shipped
    review = (
        "A wonderful, moving film. The acting is superb, the story is "
        "beautifully told and the music is perfect. One of the best films "
        "I have seen in years; I loved every minute of it."
    )
    words = review.split()
    cuts = [" ".join(words[:count]) for count in (2, 8, len(words))]
    probability = serve(text=tf.constant(cuts))["probability"].numpy()
    assert np.all(np.diff(probability) > 0), probability
    assert probability[-1] > 0.9

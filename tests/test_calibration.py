"""EvidenceScaling, its fit, the ECE and the reliability diagram."""

import json

import keras
import numpy as np
import pytest

from zoo import calibration


def test_scaling_equals_the_formula_and_numpy():
    layer = calibration.EvidenceScaling(2.0, 10.0, 0.5)
    logits = np.array([1.0, -3.0, 4.0], np.float32)
    ids = np.array([[5, 6, 7, 0], [0, 0, 0, 0], [1, 2, 3, 4]], np.int32)
    got = np.asarray(layer([logits, ids]))
    counts = np.array([3.0, 0.0, 4.0])
    expected = logits * 2.0 * (counts / (counts + 10.0)) ** 0.5
    np.testing.assert_allclose(got, expected, rtol=1e-6)
    np.testing.assert_allclose(
        calibration.scale_logits(logits, counts, 2.0, 10.0, 0.5),
        expected,
        rtol=1e-6,
    )
    assert got[1] == 0.0  # No token: probability 0.5.


def test_zero_half_evidence_is_temperature_scaling_with_no_nan():
    layer = calibration.EvidenceScaling(0.5, 0.0, 1.0)
    got = np.asarray(layer([np.array([4.0, 4.0]), np.array([[3, 0], [0, 0]])]))
    np.testing.assert_allclose(got, [2.0, 0.0])


def test_config_round_trips_through_a_keras_file(tmp_path):
    tokens = keras.Input((None,), dtype="int32")
    logit = keras.Input(())
    layer = calibration.EvidenceScaling(1.5, 20.0, 0.75, name="scaling")
    model = keras.Model([logit, tokens], layer([logit, tokens]))
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    config = loaded.get_layer("scaling").get_config()
    assert (config["scale"], config["half_evidence"], config["power"]) == (
        1.5,
        20.0,
        0.75,
    )
    inputs = [np.array([1.0, -2.0]), np.array([[1, 2, 0], [3, 0, 0]])]
    np.testing.assert_allclose(loaded(inputs), model(inputs), rtol=1e-6)


@pytest.mark.parametrize(
    "arguments, name",
    [
        ((0.0, 1.0, 1.0), "scale"),
        ((1.0, -1.0, 1.0), "half_evidence"),
        ((1.0, 1.0, 0.0), "power"),
        ((float("nan"), 1.0, 1.0), "scale"),
    ],
)
def test_bad_arguments_name_the_argument(arguments, name):
    with pytest.raises(ValueError, match=f"`{name}`"):
        calibration.EvidenceScaling(*arguments)


def test_fit_recovers_the_scaling_that_made_the_labels():
    rng = np.random.default_rng(0)
    counts = rng.choice([5, 20, 400], size=20000)
    logits = rng.normal(0, 6, size=counts.size)
    truth = {"scale": 0.8, "half_evidence": 50.0, "power": 1.0}
    probability = 1 / (
        1 + np.exp(-calibration.scale_logits(logits, counts, **truth))
    )
    labels = (rng.random(counts.size) < probability).astype(int)
    fitted = calibration.fit_evidence_scaling(logits, counts, labels)
    refit = 1 / (
        1 + np.exp(-calibration.scale_logits(logits, counts, **fitted))
    )
    # The fitted map gives the true probabilities (the parameters trade off).
    assert np.max(np.abs(refit - probability)) < 0.05
    for words in (5, 20, 400):
        chosen = counts == words
        assert (
            calibration.expected_calibration_error(
                refit[chosen], labels[chosen]
            )
            < 0.03
        )
    json.dumps(fitted)  # Plain floats: they go into the model card.


def test_ece_of_known_cases():
    labels = np.array([1, 1, 0, 0])
    # Right and fully confident: 0; wrong and fully confident: 1.
    assert calibration.expected_calibration_error([1, 1, 0, 0], labels) == 0
    assert calibration.expected_calibration_error([0, 0, 1, 1], labels) == 1
    # Confidence 0.75 in one bin, accuracy 0.5: |0.5 - 0.75| = 0.25.
    got = calibration.expected_calibration_error(
        [0.75, 0.25, 0.75, 0.25], np.array([1, 1, 0, 0])
    )
    assert got == pytest.approx(0.25)


def test_reliability_diagram_writes_a_png(tmp_path):
    rng = np.random.default_rng(1)
    probability = rng.random(200)
    labels = (rng.random(200) < probability).astype(int)
    path = tmp_path / "reliability.png"
    calibration.reliability_diagram(
        {"a": (probability, labels), "b": (probability, 1 - labels)},
        path,
        "test",
    )
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

"""zoo.export.export_saved_model: the one export, and what it refuses.

Every recipe exports through it; these tests pin the contract on tiny
models: the version rule, TF1-session loading of a model with a text
vocabulary (what TF Serving does), and that a failing export leaves no
version folder behind.
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers_saved_model_cli import saved_model_cli_run

import zoo
from zoo import export


@pytest.mark.parametrize(
    "name, number",
    [
        ("7", 7),
        ("12", 12),
        ("0", None),
        ("007", None),
        ("-1", None),
        ("\u0663", None),  # ARABIC-INDIC DIGIT THREE
        (".tmp-7-abc", None),
        ("1" * 19, None),
        ("1" * 18, int("1" * 18)),
    ],
)
def test_version_rule(name, number):
    assert export.version_number(name) == number


def test_version_folders_need_a_saved_model(tmp_path):
    for name in ("1", "3", "0", "x", ".tmp-4-abcd"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "saved_model.pb").write_bytes(b"")
    (tmp_path / "5").mkdir()  # Incomplete: no saved_model.pb.
    assert export.versions(tmp_path) == [1, 3]
    assert export.next_version(tmp_path) == 6  # 5 is taken all the same.


def text_model() -> keras.Model:
    """Raw strings -> P(positive): a vocabulary resource and variables."""
    vectorizer = keras.layers.TextVectorization(
        max_tokens=20, output_sequence_length=6
    )
    vectorizer.adapt(["a good film", "a bad film", "good good", "bad plot"])
    text = keras.Input(shape=(), dtype="string", name="text")
    classifier = zoo.build("gru", vocabulary_size=20, embedding_dim=2, units=2)
    probability = keras.layers.Identity(name="probability")(
        classifier(vectorizer(text))[:, 1]
    )
    return keras.Model(text, probability, name="reviews")


def test_text_model_serves_through_saved_model_cli(tmp_path):
    # A Keras 3 model in a plain tf.Module, saved with tf.saved_model.save,
    # fails here: "Could not find variable ..." (tensorflow/serving#2226).
    model = text_model()
    probe = np.array([b"a good film", b"", b"bad bad plot"])
    folder = export.export_saved_model(
        model, tmp_path / "reviews", probe_inputs={"text": probe}
    )
    assert folder == tmp_path / "reviews" / "1"
    output = saved_model_cli_run(folder, 'text=["a good film", "bad plot"]')
    assert "Result for output key probability" in output


def test_verification_catches_what_tf_serving_cannot_load(tmp_path):
    # The old recipe export: tf.saved_model.save of a tf.Module around a
    # Keras 3 model. TF2's loader runs it; a TF1 session cannot.
    model = text_model()

    class Wrapped(tf.Module):
        def __init__(self):
            super().__init__()
            self.model = model

        @tf.function(
            input_signature=[tf.TensorSpec([None], tf.string, name="text")]
        )
        def serve(self, text):
            return {"probability": self.model(text)}

    module = Wrapped()
    tf.saved_model.save(
        module,
        str(tmp_path / "old"),
        signatures={"serving_default": module.serve},
    )
    probe = np.array([b"a good film"])
    expected = {"probability": module.serve(tf.constant(probe))["probability"]}
    with pytest.raises(RuntimeError) as error:
        export.verify_in_fresh_process(
            tmp_path / "old",
            {"text": probe},
            {"probability": expected["probability"].numpy()},
        )
    message = str(error.value)
    assert "TF1 session" in message and "tf.saved_model.load" not in message


def test_failed_verification_leaves_no_version_folder(tmp_path):
    def unstable(features):
        # A different draw in every process: the fresh process disagrees.
        return {"noise": tf.random.uniform(tf.shape(features))}

    endpoint = export.Endpoint(
        unstable, {"features": tf.TensorSpec([None, 3], tf.float32)}
    )
    with pytest.raises(RuntimeError, match="output 'noise' differs"):
        export.export_saved_model(
            {"serving_default": endpoint},
            tmp_path / "noisy",
            probe_inputs={"features": np.ones((2, 3), np.float32)},
        )
    assert list((tmp_path / "noisy").iterdir()) == []  # Not even a temp.


def test_non_portable_graph_is_refused_before_publishing(tmp_path):
    def python_op(features):
        doubled = tf.py_function(lambda x: x * 2, [features], tf.float32)
        return {"doubled": doubled}

    endpoint = export.Endpoint(
        python_op, {"features": tf.TensorSpec([None, 3], tf.float32)}
    )
    with pytest.raises(ValueError, match="not portable"):
        export.export_saved_model(
            {"serving_default": endpoint},
            tmp_path / "python",
            probe_inputs={"features": np.ones((2, 3), np.float32)},
        )
    assert list((tmp_path / "python").iterdir()) == []


def test_needs_serving_default_and_every_probe_input(tmp_path):
    endpoint = export.Endpoint(
        lambda x: {"y": x}, {"x": tf.TensorSpec([None], tf.float32)}
    )
    with pytest.raises(ValueError, match="'serving_default'"):
        export.export_saved_model(
            {"predict": endpoint}, tmp_path / "m", probe_inputs={}
        )
    with pytest.raises(ValueError, match=r"lacks the input\(s\) \['x'\]"):
        export.export_saved_model(
            {"serving_default": endpoint}, tmp_path / "m", probe_inputs={}
        )
    assert not (tmp_path / "m").exists()


def test_weights_are_saved_once(tmp_path):
    model = zoo.build("gru", vocabulary_size=5000, embedding_dim=16, units=4)
    probe = {"tokens": np.array([[1, 2, 3]], "int32")}
    folder = export.export_saved_model(
        model, tmp_path / "gru", probe_inputs=probe, verify=False
    )
    stored = sum(
        path.stat().st_size for path in (folder / "variables").iterdir()
    )
    assert stored < 1.2 * 4 * model.count_params()
    # Tracking a layer with variables would store them a second time.
    with pytest.raises(ValueError, match="saved twice"):
        export.export_saved_model(
            model, tmp_path / "twice", probe_inputs=probe, track=(model,)
        )
    assert not (tmp_path / "twice").exists()

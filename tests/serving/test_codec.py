"""Unit tests of the JSON <-> NumPy codec (no server, no SavedModel)."""

import base64
import json

import numpy as np
import pytest
import tensorflow as tf

from zoo.serving import codec
from zoo.serving.config import Limits
from zoo.serving.errors import ServingError
from zoo.serving.signatures import SignatureInfo
from zoo.serving.signatures import TensorInfo

LIMITS = Limits(max_instances=4, max_sequence_length=6, max_string_bytes=8)


def signature(inputs, outputs=None):
    outputs = outputs or {"y": TensorInfo("y", tf.float32, (None,))}
    return SignatureInfo("serving_default", inputs, outputs, function=None)


AUDIO = signature({"audio": TensorInfo("audio", tf.float32, (None, None))})
TEXT = signature({"text": TensorInfo("text", tf.string, (None,))})
TOKENS = signature({"ids": TensorInfo("ids", tf.int32, (None, None))})
FIXED = signature({"x": TensorInfo("x", tf.float32, (None, 3))})
TWO = signature(
    {
        "a": TensorInfo("a", tf.float32, (None,)),
        "b": TensorInfo("b", tf.int64, (None,)),
    }
)


def decode(sig, document):
    return codec.decode_inputs(document, sig, LIMITS)


def assert_invalid(sig, document, message):
    with pytest.raises(ServingError) as info:
        decode(sig, document)
    assert info.value.code == "INVALID_ARGUMENT"
    assert message in info.value.message, info.value.message


def test_parse_json_rejects_non_finite_and_garbage():
    for token in ["NaN", "Infinity", "-Infinity"]:
        with pytest.raises(ServingError, match=token.lstrip("-")):
            codec.parse_json(f'{{"instances": [[1, {token}]]}}'.encode())
    with pytest.raises(ServingError, match="The document is empty"):
        codec.parse_json(b"")
    with pytest.raises(ServingError, match="JSON Parse error"):
        codec.parse_json(b'{"instances": [1,')
    with pytest.raises(ServingError, match="Is not object"):
        codec.parse_json(b"[1, 2]")


def test_row_audio_is_right_padded_to_the_longest_instance():
    decoded = decode(AUDIO, {"instances": [[1, 2, 3], [0.5]]})
    assert decoded.format == codec.ROW and decoded.batch_size == 2
    np.testing.assert_array_equal(
        decoded.arrays["audio"], np.array([[1, 2, 3], [0.5, 0, 0]], np.float32)
    )
    assert decoded.arrays["audio"].dtype == np.float32


def test_columnar_tokens_are_padded_with_zero():
    decoded = decode(TOKENS, {"inputs": {"ids": [[5, 6], [7]]}})
    assert decoded.format == codec.COLUMNAR
    np.testing.assert_array_equal(decoded.arrays["ids"], [[5, 6], [7, 0]])
    assert decoded.arrays["ids"].dtype == np.int32


def test_strings_and_b64():
    data = b"\xff\x00ok"
    decoded = decode(
        TEXT,
        {"instances": ["héllo", {"b64": base64.b64encode(data).decode()}]},
    )
    assert decoded.arrays["text"].tolist() == ["héllo".encode(), data]
    assert_invalid(
        TEXT, {"instances": [{"b64": "%%%"}]}, "Unable to base64 decode"
    )
    assert_invalid(TEXT, {"instances": [3]}, "is not of expected type: string")


def test_named_instances_with_several_inputs():
    decoded = decode(
        TWO, {"instances": [{"a": 1.5, "b": 2}, {"a": 0, "b": -1}]}
    )
    np.testing.assert_array_equal(decoded.arrays["a"], [1.5, 0])
    np.testing.assert_array_equal(decoded.arrays["b"], [2, -1])
    assert_invalid(TWO, {"instances": [1, 2]}, "expecting list of objects")
    assert_invalid(TWO, {"instances": [{"a": 1}]}, "keys must be equal to: a,b")
    assert_invalid(TWO, {"inputs": {"a": [1]}}, "Missing named input: b")
    assert_invalid(TWO, {"inputs": {"a": [1], "b": [1, 2]}}, "same batch size")


@pytest.mark.parametrize(
    "sig, document, message",
    [
        (AUDIO, {"instances": [["x"]]}, 'JSON Value: "x" Type: String'),
        (AUDIO, {"instances": [[1, None]]}, "Type: Null is not of expected"),
        (AUDIO, {"instances": [1.0]}, "expects rank 1"),
        (AUDIO, {"instances": [[[1.0]]]}, "expects rank 1"),
        (AUDIO, {"inputs": [[1, [2]]]}, "ragged"),
        (AUDIO, {"instances": []}, "No values in 'instances' array"),
        (AUDIO, {"instances": {}}, "to be an list/array"),
        (AUDIO, {"instances": [[1]], "inputs": [[1]]}, "only one of"),
        (AUDIO, {"instance": [[1]]}, "Unknown key(s) ['instance']"),
        (AUDIO, {}, "Missing 'inputs' or 'instances' key"),
        (AUDIO, {"instances": [[1e39]]}, "without loss of precision"),
        (AUDIO, {"instances": [[1]] * 5}, "--max-instances"),
        (AUDIO, {"instances": [[1] * 7]}, "--max-sequence-length"),
        (AUDIO, {"inputs": {"audio": [[1]], "x": [1]}}, "Unknown named input"),
        (AUDIO, {"inputs": 3}, "must be a list with one entry per instance"),
        (TEXT, {"instances": ["123456789"]}, "--max-string-bytes"),
        (TOKENS, {"instances": [[1.5]]}, "is not of expected type: int32"),
        (TOKENS, {"instances": [[2**40]]}, "out of range for int32"),
        (FIXED, {"instances": [[1, 2]]}, "needs size 3 on axis 1"),
    ],
)
def test_bad_inputs_name_the_problem(sig, document, message):
    assert_invalid(sig, document, message)


def test_encode_row_and_columnar():
    outputs = {
        "probability": np.array([0.1, 1.0], np.float32),
        "label": np.array([0, 1], np.int64),
    }
    row = json.loads(codec.encode_outputs(outputs, codec.ROW))
    assert row == {
        "predictions": [
            {"label": 0, "probability": 0.1},
            {"label": 1, "probability": 1.0},
        ]
    }
    columnar = json.loads(codec.encode_outputs(outputs, codec.COLUMNAR))
    assert columnar == {"outputs": {"label": [0, 1], "probability": [0.1, 1.0]}}
    single = {"y": np.array([[1.5, 2]], np.float32)}
    assert json.loads(codec.encode_outputs(single, codec.ROW)) == {
        "predictions": [[1.5, 2.0]]
    }
    assert json.loads(codec.encode_outputs(single, codec.COLUMNAR)) == {
        "outputs": [[1.5, 2.0]]
    }


def test_float32_round_trips_exactly():
    values = np.random.default_rng(0).standard_normal(1000).astype(np.float32)
    text = codec.encode_outputs({"y": values}, codec.COLUMNAR)
    back = np.array(json.loads(text)["outputs"], np.float32)
    np.testing.assert_array_equal(back, values)


def test_bytes_outputs_are_b64():
    outputs = {
        "image_bytes": np.array([b"\x00\xff"], object),
        "name": np.array([b"ok"], object),
        "raw": np.array([b"\xff"], object),
    }
    body = json.loads(codec.encode_outputs(outputs, codec.ROW))
    assert body == {
        "predictions": [
            {
                "image_bytes": {"b64": "AP8="},
                "name": "ok",
                "raw": {"b64": "/w=="},
            }
        ]
    }

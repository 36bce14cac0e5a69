"""The gRPC API, called with `tensorflow-serving-api`'s own stubs exactly as
TensorFlow Serving's client examples do (`predict_pb2.PredictRequest`,
`tf.make_tensor_proto`, `PredictionServiceStub`).

The shipped models (saved_models/*, committed; each model's latest version)
answer, and the toy `frames` model checks output lengths and bad requests.
"""

import os

import grpc
import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO_ROOT
from conftest import build_frames
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from zoo.export import versions

SHIPPED = os.path.join(REPO_ROOT, "saved_models")
MODELS = ["imdb", "spoken_digits", "connected_digits"]


@pytest.fixture(scope="module")
def base_dir(tmp_path_factory):
    """The latest version of each shipped model, plus the toy `frames`."""
    target = tmp_path_factory.mktemp("grpc")
    for name in MODELS:
        latest = versions(os.path.join(SHIPPED, name))[-1]
        os.makedirs(target / name)
        os.symlink(
            os.path.join(SHIPPED, name, str(latest)),
            target / name / str(latest),
        )
    build_frames(str(target / "frames" / "1"))
    return str(target)


@pytest.fixture(scope="module")
def server(base_dir, start_server):
    return start_server(
        base_dir, "--max-elements", "100000", "--max-body-bytes", "600000",
        grpc=True,
    )  # fmt: skip


@pytest.fixture(scope="module")
def stubs(server):
    channel = grpc.insecure_channel(f"127.0.0.1:{server.grpc_port}")
    yield (
        prediction_service_pb2_grpc.PredictionServiceStub(channel),
        model_service_pb2_grpc.ModelServiceStub(channel),
    )
    channel.close()


def latest(name):
    return versions(os.path.join(SHIPPED, name))[-1]


def request_for(name, inputs, signature_name=""):
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    request.model_spec.signature_name = signature_name
    for key, value in inputs.items():
        request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    return request


def clip(samples, seed=0):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal(samples) * 0.1).astype(np.float32)


def direct_call(name, inputs):
    path = os.path.join(SHIPPED, name, str(latest(name)))
    function = tf.saved_model.load(path).signatures["serving_default"]
    return {k: v.numpy() for k, v in function(**inputs).items()}


def test_predict_imdb(stubs):
    prediction, _ = stubs
    texts = np.array([b"a wonderful film", b"dull and far too long"])
    response = prediction.Predict(
        request_for("imdb", {"text": texts}), timeout=60
    )
    assert response.model_spec.name == "imdb"
    assert response.model_spec.version.value == latest("imdb")
    outputs = {k: tf.make_ndarray(v) for k, v in response.outputs.items()}
    expected = direct_call("imdb", {"text": tf.constant(texts)})
    assert sorted(outputs) == sorted(expected)
    for key in expected:
        np.testing.assert_allclose(outputs[key], expected[key], rtol=1e-5)


@pytest.mark.parametrize("name", ["spoken_digits", "connected_digits"])
def test_predict_audio(stubs, name):
    prediction, _ = stubs
    audio = np.stack([clip(4000, 1), clip(4000, 2)])
    response = prediction.Predict(
        request_for(name, {"audio": audio}), timeout=60
    )
    outputs = {k: tf.make_ndarray(v) for k, v in response.outputs.items()}
    expected = direct_call(name, {"audio": tf.constant(audio)})
    assert sorted(outputs) == sorted(expected)
    for key in expected:
        if expected[key].dtype.kind in "fiu":
            np.testing.assert_allclose(
                outputs[key], expected[key], rtol=1e-4, atol=1e-5
            )
        else:
            assert outputs[key].tolist() == expected[key].tolist()


@pytest.mark.parametrize("name", MODELS)
def test_status_and_metadata(stubs, name):
    prediction, model = stubs
    status_request = get_model_status_pb2.GetModelStatusRequest()
    status_request.model_spec.name = name
    status = model.GetModelStatus(status_request, timeout=30)
    (entry,) = status.model_version_status
    assert entry.version == latest(name)
    assert entry.state == get_model_status_pb2.ModelVersionStatus.AVAILABLE
    request = get_model_metadata_pb2.GetModelMetadataRequest()
    request.model_spec.name = name
    request.metadata_field.append("signature_def")
    response = prediction.GetModelMetadata(request, timeout=30)
    signatures = get_model_metadata_pb2.SignatureDefMap()
    response.metadata["signature_def"].Unpack(signatures)
    inputs = signatures.signature_def["serving_default"].inputs
    assert list(inputs) == (["text"] if name == "imdb" else ["audio"])


def test_sequence_outputs_come_with_their_lengths(stubs):
    prediction, _ = stubs
    audio = np.array([[1, 2, 0, 0], [1, 2, 3, 4]], np.float32)
    response = prediction.Predict(
        request_for("frames", {"audio": audio}), timeout=30
    )
    assert tf.make_ndarray(response.outputs["logits_lengths"]).tolist() == [
        2,
        4,
    ]
    assert tf.make_ndarray(response.outputs["logits"]).shape == (2, 4, 2)


def bad_tensor_rank_100():
    proto = tf.make_tensor_proto(np.zeros([1] * 30, np.float32))
    for _ in range(70):
        proto.tensor_shape.dim.add().size = 1
    return proto


BAD = [
    ("nope", {"audio": np.zeros((1, 4), np.float32)}, {}, "NOT_FOUND"),
    (
        "frames",
        {"audio": np.zeros((1, 4), np.float32)},
        {"version": 7},
        "NOT_FOUND",
    ),
    (
        "frames",
        {"audio": np.zeros((1, 4), np.float32)},
        {"label": "canary"},
        "INVALID_ARGUMENT",
    ),
    (
        "frames",
        {"audio": np.zeros((1, 4), np.float32)},
        {"signature_name": "nope"},
        "INVALID_ARGUMENT",
    ),
    ("frames", {"audio": np.ones((1, 4), bool)}, {}, "INVALID_ARGUMENT"),
    ("frames", {"audio": np.ones((1, 4), np.int32)}, {}, "INVALID_ARGUMENT"),
    ("frames", {"audio": np.ones((4,), np.float32)}, {}, "INVALID_ARGUMENT"),
    ("frames", {"audio": bad_tensor_rank_100()}, {}, "INVALID_ARGUMENT"),
    ("frames", {"sound": np.ones((1, 4), np.float32)}, {}, "INVALID_ARGUMENT"),
    ("frames", {}, {}, "INVALID_ARGUMENT"),
    (
        "frames",
        {"audio": np.zeros((1, 120000), np.float32)},
        {},
        "INVALID_ARGUMENT",  # --max-elements
    ),
    (
        "frames",
        {"audio": np.zeros((1, 100000), np.float64)},
        {},
        "RESOURCE_EXHAUSTED",  # --max-body-bytes: gRPC's message limit
    ),
    (
        "imdb",
        {"text": np.array([b"x" * 200000])},
        {},
        "INVALID_ARGUMENT",  # --max-string-bytes
    ),
]


@pytest.mark.parametrize("name, inputs, spec, code", BAD)
def test_bad_requests_get_tf_serving_codes(
    stubs, server, name, inputs, spec, code
):
    prediction, _ = stubs
    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    if "version" in spec:
        request.model_spec.version.value = spec["version"]
    if "label" in spec:  # version and version_label are a oneof.
        request.model_spec.version_label = spec["label"]
    request.model_spec.signature_name = spec.get("signature_name", "")
    for key, value in inputs.items():
        if not isinstance(value, np.ndarray):
            request.inputs[key].CopyFrom(value)
        else:
            request.inputs[key].CopyFrom(tf.make_tensor_proto(value))
    with pytest.raises(grpc.RpcError) as info:
        prediction.Predict(request, timeout=30)
    assert info.value.code() == grpc.StatusCode[code], info.value.details()
    assert "Traceback" not in server.log()
    # The server still answers.
    good = request_for("frames", {"audio": np.ones((1, 3), np.float32)})
    assert prediction.Predict(good, timeout=30).outputs["logits_lengths"]


def test_huge_tensor_shape_in_a_small_message_is_refused(stubs):
    prediction, _ = stubs
    request = request_for("frames", {"audio": np.ones((1, 1), np.float32)})
    shape = request.inputs["audio"].tensor_shape
    shape.dim[0].size = 10**6
    shape.dim[1].size = 10**6
    with pytest.raises(grpc.RpcError) as info:
        prediction.Predict(request, timeout=30)
    assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT

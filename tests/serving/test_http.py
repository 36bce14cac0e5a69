"""End-to-end tests over real HTTP: `python -m zoo.serving` on a free port.

One server serves the toy imdb, spoken_digits and connected_digits models
(plus a "reload" model for hot-reload tests) for the whole module. Golden
tests compare exact JSON, in the style of TensorFlow Serving's own tests.
"""

import base64
import concurrent.futures
import os
import re
import shutil
import time

import numpy as np
import pytest
import requests
import tensorflow as tf

LIMIT_FLAGS = [
    "--poll-interval-s", "0.3",
    "--batch-timeout-ms", "20",
    "--max-batch-size", "64",
    "--max-body-bytes", "300000",
    "--max-instances", "64",
    "--max-sequence-length", "20000",
    "--max-string-bytes", "1000",
]  # fmt: skip
STATUS_V1 = {
    "model_version_status": [
        {
            "version": "1",
            "state": "AVAILABLE",
            "status": {"error_code": "OK", "error_message": ""},
        }
    ]
}


@pytest.fixture(scope="module")
def base_dir(toy_models, tmp_path_factory):
    target = str(tmp_path_factory.mktemp("served"))
    for name in ["imdb", "spoken_digits", "connected_digits"]:
        shutil.copytree(
            os.path.join(toy_models, name), os.path.join(target, name)
        )
    shutil.copytree(
        os.path.join(toy_models, "imdb", "1"),
        os.path.join(target, "reload", "1"),
    )
    return target


@pytest.fixture(scope="module")
def server(base_dir, start_server):
    return start_server(base_dir, *LIMIT_FLAGS)


@pytest.fixture(scope="module")
def direct(toy_models):
    """The SavedModels' serving_default functions, called in-process."""
    return {
        name: tf.saved_model.load(
            os.path.join(toy_models, name, "1")
        ).signatures["serving_default"]
        for name in ["spoken_digits", "connected_digits"]
    }


def post(server, path, body, **kwargs):
    return requests.post(server.url + path, json=body, timeout=30, **kwargs)


def get(server, path):
    return requests.get(server.url + path, timeout=30)


def assert_serving(server):
    """The server still answers a good request."""
    response = post(server, "/v1/models/imdb:predict", {"instances": ["abcd"]})
    assert response.status_code == 200, response.text
    assert response.json() == {
        "predictions": [{"label": 0, "probability": 0.25}]
    }


def audio(rng, length):
    # Multiples of 1/4: sums are exact whatever the padding or batch.
    return (rng.integers(-16, 16, size=length) / 4).astype(np.float32)


# Model status and metadata.


@pytest.mark.parametrize(
    "path", ["/v1/models/imdb", "/v1/models/imdb/versions/1", "/V1/Models/imdb"]
)
def test_model_status(server, path):
    response = get(server, path)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/json"
    assert response.json() == STATUS_V1


def test_metadata(server):
    response = get(server, "/v1/models/imdb/versions/1/metadata")
    assert response.status_code == 200
    body = response.json()
    signatures = body["metadata"]["signature_def"]["signature_def"]
    default = signatures["serving_default"]
    for tensor in [*default["inputs"].values(), *default["outputs"].values()]:
        assert re.fullmatch(r"[\w/]+:\d+", tensor.pop("name"))
    vector = {"dim": [{"size": "-1", "name": ""}], "unknown_rank": False}
    assert body["model_spec"] == {
        "name": "imdb",
        "signature_name": "",
        "version": "1",
    }
    assert default == {
        "inputs": {"text": {"dtype": "DT_STRING", "tensor_shape": vector}},
        "outputs": {
            "label": {"dtype": "DT_INT64", "tensor_shape": vector},
            "probability": {"dtype": "DT_FLOAT", "tensor_shape": vector},
        },
        "method_name": "tensorflow/serving/predict",
        "defaults": {},
    }
    assert {"echo", "serving_default"} <= set(signatures)


def test_healthz_lists_models(server):
    body = get(server, "/healthz").json()
    assert body["status"] == "ok"
    assert body["models"]["imdb"] == [1]
    assert body["models"]["spoken_digits"] == [1]


# Predict: golden responses.

GOLDEN = [
    (
        "/v1/models/imdb:predict",
        {"instances": ["a great movie", "bad"]},
        {
            "predictions": [
                {"label": 1, "probability": 0.8125},
                {"label": 0, "probability": 0.1875},
            ]
        },
    ),
    (
        "/v1/models/imdb/versions/1:predict",
        {"inputs": {"text": ["a great movie", "bad"]}},
        {"outputs": {"label": [1, 0], "probability": [0.8125, 0.1875]}},
    ),
    (
        "/v1/models/imdb:predict",
        {"inputs": ["a great movie"]},
        {"outputs": {"label": [1], "probability": [0.8125]}},
    ),
    (
        "/v1/models/imdb:predict",
        {"instances": [{"text": "bad"}]},
        {"predictions": [{"label": 0, "probability": 0.1875}]},
    ),
    (
        "/v1/models/imdb:predict",
        {
            "signature_name": "echo",
            "instances": [{"b64": base64.b64encode(b"abc").decode()}, "x y"],
        },
        {
            "predictions": [
                {"text_bytes": {"b64": "YWJj"}, "upper": "ABC"},
                {"text_bytes": {"b64": "eCB5"}, "upper": "X Y"},
            ]
        },
    ),
    (
        "/v1/models/connected_digits:predict",
        {"instances": [[1, 2], [0.5]]},
        {
            "predictions": [
                {
                    "digits": "3",
                    "logits": [
                        [float(k) for k in range(1, 12)],
                        [float(2 * k) for k in range(1, 12)],
                    ],
                },
                {
                    "digits": "0",
                    "logits": [[0.5 * k for k in range(1, 12)], [0.0] * 11],
                },
            ]
        },
    ),
    (
        "/v1/models/spoken_digits:predict",
        {"inputs": {"audio": [[0, 0], [0]]}},
        {
            "outputs": {
                "digit": [0, 0],
                "probabilities": [[0.1] * 10, [0.1] * 10],
            }
        },
    ),
]


@pytest.mark.parametrize("path, body, expected", GOLDEN)
def test_predict_golden(server, path, body, expected):
    response = post(server, path, body)
    assert response.status_code == 200, response.text
    assert response.json() == expected


def test_variable_length_audio_equals_direct_call(server, direct):
    rng = np.random.default_rng(1)
    lengths = [5, 17, 1, 40, 9]
    batch = [audio(rng, n) for n in lengths]
    response = post(
        server,
        "/v1/models/spoken_digits:predict",
        {"instances": [a.tolist() for a in batch]},
    )
    assert response.status_code == 200, response.text
    for instance, prediction in zip(
        batch, response.json()["predictions"], strict=True
    ):
        expected = direct["spoken_digits"](audio=tf.constant(instance[None]))
        assert prediction["digit"] == int(expected["digit"][0])
        np.testing.assert_allclose(
            prediction["probabilities"], expected["probabilities"][0], rtol=1e-6
        )


def test_ragged_connected_digits_equals_padded_direct_call(server, direct):
    rng = np.random.default_rng(2)
    batch = [audio(rng, n) for n in [3, 7, 5]]
    response = post(
        server,
        "/v1/models/connected_digits:predict",
        {"inputs": {"audio": [a.tolist() for a in batch]}},
    )
    assert response.status_code == 200, response.text
    padded = np.zeros((3, 7), np.float32)
    for index, instance in enumerate(batch):
        padded[index, : len(instance)] = instance
    expected = direct["connected_digits"](audio=tf.constant(padded))
    outputs = response.json()["outputs"]
    assert outputs["digits"] == [d.decode() for d in expected["digits"].numpy()]
    np.testing.assert_array_equal(
        np.array(outputs["logits"], np.float32), expected["logits"].numpy()
    )


# Bad requests: each answers with a clear error and the server keeps serving.

BAD = [
    (
        "/v1/models/spoken_digits:predict",
        b'{"instances": [[1, NaN]]}',
        400,
        "NaN",
    ),
    (
        "/v1/models/spoken_digits:predict",
        b'{"instances": [[Infinity]]}',
        400,
        "Infinity",
    ),
    (
        "/v1/models/spoken_digits:predict",
        b'{"instances": [[1,',
        400,
        "JSON Parse error",
    ),
    ("/v1/models/spoken_digits:predict", b"[1]", 400, "Is not object"),
    (
        "/v1/models/spoken_digits:predict",
        b'{"instance": [[1]]}',
        400,
        "Unknown key(s)",
    ),
    (
        "/v1/models/spoken_digits:predict",
        b"{}",
        400,
        "Missing 'inputs' or 'instances'",
    ),
    (
        "/v1/models/spoken_digits:predict",
        b'{"instances": []}',
        400,
        "No values in",
    ),
    (
        "/v1/models/spoken_digits:predict",
        b'{"instances": [["loud"]]}',
        400,
        'JSON Value: "loud" Type: String is not of expected type: float',
    ),
    (
        "/v1/models/imdb:predict",
        b'{"instances": [42]}',
        400,
        "JSON Value: 42 Type: Number is not of expected type: string",
    ),
    (
        "/v1/models/spoken_digits:predict",
        b'{"instances": [1, 2]}',
        400,
        "expects rank 1",
    ),
    (
        "/v1/models/spoken_digits:predict",
        b'{"inputs": [[1, [2]]]}',
        400,
        "ragged",
    ),
    (
        "/v1/models/spoken_digits:predict",
        b'{"instances": [{"audio": [1], "extra": 1}]}',
        400,
        "keys must be equal to: audio",
    ),
    (
        "/v1/models/spoken_digits:predict",
        b'{"inputs": {"audi": [[1]]}}',
        400,
        "Unknown named input(s): audi",
    ),
    (
        "/v1/models/imdb:predict",
        b'{"signature_name": "nope", "instances": ["x"]}',
        400,
        'Serving signature name: "nope" not found in signature def',
    ),
    (
        "/v1/models/imdb:predict",
        b'{"signature_name": 3, "instances": ["x"]}',
        400,
        "'signature_name' key must be a string value",
    ),
    (
        "/v1/models/nope:predict",
        b'{"instances": ["x"]}',
        404,
        "Servable not found for request: Latest(nope)",
    ),
    (
        "/v1/models/imdb/versions/7:predict",
        b'{"instances": ["x"]}',
        404,
        "Servable not found for request: Specific(imdb, 7)",
    ),
    (
        "/v1/models/imdb/labels/canary:predict",
        b'{"instances": ["x"]}',
        400,
        "Unrecognized servable version label: canary",
    ),
    ("/v1/models/imdb:classify", b'{"examples": []}', 501, "not supported"),
    ("/v1/models/imdb:explain", b"{}", 400, "Malformed request: POST"),
    (
        "/v1/models/imdb:predict",
        b'{"instances": ["' + b"x" * 1001 + b'"]}',
        400,
        "--max-string-bytes",
    ),
    (
        "/v1/models/imdb:predict",
        b'{"instances": [' + b'"x",' * 64 + b'"x"]}',
        400,
        "Too many instances: 65",
    ),
    (
        "/v1/models/spoken_digits:predict",
        b'{"instances": [[' + b"0," * 20000 + b"0]]}",
        400,
        "--max-sequence-length",
    ),
    (
        "/v1/models/imdb:predict",
        b'{"instances": ["' + b"x" * 300001 + b'"]}',
        413,
        "--max-body-bytes",
    ),
]


@pytest.mark.parametrize("path, body, status, message", BAD)
def test_bad_request(server, path, body, status, message):
    response = requests.post(
        server.url + path,
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    assert message in response.json()["error"]
    assert_serving(server)


@pytest.mark.parametrize(
    "path, status, message",
    [
        ("/v1/models/nope", 404, "Could not find any versions of model nope"),
        (
            "/v1/models/imdb/versions/9",
            404,
            "Could not find version 9 of model imdb",
        ),
        (
            "/v1/models/imdb/labels/x",
            400,
            "Unrecognized servable version label: x",
        ),
        (
            "/v1/models/nope/metadata",
            404,
            "Servable not found for request: Latest(nope)",
        ),
        ("/v1/models", 400, "Missing model name in request."),
        ("/v2/models/imdb", 404, "Not found: GET /v2/models/imdb"),
    ],
)
def test_bad_status_request(server, path, status, message):
    response = get(server, path)
    assert response.status_code == status, response.text
    assert response.json() == {"error": message}
    assert_serving(server)


# Concurrency and batching.


def metric_sum(server, name, **labels):
    """Sums samples of a Prometheus metric whose labels include `labels`."""
    total = 0.0
    for line in get(server, "/metrics").text.splitlines():
        if not line.startswith(name):
            continue
        if all(f'{k}="{v}"' in line for k, v in labels.items()):
            total += float(line.rsplit(" ", 1)[1])
    return total


def test_concurrent_clients_are_batched_and_all_answered(server, direct):
    rng = np.random.default_rng(3)
    jobs = [
        [audio(rng, int(n)) for n in rng.integers(1, 60, size=2)]
        for _ in range(96)
    ]
    calls_before = metric_sum(
        server, "zoo_serving_batch_requests_count", model="spoken_digits"
    )
    requests_before = metric_sum(
        server, "zoo_serving_batch_requests_sum", model="spoken_digits"
    )

    def send(job):
        with requests.Session() as session:
            response = session.post(
                server.url + "/v1/models/spoken_digits:predict",
                json={"instances": [a.tolist() for a in job]},
                timeout=60,
            )
        return response.status_code, response.json()

    with concurrent.futures.ThreadPoolExecutor(max_workers=32) as pool:
        answers = list(pool.map(send, jobs))
    for job, (status, body) in zip(jobs, answers, strict=True):
        assert status == 200, body
        for instance, prediction in zip(job, body["predictions"], strict=True):
            expected = direct["spoken_digits"](
                audio=tf.constant(instance[None])
            )
            assert prediction["digit"] == int(expected["digit"][0])
            np.testing.assert_allclose(
                prediction["probabilities"],
                expected["probabilities"][0],
                rtol=1e-6,
            )
    calls = (
        metric_sum(
            server, "zoo_serving_batch_requests_count", model="spoken_digits"
        )
        - calls_before
    )
    merged = (
        metric_sum(
            server, "zoo_serving_batch_requests_sum", model="spoken_digits"
        )
        - requests_before
    )
    assert merged == len(jobs)  # Every request ran exactly once.
    assert calls < merged  # Some model calls served several requests.


def test_metrics_and_access_log(server):
    assert_serving(server)
    text = get(server, "/metrics").text
    assert 'zoo_serving_loaded_versions{model="imdb"} 1.0' in text
    assert re.search(
        r'zoo_serving_requests_total\{code="200",method="predict",'
        r'model="imdb"\} \d+',
        text,
    )
    assert "zoo_serving_request_latency_seconds_bucket" in text
    time.sleep(0.2)
    records = [
        r for r in server.access_log() if r["path"] == "/v1/models/imdb:predict"
    ]
    record = records[-1]
    assert record["method"] == "POST" and record["status"] == 200
    assert record["model"] == "imdb" and record["version"] == 1
    assert record["batch_size"] >= 1 and record["latency_ms"] > 0


# Hot reload.


def wait_for(condition, timeout_s=30.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def predict_reload(server, path="/v1/models/reload:predict"):
    response = post(server, path, {"instances": ["abcd"]})
    assert response.status_code == 200, response.text
    return response.json()["predictions"][0]["probability"]


def test_hot_reload(server, base_dir, toy_models):
    model_dir = os.path.join(base_dir, "reload")
    assert predict_reload(server) == 0.25  # Version 1: length / 16.

    # A half-written version (no saved_model.pb yet) is never served.
    half = os.path.join(model_dir, "3")
    shutil.copytree(os.path.join(toy_models, "_spare", "imdb_2", "variables"),
                    os.path.join(half, "variables"))  # fmt: skip
    # Version 2 arrives atomically (written aside, then renamed).
    temporary = os.path.join(model_dir, ".tmp-2")
    shutil.copytree(os.path.join(toy_models, "_spare", "imdb_2"), temporary)
    assert predict_reload(server) == 0.25
    os.rename(temporary, os.path.join(model_dir, "2"))
    assert wait_for(lambda: get(server, "/v1/models/reload").json()[
        "model_version_status"][0]["version"] == "2")  # fmt: skip
    assert predict_reload(server) == 0.5  # Version 2: length / 8.
    status = get(server, "/v1/models/reload").json()["model_version_status"]
    assert [(s["version"], s["state"]) for s in status] == [
        ("2", "AVAILABLE"),
        ("1", "END"),
    ]

    # A corrupt saved_model.pb fails to load: logged, reported, not served.
    with open(os.path.join(half, "saved_model.pb"), "wb") as file:
        file.write(b"not a protocol buffer")
    assert wait_for(lambda: "3" in [
        s["version"] for s in get(server, "/v1/models/reload").json()[
            "model_version_status"]])  # fmt: skip
    status = get(server, "/v1/models/reload/versions/3").json()
    entry = status["model_version_status"][0]
    assert entry["state"] == "END" and entry["status"]["error_code"] != "OK"
    assert entry["status"]["error_message"]
    assert predict_reload(server) == 0.5
    assert (
        post(
            server, "/v1/models/reload/versions/3:predict", {"instances": ["x"]}
        ).status_code
        == 404
    )
    assert "Failed to load model reload version 3" in server.log()
    assert_serving(server)

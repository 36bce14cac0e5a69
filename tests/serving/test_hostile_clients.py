"""Hostile and clumsy clients change nothing for the others (issue 13).

One server (toy models plus `frames`, whose signature exposes
`logits_lengths`) with short timeouts and a concurrency limit of 4, so that
slow clients outnumber the slots. Raw sockets play the slow and vanishing
clients.
"""

import concurrent.futures
import os
import shutil
import socket
import time

import pytest
import requests
from conftest import build_frames

CONCURRENCY = 4
TIMEOUT_S = 1.0
FLAGS = [
    "--max-concurrency", str(CONCURRENCY),
    "--header-timeout-s", str(TIMEOUT_S),
    "--body-timeout-s", str(TIMEOUT_S),
    "--idle-timeout-s", str(TIMEOUT_S),
    "--batch-timeout-ms", "0",
    "--max-body-bytes", "300000",
    "--max-elements", "20000",
    "--max-buffered-bytes", str(4 * 2**20),
]  # fmt: skip


@pytest.fixture(scope="module")
def base_dir(toy_models, tmp_path_factory):
    target = str(tmp_path_factory.mktemp("hostile"))
    for name in ["imdb", "spoken_digits"]:
        shutil.copytree(
            os.path.join(toy_models, name), os.path.join(target, name)
        )
    build_frames(os.path.join(target, "frames", "1"))
    return target


@pytest.fixture(scope="module")
def server(base_dir, start_server):
    return start_server(base_dir, *FLAGS)


def predict(server, path="/v1/models/imdb:predict", body=None, timeout=30):
    return requests.post(
        server.url + path,
        json=body if body is not None else {"instances": ["abcd"]},
        timeout=timeout,
    )


def raw_post(server, path, body, timeout=30):
    """Posts exact bytes."""
    return requests.post(
        server.url + path,
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=timeout,
    )


def connect(server) -> socket.socket:
    return socket.create_connection(("127.0.0.1", server.port), timeout=10)


def slow_body(server) -> socket.socket:
    """Headers promising 1000 bytes of body, then one byte."""
    sock = connect(server)
    sock.sendall(
        b"POST /v1/models/imdb:predict HTTP/1.1\r\nHost: x\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
    )
    return sock


def half_headers(server) -> socket.socket:
    sock = connect(server)
    sock.sendall(b"POST /v1/models/imdb:predict HTTP/1.1\r\nHost: x\r\n")
    return sock


def read_all(sock: socket.socket, timeout_s: float) -> bytes:
    """What the server sends until it closes (or timeout_s passes)."""
    sock.settimeout(timeout_s)
    chunks = []
    try:
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    except TimeoutError:
        chunks.append(b"<still open>")
    return b"".join(chunks)


def server_errors(server) -> list[str]:
    return [
        line
        for line in server.log().splitlines()
        if "Traceback" in line or " ERROR " in line
    ]


# Defect 1: slow clients.


def test_slow_clients_do_not_lock_others_out_and_are_timed_out(server):
    slow = [slow_body(server) for _ in range(2 * CONCURRENCY)]
    stalled = [half_headers(server) for _ in range(3)]
    time.sleep(0.2)  # The slow requests have reached the app.
    started = time.monotonic()
    response = predict(server, timeout=10)
    assert response.status_code == 200, response.text
    assert time.monotonic() - started < TIMEOUT_S / 2
    # Past the timeouts: the slow bodies got 408 and were closed; the
    # half-sent headers were closed without an answer.
    for sock in slow:
        answer = read_all(sock, 5 * TIMEOUT_S)
        assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
        assert b"--body-timeout-s" in answer and answer.endswith(b"}")
        sock.close()
    for sock in stalled:
        assert read_all(sock, 5 * TIMEOUT_S) == b""
        sock.close()
    assert predict(server).status_code == 200


def test_idle_connections_are_closed(server):
    sock = connect(server)
    assert read_all(sock, 5 * TIMEOUT_S) == b""
    sock.close()


# Defect 2: client mistakes are 400, never 500.

DEEP = 100
MISTAKES = [
    ("/v1/models/imdb:predict", b"[" * 1000 + b"]" * 1000, "nested too deep"),
    (
        "/v1/models/imdb:predict",
        b'{"instances": ' + b"[" * 1000 + b"]" * 1000 + b"}",
        "nested too deep",
    ),
    (
        "/v1/models/imdb:predict",
        b'{"instances": ' + b"[" * DEEP + b'"x"' + b"]" * DEEP + b"}",
        "expects rank 0 here",
    ),
    (
        "/v1/models/spoken_digits:predict",
        b'{"instances": ' + b"[" * DEEP + b"1" + b"]" * DEEP + b"}",
        "expects rank 1 here",
    ),
    (
        "/v1/models/imdb:predict",
        b'{"instances": ["x", ' + b"[" * DEEP + b'"x"' + b"]" * DEEP + b"]}",
        "expects rank 0 here",
    ),
    (
        "/v1/models/imdb/versions/" + "7" * 5000 + ":predict",
        b'{"instances": ["x"]}',
        "does not fit an int64",
    ),
    (
        "/v1/models/imdb/versions/" + "7" * 5000,
        b"",
        "does not fit an int64",
    ),
]


@pytest.mark.parametrize("path, body, message", MISTAKES)
def test_client_mistakes_are_400(server, path, body, message):
    if body:
        response = raw_post(server, path, body)
    else:
        response = requests.get(server.url + path, timeout=30)
    assert response.status_code == 400, response.text
    assert list(response.json()) == ["error"]
    assert message in response.json()["error"]
    assert server_errors(server) == []


# Defect 3: a client that disconnects mid-body.


def test_disconnect_mid_body_is_a_client_close(server):
    sock = connect(server)
    sock.sendall(
        b"POST /v1/models/spoken_digits:predict HTTP/1.1\r\nHost: x\r\n"
        b'Content-Length: 1000\r\n\r\n{"instances": [[1,'
    )
    time.sleep(0.2)
    sock.close()
    deadline = time.monotonic() + 10
    records = []
    while time.monotonic() < deadline and not records:
        time.sleep(0.1)
        records = [
            r
            for r in server.access_log()
            if r["path"] == "/v1/models/spoken_digits:predict"
            and r["status"] == 499
        ]
    assert len(records) == 1
    assert server_errors(server) == []
    metrics = requests.get(server.url + "/metrics", timeout=30).text
    assert (
        'zoo_serving_requests_total{code="499",method="predict",'
        'model="spoken_digits"} 1.0' in metrics
    )


# Defect 4: only ASCII digits are versions.


@pytest.mark.parametrize("digit", ["\u0661", "\u0967", "\uff11"])
def test_non_ascii_digits_are_not_versions(server, digit):
    response = predict(server, f"/v1/models/imdb/versions/{digit}:predict")
    assert response.status_code == 400, response.text
    assert "Malformed request" in response.json()["error"]
    response = requests.get(
        server.url + f"/v1/models/imdb/versions/{digit}", timeout=30
    )
    assert response.status_code == 400


# Defect 5: booleans are refused for numeric inputs, consistently.


@pytest.mark.parametrize(
    "body",
    [
        {"instances": [[0.5, True, True]]},
        {"instances": [[True, True]]},
        {"instances": [[0.5, 1.0], [False, 1.0]]},
        {"inputs": {"audio": [[0.5, True]]}},
        {"inputs": [[1, 0], [0, True]]},
    ],
)
def test_booleans_are_refused_for_float_inputs(server, body):
    response = predict(server, "/v1/models/spoken_digits:predict", body)
    assert response.status_code == 400, response.text
    assert "is not of expected type" in response.json()["error"]


def test_text_mentioning_true_is_still_text(server):
    body = {"instances": ["true", "false story"]}
    response = predict(server, body=body)
    assert response.status_code == 200, response.text
    assert [p["probability"] for p in response.json()["predictions"]] == [
        0.25,
        0.6875,
    ]


# Defect 6: each instance gets its own output length.


def test_outputs_are_cut_to_their_lengths(server):
    clips = [[1.0, 2.0], [0.5, 1.0, 1.5, 2.0, 2.5]]
    rows = predict(server, "/v1/models/frames:predict", {"instances": clips})
    assert rows.status_code == 200, rows.text
    assert rows.json() == {
        "predictions": [
            {
                "logits": [[x, -x] for x in clip],
                "logits_lengths": len(clip),
            }
            for clip in clips
        ]
    }
    columns = predict(server, "/v1/models/frames:predict", {"inputs": clips})
    assert columns.json() == {
        "outputs": {
            "logits": [[[x, -x] for x in clip] for clip in clips],
            "logits_lengths": [2, 5],
        }
    }


# Defect 7: wrong HTTP methods.


@pytest.mark.parametrize(
    "method, path, allow",
    [
        ("GET", "/v1/models/imdb:predict", "POST"),
        ("PUT", "/v1/models/imdb:predict", "POST"),
        ("DELETE", "/v1/models/imdb/versions/1:predict", "POST"),
        ("PATCH", "/v1/models/imdb:predict", "POST"),
        ("HEAD", "/v1/models/imdb:predict", "POST"),
        ("POST", "/v1/models/imdb", "GET, HEAD"),
        ("DELETE", "/v1/models/imdb/metadata", "GET, HEAD"),
        ("POST", "/healthz", "GET, HEAD"),
        ("PUT", "/metrics", "GET, HEAD"),
    ],
)
def test_wrong_methods_get_405_with_allow(server, method, path, allow):
    response = requests.request(method, server.url + path, timeout=30)
    assert response.status_code == 405, response.text
    assert response.headers["allow"] == allow
    if method != "HEAD":
        assert f"Method {method} is not allowed" in response.json()["error"]


def test_head_on_status_answers_like_get(server):
    response = requests.head(server.url + "/v1/models/imdb", timeout=30)
    assert response.status_code == 200
    assert response.content == b""


# Defect 8: sizes are checked before parsing; memory stays bounded.


def test_too_many_numbers_are_refused_before_parsing(server):
    body = b'{"instances": [[' + b"0," * 30000 + b"0]]}"
    response = raw_post(server, "/v1/models/spoken_digits:predict", body)
    assert response.status_code == 400, response.text
    assert "--max-elements" in response.json()["error"]
    # Commas inside strings are not numbers: string inputs are counted
    # once decoded.
    response = predict(server, body={"inputs": {"text": [","] * 30}})
    assert response.status_code == 200, response.text


def rss_bytes(pid: int) -> int:
    with open(f"/proc/{pid}/status") as file:
        for line in file:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


def test_a_burst_of_maximal_requests_stays_under_the_worst_case(server):
    from zoo.serving.config import Limits

    limits = Limits(
        max_concurrency=CONCURRENCY,
        max_body_bytes=300000,
        max_elements=20000,
        max_buffered_bytes=4 * 2**20,
    )
    clip = [0.25] * 19999
    body = {"instances": [clip]}
    assert predict(server, "/v1/models/spoken_digits:predict", body).ok
    before = rss_bytes(server.process.pid)
    with concurrent.futures.ThreadPoolExecutor(4 * CONCURRENCY) as pool:
        statuses = list(
            pool.map(
                lambda _: (
                    predict(
                        server, "/v1/models/spoken_digits:predict", body
                    ).status_code
                ),
                range(8 * CONCURRENCY),
            )
        )
    assert set(statuses) <= {200, 429} and 200 in statuses
    growth = rss_bytes(server.process.pid) - before
    assert growth < limits.worst_case_bytes(), (growth, statuses)


def test_uvicorn_protocol_has_what_the_header_timeout_uses():
    """zoo/serving/uvicorn_compat.py subclasses uvicorn's h11 protocol;
    checked with uvicorn 0.54.0 and h11 0.16.0. A uvicorn that renames what
    it uses fails here rather than in production."""
    from uvicorn.protocols.http.h11_impl import H11Protocol
    from uvicorn.protocols.http.h11_impl import RequestResponseCycle

    from zoo.serving.uvicorn_compat import header_timeout_protocol

    for name in ["connection_made", "connection_lost", "on_response_complete"]:
        assert callable(getattr(H11Protocol, name))
    protocol = header_timeout_protocol(2.5)
    assert issubclass(protocol, H11Protocol)
    assert protocol.header_timeout_s == 2.5
    assert (
        "response_complete" in RequestResponseCycle.__init__.__code__.co_names
    )

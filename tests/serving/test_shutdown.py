"""Graceful shutdown and the concurrency limit, on a deliberately slow server.

The server runs through `slow_server.py`, which makes every model call sleep,
so requests stay in flight long enough to overlap.
"""

import concurrent.futures
import signal
import subprocess
import time

import pytest
import requests

DELAY_S = 1.5


@pytest.fixture(scope="module")
def server(toy_models, start_server):
    return start_server(
        toy_models,
        "--max-concurrency", "2",
        "--batch-timeout-ms", "0",
        delay_s=DELAY_S,
    )  # fmt: skip


def predict(server, text="abcd"):
    return requests.post(
        server.url + "/v1/models/imdb:predict",
        json={"instances": [text]},
        timeout=30,
    )


def test_requests_over_the_concurrency_limit_get_429(server):
    with concurrent.futures.ThreadPoolExecutor(max_workers=3) as pool:
        first = [pool.submit(predict, server) for _ in range(2)]
        time.sleep(DELAY_S / 3)
        third = pool.submit(predict, server).result()
        statuses = [f.result().status_code for f in first]
    assert statuses == [200, 200]
    assert third.status_code == 429
    assert third.json() == {
        "error": "Too many requests in flight: the limit is 2 "
        "(--max-concurrency); retry later"
    }
    assert predict(server).status_code == 200


def test_sigterm_finishes_the_request_in_flight(server):
    with concurrent.futures.ThreadPoolExecutor(max_workers=1) as pool:
        in_flight = pool.submit(predict, server, "a great movie")
        time.sleep(DELAY_S / 3)
        started = time.monotonic()
        server.process.send_signal(signal.SIGTERM)
        response = in_flight.result(timeout=30)
    assert response.status_code == 200
    assert response.json() == {
        "predictions": [{"label": 1, "probability": 0.8125}]
    }
    try:
        server.process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("the server did not exit after SIGTERM")
    assert time.monotonic() - started < 30
    with pytest.raises(requests.ConnectionError):
        predict(server)
    log = server.log()
    assert "Shutting down" in log or "Finished server process" in log

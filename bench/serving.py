"""Serving benchmark: `zoo serve` over HTTP and gRPC against the in-process
floor.

For one SavedModel, measures latency (p50, p99) and throughput at client
concurrency 1, 8 and 32: through the REST server (started here as
`python -m zoo.serving MODEL_DIR --port N --grpc-port M`, so with JSON, HTTP
and server-side batching), through its gRPC API (tensorflow-serving-api's
`PredictionServiceStub`, one channel shared by the client threads), and by
calling the loaded signature in-process from as many threads (the floor).
Prints them with their ratios and the load average, and writes
bench/results/serving.md and bench/results/serving.json.

The HTTP clients are `http.client` keep-alive connections, one per thread:
a client library's own cost (`requests` adds about 0.6 ms a call) is not
the server's, and on a 2-core machine the load generator shares the CPUs
with the server. `--server-path` runs the server from another source tree
(say a checkout of an older commit), to compare before and after with the
same load generator; `--no-grpc` skips gRPC (for servers without it).

    python bench/serving.py                                 # saved_models/imdb
    python bench/serving.py --model-dir saved_models/spoken_digits \
        --sequence-length 8000
    python bench/serving.py --model-dir /tmp/toy/imdb --requests 100

Requests are synthesised from the serving signature: review-like text for
a string input, random audio for float [batch, time], random token ids for
int [batch, time]; `--instances` per request.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

import numpy as np

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RESULTS = os.path.join(REPO_ROOT, "bench", "results")
WORDS = (
    "a great movie with a terrible plot but wonderful acting and music".split()
)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--model-dir",
        default=os.path.join(REPO_ROOT, "saved_models", "imdb"),
        help="a model folder holding VERSION/saved_model.pb",
    )
    parser.add_argument(
        "--concurrency", type=int, nargs="+", default=[1, 8, 32]
    )
    parser.add_argument("--requests", type=int, default=400, help="per level")
    parser.add_argument("--instances", type=int, default=1, help="per request")
    parser.add_argument("--sequence-length", type=int, default=8000)
    parser.add_argument("--words", type=int, default=200, help="per review")
    parser.add_argument("--max-batch-size", type=int, default=32)
    parser.add_argument("--batch-timeout-ms", type=float, default=2.0)
    parser.add_argument("--output", default=os.path.join(RESULTS, "serving"))
    parser.add_argument(
        "--server-path",
        default=REPO_ROOT,
        help="source tree the server runs from (its PYTHONPATH)",
    )
    parser.add_argument("--no-grpc", action="store_true", help="skip gRPC")
    return parser.parse_args(argv)


def make_instances(signature, count: int, args, rng) -> dict:
    """Input name -> list of JSON-ready instances, from the signature."""
    import tensorflow as tf

    _, specs = signature.structured_input_signature
    instances = {}
    for name, spec in specs.items():
        if spec.dtype == tf.string:
            instances[name] = [
                " ".join(rng.choice(WORDS, size=args.words))
                for _ in range(count)
            ]
        elif spec.dtype.is_floating:
            instances[name] = [
                rng.uniform(-0.5, 0.5, args.sequence_length).round(4).tolist()
                for _ in range(count)
            ]
        else:
            instances[name] = [
                rng.integers(1, 100, args.sequence_length).tolist()
                for _ in range(count)
            ]
    return instances


def latest_version(model_dir: str) -> int:
    """The newest version folder, by the one rule `zoo serve` uses."""
    from zoo.export import versions

    return versions(model_dir)[-1]


def summarise(latencies: list[float], seconds: float, instances: int) -> dict:
    values = np.array(latencies) * 1000
    return {
        "p50_ms": float(np.percentile(values, 50)),
        "p99_ms": float(np.percentile(values, 99)),
        "requests_per_s": len(latencies) / seconds,
        "instances_per_s": len(latencies) * instances / seconds,
    }


def run_clients(
    call, concurrency: int, total: int
) -> tuple[list[float], float]:
    """Runs `call()` total times from `concurrency` threads."""

    def timed(_):
        start = time.perf_counter()
        call()
        return time.perf_counter() - start

    for _ in range(min(total, 5)):
        call()  # Warm-up.
    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(concurrency) as pool:
        latencies = list(pool.map(timed, range(total)))
    return latencies, time.perf_counter() - start


def in_process(model_dir: str, instances: dict, args) -> dict:
    import tensorflow as tf

    version = latest_version(model_dir)
    function = tf.saved_model.load(
        os.path.join(model_dir, str(version))
    ).signatures["serving_default"]
    _, specs = function.structured_input_signature
    tensors = {
        name: tf.constant(values, dtype=specs[name].dtype)
        for name, values in instances.items()
    }
    results = {}
    for level in args.concurrency:
        latencies, seconds = run_clients(
            lambda: function(**tensors), level, args.requests
        )
        results[level] = summarise(latencies, seconds, args.instances)
    return results


def start_server(model_dir: str, args) -> tuple:
    """Starts `python -m zoo.serving`; returns (process, port, grpc_port)."""
    port, grpc_port = free_port(), free_port()
    command = [
        sys.executable, "-m", "zoo.serving", os.path.abspath(model_dir),
        "--port", str(port),
        "--max-batch-size", str(args.max_batch_size),
        "--batch-timeout-ms", str(args.batch_timeout_ms),
        "--max-concurrency", str(max(args.concurrency) * 2),
        "--log-level", "warning",
    ]  # fmt: skip
    if not args.no_grpc:
        command += ["--grpc-port", str(grpc_port)]
    env = dict(
        os.environ, PYTHONPATH=args.server_path, TF_CPP_MIN_LOG_LEVEL="2"
    )
    server = subprocess.Popen(
        command, cwd=args.server_path, env=env, stderr=subprocess.DEVNULL
    )
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(
                f"http://127.0.0.1:{port}/healthz", timeout=2
            )
            return server, port, grpc_port
        except OSError:
            if time.monotonic() > deadline or server.poll() is not None:
                server.kill()
                raise RuntimeError("the server did not start") from None
            time.sleep(0.3)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def per_thread(factory):
    """One `factory()` per client thread (connections are not shared)."""
    local = threading.local()

    def get():
        if not hasattr(local, "value"):
            local.value = factory()
        return local.value

    return get


def over_http(port: int, name: str, instances: dict, args) -> dict:
    body = json.dumps({"inputs": instances}).encode()
    path = f"/v1/models/{name}:predict"
    connection = per_thread(
        lambda: http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    )

    def call():
        client = connection()
        client.request("POST", path, body, {"Content-Type": "application/json"})
        response = client.getresponse()
        response.read()
        if response.status != 200:
            raise RuntimeError(f"HTTP {response.status}")

    results = {}
    for level in args.concurrency:
        latencies, seconds = run_clients(call, level, args.requests)
        results[level] = summarise(latencies, seconds, args.instances)
    return results


def over_grpc(port: int, name: str, instances: dict, specs, args) -> dict:
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2
    from tensorflow_serving.apis import prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = name
    for key, values in instances.items():
        request.inputs[key].CopyFrom(
            tf.make_tensor_proto(values, dtype=specs[key].dtype)
        )
    # One channel for all client threads, as a gRPC client program has:
    # channels are thread-safe and multiplex concurrent calls.
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)

    def call():
        stub.Predict(request, timeout=60)

    results = {}
    for level in args.concurrency:
        latencies, seconds = run_clients(call, level, args.requests)
        results[level] = summarise(latencies, seconds, args.instances)
    return results


def report(floor: dict, served: dict, args, load: list[float]) -> str:
    lines = [
        "# Serving benchmark",
        "",
        f"Model: `{args.model_dir}`; {args.requests} requests per level, "
        f"{args.instances} instance(s) each; server batching "
        f"max {args.max_batch_size}, wait {args.batch_timeout_ms} ms; "
        f"server from `{args.server_path}`. Load average before / after: "
        f"{load[0]:.2f} / {load[1]:.2f}.",
        "",
        "| API | clients | p50 ms | floor p50 ms | ratio | p99 ms | "
        "floor p99 ms | req/s | floor req/s | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for api, results in served.items():
        for level in args.concurrency:
            h, f = results[level], floor[level]
            lines.append(
                f"| {api} | {level} | {h['p50_ms']:.2f} | {f['p50_ms']:.2f} "
                f"| {h['p50_ms'] / f['p50_ms']:.2f}x | {h['p99_ms']:.2f} | "
                f"{f['p99_ms']:.2f} | {h['requests_per_s']:.1f} | "
                f"{f['requests_per_s']:.1f} | "
                f"{h['requests_per_s'] / f['requests_per_s']:.2f}x |"
            )
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not os.path.isdir(args.model_dir):
        print(
            f"No model folder at {args.model_dir}; pass --model-dir.",
            file=sys.stderr,
        )
        return 2
    import tensorflow as tf

    version = latest_version(args.model_dir)
    signature = tf.saved_model.load(
        os.path.join(args.model_dir, str(version))
    ).signatures["serving_default"]
    instances = make_instances(
        signature, args.instances, args, np.random.default_rng(0)
    )
    load_before = os.getloadavg()[0]
    floor = in_process(args.model_dir, instances, args)
    name = os.path.basename(os.path.normpath(args.model_dir))
    server, port, grpc_port = start_server(args.model_dir, args)
    try:
        served = {"HTTP": over_http(port, name, instances, args)}
        if not args.no_grpc:
            _, specs = signature.structured_input_signature
            served["gRPC"] = over_grpc(grpc_port, name, instances, specs, args)
    finally:
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=60)
    load = [load_before, os.getloadavg()[0]]
    text = report(floor, served, args, load)
    print(text)
    os.makedirs(os.path.dirname(args.output), exist_ok=True)
    with open(args.output + ".md", "w") as file:
        file.write(text)
    with open(args.output + ".json", "w") as file:
        json.dump(
            {
                "args": vars(args),
                "load_average": load,
                "in_process": floor,
                **{api.lower(): results for api, results in served.items()},
            },
            file,
            indent=1,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Toy SavedModels with the project's three signatures, and a server runner.

The toy models are plain `tf.Module`s whose per-example outputs do not depend
on right zero-padding (sums, maxima of |x|, element-wise products), so the
server's batching and padding can be checked for exact agreement with a
direct call.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(__file__)))
START_TIMEOUT_S = 90


def build_imdb(path: str, scale: float = 16.0) -> None:
    """text [None] -> probability float32 [None], label int64 [None].

    A second signature, "echo", returns the text as `text_bytes` (written as
    b64 by the server) and upper-cased as `upper`.
    """
    import tensorflow as tf

    class Imdb(tf.Module):
        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, "text")])
        def predict(self, text):
            length = tf.cast(tf.strings.length(text), tf.float32)
            probability = tf.clip_by_value(length / scale, 0.0, 1.0)
            label = tf.cast(probability > 0.5, tf.int64)
            return {"probability": probability, "label": label}

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string, "text")])
        def echo(self, text):
            return {"text_bytes": text, "upper": tf.strings.upper(text)}

    module = Imdb()
    tf.saved_model.save(
        module,
        path,
        signatures={"serving_default": module.predict, "echo": module.echo},
    )


def build_spoken_digits(path: str) -> None:
    """audio float32 [None, None] -> probabilities [None, 10], digit int64."""
    import tensorflow as tf

    class SpokenDigits(tf.Module):
        @tf.function(
            input_signature=[tf.TensorSpec([None, None], tf.float32, "audio")]
        )
        def predict(self, audio):
            total = tf.reduce_sum(audio, axis=1)
            peak = tf.reduce_max(tf.abs(audio), axis=1)
            steps = tf.range(10, dtype=tf.float32)[None, :] / 10.0
            logits = total[:, None] * steps + peak[:, None]
            probabilities = tf.nn.softmax(logits, axis=-1)
            digit = tf.argmax(probabilities, axis=1)
            return {"probabilities": probabilities, "digit": digit}

    module = SpokenDigits()
    tf.saved_model.save(
        module, path, signatures={"serving_default": module.predict}
    )


def build_connected_digits(path: str) -> None:
    """audio float32 [None, None] -> digits string [None],
    logits float32 [None, None, 11]."""
    import tensorflow as tf

    class ConnectedDigits(tf.Module):
        @tf.function(
            input_signature=[tf.TensorSpec([None, None], tf.float32, "audio")]
        )
        def predict(self, audio):
            weights = tf.range(1, 12, dtype=tf.float32)[None, None, :]
            logits = audio[:, :, None] * weights
            total = tf.reduce_sum(tf.abs(audio), axis=1)
            digits = tf.strings.as_string(tf.cast(tf.round(total), tf.int64))
            return {"digits": digits, "logits": logits}

    module = ConnectedDigits()
    tf.saved_model.save(
        module, path, signatures={"serving_default": module.predict}
    )


def build_frames(path: str) -> None:
    """audio float32 [None, None] -> logits float32 [None, None, 2] and
    logits_lengths int32 [None] (the nonzero samples of each clip)."""
    import tensorflow as tf

    class Frames(tf.Module):
        @tf.function(
            input_signature=[tf.TensorSpec([None, None], tf.float32, "audio")]
        )
        def predict(self, audio):
            logits = tf.stack([audio, -audio], axis=-1)
            lengths = tf.reduce_sum(
                tf.cast(tf.not_equal(audio, 0.0), tf.int32), axis=1
            )
            return {"logits": logits, "logits_lengths": lengths}

    module = Frames()
    tf.saved_model.save(
        module, path, signatures={"serving_default": module.predict}
    )


@pytest.fixture(scope="session")
def toy_models(tmp_path_factory) -> str:
    """A folder with imdb/1, spoken_digits/1, connected_digits/1 (+ imdb v2
    kept aside under `_spare/imdb_2`, a model whose probability scale
    differs, for hot-reload tests)."""
    root = str(tmp_path_factory.mktemp("toy_models"))
    build_imdb(os.path.join(root, "imdb", "1"))
    build_spoken_digits(os.path.join(root, "spoken_digits", "1"))
    build_connected_digits(os.path.join(root, "connected_digits", "1"))
    build_imdb(os.path.join(root, "_spare", "imdb_2"), scale=8.0)
    return root


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


SLOW_SERVER = os.path.join(os.path.dirname(__file__), "slow_server.py")


class Server:
    """`python -m zoo.serving BASE_DIR --port N ...` as a subprocess.

    Args:
        base_dir, *args: the server's arguments.
        log_path: where its stdout and stderr go.
        delay_s: when set, every model call first sleeps this long
            (`slow_server.py`), so requests overlap.
        grpc: also serve gRPC, on `self.grpc_port`.
    """

    def __init__(
        self,
        base_dir: str,
        *args: str,
        log_path: str,
        delay_s: float | None = None,
        grpc: bool = False,
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.grpc_port = free_port() if grpc else None
        self.log_path = log_path
        env = dict(os.environ)
        env["PYTHONPATH"] = REPO_ROOT + os.pathsep + env.get("PYTHONPATH", "")
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        self._log = open(log_path, "wb")
        launcher = (
            ["-m", "zoo.serving"]
            if delay_s is None
            else [SLOW_SERVER, str(delay_s)]
        )
        if grpc:
            args = (*args, "--grpc-port", str(self.grpc_port))
        self.process = subprocess.Popen(
            [
                sys.executable,
                *launcher,
                base_dir,
                "--port",
                str(self.port),
                *args,
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Server exited early:\n{self.log()}")
            try:
                with urllib.request.urlopen(self.url + "/healthz", timeout=2):
                    return
            except (urllib.error.URLError, ConnectionError, OSError):
                time.sleep(0.2)
        self.stop()
        raise RuntimeError(
            f"Server not ready in {START_TIMEOUT_S} s:\n{self.log()}"
        )

    def log(self) -> str:
        self._log.flush()
        with open(self.log_path, encoding="utf-8", errors="replace") as file:
            return file.read()

    def access_log(self) -> list[dict]:
        records = []
        for line in self.log().splitlines():
            if line.startswith("{") and '"latency_ms"' in line:
                records.append(json.loads(line))
        return records

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._log.close()


@pytest.fixture(scope="module")
def start_server(tmp_path_factory):
    """Starts servers for a module; every one is stopped at module end."""
    servers = []

    def start(base_dir: str, *args: str, **options) -> Server:
        log = str(tmp_path_factory.mktemp("server_log") / "server.log")
        server = Server(base_dir, *args, log_path=log, **options)
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()

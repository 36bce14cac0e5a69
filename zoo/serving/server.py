"""`zoo serve`: run the REST server with uvicorn.

    zoo serve saved_models --port 8501
    python -m zoo.serving saved_models --port 8501 --max-batch-size 16

Binds 127.0.0.1 unless `--host` says otherwise. SIGTERM or SIGINT stops
accepting connections, lets in-flight requests finish (up to the deadline
plus a grace period), then stops the batchers and the model poll.
"""

from __future__ import annotations

import argparse
import dataclasses
import logging
import sys
from typing import Any

from zoo.serving.config import Limits
from zoo.serving.config import parse_model_config

logger = logging.getLogger("zoo.serving")

_DEFAULTS = Limits()

# Flag name -> (Limits field, type, help).
_LIMIT_FLAGS = {
    "--max-body-bytes": (
        "max_body_bytes",
        int,
        "largest request body (413 above)",
    ),
    "--max-instances": ("max_instances", int, "most instances per request"),
    "--max-sequence-length": (
        "max_sequence_length",
        int,
        "most elements per instance along its first axis (e.g. audio samples)",
    ),
    "--max-string-bytes": (
        "max_string_bytes",
        int,
        "longest string input in bytes",
    ),
    "--deadline-s": ("deadline_s", float, "per-request deadline (504 past it)"),
    "--max-concurrency": (
        "max_concurrency",
        int,
        "most predict requests in flight (429 above)",
    ),
    "--max-batch-size": (
        "max_batch_size",
        int,
        "most instances per model call",
    ),
    "--batch-timeout-ms": (
        "batch_timeout_ms",
        float,
        "how long a batch waits for more requests",
    ),
    "--poll-interval-s": (
        "poll_interval_s",
        float,
        "how often model folders are rescanned for new versions",
    ),
    "--max-elements": (
        "max_elements",
        int,
        "most numbers or strings in one request, all inputs together",
    ),
    "--header-timeout-s": (
        "header_timeout_s",
        float,
        "time a connection has to send a request's headers (then closed)",
    ),
    "--body-timeout-s": (
        "body_timeout_s",
        float,
        "time a request has to send its body (408 past it)",
    ),
    "--idle-timeout-s": (
        "idle_timeout_s",
        float,
        "how long an idle keep-alive connection stays open",
    ),
    "--max-buffered-bytes": (
        "max_buffered_bytes",
        int,
        "most request-body bytes in memory, all requests together (429)",
    ),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Adds the `serve` arguments to a parser (used by `zoo serve`)."""
    parser.add_argument(
        "base_dir",
        nargs="?",
        default="saved_models",
        help="folder with NAME/VERSION/saved_model.pb (default: saved_models)",
    )
    parser.add_argument(
        "--model-config",
        default=None,
        help="JSON model config (version policies, labels); "
        "see the Serving section of README.md",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind")
    parser.add_argument(
        "--port", type=int, default=8501, help="REST port to bind"
    )
    parser.add_argument(
        "--grpc-port",
        type=int,
        default=None,
        help="also serve TF Serving's gRPC API on this port (TF Serving "
        "uses 8500); off by default",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["debug", "info", "warning", "error"],
    )
    limits = parser.add_argument_group("Limits")
    for flag, (field, kind, help_text) in _LIMIT_FLAGS.items():
        default = getattr(_DEFAULTS, field)
        limits.add_argument(
            flag,
            dest=field,
            type=kind,
            default=default,
            help=f"{help_text} (default: {default})",
        )


def run_from_args(args: argparse.Namespace) -> int:
    """Runs the server from parsed arguments; returns the exit status.

    Operator mistakes (no model folder, a bad or missing config file, a
    label naming a version that is not served, a bad limit) print one line
    on stderr and return 2.
    """
    limits = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(Limits)
        if hasattr(args, field.name)
    }
    try:
        return serve(
            args.base_dir,
            host=args.host,
            port=args.port,
            grpc_port=getattr(args, "grpc_port", None),
            model_config=args.model_config,
            log_level=args.log_level,
            **limits,
        )
    except (ValueError, OSError) as error:
        print(f"zoo serve: error: {error}", file=sys.stderr)
        return 2


def serve(
    base_dir: str,
    host: str = "127.0.0.1",
    port: int = 8501,
    grpc_port: int | None = None,
    model_config: str | None = None,
    log_level: str = "info",
    **limits: Any,
) -> int:
    """Serves every SavedModel under `base_dir` until SIGTERM/SIGINT.

    Args:
        base_dir: folder holding NAME/VERSION/saved_model.pb.
        host: address to bind (loopback by default).
        port: REST port to bind.
        grpc_port: gRPC port to bind on the same host; None for no gRPC.
        model_config: optional path of a JSON model config file.
        log_level: logging level of the server's own logs.
        **limits: fields of `zoo.serving.config.Limits`.

    Returns:
        0 after a clean shutdown.

    Raises:
        ValueError: for operator mistakes (see `run_from_args`).
        OSError: for an unreadable model config file.
    """
    import uvicorn

    from zoo.serving.app import create_app
    from zoo.serving.model_store import ModelStore
    from zoo.serving.uvicorn_compat import header_timeout_protocol

    _configure_logging(log_level)
    settings = Limits(**limits)
    configs = None
    if model_config is not None:
        with open(model_config, encoding="utf-8") as file:
            configs = parse_model_config(file.read(), base_dir)
    store = ModelStore(base_dir, configs)
    app = create_app(store, settings, grpc_port=grpc_port, grpc_host=host)
    # Load before binding, so that a label naming a version that is not
    # served stops the start instead of failing requests later.
    store.refresh()
    store.check_labels()
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        http=header_timeout_protocol(settings.header_timeout_s),
        timeout_keep_alive=settings.idle_timeout_s,
        log_config=None,
        log_level=log_level,
        access_log=False,  # Ours is structured (zoo.serving.access).
        timeout_graceful_shutdown=int(settings.deadline_s) + 5,
        lifespan="on",
    )
    uvicorn.Server(config).run()
    return 0


def _configure_logging(level: str) -> None:
    """Access logs as bare JSON lines; other logs with a timestamp."""
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
        )
        root.addHandler(handler)
    root.setLevel(level.upper())
    access = logging.getLogger("zoo.serving.access")
    access.propagate = False
    if not access.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(message)s"))
        access.addHandler(handler)
    access.setLevel(logging.INFO)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="zoo serve",
        description="Serve SavedModels over TensorFlow Serving's REST API.",
    )
    add_arguments(parser)
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m zoo.serving` and `zoo serve`."""
    return run_from_args(parse_args(argv))

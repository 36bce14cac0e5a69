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
    parser.add_argument("--port", type=int, default=8501, help="port to bind")
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
    # Test-only: sleep before each model call, to test shutdown and limits.
    parser.add_argument(
        "--debug-delay-ms", type=float, default=0.0, help=argparse.SUPPRESS
    )


def run_from_args(args: argparse.Namespace) -> int:
    """Runs the server from parsed arguments; returns the exit status."""
    limits = {
        field.name: getattr(args, field.name)
        for field in dataclasses.fields(Limits)
        if hasattr(args, field.name)
    }
    return serve(
        args.base_dir,
        host=args.host,
        port=args.port,
        model_config=args.model_config,
        log_level=args.log_level,
        **limits,
    )


def serve(
    base_dir: str,
    host: str = "127.0.0.1",
    port: int = 8501,
    model_config: str | None = None,
    log_level: str = "info",
    **limits: Any,
) -> int:
    """Serves every SavedModel under `base_dir` until SIGTERM/SIGINT.

    Args:
        base_dir: folder holding NAME/VERSION/saved_model.pb.
        host: address to bind (loopback by default).
        port: port to bind.
        model_config: optional path of a JSON model config file.
        log_level: logging level of the server's own logs.
        **limits: fields of `zoo.serving.config.Limits`.

    Returns:
        0 after a clean shutdown.
    """
    import uvicorn

    from zoo.serving.app import create_app
    from zoo.serving.model_store import ModelStore

    _configure_logging(log_level)
    settings = Limits(**limits)
    configs = None
    if model_config is not None:
        with open(model_config, encoding="utf-8") as file:
            configs = parse_model_config(file.read(), base_dir)
    store = ModelStore(base_dir, configs)
    app = create_app(store, settings)
    config = uvicorn.Config(
        app,
        host=host,
        port=port,
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
    args = parse_args(argv)
    try:
        return run_from_args(args)
    except ValueError as error:
        print(f"zoo serve: error: {error}", file=sys.stderr)
        return 2

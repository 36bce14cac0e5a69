"""Structured access logs and request metrics, as ASGI middleware.

Each HTTP request yields one JSON line on the `zoo.serving.access` logger:

    {"time": "2026-01-01T12:00:00.000+00:00", "method": "POST",
     "path": "/v1/models/imdb:predict", "status": 200, "latency_ms": 3.1,
     "model": "imdb", "version": 1, "batch_size": 4}

Handlers fill `model`, `version`, `batch_size` and `method` into the dict
at `scope["zoo.context"]`.
"""

from __future__ import annotations

import datetime
import json
import logging
import time
from typing import Any

from zoo.serving.metrics import Metrics

access_logger = logging.getLogger("zoo.serving.access")

CONTEXT_KEY = "zoo.context"


def _now() -> str:
    """The current UTC time, ISO 8601 with milliseconds."""
    utc = datetime.timezone.utc  # noqa: UP017 (datetime.UTC needs 3.11)
    return datetime.datetime.now(utc).isoformat(timespec="milliseconds")


class AccessLogMiddleware:
    """Times every HTTP request, logs it as JSON and counts it."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        context: dict[str, Any] = {}
        scope[CONTEXT_KEY] = context
        status = 500

        async def send_and_record(message: dict) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_record)
        finally:
            latency = time.perf_counter() - start
            record = {
                "time": _now(),
                "method": scope["method"],
                "path": scope["path"],
                "status": status,
                "latency_ms": round(latency * 1000, 3),
                "model": context.get("model"),
                "version": context.get("version"),
                "batch_size": context.get("batch_size"),
            }
            access_logger.info(json.dumps(record))
            if context.get("model") is not None:
                model, method = context["model"], context.get("method", "")
                self.metrics.requests.labels(model, method, str(status)).inc()
                self.metrics.latency.labels(model, method).observe(latency)

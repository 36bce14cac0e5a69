"""Prometheus metrics of the server, exposed at `/metrics`.

zoo_serving_requests_total{model, method, code}   requests by outcome
zoo_serving_request_latency_seconds{model, method}  end-to-end latency
zoo_serving_batch_size{model, version, signature}   instances per model call
zoo_serving_batch_requests{model, version, signature} requests per call
zoo_serving_loaded_versions{model}                versions being served
zoo_serving_in_flight_requests                    predict requests running
"""

from __future__ import annotations

import prometheus_client

_BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512)


class Metrics:
    """The server's metrics, in their own registry (one per app)."""

    def __init__(self) -> None:
        self.registry = prometheus_client.CollectorRegistry()
        self.requests = prometheus_client.Counter(
            "zoo_serving_requests",
            "HTTP requests by model, method and HTTP status code.",
            ["model", "method", "code"],
            registry=self.registry,
        )
        self.latency = prometheus_client.Histogram(
            "zoo_serving_request_latency_seconds",
            "End-to-end request latency.",
            ["model", "method"],
            registry=self.registry,
        )
        self.batch_size = prometheus_client.Histogram(
            "zoo_serving_batch_size",
            "Instances per model call.",
            ["model", "version", "signature"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.batch_requests = prometheus_client.Histogram(
            "zoo_serving_batch_requests",
            "Requests merged into one model call.",
            ["model", "version", "signature"],
            buckets=_BATCH_BUCKETS,
            registry=self.registry,
        )
        self.loaded_versions = prometheus_client.Gauge(
            "zoo_serving_loaded_versions",
            "Versions being served, per model.",
            ["model"],
            registry=self.registry,
        )
        self.in_flight = prometheus_client.Gauge(
            "zoo_serving_in_flight_requests",
            "Predict requests being processed.",
            registry=self.registry,
        )

    def render(self) -> bytes:
        """Returns the text exposition format."""
        return prometheus_client.generate_latest(self.registry)

"""The Starlette app: TensorFlow Serving's REST API over a `ModelStore`.

Routes (paths are matched case-insensitively, as TensorFlow Serving does):

    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]            model status
    GET  /v1/models/{name}[/versions/{v}|/labels/{l}]/metadata   signatures
    POST /v1/models/{name}[/versions/{v}|/labels/{l}]:predict    inference
    POST ...:classify | :regress                                 501
    GET  /healthz    liveness + the served models and versions
    GET  /metrics    Prometheus metrics

Errors are `{"error": "..."}` with TensorFlow Serving's status mapping.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import logging
import re
import threading
import time
from typing import Any

from starlette.applications import Starlette
from starlette.requests import ClientDisconnect
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from zoo.serving import codec
from zoo.serving import errors
from zoo.serving.access_log import CONTEXT_KEY
from zoo.serving.access_log import AccessLogMiddleware
from zoo.serving.batching import Batcher
from zoo.serving.config import Limits
from zoo.serving.metrics import Metrics
from zoo.serving.model_store import LoadedVersion
from zoo.serving.model_store import ModelStore
from zoo.serving.model_store import metadata

logger = logging.getLogger("zoo.serving")

# TensorFlow Serving's kPredictionApiGegex and kModelStatusApiRegex; only
# ASCII digits are versions ("\\d" would take any script's digits).
_PREDICT_PATH = re.compile(
    r"/v1/models/([^/:]+)(?:(?:/versions/([0-9]+))|(?:/labels/([^/:]+)))?"
    r":(classify|regress|predict)",
    re.IGNORECASE,
)
_STATUS_PATH = re.compile(
    r"/v1/models(?:/([^/:]+))?(?:(?:/versions/([0-9]+))|(?:/labels/([^/:]+)))?"
    r"(?:/(metadata))?",
    re.IGNORECASE,
)
_PREDICT_METHODS = "POST"
_STATUS_METHODS = "GET, HEAD"
# Every method reaches the /v1/ handler, which answers 405 where it must.
_ALL_METHODS = ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"]
# Bodies above this size are decoded off the event loop.
_OFFLOAD_BYTES = 64 * 1024
# Threads that decode and encode large bodies: parsing is CPU-bound, so more
# threads than this would only hold more parsed bodies in memory at once.
# (zoo.serving.config.PARSERS_AT_ONCE counts them, plus the event loop.)
DECODE_THREADS = 2
# Largest int64, the type of TF Serving's versions: at most 18 digits.
_MAX_VERSION_DIGITS = 18


class ServingApp:
    """Request handling state: the store, limits, batchers and metrics.

    The HTTP handlers here and the gRPC servicers (`zoo.serving.grpc_api`)
    share it: the same concurrency slots, batchers and metrics.
    """

    def __init__(
        self, store: ModelStore, limits: Limits, metrics: Metrics
    ) -> None:
        self.store = store
        self.limits = limits
        self.metrics = metrics
        self.in_flight = 0
        # Bytes of request bodies read and not yet decoded (all requests).
        self.buffered_bytes = 0
        self._batchers: dict[tuple[str, int, str], Batcher] = {}
        # (model, version) unloaded -> when its batchers stop. A request
        # that resolved the version just before it was unloaded may still
        # need them, so they live one deadline longer.
        self._retire_at: dict[tuple[str, int], float] = {}
        # The poll thread retires batchers while requests create them.
        self._batchers_lock = threading.Lock()
        self._decode_pool = concurrent.futures.ThreadPoolExecutor(
            DECODE_THREADS, thread_name_prefix="zoo-decode"
        )

    # Batchers.

    def batcher(self, loaded: LoadedVersion, signature_name: str) -> Batcher:
        """Returns (creating on first use) the batcher of one signature."""
        signature = loaded.signature(signature_name)
        key = (loaded.name, loaded.version, signature.name)
        self._stop_retired()
        with self._batchers_lock:
            retire_at = self._retire_at.get(key[:2])
            if retire_at is not None and time.monotonic() >= retire_at:
                raise errors.unavailable(
                    f"Model {loaded.name} version {loaded.version} was "
                    "unloaded; retry to get the current version"
                )
            batcher = self._batchers.get(key)
            if batcher is None or batcher.signature is not signature:
                batcher = self._new_batcher(key, signature)
                self._batchers[key] = batcher
        return batcher

    def _new_batcher(
        self, key: tuple[str, int, str], signature: Any
    ) -> Batcher:
        name, version, signature_name = key
        histogram = self.metrics.batch_size.labels(
            name, str(version), signature_name
        )
        requests = self.metrics.batch_requests.labels(
            name, str(version), signature_name
        )

        def on_batch(instances: int, merged: int, seconds: float) -> None:
            histogram.observe(instances)
            requests.observe(merged)

        return Batcher(
            signature,
            max_batch_size=self.limits.max_batch_size,
            batch_timeout_s=self.limits.batch_timeout_ms / 1000,
            on_batch=on_batch,
            name="/".join(map(str, key)),
        )

    def on_models_changed(
        self, name: str, versions: list[int], unloaded: list[LoadedVersion]
    ) -> None:
        """Store listener: updates the gauge and retires old batchers."""
        self.metrics.loaded_versions.labels(name).set(len(versions))
        stop_at = time.monotonic() + self.limits.deadline_s
        with self._batchers_lock:
            for loaded in unloaded:
                self._retire_at[(name, loaded.version)] = stop_at
            # A version loaded again (say after a rollback) is live again.
            for version in versions:
                self._retire_at.pop((name, version), None)
        self._stop_retired()

    def _stop_retired(self) -> None:
        """Stops the batchers of versions unloaded over a deadline ago."""
        now = time.monotonic()
        with self._batchers_lock:
            due = {k for k, at in self._retire_at.items() if now >= at}
            keys = [k for k in self._batchers if k[:2] in due]
            batchers = [self._batchers.pop(k) for k in keys]
        for batcher in batchers:
            batcher.stop(timeout_s=0)  # Queued requests still finish.

    def stop_batchers(self) -> None:
        """Finishes queued requests and stops every worker thread."""
        with self._batchers_lock:
            batchers = list(self._batchers.values())
            self._batchers.clear()
        for batcher in batchers:
            batcher.stop(timeout_s=self.limits.deadline_s)
        self._decode_pool.shutdown(wait=False, cancel_futures=True)

    # Shared by REST and gRPC.

    @contextlib.contextmanager
    def slot(self):
        """Holds one of the `max_concurrency` predict slots (429 if none)."""
        if self.in_flight >= self.limits.max_concurrency:
            raise errors.resource_exhausted(
                "Too many requests in flight: the limit is "
                f"{self.limits.max_concurrency} (--max-concurrency); "
                "retry later"
            )
        self.in_flight += 1
        self.metrics.in_flight.inc()
        try:
            yield
        finally:
            self.in_flight -= 1
            self.metrics.in_flight.dec()

    async def off_loop(self, size: int, function: Any, *args: Any) -> Any:
        """Runs CPU-heavy work for large bodies on the decode threads."""
        if size <= _OFFLOAD_BYTES:
            return function(*args)
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._decode_pool, function, *args)

    async def run_model(
        self,
        loaded: LoadedVersion,
        signature_name: str,
        decoded: codec.DecodedInputs,
        start: float,
    ) -> Any:
        """Runs decoded inputs through the batcher within the deadline."""
        codec.check_element_count(decoded.arrays, self.limits)
        batcher = self.batcher(loaded, signature_name)
        remaining = self.limits.deadline_s - (time.monotonic() - start)
        # Waiting for more requests only pays when others are in flight.
        return await batcher.run(
            decoded.arrays,
            decoded.batch_size,
            remaining,
            linger=self.in_flight > 1,
        )

    # Handlers.

    async def handle_any(self, request: Request) -> Response:
        """Sends /v1/ paths (any case) to `handle_v1`; 404 otherwise."""
        if request.url.path.lower().startswith("/v1/"):
            return await self.handle_v1(request)
        if request.url.path in ("/healthz", "/metrics"):
            # GET and HEAD went to their own routes: any other method is
            # caught here, by the catch-all route.
            return await self.method_not_allowed(request, None)
        return await self.not_found(request, None)

    async def handle_v1(self, request: Request) -> Response:
        """Dispatches every /v1/ request and turns errors into JSON."""
        context = request.scope.setdefault(CONTEXT_KEY, {})
        context["model"] = ""
        try:
            return await self._dispatch(request, context)
        except errors.ServingError as error:
            if error.code == "CANCELLED":
                # Nobody reads the answer; the access log line says 499.
                return Response(status_code=error.http_status)
            return _json_response(
                error.to_json(), error.http_status, error.headers
            )
        except Exception as error:
            logger.exception("Unexpected error serving %s", request.url.path)
            return _json_response({"error": f"Internal error: {error}"}, 500)

    async def _dispatch(self, request: Request, context: dict) -> Response:
        path, method = request.url.path, request.method
        match = _PREDICT_PATH.fullmatch(path)
        if match:
            if method != "POST":
                raise errors.method_not_allowed(path, method, _PREDICT_METHODS)
            name, version, label, api = match.groups()
            context.update(model=name, method=api.lower())
            return await self._predict(
                request, context, name, _version(version), label, api
            )
        match = _STATUS_PATH.fullmatch(path)
        if match:
            if method not in ("GET", "HEAD"):
                raise errors.method_not_allowed(path, method, _STATUS_METHODS)
            name, version, label, sub = match.groups()
            context["method"] = "metadata" if sub else "status"
            if not name:
                raise errors.invalid_argument("Missing model name in request.")
            return self._status(context, name, _version(version), label, sub)
        raise errors.invalid_argument(f"Malformed request: {method} {path}")

    def _status(
        self,
        context: dict,
        name: str,
        version: int | None,
        label: str | None,
        sub: str | None,
    ) -> Response:
        if sub:
            loaded = self.store.resolve(name, version, label)
            context.update(model=name, version=loaded.version)
            return _json_response(metadata(loaded))
        if label is not None:
            version = self.store.label_version(name, label)
        body = self.store.status(name, version)
        context.update(model=name, version=version)
        return _json_response(body)

    async def _predict(
        self,
        request: Request,
        context: dict,
        name: str,
        version: int | None,
        label: str | None,
        method: str,
    ) -> Response:
        start = time.monotonic()
        if method.lower() != "predict":
            raise errors.unimplemented(
                f"The {method} API is not supported by this server (it needs "
                "tf.Example signatures); use :predict"
            )
        held = [0]  # Body bytes this request counts in buffered_bytes.
        try:
            # The body is read before a slot is taken, under its own
            # timeout: slow senders never hold a slot.
            body = await self._read_body(request, held)
            with self.slot():
                loaded = self.store.resolve(name, version, label)
                context["version"] = loaded.version
                codec.check_body_elements(
                    body, loaded.signatures.values(), self.limits
                )
                document = await self.off_loop(
                    len(body), codec.parse_json, body
                )
                size = len(body)
                booleans = codec.may_hold_booleans(body)
                del body
                self._release(held)
                signature_name = codec.signature_name(document)
                signature = loaded.signature(signature_name)
                decoded = await self.off_loop(
                    size,
                    codec.decode_inputs,
                    document,
                    signature,
                    self.limits,
                    booleans,
                )
                del document
                result = await self.run_model(
                    loaded, signature_name, decoded, start
                )
                context["batch_size"] = result.batch_size
                payload = await self.off_loop(
                    size,
                    codec.encode_outputs,
                    result.outputs,
                    decoded.format,
                )
            return Response(payload, media_type="application/json")
        finally:
            self._release(held)

    async def _read_body(self, request: Request, held: list[int]) -> bytes:
        """Reads the body under `body_timeout_s` and the memory limits.

        413 for a body over `max_body_bytes`, 429 when all bodies in memory
        would pass `max_buffered_bytes`, 408 (and the connection closed)
        past the timeout, CANCELLED (499) when the client goes away.
        """
        limit = self.limits.max_body_bytes
        too_large = errors.resource_exhausted(
            f"Request body is over the limit of {limit} bytes "
            "(--max-body-bytes)",
            http_status=413,
        )
        declared = request.headers.get("content-length", "")
        if declared.isascii() and declared.isdigit() and int(declared) > limit:
            raise too_large
        chunks: list[bytes] = []
        try:
            async with asyncio.timeout(self.limits.body_timeout_s):
                async for chunk in request.stream():
                    if held[0] + len(chunk) > limit:
                        raise too_large
                    self._hold(held, len(chunk))
                    chunks.append(chunk)
        except TimeoutError:
            raise errors.body_timeout(self.limits.body_timeout_s) from None
        except ClientDisconnect:
            raise errors.cancelled(
                "The client closed the connection before sending the whole body"
            ) from None
        return b"".join(chunks)

    def _hold(self, held: list[int], size: int) -> None:
        if self.buffered_bytes + size > self.limits.max_buffered_bytes:
            raise errors.resource_exhausted(
                "Too much request data in memory: request bodies together "
                f"are over {self.limits.max_buffered_bytes} bytes "
                "(--max-buffered-bytes); retry later"
            )
        self.buffered_bytes += size
        held[0] += size

    def _release(self, held: list[int]) -> None:
        self.buffered_bytes -= held[0]
        held[0] = 0

    async def healthz(self, request: Request) -> Response:
        return _json_response({"status": "ok", "models": self.store.served()})

    async def metrics_endpoint(self, request: Request) -> Response:
        return Response(
            self.metrics.render(),
            media_type="text/plain; version=0.0.4; charset=utf-8",
        )

    async def not_found(self, request: Request, exc: Any) -> Response:
        return _json_response(
            {"error": f"Not found: {request.method} {request.url.path}"}, 404
        )

    async def method_not_allowed(self, request: Request, exc: Any) -> Response:
        allow = (getattr(exc, "headers", None) or {}).get(
            "Allow", _STATUS_METHODS
        )
        error = errors.method_not_allowed(
            request.url.path, request.method, allow
        )
        return _json_response(error.to_json(), 405, error.headers)


def create_app(
    store: ModelStore,
    limits: Limits,
    grpc_port: int | None = None,
    grpc_host: str = "127.0.0.1",
) -> Any:
    """Builds the ASGI app; its lifespan loads models and starts polling.

    With `grpc_port`, the lifespan also serves TF Serving's gRPC API on that
    port (see `zoo.serving.grpc_api`), on the same event loop.
    """
    metrics = Metrics()
    serving = ServingApp(store, limits, metrics)
    store.on_change = serving.on_models_changed

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette):
        await asyncio.to_thread(store.refresh)
        served = store.served()
        logger.info("Serving %s", json.dumps(served))
        if not served:
            logger.warning("No model versions found under %s", store.base_dir)
        grpc_server = None
        if grpc_port is not None:
            from zoo.serving.grpc_api import start_grpc_server

            grpc_server = await start_grpc_server(serving, grpc_host, grpc_port)
        store.start(limits.poll_interval_s)
        try:
            yield
        finally:
            if grpc_server is not None:
                await grpc_server.stop(grace=limits.deadline_s)
            store.stop()
            await asyncio.to_thread(serving.stop_batchers)

    routes = [
        Route("/healthz", serving.healthz, methods=["GET"]),
        Route("/metrics", serving.metrics_endpoint, methods=["GET"]),
        # TF Serving matches /v1/ paths case-insensitively: route them here.
        Route("/{rest:path}", serving.handle_any, methods=_ALL_METHODS),
    ]
    app = Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            404: serving.not_found,
            405: serving.method_not_allowed,
        },
    )
    app.state.serving = serving
    return AccessLogMiddleware(app, metrics)


def _version(text: str | None) -> int | None:
    """The version in a path (ASCII digits), as TF Serving's int64."""
    if text is None:
        return None
    if len(text) > _MAX_VERSION_DIGITS:
        raise errors.invalid_argument(
            f"Invalid model version: {text[:40]}... ({len(text)} digits) "
            "does not fit an int64"
        )
    return int(text)


def _json_response(
    body: Any, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        json.dumps(body, indent=1).encode("utf-8"),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )

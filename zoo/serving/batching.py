"""Server-side batching: merge concurrent requests into one model call.

One `Batcher` serves one (model, version, signature). Requests are queued;
a worker thread takes the first, then keeps collecting compatible requests
until the batch holds `max_batch_size` instances or `batch_timeout_s` has
passed, runs the signature once and splits the outputs back per request.

Padding: requests whose inputs differ in length along the first non-batch
axis (audio samples, token ids) are right-padded to the longest in the batch
with zeros (b"" for strings). The zoo's models are trained on right
zero-padded batches, so their per-example outputs do not depend on how much
padding follows (this is the assumption that makes merging valid). For a
signature with an output that has a dynamic time axis (per-frame logits),
padding would lengthen that output, so only requests of equal length are
merged. Requests that differ on any other axis are never merged.

A failed batch is retried request by request, so one bad request cannot
fail the others it was merged with.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import logging
import queue
import threading
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from zoo.serving import errors
from zoo.serving.signatures import SignatureInfo

logger = logging.getLogger("zoo.serving")

# Called after each model call as on_batch(instances, requests, seconds).
BatchListener = Callable[[int, int, float], None]


@dataclasses.dataclass
class BatchResult:
    """One request's share of a batch: its outputs and the batch size."""

    outputs: dict[str, np.ndarray]
    batch_size: int


@dataclasses.dataclass
class _Item:
    arrays: dict[str, np.ndarray]
    size: int | None
    key: Any
    linger: bool = True
    future: concurrent.futures.Future = dataclasses.field(
        default_factory=concurrent.futures.Future
    )
    # (event loop, asyncio future) of a caller awaiting in `Batcher.run`.
    waiter: tuple[Any, asyncio.Future] | None = None


_STOP = object()


class Batcher:
    """Batches requests for one signature and runs them in a worker thread.

    Args:
        signature: the signature to run.
        max_batch_size: most instances per model call.
        batch_timeout_s: how long to wait for more requests after the first.
        on_batch: called after each model call (for metrics).
        name: for the worker thread's name and logs.
    """

    def __init__(
        self,
        signature: SignatureInfo,
        max_batch_size: int = 32,
        batch_timeout_s: float = 0.005,
        on_batch: BatchListener | None = None,
        name: str = "",
    ) -> None:
        if max_batch_size < 1:
            raise ValueError(
                "Received an invalid value for argument `max_batch_size`, "
                f"expected a positive integer, got {max_batch_size}."
            )
        self.signature = signature
        self.max_batch_size = max_batch_size
        self.batch_timeout_s = batch_timeout_s
        self.on_batch = on_batch
        self.name = name or signature.name
        self._queue: queue.Queue = queue.Queue()
        self._carry: collections.deque = collections.deque()
        self._stopped = False
        self._thread = threading.Thread(
            target=self._work, name=f"zoo-batcher-{self.name}", daemon=True
        )
        self._thread.start()

    def submit(
        self,
        arrays: dict[str, np.ndarray],
        batch_size: int | None,
        linger: bool = True,
        waiter: tuple[Any, asyncio.Future] | None = None,
    ) -> concurrent.futures.Future:
        """Queues a request; the future resolves to a `BatchResult`.

        Args:
            arrays: input name -> array with the batch axis first.
            batch_size: instances in the request; None runs it unbatched.
            linger: whether a batch this request opens waits up to
                `batch_timeout_s` for more requests; False when the caller
                knows no other request is in flight (then only requests
                already queued join it).
            waiter: (loop, asyncio future) also given the result, in one
                loop wake-up per batch rather than one per request.
        """
        if self._stopped:
            raise errors.unavailable("The server is shutting down")
        key = self._key(arrays, batch_size)
        item = _Item(arrays, batch_size, key, linger=linger, waiter=waiter)
        self._queue.put(item)
        return item.future

    async def run(
        self,
        arrays: dict[str, np.ndarray],
        batch_size: int | None,
        timeout_s: float,
        linger: bool = True,
    ) -> BatchResult:
        """Submits a request and awaits its result within `timeout_s`.

        Raises:
            ServingError: DEADLINE_EXCEEDED past the deadline (a request not
                yet started is then dropped from its batch), or the model's
                error.
        """
        loop = asyncio.get_running_loop()
        waiter = loop.create_future()
        future = self.submit(arrays, batch_size, linger, (loop, waiter))
        try:
            async with asyncio.timeout(max(timeout_s, 0.0)):
                return await waiter
        except TimeoutError:
            future.cancel()
            raise errors.deadline_exceeded(
                f"Deadline exceeded: no result within {timeout_s:.3g} s "
                "(--deadline-s)"
            ) from None

    def stop(self, timeout_s: float | None = None) -> None:
        """Runs what is queued, then stops the worker thread."""
        if not self._stopped:
            self._stopped = True
            self._queue.put(_STOP)
        self._thread.join(timeout_s)

    def _key(self, arrays: dict[str, np.ndarray], size: int | None) -> Any:
        """Requests merge only when their keys are equal."""
        if size is None or not self.signature.batchable:
            return object()  # Unique: never merged.
        key = []
        for name in sorted(arrays):
            shape = arrays[name].shape
            if self.signature.length_sensitive:
                key.append((name, shape[1:]))
            else:
                key.append((name, shape[2:]))
        return tuple(key)

    # Worker thread.

    def _next(self, timeout_s: float | None) -> Any:
        if self._carry:
            return self._carry.popleft()
        try:
            if timeout_s is None:
                return self._queue.get()
            return self._queue.get(timeout=max(timeout_s, 0.0))
        except queue.Empty:
            return None

    def _work(self) -> None:
        while True:
            first = self._next(None)
            if first is _STOP:
                return
            batch, held = [first], []
            total = first.size or 0
            wait_s = self.batch_timeout_s if first.linger else 0.0
            deadline = time.monotonic() + wait_s
            stop_seen = False
            while first.size is not None and total < self.max_batch_size:
                item = self._next(deadline - time.monotonic())
                if item is None:
                    break
                if item is _STOP:
                    stop_seen = True
                    break
                if item.key != first.key or total + item.size > (
                    self.max_batch_size
                ):
                    held.append(item)
                    continue
                batch.append(item)
                total += item.size
            self._carry.extendleft(reversed(held))
            if stop_seen:
                self._carry.append(_STOP)
            self._run(
                [i for i in batch if i.future.set_running_or_notify_cancel()]
            )

    def _run(self, batch: list[_Item]) -> None:
        if not batch:
            return
        try:
            self._run_batch(batch)
        finally:
            _notify(batch)

    def _run_batch(self, batch: list[_Item]) -> None:
        try:
            results = self._call(batch)
        except Exception as error:  # Retried one by one below.
            if len(batch) > 1:
                for item in batch:
                    self._run_alone(item)
                return
            batch[0].future.set_exception(_to_serving_error(error))
            return
        for item, result in zip(batch, results, strict=True):
            item.future.set_result(result)

    def _run_alone(self, item: _Item) -> None:
        try:
            item.future.set_result(self._call([item])[0])
        except Exception as error:
            item.future.set_exception(_to_serving_error(error))

    def _call(self, batch: list[_Item]) -> list[BatchResult]:
        start = time.perf_counter()
        if len(batch) == 1:
            arrays = batch[0].arrays
        else:
            arrays = {
                name: _pad_and_concatenate(
                    [item.arrays[name] for item in batch],
                    self.signature.inputs[name].pad_value,
                )
                for name in self.signature.inputs
            }
        outputs = self.signature.run(arrays)
        sizes = [item.size for item in batch]
        total = sum(sizes) if sizes[0] is not None else None
        if self.on_batch is not None:
            self.on_batch(total or 1, len(batch), time.perf_counter() - start)
        if total is None:
            return [BatchResult(outputs, 1)]
        for name, value in outputs.items():
            if value.ndim == 0 or value.shape[0] != total:
                raise errors.internal(
                    f"Output {name} has shape {list(value.shape)}, expected "
                    f"batch size {total} first"
                )
        results, offset = [], 0
        for size in sizes:
            results.append(
                BatchResult(
                    {k: v[offset : offset + size] for k, v in outputs.items()},
                    total,
                )
            )
            offset += size
        return results


def _notify(batch: list[_Item]) -> None:
    """Hands a finished batch's results to the awaiting event loops, one
    wake-up per loop (each wake-up is a write to the loop's self-pipe)."""
    by_loop: dict[Any, list] = {}
    for item in batch:
        if item.waiter is not None:
            loop, waiter = item.waiter
            by_loop.setdefault(loop, []).append((waiter, item.future))
    for loop, pairs in by_loop.items():
        with contextlib.suppress(RuntimeError):  # The loop has closed.
            loop.call_soon_threadsafe(_deliver, pairs)


def _deliver(pairs: list) -> None:
    """Runs in the event loop: copies results into the awaited futures."""
    for waiter, future in pairs:
        if waiter.done() or not future.done():
            continue
        if future.cancelled():
            waiter.cancel()
        elif future.exception() is not None:
            waiter.set_exception(future.exception())
        else:
            waiter.set_result(future.result())


def _pad_and_concatenate(
    arrays: list[np.ndarray], pad_value: Any
) -> np.ndarray:
    """Right-pads axis 1 to the longest and concatenates along axis 0."""
    if arrays[0].ndim >= 2:
        length = max(a.shape[1] for a in arrays)
        padded = []
        for array in arrays:
            if array.shape[1] < length:
                widths = [(0, 0)] * array.ndim
                widths[1] = (0, length - array.shape[1])
                array = np.pad(array, widths, constant_values=pad_value)
            padded.append(array)
        arrays = padded
    return np.concatenate(arrays, axis=0)


def _to_serving_error(error: Exception) -> errors.ServingError:
    if isinstance(error, errors.ServingError):
        return error
    # TensorFlow's InvalidArgumentError (bad shapes or values) is the
    # caller's fault; anything else is the server's.
    if type(error).__name__ == "InvalidArgumentError":
        message = getattr(error, "message", str(error))
        return errors.invalid_argument(message.strip())
    logger.exception("Model call failed", exc_info=error)
    return errors.internal(f"{type(error).__name__}: {error}")

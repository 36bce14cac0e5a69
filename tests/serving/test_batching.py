"""Unit tests of the batcher: merging, padding, splitting, deadlines."""

import asyncio
import threading
import time

import numpy as np
import pytest
import tensorflow as tf

from zoo.serving.batching import Batcher
from zoo.serving.errors import ServingError
from zoo.serving.signatures import SignatureInfo
from zoo.serving.signatures import TensorInfo

AUDIO = {"audio": TensorInfo("audio", tf.float32, (None, None))}


def summing_signature(
    per_frame: bool = False, delay_s: float = 0.0
) -> SignatureInfo:
    """audio [B, T] -> total [B] (and frames [B, T] when per_frame); each
    call first sleeps `delay_s`."""

    def function(audio):
        time.sleep(delay_s)
        tf.debugging.assert_less(audio, 100.0, message="audio too loud")
        outputs = {"total": tf.reduce_sum(audio, axis=1)}
        if per_frame:
            outputs["frames"] = audio * 2.0
        return outputs

    outputs = {"total": TensorInfo("total", tf.float32, (None,))}
    if per_frame:
        outputs["frames"] = TensorInfo("frames", tf.float32, (None, None))
    return SignatureInfo("serving_default", AUDIO, outputs, function)


def submit_together(batcher, requests):
    """Submits all requests from threads at once; returns their futures."""
    futures = [None] * len(requests)
    barrier = threading.Barrier(len(requests))

    def send(index):
        barrier.wait()
        futures[index] = batcher.submit(
            {"audio": requests[index]}, len(requests[index])
        )

    threads = [
        threading.Thread(target=send, args=(i,)) for i in range(len(requests))
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return futures


def test_requests_of_different_lengths_are_padded_merged_and_split():
    batches = []
    batcher = Batcher(
        summing_signature(),
        max_batch_size=64,
        batch_timeout_s=0.2,
        on_batch=lambda size, merged, seconds: batches.append((size, merged)),
    )
    rng = np.random.default_rng(0)
    requests = [
        (rng.integers(-8, 8, size=(1 + i % 3, 2 + i)) / 4).astype(np.float32)
        for i in range(6)
    ]
    futures = submit_together(batcher, requests)
    for request, future in zip(requests, futures, strict=True):
        result = future.result(timeout=10)
        np.testing.assert_array_equal(
            result.outputs["total"], request.sum(axis=1)
        )
    batcher.stop()
    assert sum(size for size, _ in batches) == sum(len(r) for r in requests)
    assert max(merged for _, merged in batches) > 1


def test_per_frame_outputs_only_merge_requests_of_equal_length():
    batches = []
    batcher = Batcher(
        summing_signature(per_frame=True),
        max_batch_size=64,
        batch_timeout_s=0.2,
        on_batch=lambda size, merged, seconds: batches.append(merged),
    )
    requests = [np.ones((1, 3), np.float32), np.ones((1, 5), np.float32)] * 2
    futures = submit_together(batcher, requests)
    for request, future in zip(requests, futures, strict=True):
        outputs = future.result(timeout=10).outputs
        np.testing.assert_array_equal(outputs["frames"], request * 2)
    batcher.stop()
    assert max(batches) <= 2 and len(batches) >= 2


def test_a_failing_request_does_not_fail_its_batch():
    batcher = Batcher(
        summing_signature(), max_batch_size=64, batch_timeout_s=0.2
    )
    good = np.ones((1, 2), np.float32)
    bad = np.full((1, 2), 500.0, np.float32)
    futures = submit_together(batcher, [good, bad, good])
    assert futures[0].result(timeout=10).outputs["total"].tolist() == [2.0]
    assert futures[2].result(timeout=10).outputs["total"].tolist() == [2.0]
    with pytest.raises(ServingError) as info:
        futures[1].result(timeout=10)
    assert info.value.code == "INVALID_ARGUMENT"
    assert "audio too loud" in info.value.message
    batcher.stop()


def test_deadline_exceeded():
    batcher = Batcher(summing_signature(delay_s=0.5), batch_timeout_s=0)
    with pytest.raises(ServingError) as info:
        asyncio.run(
            batcher.run({"audio": np.ones((1, 2), np.float32)}, 1, 0.05)
        )
    assert info.value.code == "DEADLINE_EXCEEDED"
    assert info.value.http_status == 504
    batcher.stop()


def test_stop_finishes_queued_requests_then_refuses():
    batcher = Batcher(summing_signature(delay_s=0.05), batch_timeout_s=0)
    futures = [
        batcher.submit({"audio": np.ones((1, 2), np.float32)}, 1)
        for _ in range(3)
    ]
    batcher.stop()
    assert all(
        f.result(timeout=0).outputs["total"].tolist() == [2.0] for f in futures
    )
    with pytest.raises(ServingError) as info:
        batcher.submit({"audio": np.ones((1, 2), np.float32)}, 1)
    assert info.value.http_status == 503


def test_batchers_of_unloaded_versions_outlive_them_by_one_deadline():
    from zoo.serving.app import ServingApp
    from zoo.serving.config import Limits
    from zoo.serving.metrics import Metrics
    from zoo.serving.model_store import LoadedVersion

    app = ServingApp(
        store=None, limits=Limits(deadline_s=0.2), metrics=Metrics()
    )
    old = LoadedVersion(
        "m", 1, "/unused", {"serving_default": summing_signature()}, {}
    )
    batcher = app.batcher(old, "")
    app.on_models_changed("m", [2], [old])
    # A request that resolved version 1 just before the switch still runs.
    assert app.batcher(old, "") is batcher
    future = batcher.submit({"audio": np.ones((1, 2), np.float32)}, 1)
    assert future.result(timeout=10).outputs["total"].tolist() == [2.0]
    threading.Event().wait(0.3)
    with pytest.raises(ServingError) as info:
        app.batcher(old, "")
    assert info.value.http_status == 503
    batcher._thread.join(timeout=5)
    assert not batcher._thread.is_alive()

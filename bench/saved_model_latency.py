"""Median latency of audio SavedModels' `serving_default`, side by side.

Loads each version folder with `tf.saved_model.load` (no zoo code runs)
and calls it on the same seeded noise, one 1 s clip and a batch of 32,
after one warm-up call: 20 calls each, the median reported.

    python -m bench.saved_model_latency saved_models/spoken_digits/6 \\
        saved_models/spoken_digits/7
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

CALLS = 20


def latencies(path: str, batches: dict) -> dict:
    import tensorflow as tf

    serve = tf.saved_model.load(path).signatures["serving_default"]
    found = {}
    for name, audio in batches.items():
        audio = tf.constant(audio)
        serve(audio=audio)  # warm-up: traces and allocates
        seconds = []
        for _ in range(CALLS):
            start = time.perf_counter()
            serve(audio=audio)
            seconds.append(time.perf_counter() - start)
        found[name] = float(np.median(seconds))
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", help="SavedModel version folders")
    parser.add_argument("--sample-rate", type=int, default=8000)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    clip = 0.1 * rng.standard_normal((32, args.sample_rate))
    batches = {
        "1 x 1 s": clip[:1].astype(np.float32),
        "32 x 1 s": clip.astype(np.float32),
    }
    print("| model | " + " | ".join(batches) + " |")
    print("| --- " * (len(batches) + 1) + "|")
    for path in args.models:
        found = latencies(path, batches)
        cells = " | ".join(f"{1000 * found[name]:.1f} ms" for name in batches)
        print(f"| {path} | {cells} |")
    print(f"\nload average (1/5/15 min): {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

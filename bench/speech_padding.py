"""Why JAX trained the speech recipes slowly: one compilation per shape.

    nice -n 10 python -m bench.speech_padding            # TF, JAX, torch

The spoken-digits recipe's first training batches (its default model, batch
32, epoch 0 with augmentation) are trained with `train_on_batch` under each
Keras backend (one process each), padded two ways: to each batch's longest
utterance (`padded_batch`, what the recipes did) and to bucket lengths
(`zoo.data.padding`, what they do now; the longest-padded batches are the
bucketed ones cropped after their last non-zero sample). Pass 1 meets every
shape for the first time (JAX's `jit` and `torch.compile` compile each);
then interleaved rounds repeat the same batches, all shapes known, to
give the steady cost of the extra padding. Also counted: the distinct
batch shapes of one whole training epoch under each rule. Written to
bench/results/speech_padding.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from bench.backends import backend_environment

RESULTS = Path(__file__).resolve().parent / "results"


def crop_to_longest(audio: np.ndarray) -> np.ndarray:
    """A bucket-padded batch as `padded_batch` made it: cut after the last
    column holding a non-zero sample."""
    columns = np.flatnonzero(np.any(audio != 0, axis=0))
    return audio[:, : columns[-1] + 1 if columns.size else 1]


def worker(args) -> dict:
    import keras

    from recipes import spoken_digits

    recipe_args = spoken_digits.parse_args(
        ["--data-dir", args.data_dir, "--output-dir", args.data_dir]
    )
    datasets, _ = spoken_digits.load_data(recipe_args)
    epoch = [
        (audio.numpy(), label.numpy())
        for audio, label in datasets["train"].for_epoch(0)
    ]
    longest = [(crop_to_longest(audio), label) for audio, label in epoch]
    result = {
        "backend": keras.backend.backend(),
        # The work the extra padding adds, if every padded sample costs.
        "epoch_padded_samples_ratio": sum(a.size for a, _ in epoch)
        / sum(a.size for a, _ in longest),
        "epoch_batches": len(epoch),
        "epoch_shapes": {
            "longest": len({audio.shape for audio, _ in longest}),
            "bucket": len({audio.shape for audio, _ in epoch}),
        },
    }
    batches = {
        "bucket": epoch[: args.batches],
        "longest": longest[: args.batches],
    }
    keras.utils.set_random_seed(0)
    model = spoken_digits.build_model(recipe_args)

    # Warm-up on the last (partial) batch, whose batch size is in neither
    # set, then on it less one utterance and one sample: the model and
    # train function get built, and TensorFlow's tf.function relaxes to
    # unknown batch and length (JAX and torch.compile still meet every
    # measured shape for the first time).
    audio, label = epoch[-1]
    model.train_on_batch(audio, label)
    model.train_on_batch(audio[:-1, :-1], label[:-1])

    def one_pass(rule):
        start = time.perf_counter()
        for audio, label in batches[rule]:
            model.train_on_batch(audio, label)
        return time.perf_counter() - start

    result["shapes"] = {
        rule: len({audio.shape for audio, _ in batches[rule]})
        for rule in batches
    }
    result["first_pass_s"] = {rule: one_pass(rule) for rule in batches}
    rounds = {rule: [] for rule in batches}
    for _ in range(args.rounds):
        for rule in batches:
            rounds[rule].append(one_pass(rule))
    result["repeat_pass_s"] = {
        rule: float(np.median(times)) for rule, times in rounds.items()
    }
    result["rounds_s"] = rounds
    return result


def run_backend(backend, argv, timeout) -> dict:
    load = os.getloadavg()[0]
    start = time.perf_counter()
    try:
        process = subprocess.run(
            [sys.executable, "-m", "bench.speech_padding", "--worker", *argv],
            capture_output=True,
            text=True,
            env=backend_environment(backend),
            timeout=timeout,
        )
    except subprocess.TimeoutExpired:
        record = {"backend": backend, "error": f"over {timeout} s"}
    else:
        answers = [
            line for line in process.stdout.splitlines() if line[:1] == "{"
        ]
        if process.returncode or not answers:
            lines = process.stderr.strip().splitlines() or ["no output"]
            record = {"backend": backend, "error": lines[-1]}
        else:
            record = json.loads(answers[-1])
    record["wall_s"] = round(time.perf_counter() - start, 1)
    record["load_average"] = [round(load, 1), round(os.getloadavg()[0], 1)]
    return record


def markdown(records, command, started, batches) -> str:
    lines = [
        "| backend | distinct shapes in epoch 0 (longest → bucket) | "
        f"first pass over {batches} batches, s (longest → bucket) | "
        "repeat pass, s (longest → bucket) | load avg |",
        "|---|---|---|---|---|",
    ]
    for record in records:
        if "error" in record:
            lines.append(
                f"| {record['backend']} | failed: {record['error'][:120]} "
                f"| | | {record['load_average']} |"
            )
            continue
        shapes, first, repeat = (
            record["epoch_shapes"],
            record["first_pass_s"],
            record["repeat_pass_s"],
        )
        lines.append(
            f"| {record['backend']} | {shapes['longest']} → "
            f"{shapes['bucket']} (of {record['epoch_batches']}) | "
            f"{first['longest']:.1f} → {first['bucket']:.1f} | "
            f"{repeat['longest']:.2f} → {repeat['bucket']:.2f} | "
            f"{record['load_average']} |"
        )
    return (
        "# Speech batches: padded to the longest vs to bucket lengths\n\n"
        f"Command: `{command}` ({started}; a shared 2-core CPU, one process "
        "per backend, one after the other; load average before and after "
        "each). The spoken-digits recipe's first batches of epoch 0 "
        "(batch 32, its default CLDNN); the first pass meets each shape "
        "for the first time, the repeat pass (median of interleaved "
        "rounds) knows them all.\n\n" + "\n".join(lines) + "\n"
    )


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--backends", nargs="+", default=["tensorflow", "jax", "torch"]
    )
    parser.add_argument("--batches", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--timeout", type=int, default=900)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--output", default=str(RESULTS / "speech_padding"))
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args)), flush=True)
        return 0
    started = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
    records = []
    with tempfile.TemporaryDirectory() as scratch:
        child = [
            "--batches",
            str(args.batches),
            "--rounds",
            str(args.rounds),
            "--data-dir",
            args.data_dir or scratch,
        ]
        for backend in args.backends:
            record = run_backend(backend, child, args.timeout)
            print(json.dumps(record), flush=True)
            records.append(record)
    command = "python -m bench.speech_padding " + " ".join(argv)
    text = markdown(records, command, started, args.batches)
    output = Path(args.output)
    output.with_suffix(".md").write_text(text)
    output.with_suffix(".json").write_text(
        json.dumps({"command": command, "date": started, "runs": records})
        + "\n"
    )
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Where a connected-digit model errs on the held-out speaker, and what an
average of models gains.

Rebuilds the recipe's test (or validation) utterances
(`recipes.connected_digits` with the same `--seed`, `--holdout-speakers`
and `--test-utterances`: a split's synthesis depends on nothing else),
runs each model, decodes
greedily and aligns every hypothesis with its reference (a minimum edit
path), then counts substitutions (reference digit -> decoded digit),
deletions and insertions per digit. With several models it also scores
the average of their per-frame probabilities (the models must share the
front end and time reduction, as every `pyramid_lstm` of the recipe
does), arithmetic and geometric, the cheapest ensembles a CTC model
allows.

    python -m bench.connected_digit_errors \\
        --data ../shared/data/fsdd_5speakers.tar.gz --data-dir /tmp/cd/tfds \\
        --test-utterances 200 --models saved_models/connected_digits/3 \\
        --output bench/results/connected_digit_errors.md

A model is a SavedModel folder (its `serving_default` signature: no zoo
needed) or a run's `best.keras`.
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

import numpy as np

DIGITS = tuple(range(10))


def align(reference, hypothesis) -> list[tuple[int | None, int | None]]:
    """A minimum edit path as (reference digit, decoded digit) pairs: a
    deletion has None decoded, an insertion None reference."""
    rows, columns = len(reference) + 1, len(hypothesis) + 1
    cost = np.zeros((rows, columns), np.int64)
    cost[:, 0] = np.arange(rows)
    cost[0, :] = np.arange(columns)
    for i in range(1, rows):
        for j in range(1, columns):
            cost[i, j] = min(
                cost[i - 1, j] + 1,
                cost[i, j - 1] + 1,
                cost[i - 1, j - 1] + (reference[i - 1] != hypothesis[j - 1]),
            )
    pairs, i, j = [], len(reference), len(hypothesis)
    while i or j:
        if (
            i
            and j
            and cost[i, j]
            == cost[i - 1, j - 1] + (reference[i - 1] != hypothesis[j - 1])
        ):
            pairs.append((reference[i - 1], hypothesis[j - 1]))
            i, j = i - 1, j - 1
        elif i and cost[i, j] == cost[i - 1, j] + 1:
            pairs.append((reference[i - 1], None))
            i -= 1
        else:
            pairs.append((None, hypothesis[j - 1]))
            j -= 1
    return pairs[::-1]


def error_counts(references, hypotheses) -> dict:
    """Per digit: its reference count, substitutions (Counter of decoded
    digits), deletions and insertions; and the total errors."""
    counts = {
        "reference": collections.Counter(),
        "substituted": collections.defaultdict(collections.Counter),
        "deleted": collections.Counter(),
        "inserted": collections.Counter(),
    }
    errors = 0
    for reference, hypothesis in zip(references, hypotheses, strict=True):
        counts["reference"].update(reference)
        for truth, decoded in align(reference, hypothesis):
            if truth is None:
                counts["inserted"][decoded] += 1
            elif decoded is None:
                counts["deleted"][truth] += 1
            elif truth != decoded:
                counts["substituted"][truth][decoded] += 1
            else:
                continue
            errors += 1
    counts["errors"] = errors
    return counts


def greedy(scores, lengths) -> list[list[int]]:
    """Greedy CTC decoding by the recipe's `decode`: the best class per
    valid frame (of probabilities or log-probabilities alike), repeats
    merged, blanks (class 10) dropped."""
    from recipes.connected_digits import decode

    scores = np.asarray(scores, np.float32)
    return decode(scores, np.asarray(lengths, np.int32), "greedy")


def model_probabilities(path, batches) -> np.ndarray:
    """Per-frame softmax probabilities [utterances, frames, 11] (padded to
    the longest) and valid lengths of a SavedModel or a .keras model."""
    import keras
    import tensorflow as tf

    outputs, lengths = [], []
    if str(path).endswith(".keras"):
        from recipes import connected_digits as recipe

        model = keras.saving.load_model(path)
        front_end = model.get_layer("front_end")
        # audio -> front end -> encoder: the encoder is the last layer.
        factor = recipe.reduction_factor(model.layers[-1])
        for audio in batches:
            outputs.append(np.asarray(model.predict_on_batch(audio)))
            lengths.append(
                np.asarray(recipe.output_lengths(front_end, audio, factor))
            )
    else:
        serve = tf.saved_model.load(str(path)).signatures["serving_default"]
        for audio in batches:
            result = serve(audio=tf.constant(audio))
            outputs.append(result["logits"].numpy())
            lengths.append(result["logits_lengths"].numpy())
    frames = max(o.shape[1] for o in outputs)
    logits = np.concatenate(
        [np.pad(o, ((0, 0), (0, frames - o.shape[1]), (0, 0))) for o in outputs]
    )
    logits = logits - logits.max(axis=-1, keepdims=True)
    probabilities = np.exp(logits)
    probabilities /= probabilities.sum(axis=-1, keepdims=True)
    return probabilities, np.concatenate(lengths)


def split_utterances(args) -> list:
    """The recipe's utterances of `args.split` for these arguments (each
    split is synthesised from its own seeded stream, so the first N are
    the same whatever the other splits' sizes)."""
    import zoo.data
    from recipes import speech_common

    recordings = speech_common.load_recordings(args)
    corpus = zoo.data.make_connected_digits(
        recordings,
        num_utterances={args.split: args.utterances},
        holdout_speakers=args.holdout_speakers,
        seed=args.seed,
    )
    return corpus.utterances[args.split]


def batched_audio(utterances, batch_size: int = 32):
    for start in range(0, len(utterances), batch_size):
        chunk = utterances[start : start + batch_size]
        audio = np.zeros((len(chunk), max(len(u.audio) for u in chunk)))
        for row, utterance in enumerate(chunk):
            audio[row, : len(utterance.audio)] = utterance.audio
        yield audio.astype(np.float32)


def table(name: str, counts, digits_total: int) -> list[str]:
    lines = [
        f"### {name}: DER {counts['errors'] / digits_total:.1%} "
        f"({counts['errors']} errors / {digits_total} digits)",
        "",
        "| digit | in reference | substituted (as: count) | deleted | "
        "inserted | errors / reference |",
        "|---|---|---|---|---|---|",
    ]
    for digit in DIGITS:
        substituted = counts["substituted"][digit]
        wrong = (
            sum(substituted.values())
            + counts["deleted"][digit]
            + counts["inserted"][digit]
        )
        as_text = ", ".join(
            f"{other}: {n}" for other, n in substituted.most_common()
        )
        lines.append(
            f"| {digit} | {counts['reference'][digit]} | "
            f"{sum(substituted.values())} ({as_text or '-'}) | "
            f"{counts['deleted'][digit]} | {counts['inserted'][digit]} | "
            f"{wrong / max(counts['reference'][digit], 1):.1%} |"
        )
    return lines + [""]


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--split",
        choices=("test", "validation"),
        default="test",
        help="validation: the other recordings of the training speakers, "
        "never trained on (choose an average's form there, not on test)",
    )
    parser.add_argument(
        "--utterances",
        "--test-utterances",
        type=int,
        default=300,
        help="how many utterances of --split (the recipe's "
        "--test-utterances for test)",
    )
    parser.add_argument("--holdout-speakers", nargs="+", default=["theo"])
    parser.add_argument("--seed", type=int, default=1337)
    parser.add_argument("--models", nargs="+", required=True)
    parser.add_argument("--output", default=None, help="a markdown file")
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    utterances = split_utterances(args)
    references = [[int(d) for d in u.digits] for u in utterances]
    total = sum(len(r) for r in references)
    results = {}
    for path in args.models:
        results[path] = model_probabilities(path, batched_audio(utterances))
    lines = []
    for path, (probabilities, lengths) in results.items():
        counts = error_counts(references, greedy(probabilities, lengths))
        lines += table(path, counts, total)
    if len(results) > 1:
        lengths = [lengths for _, lengths in results.values()]
        if any(np.any(other != lengths[0]) for other in lengths[1:]):
            raise SystemExit("the models' output lengths differ: no average")
        frames = max(p.shape[1] for p, _ in results.values())
        stacked = np.stack(
            [
                np.pad(p, ((0, 0), (0, frames - p.shape[1]), (0, 0)))
                for p, _ in results.values()
            ]
        )
        averages = {
            "probabilities": stacked.mean(axis=0),
            # The geometric mean: a frame's class must be likely under
            # every model, so misaligned CTC peaks vote less for blank.
            "log-probabilities": np.log(stacked + 1e-9).mean(axis=0),
        }
        for form, average in averages.items():
            counts = error_counts(references, greedy(average, lengths[0]))
            lines += table(f"average of {len(results)} ({form})", counts, total)
    text = "\n".join(lines)
    print(text)
    if args.output:
        Path(args.output).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Side-by-side table of leave-one-speaker-out runs, one row per lever.

Reads the JSON files that `bench.speaker_independent_arrays run` writes
(one per configuration) and prints a Markdown table: per-speaker test
accuracy, mean, worst speaker, the command of each run, the load average
at the end of its folds, and the digits most often confused.

    python -m bench.loso_levers "old recipe=bench/results/a.json" \\
        "faithful CLDNN=bench/results/b.json" > bench/results/levers.md

`"label=a.json+b.json"` averages the runs' test probabilities per recording
(an average of models), for runs that stored them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np


def _load(argument: str) -> tuple[str, dict]:
    label, _, paths = argument.partition("=")
    runs = [json.loads(Path(path).read_text()) for path in paths.split("+")]
    return label, runs[0] if len(runs) == 1 else average(runs)


def average(runs: list[dict]) -> dict:
    """One run whose test predictions are the mean of several runs' ones.

    Each run must have stored its per-recording test probabilities (runs
    written before that have none and are refused by name).
    """
    for run in runs:
        if "test_probabilities" not in run["folds"][0]:
            raise SystemExit(
                f"{run['meta']['command']!r} stored no test probabilities; "
                "rerun it to average it with others."
            )
    folds = []
    for fold_runs in zip(*(run["folds"] for run in runs), strict=True):
        digits = np.asarray(fold_runs[0]["test_digits"])
        for fold in fold_runs[1:]:
            if (
                fold["speaker"] != fold_runs[0]["speaker"]
                or fold["test_digits"] != fold_runs[0]["test_digits"]
            ):
                raise SystemExit(
                    f"the runs' {fold_runs[0]['speaker']} folds test other "
                    "recordings (or speakers): they cannot be averaged"
                )
        mean = np.mean([f["test_probabilities"] for f in fold_runs], axis=0)
        predictions = np.argmax(mean, axis=-1)
        confusion = np.zeros((10, 10), np.int64)
        np.add.at(confusion, (digits, predictions), 1)
        folds.append(
            {
                "speaker": fold_runs[0]["speaker"],
                "test_accuracy": float(np.mean(predictions == digits)),
                "training_s": sum(f["training_s"] for f in fold_runs),
                "load_average": fold_runs[-1].get("load_average"),
                "confusion": confusion.tolist(),
                # An average is a run like any other: it averages again.
                "test_digits": digits.tolist(),
                "test_probabilities": np.round(mean, 5).tolist(),
            }
        )
    meta = dict(runs[0]["meta"])
    meta["command"] = " ; ".join(run["meta"]["command"] for run in runs)
    meta["date"] = ", ".join(run["meta"]["date"] for run in runs)
    meta["epochs"] = "+".join(str(run["meta"]["epochs"]) for run in runs)
    return {"meta": meta, "folds": folds}


def table(runs: list[tuple[str, dict]]) -> str:
    speakers = []
    for _, run in runs:
        for fold in run["folds"]:
            if fold["speaker"] not in speakers:
                speakers.append(fold["speaker"])
    lines = [
        "| lever | " + " | ".join(speakers) + " | mean | worst |",
        "| --- " * (len(speakers) + 3) + "|",
    ]
    for label, run in runs:
        accuracy = {f["speaker"]: f["test_accuracy"] for f in run["folds"]}
        cells = [
            f"{accuracy[s]:.1%}" if s in accuracy else "—" for s in speakers
        ]
        worst = min(accuracy, key=accuracy.get)
        lines.append(
            f"| {label} | "
            + " | ".join(cells)
            + f" | **{np.mean(list(accuracy.values())):.1%}** | "
            f"{worst} {accuracy[worst]:.1%} |"
        )
    return "\n".join(lines)


def details(label: str, run: dict) -> str:
    meta = run["meta"]
    confusion = np.sum([f["confusion"] for f in run["folds"]], axis=0)
    recall = np.diag(confusion) / np.maximum(confusion.sum(axis=1), 1)
    errors = confusion.copy()
    np.fill_diagonal(errors, 0)
    pairs = np.dstack(np.unravel_index(np.argsort(-errors, None), errors.shape))
    top = [
        f"{spoken}→{predicted} ({errors[spoken, predicted]})"
        for spoken, predicted in pairs[0][:4]
        if errors[spoken, predicted]
    ]
    loads = "; ".join(
        f"{f['speaker']} {f.get('load_average')}" for f in run["folds"]
    )
    seconds = sum(f["training_s"] for f in run["folds"])
    lines = [
        f"### {label}",
        "",
        f"Command: `{meta['command']}`  ",
        f"{meta['epochs']} epochs, {meta['date']}, training "
        f"{seconds / 60:.1f} min for {len(run['folds'])} folds; load average "
        f"(1/5/15 min) at the end of each fold: {loads}.  ",
        "Recall per digit: "
        + ", ".join(f"{d}: {r:.0%}" for d, r in enumerate(recall))
        + ".  ",
        f"Most frequent confusions (spoken→predicted): {', '.join(top)}.",
        "",
        "| | " + " | ".join(str(digit) for digit in range(10)) + " |",
        "| --- " * 11 + "|",
    ]
    for digit, row in enumerate(confusion):
        lines.append(f"| **{digit}** | " + " | ".join(map(str, row)) + " |")
    return "\n".join(lines)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n", 1)[1],
    )
    parser.add_argument("runs", nargs="+", metavar="LABEL=A.json[+B.json]")
    parser.add_argument(
        "--json",
        default=None,
        metavar="PATH",
        help="also write the (one) labelled run, averaged if it names "
        "several, as a run JSON (e.g. for a model card's --loso-results)",
    )
    args = parser.parse_args(argv)
    runs = [_load(argument) for argument in args.runs]
    if args.json:
        if len(runs) != 1:
            parser.error("--json writes one run: give one LABEL=... argument")
        Path(args.json).write_text(json.dumps(runs[0][1], indent=2) + "\n")
    print(table(runs))
    for label, run in runs:
        print()
        print(details(label, run))
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Leave-one-speaker-out accuracy of the spoken-digit recipe on FSDD.

Each speaker is held out in turn (the recipe's `--split speaker`); the model
trains on the other four. Writes bench/results/spoken_digits_speaker_independent
.{md,json} with each fold's accuracy, the mean and the worst speaker.

    nice -n 10 python -m bench.speaker_independent --epochs 25
    python -m bench.speaker_independent --speakers theo -- --model cnn
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from recipes import spoken_digits

SPEAKERS = ("george", "jackson", "nicolas", "theo", "yweweler")
RESULTS = Path(__file__).resolve().parent / "results"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--speakers", default=",".join(SPEAKERS))
    parser.add_argument("--epochs", type=int, default=25)
    parser.add_argument("--output-dir", default="runs/speaker_independent")
    parser.add_argument("--name", default="spoken_digits_speaker_independent")
    parser.add_argument(
        "recipe_args",
        nargs="*",
        help="passed to recipes.spoken_digits (after --)",
    )
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    folds = {}
    for speaker in args.speakers.split(","):
        start = time.time()
        output_dir = f"{args.output_dir}/{speaker}"
        code = spoken_digits.main(
            [
                "--split", "speaker", "--holdout-speakers", speaker,
                "--epochs", str(args.epochs),
                "--output-dir", output_dir, "--no-export",
                *args.recipe_args,
            ]
        )  # fmt: skip
        if code:
            raise SystemExit(code)
        recorded = json.loads(Path(output_dir, "metrics.json").read_text())
        folds[speaker] = {
            "accuracy": recorded["metrics"]["test"]["accuracy"],
            "epochs_run": recorded["training"]["epochs_run"],
            "wall_seconds": round(time.time() - start, 1),
        }
        # Written after every fold, so a long run that is stopped keeps them.
        summary = write(args, argv, folds)
    return summary


def write(args, argv, folds) -> dict:
    accuracies = {s: fold["accuracy"] for s, fold in folds.items()}
    worst = min(accuracies, key=accuracies.get)
    summary = {
        "folds": folds,
        "mean_accuracy": sum(accuracies.values()) / len(accuracies),
        "worst_speaker": worst,
        "worst_accuracy": accuracies[worst],
        "command": "python -m bench.speaker_independent "
        + " ".join(sys.argv[1:] if argv is None else argv),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps(summary, indent=2))
    lines = [
        "| held-out speaker | accuracy | epochs | wall time (s) |",
        "|---|---|---|---|",
    ]
    lines += [
        f"| {s} | {f['accuracy']:.1%} | {f['epochs_run']} | "
        f"{f['wall_seconds']} |"
        for s, f in folds.items()
    ]
    lines += [
        f"| **mean** | **{summary['mean_accuracy']:.1%}** | | |",
        f"| worst ({worst}) | {accuracies[worst]:.1%} | | |",
    ]
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return summary


if __name__ == "__main__":
    main()

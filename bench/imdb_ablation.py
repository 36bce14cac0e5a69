"""IMDB ablation: each idea of issue 15 as a run of the recipe, measured.

Every row is `python -m recipes.imdb --no-export` with the row's options
(on top of `--data`, `--data-dir` and a per-row `--output-dir`), run in its
own process, one after the other; the row reports what that run's
metrics.json says: validation accuracy, the ECE (15 bins) of whole reviews
and of their first 20 and 5 words after the fitted `EvidenceScaling` (and
of whole reviews before it), training seconds and the load average at the
end of training (the machine is shared). Results go to
bench/results/imdb_ablation.{json,md}; the JSON is rewritten after every
row, so an interrupted run keeps its rows.

    nice -n 10 python bench/imdb_ablation.py \\
        --data /path/to/aclImdb_v1.tar.gz --data-dir /tmp/zoo_tfds_imdb \\
        --variants default trigrams
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"

# The region-embedding CNN (Johnson & Zhang 2015) on words, whole reviews.
REGION_WORDS = [
    "--model",
    "region_cnn",
    "--ngrams",
    "1",
    "--vocabulary-size",
    "30000",
    "--max-length",
    "0",
]

# The previous default: the CNN on words and bigrams (60k), 1000 tokens.
PREVIOUS = [
    "--model",
    "cnn",
    "--vocabulary-size",
    "60000",
    "--max-length",
    "1000",
    "--epochs",
    "3",
]
# The recipe's CNN_CONFIG, spelled out: this script only runs the recipe in
# subprocesses and imports no TensorFlow.
CNN_MEMBER = {
    "vocabulary_size": 60000,
    "filters": 64,
    "kernel_size": 3,
    "num_blocks": 1,
    "pool_size": 1,
    "pooling": "average",
}
AVERAGE_NBSVM_CNN = [
    "--model",
    "average",
    "--model-args",
    json.dumps({"members": ["nbsvm", "cnn"], "member_args": [{}, CNN_MEMBER]}),
]

# name -> (the idea, the recipe options that express it).
VARIANTS = {
    "default": ("the recipe's defaults (nbsvm, no dropout)", []),
    "previous": ("the previous default (cnn)", PREVIOUS),
    "nbsvm_no_dropout": (
        "nbsvm without token dropout (run while the default had 0.5; "
        "the default since)",
        ["--dropout", "0"],
    ),
    "nbsvm_token_dropout": (
        "nbsvm, each n-gram left out of a review with probability 0.5 in "
        "training",
        ["--dropout", "0.5"],
    ),
    "nbsvm_trigrams": (
        "nbsvm over words, bigrams and trigrams, 500k vocabulary",
        ["--ngrams", "3", "--vocabulary-size", "500000"],
    ),
    "average_nbsvm_cnn": (
        "composite: average of the logits of nbsvm and the cnn (which "
        "reads the 60k most frequent tokens), members trained one after "
        "the other",
        AVERAGE_NBSVM_CNN,
    ),
    "average_nbsvm_cnn_jointly": (
        "the same composite, trained as one model",
        [*AVERAGE_NBSVM_CNN, "--train-members", "jointly"],
    ),
    "trigrams": (
        "words, bigrams and trigrams, 200k vocabulary, 2000 tokens",
        [
            *PREVIOUS,
            "--ngrams",
            "3",
            "--vocabulary-size",
            "200000",
            "--max-length",
            "2000",
        ],
    ),
    "wide": (
        "embedding 128, 128 filters",
        [*PREVIOUS, "--embedding-dim", "128", "--units", "128"],
    ),
    "epochs5": ("5 epochs (best restored)", [*PREVIOUS, "--epochs", "5"]),
    "max_pooling": (
        "max pooling over time instead of average",
        [*PREVIOUS, "--model-args", '{"pooling": "max"}'],
    ),
    "kernel5": (
        "region size 5 (wider convolution)",
        [*PREVIOUS, "--model-args", '{"kernel_size": 5}'],
    ),
    "region3_max": (
        "seq-CNN: region embedding of 3 words, 500 maps, max pooling; "
        "words only (30k), whole reviews, 6 epochs",
        [*REGION_WORDS, "--units", "500", "--epochs", "6"],
    ),
    "region3_average": (
        "seq-CNN, as region3_max with average pooling",
        [
            *REGION_WORDS,
            "--units",
            "500",
            "--epochs",
            "6",
            "--model-args",
            '{"pooling": "average"}',
        ],
    ),
    "average_region_cnn": (
        "composite: average of the logits of region_cnn (region 3, 300 "
        "maps, max pooling) and the default cnn, trained jointly on words "
        "and bigrams (60k), whole reviews, 5 epochs",
        [
            "--vocabulary-size",
            "60000",
            "--train-members",
            "jointly",
            "--model",
            "average",
            "--max-length",
            "0",
            "--epochs",
            "5",
            "--model-args",
            json.dumps(
                {
                    "member_args": [
                        {"filters": 300, "pooling": "max"},
                        {
                            "filters": 64,
                            "kernel_size": 3,
                            "num_blocks": 1,
                            "pool_size": 1,
                            "pooling": "average",
                        },
                    ]
                }
            ),
        ],
    ),
}


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", required=True)
    parser.add_argument("--data-dir", default=None)
    parser.add_argument(
        "--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS
    )
    parser.add_argument("--runs", default="runs/imdb_ablation")
    parser.add_argument("--output", default=str(RESULTS / "imdb_ablation"))
    parser.add_argument(
        "--append",
        action="store_true",
        help="keep the rows already in the output's JSON (a variant run "
        "again replaces its row)",
    )
    return parser.parse_args(argv)


def run_variant(args, name: str) -> dict:
    idea, options = VARIANTS[name]
    output_dir = Path(args.runs) / name
    command = [
        sys.executable,
        "-m",
        "recipes.imdb",
        "--data",
        args.data,
        "--no-export",
        "--output-dir",
        str(output_dir),
        *options,
    ]
    if args.data_dir:
        command += ["--data-dir", args.data_dir]
    subprocess.run(command, cwd=ROOT, check=True)
    record = json.loads((output_dir / "metrics.json").read_text())
    validation = record["metrics"]["validation"]
    figures = validation["calibration"]
    return {
        "variant": name,
        "idea": idea,
        "options": shlex.join(options),
        "validation_accuracy": round(validation["accuracy"], 4),
        "ece_whole": figures["whole"]["ece"],
        "ece_whole_unscaled": figures["whole"]["ece_unscaled"],
        "ece_first_20_words": figures["first_20_words"]["ece"],
        "ece_first_5_words": figures["first_5_words"]["ece"],
        "evidence_scaling": record["model_config"].get("evidence_scaling"),
        "parameters": record["training"]["parameters"],
        "epochs_run": record["training"]["epochs_run"],
        "train_seconds": record["training"]["train_seconds"],
        "load_average": [
            round(value, 1) for value in record["training"]["load_average"]
        ],
        "date": record["run"].get("date"),
        "git_commit": record["run"].get("git_commit"),
    }


def write_results(args, rows) -> None:
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.with_suffix(".json").write_text(json.dumps(rows, indent=2) + "\n")
    command = "nice -n 10 python bench/imdb_ablation.py --data DATA"
    if args.data_dir:
        command += f" --data-dir {args.data_dir}"
    variants = " ".join(row["variant"] for row in rows)
    lines = [
        "# IMDB ablation: issue 15's ideas, one recipe run each",
        "",
        "Each row: `python -m recipes.imdb --data DATA --no-export` plus its "
        "options; validation = the seeded 5,000 reviews carved from train. "
        "ECE: 15 bins, after the fitted EvidenceScaling (fitted on the same "
        "validation reviews, whole and cut; `unscaled`: before it). Train "
        "time on 2 shared CPU cores; load average (1, 5, 15 min) at the end "
        "of training.",
        "",
        f"Command: `{command} --variants {variants}`",
        "",
        "| variant | idea | options | validation accuracy | ECE whole "
        "(unscaled) | ECE first 20 words | ECE first 5 words | parameters "
        "| epochs | train s | load average |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        lines.append(
            f"| {row['variant']} | {row['idea']} | `{row['options']}` | "
            f"{row['validation_accuracy']:.4f} | {row['ece_whole']:.3f} "
            f"({row['ece_whole_unscaled']:.3f}) | "
            f"{row['ece_first_20_words']:.3f} | "
            f"{row['ece_first_5_words']:.3f} | {row['parameters']:,} | "
            f"{row['epochs_run']} | {row['train_seconds']:.0f} | "
            f"{', '.join(str(v) for v in row['load_average'])} |"
        )
    output.with_suffix(".md").write_text("\n".join(lines) + "\n")


def main(argv=None) -> int:
    args = parse_args(argv)
    rows = []
    existing = Path(args.output).with_suffix(".json")
    if args.append and existing.exists():
        rows = [
            row
            for row in json.loads(existing.read_text())
            if row["variant"] not in args.variants
        ]
    for name in args.variants:
        rows.append(run_variant(args, name))
        write_results(args, rows)
        print(json.dumps(rows[-1]), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

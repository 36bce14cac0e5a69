"""The `zoo` command.

zoo list [PATTERN]            the registered models
zoo describe NAME             defaults, summary and reference of a model
zoo train TASK [ARGS...]      run a recipe: imdb, spoken-digits,
                              connected-digits (ARGS go to the recipe;
                              `zoo train imdb --help` lists them)
zoo predict MODEL_DIR INPUT...  run a SavedModel on texts or WAV files,
                              one JSON line per input
zoo serve [BASE_DIR] [...]    TensorFlow Serving's REST API over
                              saved_models/ (`zoo serve --help`)
zoo --version

Start-up: this module and the `zoo` package import neither TensorFlow nor
Keras (see `zoo/__init__.py`), so `zoo --help`, `zoo --version` and
`zoo train --help` answer in a fraction of a second. Each command imports
what it needs when it runs: `list`/`describe` the registry (Keras, hence
TensorFlow: the registry holds Keras builders), `predict` TensorFlow alone,
`train` the recipe, `serve` the server. The parsers of `train TASK` and
`serve` belong to the recipe and the server, so their arguments pass through
untouched and are parsed there, with `prog` set to `zoo train TASK` /
`zoo serve`. The task summaries in `zoo train --help` are the first lines of
the recipes' docstrings, read from source without importing the recipes.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import importlib.util
import json
import os
import sys

import zoo

# TensorFlow's C++ start-up chatter hides the command's own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Task name -> recipe module (each has main(argv, prog) -> exit code).
RECIPES = {
    "imdb": "recipes.imdb",
    "spoken-digits": "recipes.spoken_digits",
    "connected-digits": "recipes.connected_digits",
}


def task_name(text: str) -> str:
    """The canonical task name: `spoken_digits` is `spoken-digits`."""
    return text.replace("_", "-")


def task_summary(task: str) -> str:
    """The first line of the recipe's docstring, read without importing it."""
    spec = importlib.util.find_spec(RECIPES[task])
    if spec is None or not spec.origin:
        return ""
    with open(spec.origin, encoding="utf-8") as handle:
        docstring = ast.get_docstring(ast.parse(handle.read())) or ""
    return docstring.splitlines()[0] if docstring else ""


def model_table(names=None) -> str:
    """The registered models as a markdown table (README's model table)."""
    rows = [
        "| name | structure | inputs | reference |",
        "| --- | --- | --- | --- |",
    ]
    for name in names or zoo.list_models():
        info = zoo.describe(name)
        rows.append(
            f"| `{name}` | {info['structure']} | "
            f"{', '.join(info['inputs'])} | {info['reference']} |"
        )
    return "\n".join(rows)


def _list(args) -> int:
    names = zoo.list_models(args.pattern) if args.pattern else zoo.list_models()
    if args.markdown:
        print(model_table(names))
        return 0
    for name in names:
        info = zoo.describe(name)
        print(f"{name:20s} {info['summary']}")
    return 0


def _describe(args) -> int:
    try:
        info = zoo.describe(args.name)
    except ValueError as error:
        print(f"zoo describe: error: {error}", file=sys.stderr)
        return 2
    print(json.dumps(info, indent=2, ensure_ascii=False, default=str))
    return 0


def _train(args) -> int:
    if args.task is None:
        args.train_parser.error(f"name a TASK: {', '.join(RECIPES)}")
    module = importlib.import_module(RECIPES[args.task])
    return module.main(args.recipe_arguments, prog=f"zoo train {args.task}")


def _predict(args) -> int:
    from zoo import predict

    try:
        return predict.run(args)
    except predict.PredictError as error:
        print(f"zoo predict: error: {error}", file=sys.stderr)
        return 2


def _serve(argv: list[str]) -> int:
    from zoo.serving import add_arguments
    from zoo.serving import run_from_args

    parser = argparse.ArgumentParser(
        prog="zoo serve",
        description="Serve saved_models/ over TensorFlow Serving's REST API.",
    )
    add_arguments(parser)
    return run_from_args(parser.parse_args(argv))


def positive_int(text: str) -> int:
    """argparse type: a positive integer, or a usage error naming it."""
    return _int_at_least(text, 1, "a positive integer")


def non_negative_int(text: str) -> int:
    """argparse type: an integer >= 0, or a usage error naming it."""
    return _int_at_least(text, 0, "a non-negative integer")


def _int_at_least(text: str, smallest: int, wanted: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = smallest - 1
    if value < smallest:
        raise argparse.ArgumentTypeError(f"expected {wanted}, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zoo",
        description="seqzoo: recurrent and convolutional sequence models.",
    )
    parser.add_argument(
        "--version", action="version", version=f"zoo {zoo.__version__}"
    )
    commands = parser.add_subparsers(dest="command", required=True)

    listing = commands.add_parser("list", help="list the registered models")
    listing.add_argument("pattern", nargs="?", help='glob, e.g. "*lstm"')
    listing.add_argument(
        "--markdown", action="store_true", help="print a markdown table"
    )
    listing.set_defaults(handler=_list)

    describe = commands.add_parser("describe", help="describe one model")
    describe.add_argument("name")
    describe.set_defaults(handler=_describe)

    tasks = "\n".join(f"  {task:18s}{task_summary(task)}" for task in RECIPES)
    train = commands.add_parser(
        "train",
        help="train and export a model with a recipe",
        description="Train and export a model with a recipe.",
        usage="zoo train [-h] TASK [ARGS...]",
        epilog=f"tasks:\n{tasks}\n\n`zoo train TASK --help` lists a task's "
        "ARGS (underscores work too: spoken_digits).",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    train.add_argument(
        "task",
        nargs="?",
        type=task_name,
        choices=list(RECIPES),
        metavar="TASK",
        help="one of the tasks below",
    )
    train.add_argument(
        "recipe_arguments",
        nargs=argparse.REMAINDER,
        metavar="ARGS",
        help="the recipe's arguments (zoo train TASK --help)",
    )
    train.set_defaults(handler=_train, train_parser=train)

    predict = commands.add_parser(
        "predict",
        help="run a SavedModel on texts or WAV files",
        description="Run a SavedModel on review texts or WAV files and print "
        "one JSON line per input with the signature's outputs.",
        epilog="INPUT: for a text model, a review, a text file (one review "
        "per line) or - (stdin, one review per line); for an audio model, a "
        "WAV file (mono, 16-bit, at the model's sample rate) or - (one WAV "
        "file on stdin).",
    )
    predict.add_argument(
        "model_dir",
        metavar="MODEL_DIR",
        help="a version folder (saved_models/imdb/1) or a model folder "
        "(saved_models/imdb: its latest version)",
    )
    predict.add_argument("inputs", nargs="+", metavar="INPUT")
    predict.add_argument(
        "--signature",
        default="serving_default",
        help="the signature to run (default: serving_default)",
    )
    predict.add_argument(
        "--batch-size",
        type=positive_int,
        default=32,
        help="inputs per model call (default: 32)",
    )
    predict.add_argument(
        "--sample-rate",
        type=positive_int,
        default=None,
        help="the sample rate the audio model takes, in Hz (default: the "
        "model card's)",
    )
    predict.add_argument(
        "--outputs",
        type=lambda text: [name for name in text.split(",") if name],
        default=None,
        metavar="NAME[,NAME...]",
        help="the outputs to print (default: all of the signature's)",
    )
    predict.set_defaults(handler=_predict)

    # Listed here; `main` hands everything after `serve` to the server's own
    # parser (a pass-through argument cannot start with an option).
    commands.add_parser(
        "serve", help="serve saved_models/ over TF Serving's REST API"
    )
    return parser


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] == ["serve"]:
        return int(_serve(argv[1:]) or 0)
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

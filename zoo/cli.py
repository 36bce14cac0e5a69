"""The `zoo` command.

zoo list [PATTERN]            the registered models
zoo describe NAME             defaults, summary and reference of a model
zoo train TASK [ARGS...]      run a recipe: imdb, spoken-digits,
                              connected-digits (ARGS go to the recipe;
                              `zoo train imdb --help` lists them)
zoo serve [BASE_DIR] [...]    TensorFlow Serving's REST API over
                              saved_models/ (`zoo serve --help`)
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import sys

# TensorFlow's C++ start-up chatter hides the command's own output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Task name -> recipe module (each has main(argv) -> exit code).
RECIPES = {
    "imdb": "recipes.imdb",
    "spoken-digits": "recipes.spoken_digits",
    "connected-digits": "recipes.connected_digits",
}


def model_table(names=None) -> str:
    """The registered models as a markdown table (README's model table)."""
    import zoo

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
    import zoo

    names = zoo.list_models(args.pattern) if args.pattern else zoo.list_models()
    if args.markdown:
        print(model_table(names))
        return 0
    for name in names:
        info = zoo.describe(name)
        print(f"{name:20s} {info['summary']}")
    return 0


def _describe(args) -> int:
    import zoo

    try:
        info = zoo.describe(args.name)
    except ValueError as error:
        print(f"zoo describe: {error}", file=sys.stderr)
        return 2
    print(json.dumps(info, indent=2, default=str))
    return 0


def _train(args) -> int:
    module = importlib.import_module(RECIPES[args.task])
    return int(module.main(args.recipe_arguments) or 0)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="zoo",
        description="seqzoo: recurrent and convolutional sequence models.",
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

    train = commands.add_parser(
        "train",
        help="train and export a model with a recipe",
        add_help=False,
    )
    train.add_argument("task", choices=sorted(RECIPES))
    train.add_argument("recipe_arguments", nargs=argparse.REMAINDER)
    train.set_defaults(handler=_train)

    from zoo.serving import add_arguments
    from zoo.serving import run_from_args

    serve = commands.add_parser(
        "serve", help="serve saved_models/ over TF Serving's REST API"
    )
    add_arguments(serve)
    serve.set_defaults(handler=run_from_args)
    return parser


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.handler(args) or 0)


if __name__ == "__main__":
    sys.exit(main())

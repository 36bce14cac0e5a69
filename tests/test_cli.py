import json
import re
from pathlib import Path

import pytest

from zoo import cli

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_model_table_matches_the_registry():
    text = README.read_text(encoding="utf-8")
    table = re.search(
        r"<!-- model-table:.*?-->\n(.*?)\n<!-- end model-table -->",
        text,
        re.S,
    ).group(1)
    assert table.strip() == cli.model_table().strip()


def test_readme_test_command_is_what_ci_runs():
    ci = (README.parent / ".ci" / "run").read_text(encoding="utf-8")
    assert (
        'pip install -e ".[test]" && python -m pytest -q'
        in README.read_text(encoding="utf-8")
    )
    assert "\npython -m pytest -q\n" in ci


def test_list_and_describe(capsys):
    assert cli.main(["list", "*gru"]) == 0
    listed = capsys.readouterr().out
    assert "pyramid_gru" in listed and "lstm " not in listed
    assert cli.main(["describe", "cldnn"]) == 0
    assert json.loads(capsys.readouterr().out)["name"] == "cldnn"


def test_describe_unknown_model_is_a_clear_error(capsys):
    assert cli.main(["describe", "lstn"]) == 2
    assert "lstm" in capsys.readouterr().err


def test_unknown_task_is_refused():
    with pytest.raises(SystemExit):
        cli.main(["train", "mnist"])

"""The model store and start-up: operator mistakes and broken folders
(issue 13, defects 9-10, and issue 11's exit status)."""

import dataclasses
import json
import os
import shutil

import pytest

from zoo.serving import run_from_args
from zoo.serving.config import Limits
from zoo.serving.model_store import ModelStore
from zoo.serving.model_store import discover_models
from zoo.serving.model_store import list_versions
from zoo.serving.server import main
from zoo.serving.server import parse_args


def copy_model(toy_models, root, name, version, source="imdb"):
    shutil.copytree(
        os.path.join(toy_models, source, "1"),
        os.path.join(root, name, str(version)),
    )


def write_broken(root, name, version):
    path = os.path.join(root, name, str(version))
    os.makedirs(path)
    with open(os.path.join(path, "saved_model.pb"), "wb") as file:
        file.write(b"not a SavedModel")


def test_load_errors_keep_their_code_and_deleted_versions_are_forgotten(
    toy_models, tmp_path
):
    root = str(tmp_path)
    copy_model(toy_models, root, "imdb", 1)
    write_broken(root, "imdb", 2)
    store = ModelStore(root)
    store.refresh()
    statuses = store.status("imdb")["model_version_status"]
    assert [(s["version"], s["state"]) for s in statuses] == [
        ("2", "END"),
        ("1", "AVAILABLE"),
    ]
    assert statuses[0]["status"]["error_code"] == "DATA_LOSS"
    assert "Cannot parse file" in statuses[0]["status"]["error_message"]
    shutil.rmtree(os.path.join(root, "imdb", "2"))
    store.refresh()
    assert store.status("imdb")["model_version_status"] == [
        {
            "version": "1",
            "state": "AVAILABLE",
            "status": {"error_code": "OK", "error_message": ""},
        }
    ]


def test_symlinked_model_folder_outside_is_not_served(toy_models, tmp_path):
    served, outside = tmp_path / "served", tmp_path / "outside"
    copy_model(toy_models, str(served), "imdb", 1)
    copy_model(toy_models, str(outside), "secret", 1)
    os.symlink(outside / "secret", served / "secret")
    os.symlink(served / "imdb", served / "alias")  # Inside: served.
    assert [c.name for c in discover_models(str(served))] == ["alias", "imdb"]


def test_versions_follow_the_export_rule(tmp_path):
    for name in ["1", "\u0663", "0", "007", "9" * 19, "12"]:
        os.makedirs(tmp_path / name)
        (tmp_path / name / "saved_model.pb").write_bytes(b"")
    assert sorted(list_versions(str(tmp_path))) == [1, 12]


def test_a_label_for_a_version_not_served_stops_the_start(
    toy_models, tmp_path, capsys
):
    copy_model(toy_models, str(tmp_path), "imdb", 1)
    config = tmp_path / "models.json"
    config.write_text(
        json.dumps(
            {"models": [{"name": "imdb", "version_labels": {"canary": 3}}]}
        )
    )
    assert main([str(tmp_path), "--model-config", str(config)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert "label 'canary' of model imdb names version 3" in err


@pytest.mark.parametrize(
    "argv, message",
    [
        (["/nonexistent/models"], "expected an existing folder"),
        (["{tmp}", "--model-config", "/nonexistent.json"], "No such file"),
        (["{tmp}", "--max-instances", "0"], "max_instances"),
    ],
)
def test_operator_mistakes_exit_2(tmp_path, capsys, argv, message):
    argv = [arg.replace("{tmp}", str(tmp_path)) for arg in argv]
    # `zoo serve` calls run_from_args, not main.
    assert run_from_args(parse_args(argv)) == 2
    err = capsys.readouterr().err
    assert err.startswith("zoo serve: error: ") and err.count("\n") == 1
    assert message in err


def test_no_test_only_knobs_in_production():
    fields = {field.name for field in dataclasses.fields(Limits)}
    assert not any("debug" in name for name in fields)
    with pytest.raises(SystemExit):
        parse_args(["models", "--debug-delay-ms", "5"])

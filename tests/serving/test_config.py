"""Unit tests of limits, the model config file and version discovery."""

import json
import os

import pytest

from zoo.serving.config import Limits
from zoo.serving.config import VersionPolicy
from zoo.serving.config import parse_model_config
from zoo.serving.model_store import discover_models
from zoo.serving.model_store import list_versions
from zoo.serving.server import parse_args


def make_version(root, *parts, complete=True):
    path = os.path.join(root, *parts)
    os.makedirs(os.path.join(path, "variables"), exist_ok=True)
    if complete:
        with open(os.path.join(path, "saved_model.pb"), "wb") as file:
            file.write(b"")
    return path


def test_parse_model_config(tmp_path):
    text = json.dumps(
        {
            "models": [
                {
                    "name": "imdb",
                    "base_path": "imdb",
                    "version_policy": {"specific": {"versions": [2, 1]}},
                    "version_labels": {"stable": 1, "canary": 2},
                },
                {"name": "digits", "version_policy": {"all": {}}},
                {
                    "name": "other",
                    "version_policy": {"latest": {"num_versions": 2}},
                },
            ]
        }
    )
    imdb, digits, other = parse_model_config(text, str(tmp_path))
    assert imdb.base_path == os.path.join(os.path.realpath(tmp_path), "imdb")
    assert imdb.version_policy == VersionPolicy("specific", 1, (1, 2))
    assert dict(imdb.version_labels) == {"stable": 1, "canary": 2}
    assert digits.version_policy.kind == "all"
    assert digits.base_path.endswith("digits")
    assert other.version_policy == VersionPolicy("latest", 2)


@pytest.mark.parametrize(
    "document, message",
    [
        ({"model": []}, '"models" list'),
        ({"models": [{"base_path": "x"}]}, "models[0].name"),
        ({"models": [{"name": "a", "base_path": "../elsewhere"}]}, "outside"),
        (
            {"models": [{"name": "a", "version_policy": {"newest": {}}}]},
            "unknown kind",
        ),
        (
            {
                "models": [
                    {
                        "name": "a",
                        "version_policy": {"specific": {"versions": [0]}},
                    }
                ]
            },
            "positive integers",
        ),
        (
            {"models": [{"name": "a", "version_labels": {"x": "1"}}]},
            "version_labels",
        ),
        ({"models": [{"name": "a"}, {"name": "a"}]}, "twice"),
        ({"models": [{"name": "a", "colour": 1}]}, "unknown keys"),
    ],
)
def test_bad_model_config(tmp_path, document, message):
    with pytest.raises(
        ValueError, match=message.replace("[", r"\[").replace("]", r"\]")
    ):
        parse_model_config(json.dumps(document), str(tmp_path))


def test_list_versions_ignores_temporary_and_incomplete_folders(tmp_path):
    root = str(tmp_path)
    make_version(root, "imdb", "1")
    make_version(root, "imdb", "12")
    make_version(root, "imdb", "3", complete=False)
    make_version(root, "imdb", ".tmp-4")
    make_version(root, "imdb", "0")
    make_version(root, "imdb", "007")
    make_version(root, "imdb", "v5")
    assert sorted(list_versions(os.path.join(root, "imdb"))) == [1, 12]


def test_discover_models(tmp_path):
    root = str(tmp_path)
    make_version(root, "imdb", "1")
    make_version(root, "fsdd", "2")
    make_version(root, ".hidden", "1")
    make_version(root, "empty", "1", complete=False)
    assert [c.name for c in discover_models(root)] == ["fsdd", "imdb"]
    # A folder that is itself a model (TF Serving's --model_base_path).
    only = discover_models(os.path.join(root, "imdb"))
    assert [(c.name, c.base_path) for c in only] == [
        ("imdb", os.path.join(root, "imdb"))
    ]


def test_limits_validate_and_flags_map_onto_them():
    with pytest.raises(ValueError, match="max_instances"):
        Limits(max_instances=0)
    args = parse_args(["models", "--max-instances", "8", "--deadline-s", "1.5"])
    assert (args.base_dir, args.max_instances, args.deadline_s) == (
        "models",
        8,
        1.5,
    )
    assert args.host == "127.0.0.1" and args.port == 8501

"""A server with a model config file: specific versions and version labels."""

import json
import os
import shutil

import pytest
import requests

from zoo.serving.server import main


@pytest.fixture(scope="module")
def server(toy_models, tmp_path_factory, start_server):
    base = str(tmp_path_factory.mktemp("configured"))
    shutil.copytree(
        os.path.join(toy_models, "imdb", "1"),
        os.path.join(base, "reviews", "1"),
    )
    shutil.copytree(
        os.path.join(toy_models, "_spare", "imdb_2"),
        os.path.join(base, "reviews", "2"),
    )
    shutil.copytree(
        os.path.join(toy_models, "imdb", "1"),
        os.path.join(base, "reviews", "3"),
    )
    shutil.copytree(
        os.path.join(toy_models, "spoken_digits"),
        os.path.join(base, "unlisted"),
    )
    config = {
        "models": [
            {
                "name": "imdb",
                "base_path": "reviews",
                "version_policy": {"specific": {"versions": [1, 2]}},
                "version_labels": {"stable": 1, "canary": 2},
            }
        ]
    }
    path = os.path.join(base, "models.json")
    with open(path, "w") as file:
        json.dump(config, file)
    return start_server(base, "--model-config", path)


def probability(server, path):
    response = requests.post(
        server.url + path, json={"instances": ["abcd"]}, timeout=30
    )
    assert response.status_code == 200, response.text
    return response.json()["predictions"][0]["probability"]


def test_status_lists_the_configured_versions(server):
    body = requests.get(server.url + "/v1/models/imdb", timeout=30).json()
    assert body == {
        "model_version_status": [
            {
                "version": str(v),
                "state": "AVAILABLE",
                "status": {"error_code": "OK", "error_message": ""},
            }
            for v in (2, 1)
        ]
    }
    labelled = requests.get(
        server.url + "/v1/models/imdb/labels/canary", timeout=30
    )
    assert labelled.json()["model_version_status"][0]["version"] == "2"


@pytest.mark.parametrize(
    "path, expected",
    [
        ("/v1/models/imdb:predict", 0.5),  # Latest served: 2 (3 is not listed).
        ("/v1/models/imdb/versions/1:predict", 0.25),
        ("/v1/models/imdb/versions/2:predict", 0.5),
        ("/v1/models/imdb/labels/stable:predict", 0.25),
        ("/v1/models/imdb/labels/canary:predict", 0.5),
    ],
)
def test_versions_and_labels(server, path, expected):
    assert probability(server, path) == expected


def test_metadata_by_label(server):
    body = requests.get(
        server.url + "/v1/models/imdb/labels/stable/metadata", timeout=30
    ).json()
    assert body["model_spec"] == {
        "name": "imdb",
        "signature_name": "",
        "version": "1",
    }


def test_unconfigured_models_and_versions_are_not_served(server):
    for path, status in [
        ("/v1/models/imdb/versions/3:predict", 404),
        ("/v1/models/unlisted:predict", 404),
        ("/v1/models/reviews:predict", 404),
        ("/v1/models/imdb/labels/beta:predict", 400),
    ]:
        response = requests.post(
            server.url + path, json={"instances": ["x"]}, timeout=30
        )
        assert response.status_code == status, (path, response.text)


def test_bad_config_file_fails_fast(tmp_path, capsys):
    path = tmp_path / "bad.json"
    path.write_text('{"models": [{"name": "x", "base_path": "/etc"}]}')
    assert main([str(tmp_path), "--model-config", str(path)]) == 2
    assert "outside the served folder" in capsys.readouterr().err

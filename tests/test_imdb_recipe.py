"""The IMDB recipe end to end on a tiny fake aclImdb, in seconds.

The recipe runs with `--smoke` on reviews written into `tmp_path` (a folder
and a .tar.gz); it trains, exports to `<tmp>/saved_models/imdb/<version>/`
and reloads the SavedModel in a process that never imports `zoo`. That
export, loaded with `tf.saved_model.load` in a process without `zoo`, is
also called with bad text (wrong rank or dtype, empty, invalid UTF-8,
huge): each gives an output or an error naming the problem, never a crash.
"""

import json
import os
import re
import subprocess
import sys
import tarfile
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers_saved_model_cli import saved_model_cli_run
from helpers_zoo_command import run_zoo

from recipes import imdb as recipe
from zoo import export

POSITIVE = ("great", "wonderful", "moving", "superb", "loved")
NEGATIVE = ("awful", "boring", "dull", "terrible", "hated")


def write_fake_acl_imdb(root, reviews_per_class=30):
    """An `aclImdb/train/{pos,neg}` folder of short synthetic reviews."""
    rng = np.random.default_rng(0)
    for label, words in (("pos", POSITIVE), ("neg", NEGATIVE)):
        folder = root / "aclImdb" / "train" / label
        folder.mkdir(parents=True)
        for index in range(reviews_per_class):
            chosen = " ".join(rng.choice(words, size=4))
            text = f"This film was {chosen}!<br /><br />Really {chosen}."
            (folder / f"{index}_{8 if label == 'pos' else 2}.txt").write_text(
                text, encoding="utf-8"
            )
    return root / "aclImdb"


@pytest.fixture(scope="module")
def workspace(tmp_path_factory):
    root = tmp_path_factory.mktemp("imdb_recipe")
    folder = write_fake_acl_imdb(root / "source")
    archive = root / "aclImdb_train.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname="aclImdb")
    return {"root": root, "folder": folder, "archive": archive}


def arguments(workspace, source, *extra):
    root = workspace["root"]
    return [
        "--smoke",
        "--data",
        str(source),
        "--data-dir",
        str(root / "tfds"),
        "--output-dir",
        str(root / "runs"),
        "--export",
        str(root / "saved_models"),
        *extra,
    ]


def fresh_arguments(tmp_path, source, *extra):
    """--smoke on `source`, every output under a fresh `tmp_path`."""
    return [
        "--smoke",
        "--data",
        str(source),
        "--data-dir",
        str(tmp_path / "tfds"),
        "--output-dir",
        str(tmp_path / "runs"),
        "--export",
        str(tmp_path / "saved_models"),
        *extra,
    ]


@pytest.fixture(scope="module")
def first_run(workspace):
    # Through the console script, as the README runs it.
    result = run_zoo(
        "train", "imdb", *arguments(workspace, workspace["folder"])
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "exported" in result.stdout
    return workspace["root"] / "saved_models" / "imdb" / "1"


def test_end_to_end_outputs(first_run, workspace):
    runs = workspace["root"] / "runs"
    metrics = json.loads((runs / "metrics.json").read_text())
    assert metrics["task"] == "imdb" and metrics["model"] == "nbsvm"
    assert 0.0 <= metrics["metrics"]["validation"]["accuracy"] <= 1.0
    assert "test" not in metrics["metrics"]
    assert metrics["data"]["test"].startswith("absent")
    training = metrics["training"]
    assert training["parameters"] > 0 and training["train_seconds"] > 0
    assert metrics["export"] == str(first_run.resolve())
    run = metrics["run"]
    assert "--smoke" in run["command"] and "git_commit" in run
    calibration = metrics["metrics"]["validation"]["calibration"]
    assert sorted(calibration) == [
        "first_20_words",
        "first_5_words",
        "whole",
    ]
    for figures in calibration.values():
        assert 0.0 <= figures["ece"] <= 1.0
    assert set(metrics["model_config"]["evidence_scaling"]) == {
        "scale",
        "half_evidence",
        "power",
    }
    for name in (
        "reliability.png",
        "reliability_unscaled.png",
        "history.csv",
        "learning_curves.png",
        "best.keras",
        "imdb.keras",
        "logs",
    ):
        assert (runs / name).exists(), name
    # The naive-Bayes ratios were fitted on the training reviews (before
    # `adapt` they are all 1) and travel inside the model.
    model = keras.saving.load_model(runs / "imdb.keras")
    bag = model.get_layer("nbsvm").get_layer("naive_bayes_bag")
    ratios = np.asarray(bag.log_count_ratios)
    assert ratios[0] == 0 and np.std(ratios[2:]) > 0.1
    assert (first_run / "saved_model.pb").exists()
    card = json.loads(
        (first_run / "assets.extra" / "model_card.json").read_text()
    )
    assert card["version"] == 1 and "validation_accuracy" in card
    assert card["calibration"]["first_5_words"]["ece"] >= 0.0
    assert card["command"] == run["command"]
    export.check_portable(first_run)
    # Weights only: no optimizer state (which would triple the size).
    weights = sum(
        path.stat().st_size for path in (first_run / "variables").iterdir()
    )
    assert weights < 4 * training["parameters"] * 1.5 + 65536
    # Each weight once: tracking the Keras model in the export used to add
    # a second copy under variables/ (a 32 MB instead of 16 MB model).
    keys = tf.train.load_checkpoint(
        str(first_run / "variables" / "variables")
    ).get_variable_to_shape_map()
    assert not [key for key in keys if key.startswith("variables/")]


def test_saved_model_cli_runs_the_export(first_run):
    # As TF Serving loads it: a TF1 session restoring the checkpoint.
    output = saved_model_cli_run(first_run, 'text=["A wonderful film!", ""]')
    assert "Result for output key probability" in output
    assert "Result for output key label" in output


def test_saved_model_signature_and_odd_text(first_run):
    loaded = tf.saved_model.load(str(first_run))
    serve = loaded.signatures["serving_default"]
    assert list(serve.structured_input_signature[1]) == ["text"]
    texts = tf.constant(
        ["A great film!", "", "   ", b"\xff\xfe not UTF-8 \xe9", "x" * 10000]
    )
    outputs = serve(text=texts)
    probability, label = outputs["probability"], outputs["label"]
    assert probability.dtype == tf.float32 and probability.shape == (5,)
    assert label.dtype == tf.int64 and label.shape == (5,)
    # Empty and invalid-UTF-8 reviews still give valid probabilities.
    assert np.all((probability.numpy() >= 0) & (probability.numpy() <= 1))
    np.testing.assert_array_equal(
        label.numpy(), (probability.numpy() > 0.5).astype(np.int64)
    )
    # No words, no evidence: exactly 0.5 (EvidenceScaling of 0 tokens).
    np.testing.assert_array_equal(probability.numpy()[1:3], [0.5, 0.5])


HOSTILE = Path(__file__).parent / "fixtures" / "hostile_serving.py"
# Either an output shape, or an error whose message names the problem.
SIGNATURE_CASES = {
    # The signature does not check ranks (TF Serving calls it); the
    # export's EnsureShape does, naming the input.
    "rank_2": r"Shape of tensor text \[1,1\] is not compatible with "
    r"expected shape \[\?\]",
    "scalar": r"Shape of tensor text \[\] is not compatible",
    "int_dtype": "expected to be a string tensor but is a int32 tensor",
    "float_dtype": "expected to be a string tensor but is a float tensor",
    "empty_string": [1],
    "whitespace_only": [1],
    "empty_batch": [0],
    "invalid_utf8": [1],
    "nul_bytes": [1],
    "huge_review": [1],
    "large_batch": [4096],
}
# The restored tf.function binds its input_signature before running.
FUNCTION_ERRORS = {
    "rank_2": r"Can not cast TensorSpec\(shape=\(1, 1\), dtype=tf.string, "
    r"name='text'\) to TensorSpec\(shape=\(None,\)",
    "scalar": r"Can not cast TensorSpec\(shape=\(\), dtype=tf.string",
    "int_dtype": r"Can not cast TensorSpec\(shape=\(2,\), dtype=tf.int32",
    "float_dtype": r"Can not cast TensorSpec\(shape=\(1,\), dtype=tf.float32",
}


def test_saved_model_rejects_bad_text_clearly_without_zoo(first_run):
    environment = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "CUDA_VISIBLE_DEVICES": "-1",
    }
    result = subprocess.run(
        [sys.executable, str(HOSTILE), str(first_run), "text"],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
        cwd=first_run.parent,
    )
    assert result.returncode == 0, result.stderr[-3000:]  # No crash.
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report.pop("_imported_zoo") is False
    expected = dict(SIGNATURE_CASES)
    for case, outcome in SIGNATURE_CASES.items():
        expected[f"function_{case}"] = FUNCTION_ERRORS.get(case, outcome)
    assert sorted(report) == sorted(expected)
    for case, outcome in expected.items():
        got = report[case]
        if isinstance(outcome, list):
            assert got["outcome"] == "ok", (case, got)
            assert got["shape"] == outcome and got["finite"], (case, got)
        else:
            assert got["outcome"] == "error", (case, got)
            assert got["type"] in ("InvalidArgumentError", "TypeError"), got
            assert re.search(outcome, got["message"]), (case, got["message"])


def test_keras_model_reloads_safely(first_run, workspace):
    import keras

    path = workspace["root"] / "runs" / "imdb.keras"
    model = keras.saving.load_model(path, safe_mode=True)
    probability = model.predict(np.array(["great", ""], dtype=object))
    assert probability.shape == (2,)
    loaded = tf.saved_model.load(str(first_run))
    expected = loaded.signatures["serving_default"](
        text=tf.constant(["great", ""])
    )["probability"].numpy()
    np.testing.assert_allclose(probability, expected, atol=1e-5)


def test_second_export_is_version_2_from_an_archive(
    first_run, workspace, monkeypatch
):
    # Relative paths, as typed on a command line.
    monkeypatch.chdir(workspace["root"])
    code = recipe.main(
        [
            "--smoke",
            "--data",
            workspace["archive"].name,
            "--data-dir",
            "tfds",
            "--output-dir",
            "runs_archive",
            "--export",
            "saved_models",
        ]
    )
    assert code == 0
    assert export.versions(workspace["root"] / "saved_models" / "imdb") == [
        1,
        2,
    ]


def test_existing_version_needs_overwrite(first_run, workspace, capsys):
    model_dir = workspace["root"] / "saved_models" / "imdb"
    before = sorted(path.name for path in model_dir.iterdir())
    stamp = (first_run / "saved_model.pb").stat().st_mtime_ns
    code = recipe.main(
        arguments(workspace, workspace["folder"], "--version", "1")
    )
    assert code == 2
    error = capsys.readouterr().err
    assert "already exists" in error and "--overwrite" in error
    assert "Traceback" not in error
    assert sorted(path.name for path in model_dir.iterdir()) == before
    assert (first_run / "saved_model.pb").stat().st_mtime_ns == stamp


@pytest.mark.parametrize("kind", ["missing", "corrupt", "not_imdb"])
def test_bad_sources_exit_2_without_traceback(kind, tmp_path, capsys):
    if kind == "missing":
        source = tmp_path / "no_such_aclImdb.tar.gz"
    elif kind == "corrupt":
        source = tmp_path / "aclImdb_v1.tar.gz"
        source.write_bytes(b"\x1f\x8b this is not a gzip archive")
    else:
        source = tmp_path / "empty_folder"
        source.mkdir()
    code = recipe.main(fresh_arguments(tmp_path, source))
    assert code == 2
    error = capsys.readouterr().err
    assert error.startswith("zoo train imdb: error: ")
    assert str(source.name) in error
    assert "Traceback" not in error
    assert not (tmp_path / "saved_models").exists()


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--model", "lstmm"], "zoo train imdb: error: .*Did you mean 'lstm'"),
        (["--version", "0"], "--version: expected a positive integer"),
    ],
)
def test_bad_arguments_exit_2_before_loading(
    extra, message, workspace, tmp_path, capsys
):
    arguments = fresh_arguments(tmp_path, workspace["archive"], *extra)
    try:
        code = recipe.main(arguments)
    except SystemExit as exit:  # argparse's usage errors
        code = exit.code
    assert code == 2
    error = capsys.readouterr().err
    assert re.search(message, error) and "Traceback" not in error
    assert not (tmp_path / "tfds").exists()


def test_parse_args_defaults_and_smoke():
    args = recipe.parse_args([])
    assert args.model == recipe.DEFAULT_MODEL and args.data is None
    assert args.output_dir == "runs/imdb" and args.export == "saved_models"
    assert args.version is None and not args.overwrite
    smoke = recipe.parse_args(["--smoke"])
    # The default keeps whole reviews; the smoke run truncates to 64 ids.
    assert args.max_length == 0 and args.epochs == 4
    assert smoke.epochs == 1 and smoke.max_length == 64
    assert smoke.vocabulary_size < args.vocabulary_size


@pytest.mark.parametrize("max_length", [16, 0])
def test_whole_review_logits_see_the_training_tokens(max_length):
    """Calibration's whole reviews are cleaned like the training text
    (and, with --max-length 0, batched by length without changing them)."""
    args = recipe.parse_args(
        ["--smoke", "--max-length", str(max_length), "--ngrams", "1"]
    )
    texts = tf.constant(
        ["A GREAT film.<br />Loved it!", "Dull, DULL; awful.", "Superb"]
    )
    data = tf.data.Dataset.from_tensor_slices((texts, tf.constant([1, 0, 1])))
    vectorizer = recipe.adapt_vectorizer(args, data)
    model = recipe.build_model(args, vectorizer)
    logits, counts, labels = recipe.review_logits(model, vectorizer, data, 2)
    cleaned = recipe.tokenize(vectorizer, texts)
    expected = np.asarray(model(cleaned))
    np.testing.assert_allclose(
        logits, expected[:, 1] - expected[:, 0], atol=1e-5
    )
    np.testing.assert_array_equal(counts, [5, 3, 1])
    batches = list(recipe.token_pipeline(data, vectorizer, 2))
    assert sum(len(label) for _, label in batches) == 3


def test_average_members_train_one_after_the_other(workspace, tmp_path):
    """`--model average`: each member trains alone, with its own outputs;
    the marks that let a resumed run skip a finished member are gone."""
    members = {"members": ["nbsvm", "cnn"], "member_args": [{}, {}]}
    assert (
        recipe.main(
            fresh_arguments(
                tmp_path,
                workspace["folder"],
                "--no-export",
                "--model",
                "average",
                "--model-args",
                json.dumps(members),
            )
        )
        == 0
    )
    runs = tmp_path / "runs"
    metrics = json.loads((runs / "metrics.json").read_text())
    names = ("member_0_nbsvm", "member_1_cnn")
    assert metrics["training"]["epochs_run"] == dict.fromkeys(names, 1)
    for name in names:
        for output in ("history.csv", "learning_curves.png", "best.keras"):
            assert (runs / name / output).exists(), (name, output)
        assert not (runs / name / recipe.MEMBER_DONE).exists()
    assert (runs / "imdb.keras").exists()


def test_a_resumed_run_skips_members_that_finished(tmp_path):
    """A member trained to the end (its weights saved as MEMBER_DONE) is
    loaded, not retrained, when the run is resumed; the marks go once all
    members are done."""
    import argparse

    import zoo
    from zoo.models import composite

    model = zoo.build(
        "average",
        members=("nbsvm", "cnn"),
        member_args=({}, {"filters": 4, "kernel_size": 3, "num_blocks": 1}),
        vocabulary_size=30,
        embedding_dim=4,
        output_activation=None,
    )
    members = composite.member_models(model)
    finished = members[0]
    trained = [np.full(w.shape, 0.25, "float32") for w in finished.weights]
    finished.set_weights(trained)
    done = tmp_path / finished.name / recipe.MEMBER_DONE
    done.parent.mkdir()
    finished.save_weights(done)
    finished.set_weights([np.zeros_like(w) for w in trained])
    fitted = []

    def fit(part, folder):
        fitted.append(part.name)
        return part, {"accuracy": [0.5]}

    args = argparse.Namespace(
        output_dir=str(tmp_path), learning_rate=1e-3, model="average"
    )
    _, history = recipe.fit_members(
        model, members, fit, tf.distribute.get_strategy(), args
    )
    assert fitted == ["member_1_cnn"] and list(history) == ["member_1_cnn"]
    for weight, expected in zip(finished.get_weights(), trained):
        np.testing.assert_array_equal(weight, expected)
    assert not done.exists()
    assert recipe.epochs_run(history) == {"member_1_cnn": 1}

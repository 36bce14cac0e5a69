import importlib.util
import io
import json
import os
import re
import shlex
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

import zoo
from zoo import cli
from zoo.data.audio import write_wav

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"


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


# --- start-up: the light commands import neither TensorFlow nor Keras ---

_LIGHT_COMMANDS = """
import contextlib, io, json, sys
from zoo.cli import main
codes = {}
for argv in (["--help"], ["--version"], ["train", "--help"]):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            codes[" ".join(argv)] = main(argv)
        except SystemExit as exit:
            codes[" ".join(argv)] = exit.code
    codes[" ".join(argv) + " output"] = out.getvalue()
heavy = sorted(m for m in ("tensorflow", "keras") if m in sys.modules)
print(json.dumps({"codes": codes, "heavy": heavy}))
"""


def _python(code, **kwargs):
    return subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        **kwargs,
    )


def test_help_version_and_train_help_import_no_tensorflow():
    result = _python(_LIGHT_COMMANDS)
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["heavy"] == []
    codes = report["codes"]
    assert codes["--help"] == codes["--version"] == codes["train --help"] == 0
    assert "predict" in codes["--help output"]
    assert codes["--version output"].strip() == f"zoo {zoo.__version__}"
    train_help = codes["train --help output"]
    for task in cli.RECIPES:
        # One line per task: its name and the recipe's summary.
        line = next(x for x in train_help.splitlines() if f"  {task} " in x)
        assert len(line.split()) > 3, line


def test_import_zoo_then_keras_still_loads_zoo_models(tmp_path):
    import keras

    from zoo.layers import LSTM

    inputs = keras.Input((3, 2))
    model = keras.Model(inputs, LSTM(4)(inputs))
    path = tmp_path / "lstm.keras"
    model.save(path)
    result = _python(
        "import sys\n"
        "import zoo\n"
        "assert 'keras' not in sys.modules and 'tensorflow' not in sys.modules"
        "\n"
        "import keras\n"
        f"model = keras.saving.load_model({str(path)!r}, safe_mode=True)\n"
        "print(type(model.layers[-1]).__module__)\n"
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-1] == "zoo.layers.lstm"


def test_describe_prints_real_characters(capsys):
    assert cli.main(["describe", "cldnn"]) == 0
    out = capsys.readouterr().out
    assert "→" in out and "\\u2192" not in out


def test_train_passes_the_arguments_prog_and_exit_code(monkeypatch):
    calls = []

    def main(argv=None, prog=None):
        calls.append((argv, prog))
        return 3

    recipe = types.ModuleType("recipes.spoken_digits")
    recipe.__spec__ = importlib.util.find_spec("recipes.spoken_digits")
    recipe.main = main
    monkeypatch.setitem(sys.modules, "recipes.spoken_digits", recipe)
    assert cli.main(["train", "spoken_digits", "--epochs", "1", "-h"]) == 3
    assert calls == [(["--epochs", "1", "-h"], "zoo train spoken-digits")]


# --- zoo predict on the shipped models ---

SAVED_MODELS = ROOT / "saved_models"


def _predict(capsys, monkeypatch, *argv, stdin=b""):
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(stdin)))
    code = cli.main(["predict", *map(str, argv)])
    captured = capsys.readouterr()
    lines = [json.loads(line) for line in captured.out.splitlines()]
    return code, lines, captured.err


def _tone(seconds, frequency, sample_rate=8000):
    time = np.arange(int(seconds * sample_rate)) / sample_rate
    return 0.5 * np.sin(2 * np.pi * frequency * time)


def test_predict_imdb_texts_file_and_stdin(capsys, monkeypatch, tmp_path):
    reviews = tmp_path / "reviews.txt"
    reviews.write_text("A wonderful film!\n\na dull, overlong film\n")
    code, lines, err = _predict(
        capsys,
        monkeypatch,
        SAVED_MODELS / "imdb",
        "a great movie",
        reviews,
        "-",
        stdin=b"terrible acting\nloved it\n",
    )
    assert code == 0, err
    assert [line["input"] for line in lines] == [
        "a great movie",
        "A wonderful film!",
        "a dull, overlong film",
        "terrible acting",
        "loved it",
    ]
    for line in lines:
        assert set(line) == {"input", "label", "probability"}
        assert 0.0 <= line["probability"] <= 1.0
        assert line["label"] == int(line["probability"] > 0.5)
    assert [line["label"] for line in lines[:3]] == [1, 1, 0]


def test_predict_spoken_digits_wavs_batched_as_one_by_one(
    capsys, monkeypatch, tmp_path
):
    paths = [tmp_path / "short.wav", tmp_path / "long.wav"]
    write_wav(paths[0], _tone(0.4, 300))
    write_wav(paths[1], _tone(0.9, 700))
    folder = SAVED_MODELS / "spoken_digits"
    code, batched, err = _predict(capsys, monkeypatch, folder, *paths)
    assert code == 0, err
    code, single, err = _predict(
        capsys, monkeypatch, folder, *paths, "--batch-size", "1"
    )
    assert code == 0, err
    assert [line["input"] for line in batched] == list(map(str, paths))
    for one, padded in zip(single, batched):
        assert one["digit"] == padded["digit"] in range(10)
        assert abs(sum(one["probabilities"]) - 1) < 1e-4
        np.testing.assert_allclose(
            one["probabilities"], padded["probabilities"], atol=1e-5
        )


def test_predict_connected_digits_each_line_its_own(
    capsys, monkeypatch, tmp_path
):
    short, long = tmp_path / "short.wav", tmp_path / "long.wav"
    write_wav(short, _tone(0.5, 400))
    write_wav(long, _tone(1.5, 400))
    code, lines, err = _predict(
        capsys, monkeypatch, SAVED_MODELS / "connected_digits", short, long
    )
    assert code == 0, err
    assert all(isinstance(line["digits"], str) for line in lines)
    assert all(line["digits"].isdigit() or not line["digits"] for line in lines)
    # Each input's logits, not a row padded to the longest input.
    short_frames, long_frames = (len(line["logits"]) for line in lines)
    assert 0 < short_frames < long_frames
    assert all(len(frame) == 11 for frame in lines[0]["logits"])


@pytest.fixture(scope="module")
def frames_model(tmp_path_factory):
    """A plain-TensorFlow audio model with `logits` and `logits_lengths`."""
    import tensorflow as tf

    class Frames(tf.Module):
        @tf.function(
            input_signature=[tf.TensorSpec([None, None], tf.float32, "audio")]
        )
        def serve(self, audio):
            batch, samples = tf.shape(audio)[0], tf.shape(audio)[1]
            frames = tf.reshape(
                audio[:, : samples // 100 * 100], [batch, -1, 100]
            )
            energy = tf.reduce_sum(tf.abs(frames), axis=2, keepdims=True)
            lengths = tf.reduce_sum(
                tf.cast(energy[..., 0] > 0, tf.int32), axis=1
            )
            return {"logits": energy, "logits_lengths": lengths}

    module = Frames()
    folder = tmp_path_factory.mktemp("frames")
    version = folder / "7"
    tf.saved_model.save(module, str(version), signatures=module.serve)
    (version / "assets.extra").mkdir()
    (version / "assets.extra" / "model_card.json").write_text(
        json.dumps({"sample_rate": 16000})
    )
    (folder / "12").mkdir()  # incomplete: no saved_model.pb
    return folder


def test_predict_cuts_time_axes_to_their_lengths(
    capsys, monkeypatch, tmp_path, frames_model
):
    short, long = tmp_path / "short.wav", tmp_path / "long.wav"
    write_wav(short, np.full(1000, 0.5), sample_rate=16000)
    write_wav(long, np.full(2500, 0.5), sample_rate=16000)
    code, lines, err = _predict(capsys, monkeypatch, frames_model, short, long)
    assert code == 0, err
    assert [line["logits_lengths"] for line in lines] == [10, 25]
    assert [len(line["logits"]) for line in lines] == [10, 25]
    code, lines, err = _predict(
        capsys, monkeypatch, frames_model, short, "--outputs", "logits_lengths"
    )
    assert code == 0, err
    assert lines == [{"input": str(short), "logits_lengths": 10}]


def _one_line_error(code, err, *expected):
    assert code == 2
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("zoo predict: error: "), err
    for text in expected:
        assert text in err, err


def test_predict_errors_are_one_line(
    capsys, monkeypatch, tmp_path, frames_model
):
    text = tmp_path / "notes.txt"
    text.write_text("not audio\n")
    fast = tmp_path / "fast.wav"
    write_wav(fast, _tone(0.5, 300, sample_rate=16000), sample_rate=16000)
    stereo = tmp_path / "stereo.wav"
    write_wav(stereo, np.stack([_tone(0.5, 300)] * 2, axis=1))
    digits = SAVED_MODELS / "spoken_digits"
    cases = [
        ((tmp_path, "x"), "is not a SavedModel"),
        ((tmp_path / "missing", "x"), "no such folder"),
        ((SAVED_MODELS, "x"), "is a folder of models"),
        ((digits, text), "is not a WAV file"),
        ((digits, fast), "16000 Hz; the model takes 8000 Hz"),
        ((digits, stereo), "has 2 channels"),
        ((digits, tmp_path / "gone.wav"), "no such file"),
        ((SAVED_MODELS / "imdb", fast), "is not a text file"),
        ((frames_model, tmp_path / "x.wav", "--outputs", "digit"), "digit"),
    ]
    for argv, expected in cases:
        code, _, err = _predict(capsys, monkeypatch, *argv)
        _one_line_error(code, err, expected)


def test_readme_imdb_predict_examples_are_what_the_model_gives(
    capsys, monkeypatch
):
    text = README.read_text(encoding="utf-8")
    block = text.split("## Predict from the shell", 1)[1].split("```", 2)[1]
    commands = re.findall(
        r"^(.*zoo predict saved_models/imdb .*)\n((?:# \{.*\n)+)", block, re.M
    )
    assert len(commands) == 2
    for command, shown in commands:
        stdin = b""
        if " | " in command:
            printf, command = command.split(" | ")
            stdin = shlex.split(printf)[1].replace("\\n", "\n").encode()
        argv = shlex.split(command)[2:]  # after "zoo predict"
        argv[0] = ROOT / argv[0]
        code, lines, err = _predict(capsys, monkeypatch, *argv, stdin=stdin)
        assert code == 0, err
        expected = [json.loads(line[2:]) for line in shown.splitlines()]
        assert len(lines) == len(expected)
        for got, want in zip(lines, expected):
            assert got["input"] == want["input"]
            assert got["label"] == want["label"]
            assert got["probability"] == pytest.approx(
                want["probability"], rel=1e-3
            )


@pytest.mark.parametrize("task", ["imdb", "spoken_digits"])
def test_train_task_help_names_zoo_train(capsys, task):
    with pytest.raises(SystemExit) as exit:
        cli.main(["train", task, "--help"])
    assert exit.value.code == 0
    usage = capsys.readouterr().out.splitlines()[0]
    assert usage.startswith(f"usage: zoo train {cli.task_name(task)} ")

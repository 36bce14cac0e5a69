"""Hostile and bad input: the registry, the builders, exported models, files.

- Registry: unknown or non-string names raise ValueErrors that name the
  problem (with close matches); unknown hyperparameters: test_registry.py.
- Builders: every hyperparameter of every model, given a value of the wrong
  type or range (string, negative, None, list, bool, NaN, zero, ...),
  raises a ValueError naming that hyperparameter; unknown input kinds and
  heads too.
- Exported SavedModels (`model.export`), called in a fresh process that
  never imports `zoo`: wrong dtype, wrong rank, wrong feature size, empty
  batch, empty time axis, out-of-vocabulary and negative ids, NaN/inf/huge
  values, a 20 000-step sequence and a 4 096-row batch give either a result
  or an exception naming the problem, and never kill the process.
- Safe loading: no `Lambda`, `py_function`, `pickle` (or similar) in the
  source of `zoo/` and `recipes/`, and a zoo model's `.keras` file loads
  with `safe_mode=True` (that Keras refuses a Lambda there is Keras' test).
"""

import ast
import json
import math
import subprocess
import sys
from pathlib import Path

import keras
import numpy as np
import pytest
from helpers_resume import REPO

import zoo

# The kinds of bad value tried for every hyperparameter (see the report).
BAD_VALUES = {
    "string": "abc",
    "negative": -1,
    "none": None,
    "list": [1],
    "bool": True,
    "nan": math.nan,
    "fraction": 2.5,
}
# (hyperparameter, value) pairs that are legitimately accepted.
VALID = {
    ("output_activation", "none"),  # A linear output (logits).
    ("variant", "none"),  # The default switches.
    ("convolution", "none"),  # The pyramid's default: no front end.
}


def _relevant(name: str, key: str) -> bool:
    """Whether `key` is used by model `name` with its default input kind."""
    kind = zoo.describe(name)["defaults"]["inputs"]
    unused = {
        "tokens": {"feature_dim"},
        "features": {"vocabulary_size", "embedding_dim"},
    }[kind]
    return key not in unused


def _cases():
    cases = []
    labels = sorted(BAD_VALUES)
    for model_index, name in enumerate(zoo.list_models()):
        keys = sorted(zoo.describe(name)["defaults"])
        for key_index, key in enumerate(keys):
            if not _relevant(name, key):
                continue
            # Every kind for the `gru`; one kind per key elsewhere (rotated).
            chosen = (
                labels
                if name == "gru"
                else [labels[(model_index + key_index) % len(labels)]]
            )
            for label in chosen:
                value = BAD_VALUES[label]
                if (key, label) in VALID or (
                    isinstance(value, bool)
                    and isinstance(zoo.describe(name)["defaults"][key], bool)
                ):
                    continue
                cases.append(
                    pytest.param(name, key, value, id=f"{name}-{key}-{label}")
                )
    return cases


def test_unknown_names():
    with pytest.raises(ValueError, match="Unknown model name 'lstn'.*'lstm'"):
        zoo.build("lstm".replace("m", "n"))
    for name in (None, 3, ["lstm"], "", "LSTM ", "../lstm"):
        with pytest.raises(ValueError, match="Unknown model name"):
            zoo.build(name)
        with pytest.raises(ValueError, match="Unknown model name"):
            zoo.describe(name)
        assert not zoo.is_model(name)
    assert zoo.list_models("no_such_*") == []


@pytest.mark.parametrize(
    "overrides, named",
    [
        ({"inputs": "images"}, "inputs"),
        ({"inputs": None}, "inputs"),
        ({"head": "regress"}, "head"),
        ({"head": ["classify"]}, "head"),
        ({"inputs": "features", "feature_dim": 0}, "feature_dim"),
        ({"inputs": "tokens", "vocabulary_size": 1}, "vocabulary_size"),
        ({"num_classes": 0}, "num_classes"),
        ({"dropout": 1.0}, "dropout"),
        ({"output_activation": "no_such_activation"}, "output_activation"),
    ],
)
def test_bad_input_kind_and_head(overrides, named):
    with pytest.raises(ValueError, match=named):
        zoo.build("gru", **overrides)


@pytest.mark.parametrize("name, key, value", _cases())
def test_bad_hyperparameter_raises_value_error_naming_it(name, key, value):
    with pytest.raises(ValueError, match=key):
        zoo.build(name, **{key: value})


# Once unclear (a Keras error from deep inside the model): now checked up front.


@pytest.mark.parametrize("name", ["bidirectional_gru", "bidirectional_lstm"])
def test_bidirectional_builder_rejects_merge_mode_none(name):
    with pytest.raises(ValueError, match="merge_mode"):
        zoo.build(name, merge_mode=None)


@pytest.mark.parametrize("name", ["pyramid_gru", "pyramid_lstm"])
def test_pyramid_builder_names_reduction_mode(name):
    with pytest.raises(ValueError, match="reduction_mode"):
        zoo.build(name, reduction_mode="average")


# Exported models called with bad inputs, in a process without `zoo`.

HOSTILE = REPO / "tests" / "fixtures" / "hostile_serving.py"
# Keras' signatures check dtypes but not ranks or sizes: the first op that
# needs them fails, naming the sizes it got.
RANK_ERROR = (
    r"transpose expects a vector of size [24]\. But input\(1\) is a vector "
    r"of size 3"
)
# A rank-2 feature batch also reaches a reshape in the loop; as for the
# empty time axis, whichever of the two ops fails first is reported (seen
# in a fresh-clone CI run: "... the requested shape has 54").
FEATURE_RANK_ERROR = RANK_ERROR + r"|the requested shape has \d+"
FEATURE_SIZE_ERROR = (
    r"Input to reshape is a tensor with 24 values, but the requested shape "
    r"has 18|Matrix size-incompatible"
)
# An empty time axis fails in the loop: two ops of the graph cannot run on
# it, and TensorFlow's executor reports whichever fails first (it varies
# from run to run).
EMPTY_TIME_ERROR = r"uninitialized tensors|0 out of bounds"
# Either a result, or an error whose message names the problem.
EXPECTED = {
    "tokens": {
        "float_dtype": "expected to be a int32 tensor but is a float",
        "string_dtype": "expected to be a int32 tensor but is a string",
        "int64_dtype": "expected to be a int32 tensor but is a int64",
        "rank_1": RANK_ERROR,
        "rank_3": RANK_ERROR,
        "empty_batch": [0, 2],
        "empty_time": EMPTY_TIME_ERROR,
        "all_padding": [2, 2],
        "id_out_of_vocabulary": r"indices\[0,1\] = 1000000 is not in \[0, 20\)",
        # Silently wraps around (Keras' `take`): id -3 reads row 17.
        "negative_id": [1, 2],
        "long_sequence": [1, 2],
        "large_batch": [4096, 2],
    },
    "features": {
        "int_dtype": "expected to be a float tensor but is a int32",
        "float64_dtype": "expected to be a float tensor but is a double",
        "float16_dtype": "expected to be a float tensor but is a half",
        "rank_2": FEATURE_RANK_ERROR,
        "wrong_feature_dim": FEATURE_SIZE_ERROR,
        "empty_batch": [0, 2],
        "empty_time": EMPTY_TIME_ERROR,
        "all_zero_frames": [2, 2],
        "huge_values": [2, 2],
        "nan_values": [2, 2],  # NaN in, NaN out: no error.
        "inf_values": [2, 2],
        "long_sequence": [1, 2],
    },
}


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exported")
    keras.utils.set_random_seed(0)
    zoo.build("gru", vocabulary_size=20, embedding_dim=2, units=2).export(
        str(folder / "tokens"), verbose=False
    )
    zoo.build("gru", inputs="features", feature_dim=3, units=2).export(
        str(folder / "features"), verbose=False
    )
    return folder


@pytest.mark.parametrize("kind", ["tokens", "features"])
def test_exported_model_survives_bad_inputs(exported, kind):
    environment = {"TF_CPP_MIN_LOG_LEVEL": "3", "CUDA_VISIBLE_DEVICES": "-1"}
    import os

    environment = {
        **{k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        **environment,
    }
    result = subprocess.run(
        [sys.executable, str(HOSTILE), str(exported / kind), kind],
        capture_output=True,
        text=True,
        timeout=300,
        env=environment,
        cwd=exported,
    )
    assert result.returncode == 0, result.stderr[-3000:]  # No crash.
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report.pop("_imported_zoo") is False
    assert sorted(report) == sorted(EXPECTED[kind])
    import re

    for case, expected in EXPECTED[kind].items():
        outcome = report[case]
        if isinstance(expected, list):
            assert outcome["outcome"] == "ok", (case, outcome)
            assert outcome["shape"] == expected, case
        else:
            assert outcome["outcome"] == "error", (case, outcome)
            assert outcome["type"] in (
                "InvalidArgumentError",
                "ValueError",
                "TypeError",
            ), (case, outcome["type"])
            assert re.search(expected, outcome["message"]), (
                case,
                outcome["message"][-500:],
            )
    finite_expected = {"nan_values": False, "inf_values": False}
    for case, outcome in report.items():
        if outcome["outcome"] == "ok":
            assert outcome["finite"] is finite_expected.get(case, True), case


# Safe loading.

UNSAFE_NAMES = {
    "Lambda",
    "py_function",
    "numpy_function",
    "py_func",
    "eval",
    "exec",
    "__import__",
}
UNSAFE_MODULES = {
    "pickle",
    "cPickle",
    "dill",
    "cloudpickle",
    "marshal",
    "shelve",
    "joblib",
}


def _unsafe_uses(path: Path) -> list[str]:
    """Uses (not mentions in text) of code-executing loaders in a file."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    found = []
    for node in ast.walk(tree):
        where = f"{path.name}:{getattr(node, 'lineno', '?')}"
        if isinstance(node, ast.Name) and node.id in UNSAFE_NAMES:
            found.append(f"{where} {node.id}")
        elif isinstance(node, ast.Attribute) and node.attr in UNSAFE_NAMES:
            found.append(f"{where} .{node.attr}")
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [alias.name for alias in node.names]
            if any(name in UNSAFE_NAMES for name in modules):
                found.append(f"{where} import {modules}")
            if isinstance(node, ast.ImportFrom):
                modules.append(node.module or "")
            if any(m.split(".")[0] in UNSAFE_MODULES for m in modules):
                found.append(f"{where} import {modules}")
        elif isinstance(node, ast.keyword) and (
            (node.arg == "allow_pickle" or node.arg == "safe_mode")
            and isinstance(node.value, ast.Constant)
            and node.value.value is (node.arg == "allow_pickle")
        ):
            found.append(f"{where} {node.arg}={node.value.value}")
    return found


def test_no_lambda_py_function_or_pickle_in_sources():
    files = sorted((REPO / "zoo").rglob("*.py"))
    files += sorted((REPO / "recipes").rglob("*.py"))
    assert files
    found = [
        f"{path.parent.name}/{use}"
        for path in files
        for use in _unsafe_uses(path)
    ]
    assert not found, found


def test_scanner_finds_unsafe_uses(tmp_path):
    sample = tmp_path / "unsafe_sample.py"
    sample.write_text(
        "import pickle\nfrom keras.layers import Lambda\n"
        "import numpy as np\nnp.load('x', allow_pickle=True)\n"
        "tf.py_function(f, [], [])\n# Lambda in a comment is fine\n"
    )
    found = _unsafe_uses(sample)
    assert len(found) == 4, found


def test_model_keras_file_loads_in_safe_mode(tmp_path):
    model = zoo.build(
        "bidirectional_lstm", vocabulary_size=20, embedding_dim=2, units=2
    )
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    tokens = np.array([[3, 4, 5, 0]], "int32")
    np.testing.assert_allclose(loaded(tokens), model(tokens), atol=1e-6)

"""Registry-wide tests: every registered model, built, trained, saved, served.

The `.keras` files are reloaded in a fresh process that only imports `zoo`,
and the SavedModels in a fresh process that never imports it (what a
serving system sees); one subprocess each checks all models at once.
"""

import json
import subprocess
import sys
import textwrap

import keras
import numpy as np
import pytest
import tensorflow as tf

import zoo
from zoo import export

TINY = {
    "vocabulary_size": 30,
    "embedding_dim": 4,
    "units": 3,
    "filters": 4,
    "kernel_size": 3,
    "hidden_units": 4,
    "projection_dim": 3,
    "dnn_units": 3,
    "num_levels": 2,
}


def tiny_overrides(name, **extra):
    defaults = zoo.describe(name)["defaults"]
    overrides = {key: value for key, value in TINY.items() if key in defaults}
    overrides.update(extra)
    return overrides


def sample_input(model, rng):
    if model.input.dtype == "int32":
        tokens = rng.integers(1, 30, size=(3, 12)).astype("int32")
        tokens[1, 7:] = 0  # right padding
        return tokens
    features = rng.normal(size=(3, 12, model.input.shape[-1])).astype("float32")
    features[1, 7:] = 0.0
    return features


@pytest.mark.parametrize("name", zoo.list_models())
def test_builds_with_defaults(name):
    model = zoo.build(name)
    assert model.name == name
    assert model.count_params() > 0


@pytest.mark.parametrize("name", zoo.list_models())
@pytest.mark.parametrize("inputs", ["tokens", "features"])
@pytest.mark.parametrize("head", ["classify", "sequence"])
def test_tiny_model_runs_without_nans(name, inputs, head, rng):
    overrides = tiny_overrides(
        name, inputs=inputs, head=head, feature_dim=5, num_classes=3
    )
    described = zoo.describe(name)
    if inputs not in described["inputs"] or head not in described["heads"]:
        # What the registry says the model does not take is refused by
        # name, not built wrong.
        with pytest.raises(ValueError, match="inputs=.*head="):
            zoo.build(name, **overrides)
        return
    model = zoo.build(name, **overrides)
    output = np.asarray(model(sample_input(model, rng)))
    assert np.all(np.isfinite(output))
    if head == "classify":
        assert output.shape == (3, 3)
        np.testing.assert_allclose(output.sum(-1), 1.0, atol=1e-5)
    else:
        assert output.shape[0] == 3 and output.shape[-1] == 3
        assert 1 <= output.shape[1] <= 12


@pytest.mark.parametrize("name", zoo.list_models())
def test_one_training_step_reaches_every_variable(name, rng):
    model = zoo.build(name, **tiny_overrides(name))
    inputs = sample_input(model, rng)
    labels = np.array([0, 1, 1])
    loss_fn = keras.losses.SparseCategoricalCrossentropy()
    with tf.GradientTape() as tape:
        loss = loss_fn(labels, model(inputs, training=True))
    gradients = tape.gradient(loss, model.trainable_variables)
    missing = [
        variable.path
        for variable, gradient in zip(model.trainable_variables, gradients)
        if gradient is None or not np.any(np.asarray(gradient))
    ]
    assert not missing, f"no gradient reaches {missing}"
    model.compile(optimizer="adam", loss=loss_fn)
    history = model.fit(inputs, labels, epochs=1, verbose=0)
    assert np.isfinite(history.history["loss"][0])


@pytest.fixture(scope="module")
def saved_models(tmp_path_factory):
    """Every model at tiny size, saved as .keras and as a SavedModel."""
    root = tmp_path_factory.mktemp("models")
    rng = np.random.default_rng(0)
    manifest = {}
    for name in zoo.list_models():
        keras.utils.set_random_seed(0)
        model = zoo.build(name, **tiny_overrides(name))
        inputs = sample_input(model, rng)
        expected = np.asarray(model(inputs))
        model.save(root / f"{name}.keras")
        # The one export every recipe uses (portable tracing included); the
        # fresh-process check runs below for all models in one process.
        input_name = model.inputs[0].name
        folder = export.export_saved_model(
            model,
            root / name,
            probe_inputs={input_name: inputs},
            card={"name": name},
            verify=False,
        )
        np.save(root / f"{name}.inputs.npy", inputs)
        np.save(root / f"{name}.expected.npy", expected)
        manifest[name] = (str(folder), input_name)
    return root, manifest


def _run(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_keras_files_reload_in_a_fresh_process(saved_models):
    root, manifest = saved_models
    result = _run(
        f"""
        import json, sys
        import numpy as np, keras
        import zoo  # registers the layers; nothing else is shared
        root = {str(root)!r}
        bad = []
        for name in {list(manifest)!r}:
            model = keras.saving.load_model(f"{{root}}/{{name}}.keras",
                                            safe_mode=True)
            inputs = np.load(f"{{root}}/{{name}}.inputs.npy")
            expected = np.load(f"{{root}}/{{name}}.expected.npy")
            if not np.allclose(model(inputs), expected, atol=1e-5):
                bad.append(name)
        print(json.dumps(bad))
        """
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_saved_models_run_in_a_process_without_zoo(saved_models):
    root, manifest = saved_models
    result = _run(
        f"""
        import json, sys
        import numpy as np, tensorflow as tf
        root = {str(root)!r}
        bad = []

        def tf1_session_output(path, input_name, inputs):
            # As TF Serving's C++ loader and `saved_model_cli run` do.
            graph = tf.Graph()
            with tf.compat.v1.Session(graph=graph) as session:
                signature = tf.compat.v1.saved_model.loader.load(
                    session, ["serve"], path
                ).signature_def["serving_default"]
                feed = graph.get_tensor_by_name(
                    signature.inputs[input_name].name
                )
                fetch = graph.get_tensor_by_name(
                    signature.outputs["output"].name
                )
                return session.run(fetch, {{feed: inputs}})

        for name, (path, input_name) in {manifest!r}.items():
            inputs = np.load(f"{{root}}/{{name}}.inputs.npy")
            expected = np.load(f"{{root}}/{{name}}.expected.npy")
            serve = tf.saved_model.load(path).signatures["serving_default"]
            output = serve(**{{input_name: tf.constant(inputs)}})["output"]
            if not np.allclose(output.numpy(), expected, atol=1e-5):
                bad.append((name, "tf.saved_model.load"))
            output = tf1_session_output(path, input_name, inputs)
            if not np.allclose(output, expected, atol=1e-5):
                bad.append((name, "TF1 session"))
        assert not any(m.startswith("zoo") for m in sys.modules), "zoo leaked"
        print(json.dumps(bad))
        """
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert json.loads(result.stdout.strip().splitlines()[-1]) == []


def test_saved_models_are_portable(saved_models):
    _, manifest = saved_models
    for name, (path, _) in manifest.items():
        ops = export.graph_ops(path)
        assert ops, name
        assert not ops & set(export.NON_PORTABLE_OPS), name

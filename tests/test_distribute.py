"""`zoo.distribute`: strategies by name, `DistributedTrainer`, `fit_model`.

The heart: two `MultiWorkerMirroredStrategy` workers on 127.0.0.1 (CPU,
separate processes, a TF_CONFIG cluster) train a tiny zoo model through
`fit_model` with the standard callbacks until early stopping ends the run;
both hold the same final (best-epoch) weights, equal to the chief's
`best.keras`, and they match a one-worker run on the same global batches
to 1e-5 (the all-reduce sums two half-batch gradients where one worker
computes one full-batch gradient: same maths, another order of float
additions).

The trainer's callbacks contract and backup are tested in-process under
the default strategy: the trainer runs the same code under every strategy,
and only the all-reduces (the loss scaling, the agreement checks) differ
with several workers, which the two-worker test covers.
"""

import argparse
import json
import socket
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from helpers_resume import REPO
from helpers_resume import subprocess_environment

import zoo
from zoo import distribute
from zoo import training

SCRIPT = str(REPO / "tests" / "helpers_distribute_script.py")
TOLERANCE = 1e-5


def test_strategy_from_name(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    default = tf.distribute.get_strategy()
    assert distribute.strategy_from_name("default") is default
    assert distribute.strategy_from_name("auto") is default
    mirrored = distribute.strategy_from_name("mirrored")
    assert isinstance(mirrored, tf.distribute.MirroredStrategy)
    assert distribute.is_chief(mirrored)
    with pytest.raises(ValueError, match="`strategy`.*'mirorred'"):
        distribute.strategy_from_name("mirorred")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ValueError, match="TF_CONFIG"):
        distribute.strategy_from_name("auto")


def test_add_strategy_argument():
    parser = argparse.ArgumentParser()
    distribute.add_strategy_argument(parser.add_argument_group("Training"))
    assert parser.parse_args([]).strategy == "auto"
    assert parser.parse_args(["--strategy", "multi_worker"]).strategy == (
        "multi_worker"
    )
    with pytest.raises(SystemExit):
        parser.parse_args(["--strategy", "tpu"])


def _data():
    rng = np.random.default_rng(0)
    x = rng.integers(1, 20, size=(24, 5)).astype("int32")
    y = (x[:, 0] > 10).astype("int32")
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(8)


def _model(loss="sparse_categorical_crossentropy"):
    keras.utils.set_random_seed(3)
    model = zoo.build("gru", vocabulary_size=20, embedding_dim=3, units=3)
    model.compile(optimizer=keras.optimizers.Adam(0.05), loss=loss)
    return model


def _train(directory, epochs, patience=1):
    """The trainer with the standard callbacks, set to stop early: the
    validation loss falls, and mode "max" waits for it to rise."""
    model = _model()
    trainer = distribute.DistributedTrainer(
        model,
        tf.distribute.get_strategy(),
        checkpoint_dir=directory / "checkpoints",
        metrics={"accuracy": "sparse_categorical_accuracy"},
    )
    callbacks = training.standard_callbacks(
        directory,
        monitor="val_loss",
        mode="max",
        patience=patience,
        backup=False,
        tensorboard=False,
    )
    history = trainer.fit(
        _data(),
        _data().take(1),
        epochs=epochs,
        callbacks=callbacks,
        verbose=False,
    )
    return model, history


def _epochs_until_stop(values, patience, epochs, better):
    """Epochs that EarlyStopping lets run, from the logged values."""
    best, wait = None, 0
    for epoch, value in enumerate(values[:epochs]):
        wait += 1
        if best is None or better(value, best):
            best, wait = value, 0
        elif wait >= patience and epoch > 0:
            return epoch + 1
    return epochs


def _assert_same_weights(first, second, atol=0.0):
    assert len(first) == len(second)
    for a, b in zip(first, second):
        np.testing.assert_allclose(a, b, rtol=0, atol=atol)


def test_trainer_stops_early_keeps_the_best_and_resumes(tmp_path):
    straight, history = _train(tmp_path / "straight", epochs=5)
    assert sorted(history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    val_loss = history["val_loss"]
    run = len(val_loss)
    assert run == _epochs_until_stop(val_loss, 1, 5, lambda a, b: a > b)
    assert run < 5, f"no early stop: val_loss {val_loss}"
    best = int(np.argmax(val_loss))
    # EarlyStopping restored the best epoch's weights, which the chief's
    # best-model checkpoint holds too; the CSV has one row per epoch.
    saved = keras.saving.load_model(tmp_path / "straight" / "best.keras")
    _assert_same_weights(straight.get_weights(), saved.get_weights())
    loss = straight.evaluate(_data().take(1), verbose=0)
    assert loss == pytest.approx(val_loss[best], abs=1e-6)
    rows = (tmp_path / "straight" / "history.csv").read_text().splitlines()
    assert len(rows) == run + 1

    # Killed after one epoch, rerun: the early-stopping state (best value,
    # patience count, best weights) comes back with the checkpoint, so the
    # run stops at the same epoch with the same weights.
    _train(tmp_path / "resumed", epochs=1)
    resumed, resumed_history = _train(tmp_path / "resumed", epochs=5)
    for name, values in history.items():
        np.testing.assert_allclose(resumed_history[name], values, atol=1e-6)
    _assert_same_weights(resumed.get_weights(), straight.get_weights(), 1e-6)
    # A rerun of the stopped run trains no further.
    again, again_history = _train(tmp_path / "resumed", epochs=5)
    assert again_history == resumed_history
    _assert_same_weights(again.get_weights(), resumed.get_weights())
    checkpoints = tmp_path / "resumed" / "checkpoints"
    assert tf.train.latest_checkpoint(str(checkpoints)).endswith(f"-{run}")
    states = sorted(p.name for p in checkpoints.glob("trainer-state-*"))
    assert states == [f"trainer-state-{e}.npz" for e in range(run - 1, run + 1)]


def test_trainer_rejects_bad_arguments(tmp_path):
    strategy = tf.distribute.get_strategy()
    model = _model()
    with pytest.raises(ValueError, match="`model`.*not compiled"):
        distribute.DistributedTrainer(
            zoo.build("gru", vocabulary_size=20, embedding_dim=3, units=3),
            strategy,
            checkpoint_dir=tmp_path,
        )
    with pytest.raises(ValueError, match="`loss`.*'mean_squared_eror'"):
        distribute.DistributedTrainer(
            _model(loss="mean_squared_eror"), strategy, checkpoint_dir=tmp_path
        )
    with pytest.raises(ValueError, match="`accuracy`.*'acuracy'"):
        distribute.DistributedTrainer(
            model,
            strategy,
            checkpoint_dir=tmp_path,
            metrics={"accuracy": "acuracy"},
        )
    trainer = distribute.DistributedTrainer(
        model, strategy, checkpoint_dir=tmp_path
    )
    with pytest.raises(ValueError, match="`epochs`.*0"):
        trainer.fit(_data(), epochs=0)
    with pytest.raises(ValueError, match=r"`train`.*got \[1, 2\]"):
        trainer.fit([1, 2], epochs=1)
    with pytest.raises(ValueError, match="AtomicBackupAndRestore.*itself"):
        trainer.fit(
            _data(),
            epochs=1,
            callbacks=[training.AtomicBackupAndRestore(tmp_path / "backup")],
        )
    # Keras' fit would only warn, and never stop early.
    with pytest.raises(ValueError, match="monitors 'val_accuracy'.*'loss'"):
        trainer.fit(
            _data(),
            _data(),
            epochs=1,
            callbacks=[keras.callbacks.EarlyStopping("val_accuracy")],
        )
    assert not list(tmp_path.glob("ckpt-*"))  # Refused before training.


def _recipe_model(name):
    """(names of nested layers, the recipe's model builder with --smoke
    sizes, a batch of the model's inputs)."""
    from recipes import connected_digits
    from recipes import imdb
    from recipes import spoken_digits

    if name == "imdb":
        args = imdb.parse_args(["--smoke"])
        vectorizer = zoo.text.make_vectorizer(max_tokens=40, sequence_length=8)
        vectorizer.adapt(tf.constant(["a good film", "a bad film", "plot"]))
        inputs = vectorizer(tf.constant(["good plot", "bad"]))
        return [], lambda: imdb.build_model(args, vectorizer), inputs
    audio = np.random.default_rng(0).uniform(-0.5, 0.5, (2, 4000))
    audio = audio.astype("float32")
    recipe = spoken_digits if name == "spoken_digits" else connected_digits
    args = recipe.parse_args(["--smoke"])

    def build():
        model = recipe.build_model(args)
        return model[0] if isinstance(model, tuple) else model

    return ["front_end", args.model], build, audio


@pytest.mark.parametrize(
    "recipe", ["imdb", "spoken_digits", "connected_digits"]
)
def test_local_copy_of_the_recipes_models(recipe):
    nested, build, inputs = _recipe_model(recipe)
    strategy = tf.distribute.MirroredStrategy()
    with strategy.scope():
        model = build()
        model.predict_on_batch(inputs)  # Built, as after training.
    assert isinstance(model.weights[0].value, tf.distribute.DistributedValues)
    copy = distribute.local_copy(model)
    assert not any(
        isinstance(v.value, tf.distribute.DistributedValues)
        for v in copy.variables
    )
    assert copy.name == model.name
    assert [layer.name for layer in copy.layers] == [
        layer.name for layer in model.layers
    ]
    for name in nested:
        assert type(copy.get_layer(name)) is type(model.get_layer(name))
    _assert_same_weights(copy.get_weights(), model.get_weights())
    np.testing.assert_allclose(
        copy.predict_on_batch(inputs),
        model.predict_on_batch(inputs),
        atol=1e-6,
    )
    # Compiled from the model's own compile config: the same loss (the
    # connected-digits recipe's PackedCTC, found by its registered name),
    # metrics and optimizer settings.
    assert copy.get_compile_config() == model.get_compile_config()
    assert type(copy.loss) is type(model.loss)
    with strategy.scope(), pytest.raises(RuntimeError, match="outside"):
        distribute.local_copy(model)


def _free_ports(count):
    sockets = []
    try:
        for _ in range(count):
            handle = socket.socket()
            handle.bind(("127.0.0.1", 0))
            sockets.append(handle)
        return [handle.getsockname()[1] for handle in sockets]
    finally:
        for handle in sockets:
            handle.close()


def _weights(path):
    with np.load(path) as data:
        return [data[f"arr_{i}"] for i in range(len(data.files))]


def _checkpoint_values(directory):
    """Every value in the latest checkpoint (the model's weights, the
    optimizer's, the epoch), by name."""
    reader = tf.train.load_checkpoint(str(directory))
    return {
        name: reader.get_tensor(name).astype("float64")
        for name, _ in tf.train.list_variables(str(directory))
        if name.endswith("VARIABLE_VALUE")
    }


def _max_difference(first, second):
    return max(float(np.max(np.abs(a - b))) for a, b in zip(first, second))


def _start_worker(output_dir, epochs, tf_config=None):
    """The helper script under a multi-worker strategy; TF_CONFIG names the
    cluster and this worker (none: a one-worker cluster)."""
    environment = subprocess_environment()
    environment["PYTHONPATH"] += ":" + str(REPO / "tests")
    environment.pop("TF_CONFIG", None)
    if tf_config is not None:
        environment["TF_CONFIG"] = json.dumps(tf_config)
    return subprocess.Popen(
        [
            sys.executable,
            SCRIPT,
            "--output-dir",
            str(output_dir),
            "--strategy",
            "multi_worker",
            "--epochs",
            str(epochs),
        ],
        cwd=REPO,
        env=environment,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_two_workers_agree_and_match_one_worker(tmp_path):
    epochs = 4
    workers = [f"127.0.0.1:{port}" for port in _free_ports(2)]
    processes = []
    try:
        for index in range(2):
            cluster = {
                "cluster": {"worker": workers},
                "task": {"type": "worker", "index": index},
            }
            processes.append(_start_worker(tmp_path / "mw", epochs, cluster))
        # One worker through the same code: a one-worker cluster.
        processes.append(_start_worker(tmp_path / "one", epochs))
        outputs = [process.communicate(timeout=500) for process in processes]
    finally:
        for process in processes:
            if process.poll() is None:
                process.kill()
                process.wait()
    for process, (_, stderr) in zip(processes, outputs):
        assert process.returncode == 0, stderr[-3000:]

    mw = tmp_path / "mw"
    results = [
        json.loads((mw / f"result-worker-{i}.json").read_text())
        for i in range(2)
    ]
    assert [r["chief"] for r in results] == [True, False]
    assert all(r["replicas"] == 2 for r in results)
    single = json.loads((tmp_path / "one" / "result-single.json").read_text())
    assert single["replicas"] == 1
    history = results[0]["history"]
    assert results[1]["history"] == history
    for name, values in single["history"].items():
        np.testing.assert_allclose(history[name], values, atol=TOLERANCE)

    # Early stopping ended the run on both workers after the same epoch.
    val_loss = history["val_loss"]
    run = len(val_loss)
    assert run == _epochs_until_stop(val_loss, 2, epochs, lambda a, b: a > b)
    assert run < epochs, f"no early stop: val_loss {val_loss}"
    # Only the chief keeps checkpoints and writes the callbacks' files; the
    # other worker's temporary folders are removed.
    assert tf.train.latest_checkpoint(str(mw / "checkpoints")).endswith(
        f"-{run}"
    )
    assert not list(mw.rglob(".worker-*"))
    assert sorted(p.name for p in mw.rglob("best.keras")) == ["best.keras"]
    assert (mw / "best.keras").exists()
    rows = (mw / "history.csv").read_text().splitlines()
    assert len(rows) == run + 1

    # Both workers return the best epoch's weights (restored by early
    # stopping), those of the chief's best.keras, in a model outside the
    # strategy that evaluates to the best epoch's validation loss.
    worker_weights = [
        _weights(mw / f"weights-worker-{i}.npz") for i in range(2)
    ]
    best = keras.saving.load_model(mw / "best.keras").get_weights()
    assert _max_difference(*worker_weights) == 0.0
    assert _max_difference(worker_weights[0], best) == 0.0
    best_epoch = int(np.argmax(val_loss))
    for result in results:
        assert result["evaluation"]["val_loss"] == pytest.approx(
            val_loss[best_epoch], abs=TOLERANCE
        )
    single_weights = _weights(tmp_path / "one" / "weights-single.npz")
    against_single = _max_difference(worker_weights[0], single_weights)
    # The last epoch's weights and optimizer state (in the checkpoints)
    # agree as well.
    last = _checkpoint_values(mw / "checkpoints")
    single_last = _checkpoint_values(tmp_path / "one" / "checkpoints")
    assert sorted(last) == sorted(single_last)
    assert "epoch/.ATTRIBUTES/VARIABLE_VALUE" in last and len(last) > 10
    last_against_single = _max_difference(
        [last[name] for name in sorted(last)],
        [single_last[name] for name in sorted(last)],
    )
    print(
        f"best epoch: max |w0 - single| = {against_single:.3g}; last "
        f"epoch: max |w0 - single| = {last_against_single:.3g}"
    )
    assert against_single <= TOLERANCE
    assert last_against_single <= TOLERANCE

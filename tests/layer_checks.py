"""`run_layer_test`: the checks every zoo layer gets.

For any layer: its config round-trips, it runs eagerly and symbolically
with the same output shape (and agrees with `compute_output_shape`), it
trains for one step with every trainable weight moving, and a model holding
it survives a `.keras` save and load with identical outputs.
"""

import keras
import numpy as np


def _first(value):
    return value[0] if isinstance(value, (list, tuple)) else value


def _shape_of(value):
    return tuple(_first(value).shape)


def run_layer_test(
    layer_factory, inputs, *, mask=None, tmp_path=None, fit=True, atol=1e-6
):
    """Runs the standard checks on the layers built by `layer_factory()`."""
    layer = layer_factory()
    config = layer.get_config()
    clone = layer.__class__.from_config(config)
    assert clone.get_config() == config, "config does not round-trip"

    # Eager call and compute_output_shape agree.
    eager = layer(inputs, mask=mask)
    expected = layer.compute_output_shape(inputs.shape)
    expected = expected[0] if isinstance(expected, list) else expected
    assert _shape_of(eager) == tuple(expected)

    # Symbolic call with a dynamic time axis.
    symbolic_input = keras.Input(shape=(None,) + tuple(inputs.shape[2:]))
    symbolic = _first(layer_factory()(symbolic_input))
    assert symbolic.shape[0] is None
    assert symbolic.shape[-1] == _shape_of(eager)[-1]

    # A model around it: one training step moves every trainable weight.
    model_input = keras.Input(shape=tuple(inputs.shape[1:]))
    model = keras.Model(model_input, _first(layer_factory()(model_input)))
    if fit:
        before = [w.numpy().copy() for w in model.trainable_weights]
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
        target = (
            np.random.default_rng(0)
            .normal(size=_shape_of(model(inputs)))
            .astype("float32")
        )
        history = model.fit(inputs, target, epochs=1, verbose=0)
        assert np.isfinite(history.history["loss"][0])
        after = [w.numpy() for w in model.trainable_weights]
        frozen = [
            w.path
            for w, old, new in zip(model.trainable_weights, before, after)
            if np.array_equal(old, new)
        ]
        assert not frozen, f"weights without gradient: {frozen}"

    # .keras round trip (safe mode: no Lambda, no pickled code).
    if tmp_path is not None:
        path = tmp_path / "layer.keras"
        model.save(path)
        restored = keras.saving.load_model(path, safe_mode=True)
        np.testing.assert_allclose(
            np.asarray(_first(restored(inputs))),
            np.asarray(_first(model(inputs))),
            atol=atol,
        )
    return eager


def keras_twins(ours, theirs, rng, randomize: bool = True):
    """Builds a zoo layer and its Keras counterpart on one [4, 7, 3] input
    and gives both the same weights (random ones unless `randomize` is
    False, for Keras' initial weights). Returns the input."""
    x = rng.normal(size=(4, 7, 3)).astype("float32")
    theirs(x)
    ours(x)
    if randomize:
        theirs.set_weights(
            [rng.normal(scale=0.5, size=w.shape) for w in theirs.get_weights()]
        )
    ours.set_weights(theirs.get_weights())
    return x


def assert_equal_gradients(layers, x, mask, transform):
    """The layers' gradients of sum(transform(output)) w.r.t. the input and
    every trainable weight are equal."""
    import tensorflow as tf

    x = tf.constant(x)
    gradients = []
    for layer in layers:
        with tf.GradientTape() as tape:
            tape.watch(x)
            loss = tf.reduce_sum(transform(layer(x, mask=mask)))
        gradients.append(tape.gradient(loss, [x] + layer.trainable_weights))
    for first, second in zip(*gradients):
        np.testing.assert_allclose(first, second, atol=1e-5)

"""The layers under the JAX backend (keras.ops only, so they must run there).

Runs in a subprocess with KERAS_BACKEND=jax: every cell against the NumPy
step loops, the structures for shapes and masks, and one training step.
Skipped, with the reason, where JAX is not installed.
"""

import importlib.util
import textwrap

import pytest
from helpers_backend import run_under_backend

SCRIPT = textwrap.dedent(
    """
    import numpy as np
    import keras
    assert keras.backend.backend() == "jax", keras.backend.backend()
    import reference
    from zoo import layers
    from zoo.layers.lstm import resolve_switches
    import zoo

    rng = np.random.default_rng(0)
    x = rng.normal(size=(3, 6, 4)).astype("float32")
    mask = np.array([[1] * 6, [1, 1, 1, 0, 0, 0], [0, 0, 1, 1, 1, 1]], bool)

    def check(layer, step_for, sizes):
        layer(x)
        weights = reference.randomize(layer, rng)
        initial = [np.zeros((3, s)) for s in sizes]
        expected, _ = reference.run(step_for(weights), x, initial, mask)
        got = np.asarray(layer(x, mask=mask))
        np.testing.assert_allclose(got, expected, atol=1e-5)

    for variant in layers.LSTM_VARIANTS:
        layer = layers.LSTM(5, variant=variant, return_sequences=True)
        switches = resolve_switches(variant)
        check(layer, lambda w: reference.lstm_step(w, switches),
              layer.cell.state_size)
    for reset_after in (True, False):
        check(layers.GRU(5, reset_after=reset_after, return_sequences=True),
              lambda w: reference.gru_step(w, reset_after), [5])
    check(layers.NaiveRNN(5, return_sequences=True), reference.naive_step, [5])
    check(layers.NAS(5, return_sequences=True), reference.nas_step, [5, 5])
    # The fast path: hoisted x·W and a partially unrolled lax.scan.
    for variant in ("V", "CIFG"):
        layer = layers.LSTM(5, variant=variant, return_sequences=True,
                            hoist_inputs=True, scan_unroll=4)
        switches = resolve_switches(variant)
        check(layer, lambda w: reference.lstm_step(w, switches),
              layer.cell.state_size)

    bidirectional = layers.Bidirectional(layers.GRU(3, return_sequences=True))
    assert bidirectional(x, mask=mask).shape == (3, 6, 6)
    pyramid = layers.PyramidRNN(layers.LSTM(2), num_levels=2)
    assert pyramid(x, mask=mask).shape == (3, 2, 4)
    assert layers.TimeReduction(2)(x).shape == (3, 3, 8)
    assert layers.L2Pooling1D(2)(x).shape == (3, 3, 4)
    assert layers.TimeFrequencyConv((2, 2))(x, mask=mask).shape == (3, 6, 4)
    import jax
    reversed_gradient = jax.grad(
        lambda v: (3.0 * layers.GradientReversal(0.5)(v)).sum()
    )(x)
    np.testing.assert_allclose(reversed_gradient, -1.5)

    # NBSVM's bag: the set of tokens (sorted ids) under JAX, and a jitted
    # training step of the model with its ratios fitted.
    ids = np.array([[3, 7, 7, 0, 0], [5, 2, 9, 2, 1]], "int32")
    bag = layers.NaiveBayesBag(10, 2, embeddings_initializer="normal")
    ratios = bag.adapt(ids, np.array([1, 0]))
    weights = np.asarray(bag.embeddings)
    expected = [sum(ratios[f] * weights[f] for f in set(row) - {0})
                for row in ids.tolist()]
    np.testing.assert_allclose(bag(ids), expected, atol=1e-5)
    np.testing.assert_array_equal(
        layers.VocabularyClip(6)(ids), [[3, 1, 1, 0, 0], [5, 2, 1, 2, 1]])
    model = zoo.build("nbsvm", vocabulary_size=10)
    zoo.models.bag.adapt_naive_bayes(model, ids, np.array([1, 0]))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(ids, np.array([1, 0]), verbose=0)

    for name in ("pyramid_lstm", "bidirectional_gru", "cnn", "cldnn"):
        defaults = zoo.describe(name)["defaults"]
        small = {"units": 3, "filters": 3, "projection_dim": 3,
                 "dnn_units": 3}
        model = zoo.build(name, inputs="features", feature_dim=4,
                          **{k: v for k, v in small.items() if k in defaults})
        model.compile(optimizer="adam",
                      loss="sparse_categorical_crossentropy")
        model.fit(np.tile(x, (1, 2, 1)), np.array([0, 1, 1]), verbose=0)
    # The audio front end inside a jitted training step (a traced pad width
    # once broke it under JAX).
    from zoo.features import LogMelFrontEnd, SpecAugment
    audio = keras.Input((None,))
    features = SpecAugment(seed=0)(LogMelFrontEnd(num_mel_bins=8)(audio))
    encoder = zoo.build("gru", inputs="features", feature_dim=8, units=3)
    model = keras.Model(audio, encoder(features))
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    model.fit(rng.normal(size=(4, 800)).astype("float32") * 0.1,
              np.array([0, 1, 0, 1]), verbose=0)
    print("jax backend ok")
    """
)


@pytest.mark.skipif(
    importlib.util.find_spec("jax") is None,
    reason="JAX is not installed (pip install 'seqzoo[jax]')",
)
def test_layers_run_and_match_reference_under_jax():
    result = run_under_backend("jax", SCRIPT, JAX_PLATFORMS="cpu")
    assert result.returncode == 0, result.stderr[-4000:]
    assert "jax backend ok" in result.stdout

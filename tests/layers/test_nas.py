import numpy as np
import reference
from layer_checks import run_layer_test

from zoo.layers import NAS


def test_equals_numpy_step_loop(rng, masks):
    layer = NAS(4, return_sequences=True, return_state=True)
    x = rng.normal(size=(4, 7, 3)).astype("float32")
    layer(x)
    weights = reference.randomize(layer, rng)
    initial = [np.zeros((4, 4)), np.zeros((4, 4))]
    expected, states = reference.run(
        reference.nas_step(weights), x, initial, masks
    )
    outputs = layer(x, mask=masks)
    np.testing.assert_allclose(outputs[0], expected, atol=1e-5)
    np.testing.assert_allclose(outputs[1], states[0], atol=1e-5)
    np.testing.assert_allclose(outputs[2], states[1], atol=1e-5)


def test_weights_layout():
    layer = NAS(3)
    layer(np.zeros((1, 2, 5), "float32"))
    assert [tuple(w.shape) for w in layer.weights] == [(5, 24), (3, 24), (24,)]


def test_standard_layer_checks(rng, tmp_path):
    x = rng.normal(size=(2, 5, 3)).astype("float32")
    run_layer_test(lambda: NAS(4, return_sequences=True), x, tmp_path=tmp_path)

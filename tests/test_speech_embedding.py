"""The pretrained speech-embedding front end against its ONNX original.

The reference is the network as openwakeword ships it, run by onnxruntime
on the audio upsampled to 16 kHz (scipy's polyphase resampler), padded
the way the layer pads it; the layer computes the same from the 8 kHz
audio with every other STFT tap (zoo/speech_embedding.py says why).
"""

import keras
import numpy as np
import pytest
from helpers_backend import run_under_backend
from scipy.signal import resample_poly

from zoo.data.errors import DataError
from zoo.pretrained_speech_embedding import EMBEDDING_FILE
from zoo.pretrained_speech_embedding import MEL_FILE
from zoo.pretrained_speech_embedding import default_folder
from zoo.pretrained_speech_embedding import load_weights
from zoo.speech_embedding import MARGIN
from zoo.speech_embedding import MIN_EXTENT
from zoo.speech_embedding import TARGET_RMS
from zoo.speech_embedding import SpeechEmbeddingFrontEnd
from zoo.speech_embedding import standardisation

RATE = 8000


def word(seconds: float, seed: int) -> np.ndarray:
    """A vowel-like test sound: a gliding 120-200 Hz pulse train through
    two formant-like resonances, with an onset and decay, plus noise."""
    rng = np.random.default_rng(seed)
    time = np.arange(int(seconds * RATE)) / RATE
    pitch = 120 + 80 * time / seconds
    phase = 2 * np.pi * np.cumsum(pitch) / RATE
    source = np.sign(np.sin(phase)) * (0.5 + 0.5 * np.sin(phase * 3))
    formants = sum(
        np.sin(2 * np.pi * f * time) * np.exp(-((time - c) ** 2) / 0.01)
        for f, c in ((700 + 200 * seed, 0.3 * seconds), (1800, 0.6 * seconds))
    )
    envelope = np.sin(np.pi * time / seconds) ** 2
    audio = 0.3 * envelope * source * (1 + formants)
    return (audio + rng.normal(0, 0.003, time.size)).astype(np.float32)


@pytest.fixture(scope="module")
def front_end():
    return load_weights(SpeechEmbeddingFrontEnd())


def onnx_embeddings(audio: np.ndarray) -> np.ndarray:
    """The original: RMS-scaled, centred in its extent, upsampled to
    16 kHz, log-mels (x / 10 + 2), then 76-frame windows every 8."""
    import onnxruntime

    folder = default_folder()
    mel = onnxruntime.InferenceSession(str(folder / MEL_FILE))
    network = onnxruntime.InferenceSession(str(folder / EMBEDDING_FILE))
    scaled = audio / np.sqrt(np.mean(audio**2)) * TARGET_RMS
    extent = max(len(audio) + 2 * MARGIN, MIN_EXTENT)
    left = (extent - len(audio)) // 2
    scaled = np.pad(scaled, (left, extent - len(audio) - left))
    upsampled = resample_poly(scaled, 2, 1).astype(np.float32)
    log_mel = mel.run(None, {"input": upsampled[None]})[0].squeeze() / 10 + 2
    windows = np.stack(
        [log_mel[i : i + 76] for i in range(0, len(log_mel) - 75, 8)]
    )
    outputs = network.run(None, {"input_1": windows[..., None]})[0]
    return outputs.reshape(len(windows), 96)


@pytest.mark.parametrize(("seconds", "seed"), [(0.4, 0), (1.3, 1)])
def test_matches_the_onnx_original(front_end, seconds, seed):
    audio = word(seconds, seed)
    expected = onnx_embeddings(audio)
    found = np.asarray(front_end(audio[None]))[0]
    assert found.shape == expected.shape
    cosine = np.sum(found * expected, -1) / (
        np.linalg.norm(found, axis=-1) * np.linalg.norm(expected, axis=-1)
    )
    assert cosine.min() > 0.9999, cosine
    scale = np.abs(expected).max()
    np.testing.assert_allclose(found, expected, atol=0.01 * scale)


def test_padding_gain_and_invalid_windows(front_end):
    short, long = word(0.4, 0), word(1.3, 1)
    alone = [np.asarray(front_end(a[None]))[0] for a in (short, long)]
    batch = np.zeros((3, len(long)), np.float32)
    batch[0, : len(short)] = short
    batch[1] = long
    found = np.asarray(front_end(batch))
    assert found.shape == tuple(front_end.compute_output_shape(batch.shape))
    # The short word's windows match its own; the rest are exactly zero.
    count = len(alone[0])
    np.testing.assert_allclose(found[0, :count], alone[0], atol=1e-3)
    assert not np.any(found[0, count:])
    np.testing.assert_allclose(found[1], alone[1], atol=1e-3)
    # All-zero audio has no valid window.
    assert not np.any(found[2])
    # Loudness is normalised away.
    quiet = np.asarray(front_end((0.1 * short)[None]))[0]
    np.testing.assert_allclose(quiet, alone[0], atol=1e-3)
    # 1.28 s or less gives 7 windows, each 80 ms more one more.
    assert count == 7
    assert len(alone[1]) == 7 + (len(long) + 2 * MARGIN - MIN_EXTENT) // 640


def test_adapt_standardises_and_keeps_padding_zero(front_end, tmp_path):
    audio = np.stack([word(0.5, 0), word(0.5, 1)])
    audio[1, 2000:] = 0
    raw = np.asarray(front_end(audio))
    valid = np.any(raw != 0, axis=-1)
    layer = load_weights(SpeechEmbeddingFrontEnd())
    layer.adapt(raw[valid])
    mean, scale = standardisation(raw[valid])
    found = np.asarray(layer(audio))
    np.testing.assert_allclose(
        found[valid], (raw[valid] - mean) / scale, rtol=1e-4, atol=1e-4
    )
    assert not np.any(found[~valid])
    # Frozen by default, and a saved model keeps the weights and the
    # standardisation.
    assert layer.trainable_weights == []
    inputs = keras.Input((None,))
    model = keras.Model(inputs, layer(inputs))
    model.save(tmp_path / "front.keras")
    restored = keras.saving.load_model(tmp_path / "front.keras")
    np.testing.assert_allclose(
        restored.predict(audio, verbose=0), found, rtol=1e-4, atol=1e-4
    )


def test_training_a_model_leaves_the_front_end_as_it_was(tmp_path):
    # Frozen means no variable of the front end (its convolutions
    # included) reaches a model's optimizer, before and after a .keras
    # round trip; trainable=True opts in.
    def model_on(layer):
        inputs = keras.Input((None,))
        pooled = keras.layers.GlobalAveragePooling1D()(layer(inputs))
        return keras.Model(inputs, keras.layers.Dense(2)(pooled))

    layer = load_weights(SpeechEmbeddingFrontEnd())
    model = model_on(layer)
    before = [w.numpy().copy() for w in layer.weights]
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    audio = np.stack([word(0.5, 0), word(0.5, 1)])
    model.fit(audio, np.ones((2, 2)), epochs=2, verbose=0)
    for weight, value in zip(layer.weights, before, strict=True):
        np.testing.assert_array_equal(weight.numpy(), value)
    assert len(model.trainable_variables) == 2  # the Dense head's
    model.save(tmp_path / "model.keras")
    restored = keras.saving.load_model(tmp_path / "model.keras")
    assert len(restored.trainable_variables) == 2
    tuned = model_on(SpeechEmbeddingFrontEnd(trainable=True))
    assert len(tuned.trainable_variables) > 2


def test_runs_under_jax(front_end, tmp_path):
    # keras.ops only: the same embeddings under another backend.
    script = f"""
import keras
import numpy as np
from test_speech_embedding import word
from zoo.pretrained_speech_embedding import load_weights
from zoo.speech_embedding import SpeechEmbeddingFrontEnd
assert keras.backend.backend() == "jax"
front_end = load_weights(SpeechEmbeddingFrontEnd())
np.save({str(tmp_path / "jax.npy")!r}, front_end(word(0.4, 0)[None]))
"""
    result = run_under_backend("jax", script)
    assert result.returncode == 0, result.stderr[-2000:]
    expected = np.asarray(front_end(word(0.4, 0)[None]))
    np.testing.assert_allclose(
        np.load(tmp_path / "jax.npy"), expected, rtol=1e-3, atol=1e-2
    )


def test_missing_weights_are_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="does not exist.*speech"):
        load_weights(SpeechEmbeddingFrontEnd(), tmp_path)


def test_rejects_audio_that_is_not_mono():
    with pytest.raises(ValueError, match="mono audio"):
        SpeechEmbeddingFrontEnd()(np.zeros((1, 800, 2), np.float32))


def test_valid_frames_margin_and_config(front_end):
    audio = np.zeros((2, 24000), np.float32)
    audio[0] = word(3.0, 0)
    audio[1, :4000] = word(0.5, 1)
    counts = np.asarray(front_end.valid_frames(audio))
    found = np.asarray(front_end(audio))
    assert list(counts) == [int(np.sum(np.any(row, -1))) for row in found]
    assert list(front_end.frames_of_length(np.array([24000, 4000, 0]), np)) == [
        *counts,
        0,
    ]
    # A wider margin centres a window on each edge: more windows.
    wide = SpeechEmbeddingFrontEnd(margin=3100)
    assert wide.frames_of_length(24000, np) > counts[0]
    assert SpeechEmbeddingFrontEnd.from_config(wide.get_config()).margin == 3100
    with pytest.raises(ValueError, match="margin"):
        SpeechEmbeddingFrontEnd(margin=-1)

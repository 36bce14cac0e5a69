"""LogMelFrontEnd: shapes, padding invariance, normalisation, bad inputs."""

import keras
import numpy as np
import pytest

from zoo.features import LogMelFrontEnd

RATE = 8000


def chirp(seconds: float, low: float = 200.0, high: float = 2000.0, seed=0):
    time = np.arange(int(seconds * RATE)) / RATE
    phase = 2 * np.pi * (low * time + (high - low) * time**2 / (2 * seconds))
    noise = np.random.default_rng(seed).normal(0, 0.01, time.size)
    return (0.5 * np.sin(phase) + noise).astype(np.float32)


@pytest.fixture(scope="module")
def front_end():
    return LogMelFrontEnd(num_mel_bins=40)


def test_shape(front_end):
    features = front_end(np.zeros((3, RATE), np.float32))
    assert tuple(features.shape) == (3, 1 + RATE // 80, 40)
    assert front_end.compute_output_shape((3, RATE)) == (3, 101, 40)
    symbolic = front_end(keras.Input((None,)))
    assert tuple(symbolic.shape) == (None, None, 40)


def test_padded_batch_equals_unpadded_audio(front_end):
    long, short = chirp(1.0), chirp(0.55, 300, 3000, seed=1)
    batch = np.zeros((2, long.size), np.float32)
    batch[0], batch[1, : short.size] = long, short
    together = np.asarray(front_end(batch))
    alone = np.asarray(front_end(short[None]))[0]
    valid = int(front_end.valid_frames(short[None])[0])
    assert valid == int(front_end.valid_frames(batch)[1]) > 40
    np.testing.assert_allclose(together[1, :valid], alone[:valid], atol=1e-4)
    # Padded (and edge) frames are exactly zero: the builders' Masking
    # layer masks them.
    assert not together[1, valid:].any() and not alone[valid:].any()
    np.testing.assert_allclose(
        together[0], np.asarray(front_end(long[None]))[0], atol=1e-4
    )


def test_per_utterance_normalisation(front_end):
    audio = chirp(0.8)
    features = np.asarray(front_end((audio * 0.25)[None]))[0]
    valid = int(front_end.valid_frames(audio[None])[0])
    frames = features[:valid]
    np.testing.assert_allclose(frames.mean(axis=0), 0.0, atol=1e-4)
    assert np.all(frames.std(axis=0) > 0.9) and np.all(
        frames.std(axis=0) < 1.01
    )
    # Gain hardly matters after normalisation (only through the log's ε).
    louder = np.asarray(front_end((audio * 0.5)[None]))[0][:valid]
    assert np.corrcoef(louder.ravel(), frames.ravel())[0, 1] > 0.99


@pytest.mark.parametrize("samples", [0, 1, 100, 255])
def test_empty_silent_and_short_audio(front_end, samples):
    silent = np.asarray(front_end(np.zeros((2, samples), np.float32)))
    assert silent.shape[0] == 2 and not silent.any()
    assert int(front_end.valid_frames(np.zeros((1, samples)))[0]) == 0
    if samples:
        short = np.asarray(front_end(chirp(samples / RATE)[None]))
        assert np.isfinite(short).all()


def test_bad_rank_and_arguments():
    with pytest.raises(ValueError, match="mono audio shaped"):
        LogMelFrontEnd()(np.zeros((1, 800, 2), np.float32))
    with pytest.raises(ValueError, match="num_mel_bins"):
        LogMelFrontEnd(num_mel_bins=0)
    with pytest.raises(ValueError, match="fft_length"):
        LogMelFrontEnd(frame_length=400, fft_length=256)
    with pytest.raises(ValueError, match="max_frequency"):
        LogMelFrontEnd(max_frequency=6000)


def test_nan_propagates_without_crashing(front_end):
    audio = chirp(0.3)
    audio[100] = np.nan
    assert np.isnan(np.asarray(front_end(audio[None]))).any()


def test_config_round_trip_and_keras_file(tmp_path, front_end):
    clone = LogMelFrontEnd.from_config(front_end.get_config())
    assert clone.get_config() == front_end.get_config()
    audio = keras.Input((None,), name="audio")
    model = keras.Model(audio, LogMelFrontEnd(num_mel_bins=20)(audio))
    model.save(tmp_path / "front_end.keras")
    restored = keras.saving.load_model(tmp_path / "front_end.keras")
    batch = chirp(0.5)[None]
    np.testing.assert_allclose(restored(batch), model(batch), atol=1e-6)


def test_spec_augment_masks_bands_and_spans_in_training_only():
    from zoo.features import SpecAugment

    layer = SpecAugment(
        frequency_masks=1, frequency_width=5, time_masks=1, time_width=7, seed=3
    )
    features = np.ones((16, 60, 40), np.float32)
    np.testing.assert_array_equal(layer(features), features)  # inference
    masked = np.asarray(layer(features, training=True))
    assert set(np.unique(masked)) <= {0.0, 1.0}
    for example in masked:
        zero_channels = np.flatnonzero((example == 0).all(axis=0))
        zero_frames = np.flatnonzero((example == 0).all(axis=1))
        # One band of at most 5 channels and one span of at most 7 frames,
        # each contiguous; everything else untouched.
        for zeros, width in ((zero_channels, 5), (zero_frames, 7)):
            assert len(zeros) <= width
            if len(zeros):
                assert zeros[-1] - zeros[0] == len(zeros) - 1
        expected = np.ones((60, 40), np.float32)
        expected[:, zero_channels] = 0
        expected[zero_frames, :] = 0
        np.testing.assert_array_equal(example, expected)
    # Over 16 examples, some masks are non-empty and they differ.
    assert (masked == 0).any()
    assert len({m.tobytes() for m in masked}) > 1


def test_spec_augment_config_and_bad_arguments():
    from zoo.features import SpecAugment

    layer = SpecAugment(3, 4, 1, 9, seed=1)
    clone = SpecAugment.from_config(layer.get_config())
    assert (clone.frequency_masks, clone.frequency_width) == (3, 4)
    assert (clone.time_masks, clone.time_width) == (1, 9)
    for bad in (-1, 1.5, True, "2"):
        with pytest.raises(ValueError, match="frequency_masks"):
            SpecAugment(frequency_masks=bad)


def test_cepstra_are_the_orthonormal_dct_of_the_log_mels():
    from scipy.fft import dct

    mels, cepstra = LogMelFrontEnd(num_mel_bins=24), 13
    mfcc = LogMelFrontEnd(num_mel_bins=24, num_cepstra=cepstra)
    audio = chirp(0.6)[None]
    valid = int(mels.valid_frames(audio)[0])
    # The expected MFCCs, rebuilt from the layer's mel spectrogram.
    power = np.asarray(mels.spectrogram(audio))[0].T[:valid]
    expected = dct(np.log(power + 1e-6), type=2, norm="ortho", axis=1)
    expected = expected[:, :cepstra]
    expected = (expected - expected.mean(0)) / np.sqrt(expected.var(0) + 1e-3)
    features = np.asarray(mfcc(audio))[0]
    assert features.shape[1] == cepstra == mfcc.feature_dim
    np.testing.assert_allclose(features[:valid], expected, atol=2e-3)
    assert not features[valid:].any()  # padding stays maskable
    assert mfcc.compute_output_shape((1, RATE)) == (1, 101, cepstra)


def test_cepstra_config_round_trip_and_bad_counts():
    layer = LogMelFrontEnd(num_mel_bins=20, num_cepstra=13)
    clone = LogMelFrontEnd.from_config(layer.get_config())
    assert clone.num_cepstra == 13 and clone.feature_dim == 13
    audio = chirp(0.4)[None]
    np.testing.assert_allclose(clone(audio), layer(audio), atol=1e-6)
    for bad in (0, 21, 2.5, True):
        with pytest.raises(ValueError, match="num_cepstra"):
            LogMelFrontEnd(num_mel_bins=20, num_cepstra=bad)


@pytest.mark.parametrize("normalization", ["mean", "none"])
def test_weaker_normalisations(normalization):
    layer = LogMelFrontEnd(num_mel_bins=16, normalization=normalization)
    audio = np.zeros((1, 9000), np.float32)
    audio[0, :6000] = chirp(0.75)
    valid = int(layer.valid_frames(audio)[0])
    log_mel = np.log(np.asarray(layer.spectrogram(audio))[0].T + 1e-6)
    expected = log_mel[:valid]
    if normalization == "mean":
        expected = expected - expected.mean(0)
    features = np.asarray(layer(audio))[0]
    np.testing.assert_allclose(features[:valid], expected, atol=2e-3)
    assert not features[valid:].any()  # padding stays maskable
    clone = LogMelFrontEnd.from_config(layer.get_config())
    assert clone.normalization == normalization
    with pytest.raises(ValueError, match="normalization.*'mean_variance'"):
        LogMelFrontEnd(normalization="cmvn")

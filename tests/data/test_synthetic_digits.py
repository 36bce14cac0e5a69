"""zoo.data.synthetic_digits: the signal steps always; rendering real words
where espeak-ng or flite is installed (.ci/run installs both)."""

import shutil

import numpy as np
import pytest

from zoo.data import synthetic_digits
from zoo.data.errors import DataError

needs_synthesiser = pytest.mark.skipif(
    not (shutil.which("espeak-ng") or shutil.which("flite")),
    reason="no speech synthesiser: apt-get install espeak-ng flite",
)


def test_resample_keeps_a_tone_and_the_duration():
    rate = 22050
    time = np.arange(rate) / rate
    tone = np.sin(2 * np.pi * 440 * time)
    resampled = synthetic_digits.resample(tone, rate, 8000)
    assert len(resampled) == 8000
    spectrum = np.abs(np.fft.rfft(resampled))
    assert np.argmax(spectrum) == 440  # 1 Hz bins over one second


def test_trim_and_normalise():
    rng = np.random.default_rng(0)
    speech = rng.normal(scale=0.3, size=2400)
    audio = np.concatenate([np.zeros(1600), speech, np.zeros(4000)])
    trimmed = synthetic_digits.trim_and_normalise(audio)
    # 20 ms kept either side of the loud frames.
    assert 2400 <= len(trimmed) <= 2400 + 2 * 160 + 80
    rms = np.sqrt(np.mean(np.square(trimmed)))
    assert 20 * np.log10(rms) == pytest.approx(-20.0, abs=1.5)
    assert np.max(np.abs(trimmed)) <= 0.99


@needs_synthesiser
def test_renders_a_handful_of_words_reproducibly():
    first = synthetic_digits.generate(4, seed=3)
    second = synthetic_digits.generate(4, seed=3)
    assert list(first["digits"]) == [0, 1, 2, 3]
    assert first["voices"] == second["voices"]
    for audio, again in zip(first["audio"], second["audio"]):
        np.testing.assert_array_equal(audio, again)
        assert audio.dtype == np.float32
        # A spoken word at 8 kHz: 0.15-2 s, trimmed, loud enough, no clips.
        assert 1200 <= len(audio) <= 16000
        assert np.max(np.abs(audio)) <= 0.99
        assert np.sqrt(np.mean(np.square(audio))) > 0.03


@needs_synthesiser
def test_writes_and_reuses_the_arrays(tmp_path):
    path = synthetic_digits.write_arrays(tmp_path / "s.npz", 2, seed=1)
    modified = path.stat().st_mtime_ns
    assert synthetic_digits.write_arrays(path, 2, seed=1) == path
    assert path.stat().st_mtime_ns == modified
    with np.load(path) as arrays:
        assert list(arrays["digits"]) == [0, 1]
        assert len(arrays["offsets"]) == 3


def test_recordings_for_connected_digits(tmp_path):
    path = tmp_path / "s.npz"
    np.savez(
        path,
        samples=np.arange(30, dtype=np.int16) * 100,
        offsets=np.array([0, 10, 30]),
        digits=np.array([4, 7]),
        speakers=np.array(["espeak-ng:en-gb-scotland+f3", "flite:slt"]),
        indexes=np.arange(2),
    )
    first, second = synthetic_digits.load_recordings(path)
    assert (first.digit, second.digit) == (4, 7)
    # espeak-ng variants count as their accent; a flite voice as itself.
    assert first.speaker == "espeak-ng:en-gb-scotland"
    assert second.speaker == "flite:slt"
    np.testing.assert_allclose(first.audio, np.arange(10) * 100 / 32768)
    assert len(second.audio) == 20
    assert first.file_name != second.file_name
    assert len(synthetic_digits.load_recordings(path, 1)) == 1
    with pytest.raises(DataError, match="holds 2 utterances; asked for 3"):
        synthetic_digits.load_recordings(path, 3)

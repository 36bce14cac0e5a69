"""Tests of WAV parsing, reading, writing and waveform checks."""

import numpy as np
import pytest

from zoo.data import DataError
from zoo.data.audio import decode_pcm16
from zoo.data.audio import parse_wav_header
from zoo.data.audio import read_wav
from zoo.data.audio import validate_waveform
from zoo.data.audio import write_wav


def test_parse_header(fakes):
    info = parse_wav_header(fakes.wav_bytes(sample_rate=16000, channels=2))
    assert (info.sample_rate, info.channels, info.bits_per_sample) == (
        16000,
        2,
        16,
    )
    assert info.num_frames == 800


def test_int16_round_trip_is_exact(tmp_path):
    samples = np.array([0, 1, -1, 32767, -32768, 1234], np.int16)
    path = write_wav(tmp_path / "x.wav", samples)
    audio, rate = read_wav(path)
    assert rate == 8000 and audio.dtype == np.float32
    np.testing.assert_array_equal(audio * 32768, samples)
    np.testing.assert_array_equal(decode_pcm16(path.read_bytes()), samples)


def test_float_round_trip_and_stereo(tmp_path):
    samples = np.sin(np.linspace(0, 20, 400))[:, None] * [0.5, -0.25]
    audio, rate = read_wav(write_wav(tmp_path / "s.wav", samples, 16000))
    assert rate == 16000 and audio.shape == (400, 2)
    np.testing.assert_allclose(audio, samples, atol=1 / 16000)


@pytest.mark.parametrize(
    "kind, message",
    [
        ("rate", "expected 8000 Hz, 1 channel, 16-bit PCM; found 44100 Hz"),
        ("stereo", "found 8000 Hz, 2 channels"),
        ("8bit", "1 channel, 8-bit PCM"),
        ("empty", "is empty: it holds 0 samples"),
        ("cut_data", "truncated: its data chunk declares 1600 bytes"),
        ("cut_header", "truncated or malformed"),
        ("not_riff", "is not a WAV file"),
    ],
)
def test_decode_rejects(fakes, kind, message):
    data = {
        "rate": fakes.wav_bytes(sample_rate=44100),
        "stereo": fakes.wav_bytes(channels=2),
        "8bit": fakes.wav_bytes(bits=8),
        "empty": fakes.wav_bytes(frames=0),
        "cut_data": fakes.wav_bytes()[:100],
        "cut_header": fakes.wav_bytes()[:30],
        "not_riff": b"ID3\x03 an mp3 file",
    }[kind]
    with pytest.raises(DataError, match=message) as error:
        decode_pcm16(data, "7_zed_3.wav")
    assert "7_zed_3.wav" in str(error.value)


def test_read_wav_errors(tmp_path, fakes):
    with pytest.raises(DataError, match="not found"):
        read_wav(tmp_path / "missing.wav")
    (tmp_path / "b.wav").write_bytes(fakes.wav_bytes(bits=8))
    with pytest.raises(DataError, match="is not 16-bit PCM"):
        read_wav(tmp_path / "b.wav")


@pytest.mark.parametrize(
    "waveform, message",
    [
        (np.array([0.0, np.nan, 0.1]), "1 non-finite value"),
        (np.array([0.0, np.inf]), "non-finite"),
        (np.zeros((2, 3)), "expected rank 1, got shape \\(2, 3\\)"),
        (np.zeros(0), "holds no samples"),
        (np.array([0.0, 12000.0]), "peak of 1.2e\\+04"),
        (np.array(["a"]), "expected numbers"),
    ],
)
def test_validate_waveform_rejects(waveform, message):
    with pytest.raises(ValueError, match=message):
        validate_waveform(waveform)


def test_validate_waveform_accepts():
    waveform = validate_waveform([0.0, 1.2, -1.0], name="audio")
    assert waveform.dtype == np.float32
    assert validate_waveform(np.zeros((2, 5)), rank=2).shape == (2, 5)

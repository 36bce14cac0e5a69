"""Tests of connected-digit synthesis on fake recordings (no TFDS)."""

import numpy as np
import pytest
import tensorflow as tf

from zoo.data.connected_digits import SynthesisConfig
from zoo.data.connected_digits import make_connected_digits
from zoo.data.connected_digits import phrase_utterances
from zoo.data.connected_digits import split_recordings
from zoo.data.connected_digits import synthesize_utterances
from zoo.data.connected_digits import trim_silence
from zoo.data.fsdd import Recording
from zoo.data.synthetic_phrases import Phrase

SPEAKERS = ("alice", "bob", "carol", "theo")
SIZES = {"train": 40, "validation": 10, "test": 10}


@pytest.fixture(scope="module")
def recordings(fakes):
    return [
        Recording(
            audio=fakes.tone(digit, s, seconds=0.05).astype(np.float32),
            digit=digit,
            speaker=speaker,
            index=take,
            file_name=f"{digit}_{speaker}_{take}.wav",
        )
        for s, speaker in enumerate(SPEAKERS)
        for digit in range(10)
        for take in range(3)
    ]


def test_same_seed_same_bytes(recordings):
    one = make_connected_digits(recordings, num_utterances=SIZES, seed=5)
    two = make_connected_digits(recordings, num_utterances=SIZES, seed=5)
    other = make_connected_digits(recordings, num_utterances=SIZES, seed=6)
    for split in SIZES:
        assert len(one.utterances[split]) == SIZES[split]
        for a, b in zip(
            one.utterances[split], two.utterances[split], strict=True
        ):
            assert a.audio.tobytes() == b.audio.tobytes()
            assert a.transcript == b.transcript
    assert one.transcripts("train") != other.transcripts("train")


def test_splits_share_no_recording(recordings):
    data = make_connected_digits(
        recordings, num_utterances=SIZES, holdout_speakers=("theo",)
    )
    used = {
        split: {
            name for u in data.utterances[split] for name in u.recording_ids
        }
        for split in SIZES
    }
    assert not used["train"] & used["validation"]
    assert not used["train"] & used["test"]
    assert not used["validation"] & used["test"]
    assert all("_theo_" in name for name in used["test"])
    assert data.speakers["test"] == ("theo",)
    assert data.num_recordings == {"train": 81, "validation": 9, "test": 30}


def test_validation_speakers(recordings):
    pools = split_recordings(
        recordings, holdout_speakers=("theo",), validation_speakers=("bob",)
    )
    assert {r.speaker for r in pools["validation"]} == {"bob"}
    assert {r.speaker for r in pools["train"]} == {"alice", "carol"}
    with pytest.raises(ValueError, match="unknown speaker"):
        split_recordings(recordings, holdout_speakers=("zed",))


def test_utterance_structure(recordings):
    config = SynthesisConfig()
    utterances = synthesize_utterances(
        recordings[:60], 60, seed=3, keep_components=True
    )
    assert {u.noise_type for u in utterances} == {"white", "pink", "babble"}
    for u in utterances:
        assert 1 <= len(u.digits) <= 7
        # Labels match the recordings used.
        assert u.transcript == "".join(name[0] for name in u.recording_ids)
        assert u.transcript == "".join(map(str, u.digits))
        assert len(set(name.split("_")[1] for name in u.recording_ids)) == 1
        # Pauses, edges included, lie within 50-300 ms.
        edges = np.concatenate([[0], u.segments.ravel(), [len(u.audio)]])
        pauses = (edges[1::2] - edges[::2]) / 8000
        assert np.all(pauses >= config.min_pause - 1e-3)
        assert np.all(pauses <= config.max_pause + 1e-3)
        # The measured SNR is the drawn one, within 5-30 dB.
        measured = 10 * np.log10(np.sum(u.clean**2) / np.sum(u.noise**2))
        assert measured == pytest.approx(u.snr_db, abs=0.01)
        assert 5 <= u.snr_db <= 30
        np.testing.assert_allclose(u.audio, u.clean + u.noise, atol=1e-6)
        assert np.abs(u.audio).max() <= 0.99 + 1e-6


def test_phrase_utterances(fakes):
    config = SynthesisConfig()
    phrases = [
        Phrase(
            audio=fakes.tone(index % 10, index % 3, seconds=0.3).astype(
                np.float32
            ),
            digits=np.array([index % 10, 7][: 1 + index % 2], np.int32),
            speaker=f"voice{index % 3}",
        )
        for index in range(30)
    ]
    utterances = phrase_utterances(phrases, seed=4, keep_components=True)
    again = phrase_utterances(phrases, seed=4)
    assert {u.noise_type for u in utterances} == {"white", "pink", "babble"}
    for phrase, u, same in zip(phrases, utterances, again, strict=True):
        assert u.audio.tobytes() == same.audio.tobytes()
        np.testing.assert_array_equal(u.digits, phrase.digits)
        assert u.transcript == "".join(map(str, phrase.digits))
        # The phrase whole, at a gain within +-6 dB, between two pauses.
        ((start, end),) = u.segments
        assert end - start == len(phrase.audio)
        for pause in (start, len(u.audio) - end):
            assert config.min_pause - 1e-3 <= pause / 8000
            assert pause / 8000 <= config.max_pause + 1e-3
        gain = np.sum(u.clean[start:end] * phrase.audio) / np.sum(
            phrase.audio**2
        )
        np.testing.assert_allclose(
            u.clean[start:end], gain * phrase.audio, atol=1e-5
        )
        assert abs(20 * np.log10(gain)) <= config.gain_db + 1e-3
        assert not np.any(u.clean[:start]) and not np.any(u.clean[end:])
        measured = 10 * np.log10(np.sum(u.clean**2) / np.sum(u.noise**2))
        assert measured == pytest.approx(u.snr_db, abs=0.01)
    with pytest.raises(ValueError, match="no phrases"):
        phrase_utterances([])


def test_datasets(recordings):
    data = make_connected_digits(recordings, num_utterances=SIZES, seed=1)
    elements = list(data.validation.as_numpy_iterator())
    assert len(elements) == SIZES["validation"]
    for (audio, labels), utterance in zip(
        elements, data.utterances["validation"], strict=True
    ):
        assert audio.dtype == np.float32 and audio.ndim == 1
        assert labels.dtype == np.int32
        np.testing.assert_array_equal(audio, utterance.audio)
        assert "".join(map(str, labels)) == utterance.transcript
    assert data.train.element_spec[1] == tf.TensorSpec([None], tf.int32)


def test_trim_silence():
    audio = np.concatenate([np.zeros(400), np.ones(160) * 0.5, np.zeros(400)])
    trimmed = trim_silence(audio)
    assert len(trimmed) == 160 and np.all(trimmed == 0.5)
    silent = np.zeros(100)
    assert len(trim_silence(silent)) == 100


def test_bad_config():
    with pytest.raises(ValueError, match="`noise_types`"):
        SynthesisConfig(noise_types=("brown",))
    with pytest.raises(ValueError, match="min_digits"):
        SynthesisConfig(min_digits=0)

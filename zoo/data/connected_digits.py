"""Connected-digit utterances synthesized from FSDD recordings.

An utterance is 1-7 recordings of one speaker's digits, each trimmed of its
leading and trailing silence (energy-based), scaled by a random gain
(+-6 dB), joined by random pauses (50-300 ms, also before the first and after
the last digit), then mixed with white, pink (1/f, shaped in the frequency
domain) or babble noise (3-5 overlapping streams of other recordings of the
same split, from other speakers where the split has any) at a random SNR of
5-30 dB. The SNR is measured over the whole utterance:
`10 * log10(sum(clean ** 2) / sum(noise ** 2))`. An utterance whose peak
exceeds 0.99 is scaled down as a whole (which keeps its SNR).

Recordings are split before synthesis: the recordings of the held-out
speakers form the test pool, validation takes the recordings of
`validation_speakers` (or a seeded fraction of the other recordings), and
train the rest; each split's utterances, babble included, use only its own
pool, so no recording is shared between splits.

Labels are the digits 0-9 as int32; the CTC blank is class 10 (the last of
11 classes), as in the recipes. The same recordings, parameters and seed
give byte-identical audio (numpy `Generator`, one stream per split).

Reference:
    Jakobovski et al. "Free Spoken Digit Dataset." Zenodo, 2018.
    Leonard. "A database for speaker-independent digit recognition."
    ICASSP 1984 (TIDIGITS, the task this imitates).
"""

import dataclasses
from collections.abc import Mapping
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

from zoo.data import splits
from zoo.data.fsdd import Recording

SPLITS = ("train", "validation", "test")
BLANK = 10
NUM_CLASSES = 11
NOISE_TYPES = ("white", "pink", "babble")


@dataclasses.dataclass(frozen=True)
class SynthesisConfig:
    """How utterances are synthesized.

    Attributes:
        min_digits: fewest digits per utterance.
        max_digits: most digits per utterance.
        min_pause: shortest pause between digits (and at the edges), seconds.
        max_pause: longest pause, seconds.
        gain_db: each digit's gain is uniform in [-gain_db, +gain_db] dB.
        min_snr_db: lowest SNR, dB.
        max_snr_db: highest SNR, dB.
        noise_types: the noise types to draw from, uniformly.
        trim_db: frames more than `trim_db` below a recording's loudest
            10 ms frame count as silence when trimming its edges.
        sample_rate: samples per second of the recordings.
    """

    min_digits: int = 1
    max_digits: int = 7
    min_pause: float = 0.05
    max_pause: float = 0.3
    gain_db: float = 6.0
    min_snr_db: float = 5.0
    max_snr_db: float = 30.0
    noise_types: tuple[str, ...] = NOISE_TYPES
    trim_db: float = 35.0
    sample_rate: int = 8000

    def __post_init__(self):
        if not 1 <= self.min_digits <= self.max_digits:
            raise ValueError(
                "Received invalid values for `min_digits`/`max_digits`, "
                "expected 1 <= min_digits <= max_digits, got "
                f"{self.min_digits}, {self.max_digits}."
            )
        if not 0 <= self.min_pause <= self.max_pause:
            raise ValueError(
                "Received invalid values for `min_pause`/`max_pause`, "
                f"expected 0 <= min <= max, got {self.min_pause}, "
                f"{self.max_pause}."
            )
        if self.min_snr_db > self.max_snr_db:
            raise ValueError(
                "Received invalid values for `min_snr_db`/`max_snr_db`, "
                f"got {self.min_snr_db} > {self.max_snr_db}."
            )
        unknown = set(self.noise_types) - set(NOISE_TYPES)
        if not self.noise_types or unknown:
            raise ValueError(
                "Received an invalid value for argument `noise_types`, "
                f"expected a non-empty subset of {NOISE_TYPES}, got "
                f"{self.noise_types!r}."
            )


@dataclasses.dataclass(frozen=True)
class Utterance:
    """One synthesized utterance.

    Attributes:
        audio: float32 [samples], clean speech plus noise.
        digits: int32 [num_digits], the digits 0-9.
        transcript: the digit string, e.g. "4071".
        recording_ids: the file names of the recordings used, in order.
        segments: int64 [num_digits, 2], each digit's [start, end) sample;
            for a phrase spoken whole (`phrase_utterances`), one row: the
            phrase.
        snr_db: the SNR of the mix, dB.
        noise_type: "white", "pink" or "babble".
        clean: the clean speech (same scale as `audio`), if kept.
        noise: the noise (same scale as `audio`), if kept.
    """

    audio: np.ndarray
    digits: np.ndarray
    transcript: str
    recording_ids: tuple[str, ...]
    segments: np.ndarray
    snr_db: float
    noise_type: str
    clean: np.ndarray | None = None
    noise: np.ndarray | None = None


@dataclasses.dataclass(frozen=True)
class ConnectedDigits:
    """Connected-digit `tf.data` pipelines of `(audio, labels)` pairs.

    `audio` is float32 [samples] at 8 kHz; `labels` is int32 [num_digits],
    the digits 0-9 (CTC blank = 10). Elements have varying lengths: batch with
    `padded_batch` (and keep the lengths, e.g. by padding labels with -1).

    Attributes:
        train: the train pipeline.
        validation: the validation pipeline.
        test: the test pipeline (held-out speakers).
        utterances: per split, the `Utterance`s behind each pipeline (with
            transcripts and recording ids), in pipeline order.
        speakers: per split, the speakers of its recordings.
        num_recordings: per split, the size of its recording pool.
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset
    utterances: Mapping[str, list[Utterance]]
    speakers: Mapping[str, tuple[str, ...]]
    num_recordings: Mapping[str, int]

    def transcripts(self, split: str) -> list[str]:
        """The digit strings of a split, in pipeline order."""
        return [utterance.transcript for utterance in self.utterances[split]]


def trim_silence(
    audio: np.ndarray, *, threshold_db: float = 35.0, frame: int = 80
) -> np.ndarray:
    """Drops leading and trailing silence: whole `frame`s whose energy is
    more than `threshold_db` below the loudest frame's.

    Args:
        audio: float [samples].
        threshold_db: how far below the peak frame energy counts as silence.
        frame: frame length in samples (80 = 10 ms at 8 kHz).

    Returns:
        A view of `audio` from its first to its last loud frame (the whole of
        `audio` if it is all silence).
    """
    count = -(-len(audio) // frame)
    padded = np.zeros(count * frame, np.float64)
    padded[: len(audio)] = audio
    energy = np.square(padded).reshape(count, frame).sum(axis=1)
    loud = np.flatnonzero(energy >= energy.max() * 10 ** (-threshold_db / 10))
    if energy.max() == 0 or loud.size == 0:
        return audio
    return audio[loud[0] * frame : min((loud[-1] + 1) * frame, len(audio))]


def split_recordings(
    recordings: Sequence[Recording],
    *,
    holdout_speakers: Sequence[str] = ("theo",),
    validation_speakers: Sequence[str] | None = None,
    validation_fraction: float = 0.1,
    seed: int = 1337,
) -> dict[str, list[Recording]]:
    """Splits recordings into disjoint train/validation/test pools.

    Args:
        recordings: FSDD recordings (`zoo.data.load_fsdd_recordings`).
        holdout_speakers: speakers whose recordings are the test pool.
        validation_speakers: speakers whose recordings are the validation
            pool; None for a seeded `validation_fraction` of the other
            recordings instead.
        validation_fraction: see `validation_speakers`.
        seed: seed of the fraction carve.

    Returns:
        {"train": [...], "validation": [...], "test": [...]}.
    """
    speakers = {recording.speaker for recording in recordings}
    for argument, chosen in (
        ("holdout_speakers", holdout_speakers),
        ("validation_speakers", validation_speakers or ()),
    ):
        unknown = sorted(set(chosen) - speakers)
        if unknown:
            raise ValueError(
                f"Received an invalid value for argument `{argument}`: "
                f"unknown speaker(s) {unknown}; the recordings have "
                f"{sorted(speakers)}."
            )
    test = [r for r in recordings if r.speaker in holdout_speakers]
    rest = [r for r in recordings if r.speaker not in holdout_speakers]
    if validation_speakers is not None:
        chosen = set(validation_speakers)
    else:
        chosen = splits.carve(
            [r.file_name for r in rest], validation_fraction, seed
        )
    key = "speaker" if validation_speakers is not None else "file_name"
    pools = {
        "train": [r for r in rest if getattr(r, key) not in chosen],
        "validation": [r for r in rest if getattr(r, key) in chosen],
        "test": test,
    }
    for name, pool in pools.items():
        if not pool:
            raise ValueError(
                f"The {name} pool is empty: check `holdout_speakers`, "
                "`validation_speakers` and `validation_fraction`."
            )
    return pools


def _pink_noise(rng: np.random.Generator, length: int) -> np.ndarray:
    """Gaussian noise shaped to a 1/f power spectrum."""
    # A power-of-two FFT: pocketfft is slow for lengths with large primes.
    size = 1 << max(length - 1, 1).bit_length()
    spectrum = np.fft.rfft(rng.standard_normal(size))
    frequencies = np.arange(spectrum.size, dtype=np.float64)
    frequencies[0] = 1.0
    return np.fft.irfft(spectrum / np.sqrt(frequencies), n=size)[:length]


def _babble(
    rng: np.random.Generator,
    length: int,
    pool: Sequence[np.ndarray],
) -> np.ndarray:
    """The sum of 3-5 streams, each random recordings laid end to end."""
    noise = np.zeros(length, np.float64)
    for _ in range(rng.integers(3, 6)):
        stream = []
        filled = 0
        while filled < length:
            piece = pool[rng.integers(len(pool))]
            stream.append(piece)
            filled += len(piece)
        stream = np.concatenate(stream)
        start = rng.integers(len(stream) - length + 1)
        noise += stream[start : start + length]
    return noise


class _Pool:
    """A split's recordings, trimmed once, indexed by speaker."""

    def __init__(self, recordings: Sequence[Recording], trim_db: float):
        self.recordings = list(recordings)
        self.trimmed = [
            trim_silence(r.audio, threshold_db=trim_db).astype(np.float64)
            for r in self.recordings
        ]
        self.speakers = sorted({r.speaker for r in self.recordings})
        self.by_speaker = {
            speaker: [
                i for i, r in enumerate(self.recordings) if r.speaker == speaker
            ]
            for speaker in self.speakers
        }

    def others(self, speaker: str) -> list[np.ndarray]:
        """Recordings of other speakers; the speaker's own if none."""
        indices = [
            i for s in self.speakers if s != speaker for i in self.by_speaker[s]
        ] or self.by_speaker[speaker]
        return [self.trimmed[i] for i in indices]


def _synthesize(
    rng: np.random.Generator,
    pool: _Pool,
    config: SynthesisConfig,
    babble_pools: dict,
    keep_components: bool,
) -> Utterance:
    speaker = pool.speakers[rng.integers(len(pool.speakers))]
    candidates = pool.by_speaker[speaker]
    count = rng.integers(config.min_digits, config.max_digits + 1)
    chosen = [candidates[i] for i in rng.integers(len(candidates), size=count)]
    gains = 10 ** (rng.uniform(-config.gain_db, config.gain_db, count) / 20)
    pauses = np.round(
        rng.uniform(config.min_pause, config.max_pause, count + 1)
        * config.sample_rate
    ).astype(np.int64)
    lengths = np.array([len(pool.trimmed[i]) for i in chosen])
    starts = np.cumsum(pauses[:-1]) + np.concatenate(
        [[0], np.cumsum(lengths)[:-1]]
    )
    segments = np.stack([starts, starts + lengths], axis=1)
    length = int(pauses.sum() + lengths.sum())
    clean = np.zeros(length, np.float64)
    for (start, end), index, gain in zip(segments, chosen, gains, strict=True):
        clean[start:end] = pool.trimmed[index] * gain

    def babble_pool():
        if speaker not in babble_pools:
            babble_pools[speaker] = pool.others(speaker)
        return babble_pools[speaker]

    digits = np.array([pool.recordings[i].digit for i in chosen], np.int32)
    return _noisy_utterance(
        rng,
        clean,
        config,
        babble_pool,
        digits=digits,
        recording_ids=tuple(pool.recordings[i].file_name for i in chosen),
        segments=segments,
        keep_components=keep_components,
    )


def _noisy_utterance(
    rng, clean, config, babble_pool, *, digits, keep_components, **fields
) -> Utterance:
    """`clean` speech mixed with noise of a random type and SNR;
    `babble_pool()` gives the recordings babble is made of."""
    length = len(clean)
    noise_type = config.noise_types[rng.integers(len(config.noise_types))]
    if noise_type == "white":
        noise = rng.standard_normal(length)
    elif noise_type == "pink":
        noise = _pink_noise(rng, length)
    else:
        noise = _babble(rng, length, babble_pool())
    snr_db = float(rng.uniform(config.min_snr_db, config.max_snr_db))
    # Scale the noise so that 10 log10(sum(clean^2) / sum(noise^2)) = snr_db.
    noise *= np.sqrt(
        np.sum(clean**2) / (np.sum(noise**2) * 10 ** (snr_db / 10))
    )
    audio = clean + noise
    peak = np.abs(audio).max()
    if peak > 0.99:
        scale = 0.99 / peak
        audio, clean, noise = audio * scale, clean * scale, noise * scale
    return Utterance(
        audio=audio.astype(np.float32),
        digits=digits,
        transcript="".join(str(digit) for digit in digits),
        snr_db=snr_db,
        noise_type=noise_type,
        clean=clean.astype(np.float32) if keep_components else None,
        noise=noise.astype(np.float32) if keep_components else None,
        **fields,
    )


def synthesize_utterances(
    recordings: Sequence[Recording],
    num_utterances: int,
    *,
    seed: int = 1337,
    config: SynthesisConfig = SynthesisConfig(),
    keep_components: bool = False,
) -> list[Utterance]:
    """Synthesizes utterances from one pool of recordings.

    Args:
        recordings: the pool (all of one split).
        num_utterances: how many utterances to make.
        seed: the seed of a numpy `Generator`; the same recordings, config
            and seed give byte-identical utterances.
        config: the synthesis parameters.
        keep_components: whether to keep each utterance's clean speech and
            noise (for checks; doubles the memory).

    Returns:
        The utterances.
    """
    if not recordings:
        raise ValueError("Received no recordings to synthesize from.")
    rng = np.random.default_rng(seed)
    pool = _Pool(recordings, config.trim_db)
    babble_pools = {}
    return [
        _synthesize(rng, pool, config, babble_pools, keep_components)
        for _ in range(num_utterances)
    ]


def phrase_utterances(
    phrases: Sequence,
    *,
    seed: int = 1337,
    config: SynthesisConfig = SynthesisConfig(),
    keep_components: bool = False,
) -> list[Utterance]:
    """One utterance per phrase spoken whole by a synthesiser
    (`zoo.data.synthetic_phrases.load_phrases`): a random gain (the
    config's `gain_db`), a pause of `min_pause`-`max_pause` before and
    after, and noise as for the joined utterances (babble from the other
    voices' phrases). Its `segments` is one row, the phrase: the digit
    boundaries inside it are unknown. Seeded and `keep_components` as in
    `synthesize_utterances`.
    """
    if not phrases:
        raise ValueError("Received no phrases to make utterances from.")
    rng = np.random.default_rng(seed)
    speakers = sorted({phrase.speaker for phrase in phrases})
    babble_pools = {}
    utterances = []
    for index, phrase in enumerate(phrases):
        gain = 10 ** (rng.uniform(-config.gain_db, config.gain_db) / 20)
        before, after = np.round(
            rng.uniform(config.min_pause, config.max_pause, 2)
            * config.sample_rate
        ).astype(np.int64)
        clean = np.concatenate(
            [np.zeros(before), phrase.audio * gain, np.zeros(after)]
        ).astype(np.float64)

        def babble_pool(speaker=phrase.speaker):
            if speaker not in babble_pools:
                # References, not copies: the pools share the audio.
                babble_pools[speaker] = [
                    other.audio
                    for other in phrases
                    if other.speaker != speaker or len(speakers) == 1
                ]
            return babble_pools[speaker]

        utterances.append(
            _noisy_utterance(
                rng,
                clean,
                config,
                babble_pool,
                digits=np.asarray(phrase.digits, np.int32),
                recording_ids=(f"phrase_{index}",),
                segments=np.array([[before, before + len(phrase.audio)]]),
                keep_components=keep_components,
            )
        )
    return utterances


def to_dataset(utterances: Sequence[Utterance]) -> tf.data.Dataset:
    """A dataset of `(audio float32 [samples], labels int32 [num_digits])`."""
    utterances = list(utterances)

    def generate():
        for utterance in utterances:
            yield utterance.audio, utterance.digits

    dataset = tf.data.Dataset.from_generator(
        generate,
        output_signature=(
            tf.TensorSpec([None], tf.float32),
            tf.TensorSpec([None], tf.int32),
        ),
    )
    return dataset.apply(
        tf.data.experimental.assert_cardinality(len(utterances))
    )


def make_connected_digits(
    recordings: Sequence[Recording],
    *,
    num_utterances: Mapping[str, int] | None = None,
    holdout_speakers: Sequence[str] = ("theo",),
    validation_speakers: Sequence[str] | None = None,
    validation_fraction: float = 0.1,
    seed: int = 1337,
    config: SynthesisConfig = SynthesisConfig(),
) -> ConnectedDigits:
    """Makes train/validation/test connected-digit pipelines.

    Args:
        recordings: FSDD recordings (`zoo.data.load_fsdd_recordings`).
        num_utterances: utterances per split; default
            {"train": 3000, "validation": 300, "test": 300}.
        holdout_speakers: the test speakers.
        validation_speakers: the validation speakers, or None for a seeded
            `validation_fraction` of the non-test recordings.
        validation_fraction: see `validation_speakers`.
        seed: seed of the recording split and of synthesis.
        config: the synthesis parameters.

    Returns:
        A `ConnectedDigits`.
    """
    if num_utterances is None:
        num_utterances = {"train": 3000, "validation": 300, "test": 300}
    unknown = set(num_utterances) - set(SPLITS)
    if unknown:
        raise ValueError(
            "Received an invalid value for argument `num_utterances`: "
            f"unknown split(s) {sorted(unknown)}, expected keys {SPLITS}."
        )
    pools = split_recordings(
        recordings,
        holdout_speakers=holdout_speakers,
        validation_speakers=validation_speakers,
        validation_fraction=validation_fraction,
        seed=seed,
    )
    utterances = {
        name: synthesize_utterances(
            pools[name],
            num_utterances.get(name, 0),
            seed=int(
                np.random.SeedSequence([seed, index]).generate_state(1)[0]
            ),
            config=config,
        )
        for index, name in enumerate(SPLITS)
    }
    datasets = {name: to_dataset(utterances[name]) for name in SPLITS}
    return ConnectedDigits(
        **datasets,
        utterances=utterances,
        speakers={
            name: tuple(sorted({r.speaker for r in pool}))
            for name, pool in pools.items()
        },
        num_recordings={name: len(pool) for name, pool in pools.items()},
    )

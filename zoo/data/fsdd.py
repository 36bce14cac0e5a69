"""The Free Spoken Digit Dataset (FSDD) as `tf.data` pipelines.

FSDD holds recordings of spoken digits named `DIGIT_SPEAKER_INDEX.wav`
(e.g. `7_jackson_32.wav`): 8 kHz, mono, 16-bit PCM, 50 takes of each digit
by each speaker.

Sources:
    * `None` or `"tfds"`: TFDS `spoken_digit` (downloads; needs internet). It
      has one split, `train`, with features `audio` (int64 samples),
      `label` and `audio/filename`; speaker and take index are parsed from
      the file name.
    * a local `recordings/` folder (or a folder holding `recordings/` or
      `fsdd/recordings/`), or a tar(.gz) archive holding one.

A local source is read by the `FsddLocal` TFDS builder from
`dl_manager.manual_dir`, validated and decoded once (`tf.audio.decode_wav`,
after a RIFF header check that names any file that is not 8 kHz mono 16-bit
PCM, is empty or is truncated) and written into a TFDS data dir; later calls
reuse it. Its single `train` split holds every recording with features
`audio` (int16 [samples]), `label` (the digit), `speaker`, `index` (the take)
and `audio/filename`. Splits are made at load time from the file names:

    * "customary": takes 0-4 of each speaker and digit are test, the rest
      train (the split of the dataset's README).
    * "speaker": the recordings of `holdout_speakers` are test (a
      speaker-independent figure).

Validation is carved from train: the recordings of `validation_speakers`,
or a seeded fraction of train recordings (see `zoo.data.splits`).

Reference:
    Jakobovski et al. "Free Spoken Digit Dataset." Zenodo, 2018.
    https://github.com/Jakobovski/free-spoken-digit-dataset (CC BY-SA 4.0)
"""

import dataclasses
import logging
import os
import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from zoo.data import audio
from zoo.data import padding
from zoo.data import sources
from zoo.data import splits
from zoo.data.errors import DataError

logger = logging.getLogger(__name__)

SAMPLE_RATE = 8000
_FILE_NAME = re.compile(
    r"^(?P<digit>[0-9])_(?P<speaker>[A-Za-z0-9-]+)_(?P<index>[0-9]+)\.wav$"
)


@dataclasses.dataclass(frozen=True)
class Recording:
    """One FSDD recording.

    Attributes:
        audio: float32 samples in [-1, 1), shape [samples], 8 kHz.
        digit: the spoken digit, 0-9.
        speaker: the speaker's name.
        index: the take (0-49 in FSDD).
        file_name: e.g. "7_jackson_32.wav"; unique, used as the recording id.
    """

    audio: np.ndarray
    digit: int
    speaker: str
    index: int
    file_name: str


@dataclasses.dataclass(frozen=True)
class FsddInfo:
    """What `load_fsdd` loaded.

    Attributes:
        source: a description of the source (TFDS name, folder or archive).
        builder: the TFDS builder and config that hold the prepared data.
        data_dir: the TFDS data dir of the prepared data.
        split: "customary" or "speaker".
        speakers: every speaker in the source, sorted.
        holdout_speakers: the test speakers ("speaker" split).
        validation_speakers: the validation speakers, if chosen by speaker.
        num_train: recordings in `train`.
        num_validation: recordings in `validation`.
        num_test: recordings in `test`.
        validation_fraction: the fraction of train carved out for validation
            (unused when `validation_speakers` is given).
        seed: the seed of the validation carve and of shuffling.
        sample_rate: samples per second (8000).
    """

    source: str
    builder: str
    data_dir: str
    split: str
    speakers: tuple[str, ...]
    holdout_speakers: tuple[str, ...]
    validation_speakers: tuple[str, ...]
    num_train: int
    num_validation: int
    num_test: int
    validation_fraction: float
    seed: int
    sample_rate: int = SAMPLE_RATE


@dataclasses.dataclass(frozen=True)
class FsddSplits:
    """FSDD `tf.data` pipelines of `(audio, label)` pairs.

    `audio` is float32 [samples] in [-1, 1) at 8 kHz and `label` the digit as
    int64. When `load_fsdd` got a `batch_size`, batches are zero-padded to
    their longest recording: audio [batch, samples], label [batch].
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset
    info: FsddInfo


@dataclasses.dataclass(eq=False)
class FsddLocalConfig(tfds.core.BuilderConfig):
    """An `FsddLocal` config: one per local source.

    Attributes:
        archive: the archive's file name inside `manual_dir`, or "" when
            `manual_dir` is the `recordings` folder itself.
    """

    archive: str = ""


class FsddLocal(tfds.core.GeneratorBasedBuilder):
    """FSDD recordings from a local `recordings/` folder or tar archive."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "All recordings of a local FSDD copy."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Point `manual_dir` at FSDD's `recordings` folder, or at the folder "
        "holding an archive of it (named by the config's `archive`)."
    )

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "audio": tfds.features.Audio(
                        shape=(None,), dtype=np.int16, sample_rate=SAMPLE_RATE
                    ),
                    "label": tfds.features.ClassLabel(num_classes=10),
                    "speaker": tfds.features.Text(),
                    "index": tfds.features.Scalar(dtype=np.int32),
                    "audio/filename": tfds.features.Text(),
                }
            ),
            supervised_keys=("audio", "label"),
            homepage="https://github.com/Jakobovski/free-spoken-digit-dataset",
        )

    def _split_generators(self, dl_manager):
        if self.builder_config.archive:
            path = Path(dl_manager.manual_dir) / self.builder_config.archive
            names = sources.scan_archive(path)
        else:
            path = Path(dl_manager.manual_dir)
            names = sorted(file.name for file in path.glob("*.wav"))
        _recording_names(names, path)
        return {"train": self._generate_examples(dl_manager, path)}

    def _generate_examples(self, dl_manager, path: Path):
        if self.builder_config.archive:
            members = dl_manager.iter_archive(path)
            separator = ":"
        else:
            members = ((file.name, file) for file in sorted(path.glob("*.wav")))
            separator = "/"
        for name, member in members:
            file_name = name.rsplit("/", 1)[-1]
            match = _FILE_NAME.match(file_name)
            if not match:
                continue
            data = (
                member.read_bytes()
                if isinstance(member, Path)
                else member.read()
            )
            samples = audio.decode_pcm16(
                data, f"{path}{separator}{name}", SAMPLE_RATE
            )
            yield (
                file_name,
                {
                    "audio": samples,
                    "label": int(match["digit"]),
                    "speaker": match["speaker"],
                    "index": int(match["index"]),
                    "audio/filename": file_name,
                },
            )


def _recording_names(names: list[str], path: Path) -> list[str]:
    """The recordings' file names among `names`; checked to be unique."""
    wavs = [name.rsplit("/", 1)[-1] for name in names if name.endswith(".wav")]
    recordings = [name for name in wavs if _FILE_NAME.match(name)]
    if not recordings:
        raise DataError(
            f"FSDD source '{path}' holds no recordings named "
            f"DIGIT_SPEAKER_INDEX.wav (found {len(wavs)} .wav files among "
            f"{len(names)} files). Expected FSDD's recordings/ folder."
        )
    ignored = sorted(set(wavs) - set(recordings))
    if ignored:
        logger.warning(
            "Ignoring %d .wav file(s) in %s not named DIGIT_SPEAKER_INDEX.wav, "
            "e.g. %s.",
            len(ignored),
            path,
            ignored[0],
        )
    duplicates = sorted({n for n in recordings if recordings.count(n) > 1})
    if duplicates:
        raise DataError(
            f"FSDD source '{path}' holds several recordings named "
            f"{duplicates[0]}: expected one recordings/ folder."
        )
    return recordings


def _find_recordings(path: Path) -> Path:
    """The folder of .wav recordings: `path` or one of its usual subfolders."""
    candidates = [path, path / "recordings", path / "fsdd" / "recordings"]
    candidates += sorted(path.glob("free-spoken-digit-dataset*/recordings"))
    for candidate in candidates:
        if candidate.is_dir() and any(candidate.glob("*.wav")):
            return candidate
    raise DataError(
        f"FSDD folder '{path}' holds no .wav recordings: expected a "
        "recordings/ folder (or a folder containing recordings/ or "
        "fsdd/recordings/) of DIGIT_SPEAKER_INDEX.wav files."
    )


def _local_builder(source: str | os.PathLike, data_dir: Path):
    """Returns `(builder, manual_dir, description)` for a local source."""
    path = sources.existing_path(source, "FSDD source")
    if path.is_dir():
        folder = _find_recordings(path)
        files = sorted(folder.glob("*.wav"))
        config = FsddLocalConfig(
            name=f"folder_{sources.fingerprint(folder, files)}",
            description=f"FSDD recordings folder {folder}",
        )
        return FsddLocal(config=config, data_dir=data_dir), folder, str(folder)
    if not sources.is_archive(path):
        raise DataError(
            f"FSDD source '{path}' is neither a folder nor a .tar.gz/.tar "
            "archive: expected a recordings/ folder or an archive of one."
        )
    config = FsddLocalConfig(
        name=f"archive_{sources.fingerprint(path)}",
        archive=path.name,
        description=f"FSDD archive {path}",
    )
    return FsddLocal(config=config, data_dir=data_dir), path.parent, str(path)


def _prepared_builder(source, data_dir: Path):
    """Returns `(builder, description)`, prepared."""
    if source is None or str(source) == "tfds":
        builder = tfds.builder("spoken_digit", data_dir=data_dir)
        try:
            sources.prepare(builder)
        except Exception as error:  # noqa: BLE001 - any download failure.
            raise DataError(
                "Could not download FSDD through TFDS `spoken_digit` "
                f"({type(error).__name__}: {error}). Without internet, pass a "
                "local copy: --data /path/to/fsdd.tar.gz (or its recordings "
                "folder)."
            ) from None
        return builder, "tfds"
    builder, manual_dir, description = _local_builder(source, data_dir)
    sources.prepare(builder, manual_dir)
    return builder, description


def _parse(file_name: str) -> re.Match:
    """Matches `DIGIT_SPEAKER_INDEX.wav`, or raises `DataError`."""
    match = _FILE_NAME.match(file_name)
    if match is None:
        raise DataError(
            f"Recording '{file_name}' is not named DIGIT_SPEAKER_INDEX.wav: "
            "cannot tell its speaker and take."
        )
    return match


def _to_float(samples: tf.Tensor) -> tf.Tensor:
    return tf.cast(samples, tf.float32) / 32768.0


def load_fsdd_recordings(
    source: str | os.PathLike | None = None,
    *,
    data_dir: str | os.PathLike | None = None,
) -> list[Recording]:
    """Loads every FSDD recording into memory, sorted by file name.

    For synthesis from whole recordings (`zoo.data.make_connected_digits`).

    Args:
        source: as for `load_fsdd`.
        data_dir: as for `load_fsdd`.

    Returns:
        A list of `Recording`s.
    """
    builder, _ = _prepared_builder(source, sources.resolve_data_dir(data_dir))
    recordings = []
    for example in builder.as_dataset(split="train").as_numpy_iterator():
        file_name = example["audio/filename"].decode()
        match = _parse(file_name)
        recordings.append(
            Recording(
                audio=example["audio"].astype(np.float32) / 32768.0,
                digit=int(example["label"]),
                speaker=match["speaker"],
                index=int(match["index"]),
                file_name=file_name,
            )
        )
    return sorted(recordings, key=lambda recording: recording.file_name)


def _assign(
    file_names: list[str],
    split: str,
    holdout_speakers: tuple[str, ...],
    validation_speakers: tuple[str, ...],
    validation_fraction: float,
    seed: int,
) -> dict[str, str]:
    """Maps each file name to "train", "validation" or "test"."""
    parsed = {name: _parse(name) for name in file_names}
    speakers = sorted({match["speaker"] for match in parsed.values()})
    for argument, chosen in (
        ("holdout_speakers", holdout_speakers),
        ("validation_speakers", validation_speakers),
    ):
        unknown = sorted(set(chosen) - set(speakers))
        if unknown:
            raise ValueError(
                f"Received an invalid value for argument `{argument}`: "
                f"unknown speaker(s) {unknown}; the source has {speakers}."
            )
    if split == "customary":
        if holdout_speakers:
            raise ValueError(
                "Received `holdout_speakers` with split='customary'; use "
                "split='speaker' for a held-out-speaker test."
            )
        test = {n for n, m in parsed.items() if int(m["index"]) < 5}
    elif split == "speaker":
        if not holdout_speakers:
            raise ValueError(
                "Received an invalid value for argument `holdout_speakers`: "
                "split='speaker' needs at least one speaker, e.g. ('theo',)."
            )
        if set(holdout_speakers) & set(validation_speakers):
            raise ValueError(
                "`holdout_speakers` and `validation_speakers` overlap: "
                f"{sorted(set(holdout_speakers) & set(validation_speakers))}."
            )
        test = {
            n for n, m in parsed.items() if m["speaker"] in holdout_speakers
        }
    else:
        raise ValueError(
            "Received an invalid value for argument `split`, expected "
            f"'customary' or 'speaker', got {split!r}."
        )
    rest = [name for name in file_names if name not in test]
    if validation_speakers:
        validation = {
            n for n in rest if parsed[n]["speaker"] in validation_speakers
        }
    else:
        validation = splits.carve(rest, validation_fraction, seed)
    return {
        name: "test"
        if name in test
        else "validation"
        if name in validation
        else "train"
        for name in file_names
    }


def load_fsdd(
    source: str | os.PathLike | None = None,
    *,
    split: str = "customary",
    holdout_speakers: Sequence[str] = (),
    validation_speakers: Sequence[str] = (),
    validation_fraction: float = 0.1,
    seed: int = 1337,
    data_dir: str | os.PathLike | None = None,
    batch_size: int | None = None,
    shuffle: bool = True,
) -> FsddSplits:
    """Loads FSDD as train/validation/test `tf.data` pipelines.

    Args:
        source: None or "tfds" for TFDS `spoken_digit`; else a path to a
            `recordings/` folder (or a folder holding one) or an archive.
        split: "customary" (takes 0-4 are test) or "speaker" (the recordings
            of `holdout_speakers` are test).
        holdout_speakers: the test speakers, for split="speaker".
        validation_speakers: if given, the validation speakers (their train
            recordings); else validation is a seeded `validation_fraction`
            of train.
        validation_fraction: fraction of train carved out for validation,
            in [0, 1).
        seed: seed of the validation carve and of the train shuffle.
        data_dir: TFDS data dir for the prepared data; default
            `$ZOO_DATA_DIR`, else `~/tensorflow_datasets`.
        batch_size: if given, every split is zero-padded into batches of
            bucket lengths (`zoo.data.padding`).
        shuffle: whether to shuffle train (reshuffled each epoch).

    Returns:
        An `FsddSplits` of `(audio, label)` datasets and an `FsddInfo`.

    Raises:
        DataError: the source is missing or malformed (a recording that is
            not 8 kHz mono 16-bit PCM, empty or truncated is named), or the
            TFDS download failed.
        ValueError: invalid split arguments.
    """
    validation_fraction = splits.check_fraction(validation_fraction)
    holdout_speakers = tuple(holdout_speakers)
    validation_speakers = tuple(validation_speakers)
    directory = sources.resolve_data_dir(data_dir)
    builder, description = _prepared_builder(source, directory)
    everything = builder.as_dataset(split="train")
    key_fn = lambda example: example["audio/filename"]  # noqa: E731
    file_names = splits.read_keys(everything, key_fn)
    assignment = _assign(
        file_names,
        split,
        holdout_speakers,
        validation_speakers,
        validation_fraction,
        seed,
    )

    def finish(name: str, shuffled: bool = False) -> tf.data.Dataset:
        dataset = splits.select(everything, key_fn, assignment, name)
        dataset = dataset.map(
            lambda example: (
                _to_float(example["audio"]),
                tf.cast(example["label"], tf.int64),
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        if shuffled:
            dataset = dataset.shuffle(4096, seed=seed)
        if batch_size is not None:
            dataset = padding.padded_batch(dataset, batch_size)
        return dataset.prefetch(tf.data.AUTOTUNE)

    counts = {
        name: sum(value == name for value in assignment.values())
        for name in ("train", "validation", "test")
    }
    info = FsddInfo(
        source=description,
        builder=sources.builder_id(builder),
        data_dir=str(directory),
        split=split,
        speakers=tuple(
            sorted({_parse(name)["speaker"] for name in file_names})
        ),
        holdout_speakers=holdout_speakers,
        validation_speakers=validation_speakers,
        num_train=counts["train"],
        num_validation=counts["validation"],
        num_test=counts["test"],
        validation_fraction=validation_fraction,
        seed=seed,
    )
    return FsddSplits(
        train=finish("train", shuffled=shuffle),
        validation=finish("validation"),
        test=finish("test"),
        info=info,
    )

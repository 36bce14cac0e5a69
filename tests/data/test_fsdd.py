"""Tests of the FSDD pipelines on fake recordings (sine tones)."""

import re
import tarfile

import numpy as np
import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from zoo.data import DataError
from zoo.data import fsdd
from zoo.data import load_fsdd
from zoo.data import load_fsdd_recordings
from zoo.data.audio import read_wav

# The conftest writes 3 speakers x 10 digits x 8 takes.
NUM_RECORDINGS = 240


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    """A data dir shared by the tests that load the same fake folder."""
    return tmp_path_factory.mktemp("fsdd_tfds")


def test_customary_split(fsdd_folder, data_dir):
    data = load_fsdd(fsdd_folder, data_dir=data_dir)
    info = data.info
    assert info.speakers == ("alice", "bob", "theo")
    assert info.num_test == 3 * 10 * 5
    assert info.num_validation == round(0.1 * (NUM_RECORDINGS - 150)) == 9
    assert info.num_train == NUM_RECORDINGS - 150 - 9
    assert info.source == str(fsdd_folder / "recordings")
    assert len(data.test) == info.num_test
    assert sum(1 for _ in data.train) == info.num_train
    assert sum(1 for _ in data.validation) == info.num_validation
    audio, label = next(iter(data.test))
    assert audio.dtype == tf.float32 and audio.shape.rank == 1
    assert label.dtype == tf.int64 and 0 <= int(label) <= 9
    assert float(tf.reduce_max(tf.abs(audio))) <= 1.0


def test_customary_assignment_uses_takes_0_to_4():
    names = [
        f"{d}_{s}_{i}.wav" for d in range(10) for s in "ab" for i in range(8)
    ]
    assignment = fsdd._assign(names, "customary", (), (), 0.25, seed=0)
    for name, split in assignment.items():
        take = int(name[:-4].split("_")[2])
        assert (split == "test") == (take < 5)
    assert sum(split == "validation" for split in assignment.values()) == 15


def test_speaker_split(fsdd_folder, data_dir):
    data = load_fsdd(
        fsdd_folder,
        data_dir=data_dir,
        split="speaker",
        holdout_speakers=("theo",),
        validation_speakers=("bob",),
        batch_size=16,
    )
    assert (data.info.num_train, data.info.num_validation) == (80, 80)
    assert data.info.num_test == 80
    audio, labels = next(iter(data.test))
    assert audio.shape[0] == 16 and labels.shape == (16,)


def test_validation_carve_is_seeded(fsdd_folder, data_dir):
    def validation(seed):
        data = load_fsdd(fsdd_folder, data_dir=data_dir, seed=seed)
        return sorted(
            (int(label), float(np.sum(audio)))
            for audio, label in data.validation.as_numpy_iterator()
        )

    assert validation(3) == validation(3)
    assert validation(3) != validation(4)


def test_prepared_once_and_reused(fsdd_folder, data_dir, monkeypatch):
    load_fsdd(fsdd_folder, data_dir=data_dir)

    def fail(*args, **kwargs):
        raise AssertionError("the raw files were read again")

    monkeypatch.setattr(fsdd.FsddLocal, "_split_generators", fail)
    monkeypatch.setattr(fsdd.FsddLocal, "_generate_examples", fail)
    assert load_fsdd(fsdd_folder, data_dir=data_dir).info.num_test == 150


def test_archive_source_matches_the_files(fsdd_folder, tmp_path):
    archive = tmp_path / "fsdd.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(fsdd_folder / "recordings", arcname="fsdd/recordings")
    recordings = load_fsdd_recordings(archive, data_dir=tmp_path / "tfds")
    assert len(recordings) == NUM_RECORDINGS
    first = recordings[0]
    assert first.file_name == "0_alice_0.wav"
    assert (first.digit, first.speaker, first.index) == (0, "alice", 0)
    expected, rate = read_wav(fsdd_folder / "recordings" / first.file_name)
    assert rate == 8000
    np.testing.assert_array_equal(first.audio, expected)


@pytest.mark.parametrize(
    "kind, found",
    [
        ("44k", "found 44100 Hz, 1 channel, 16-bit PCM"),
        ("stereo", "found 8000 Hz, 2 channels, 16-bit PCM"),
        ("8bit", "found 8000 Hz, 1 channel, 8-bit PCM"),
        ("empty", "is empty: it holds 0 samples"),
        ("truncated", "is truncated"),
    ],
)
def test_bad_recordings(tmp_path, fakes, kind, found):
    folder = tmp_path / "recordings"
    folder.mkdir()
    fakes.write_fsdd(folder, speakers=("alice",), takes=1)
    data = {
        "44k": fakes.wav_bytes(sample_rate=44100),
        "stereo": fakes.wav_bytes(channels=2),
        "8bit": fakes.wav_bytes(bits=8),
        "empty": fakes.wav_bytes(frames=0),
        "truncated": fakes.wav_bytes()[:30],
    }[kind]
    (folder / "3_bob_0.wav").write_bytes(data)
    with pytest.raises(DataError, match=re.escape(found)) as error:
        load_fsdd(folder, data_dir=tmp_path / "tfds")
    assert "3_bob_0.wav" in str(error.value)


@pytest.mark.parametrize(
    "arguments, message",
    [
        ({"split": "speaker", "holdout_speakers": ("zed",)}, "unknown speaker"),
        ({"holdout_speakers": ("theo",)}, "split='speaker'"),
        ({"split": "speaker"}, "needs at least one speaker"),
        ({"split": "random"}, "expected 'customary' or 'speaker'"),
    ],
)
def test_bad_arguments(fsdd_folder, data_dir, arguments, message):
    with pytest.raises(ValueError, match=message):
        load_fsdd(fsdd_folder, data_dir=data_dir, **arguments)


def test_missing_and_empty_sources(tmp_path):
    with pytest.raises(DataError, match="FSDD source not found"):
        load_fsdd(tmp_path / "nowhere", data_dir=tmp_path / "tfds")
    (tmp_path / "empty" / "recordings").mkdir(parents=True)
    with pytest.raises(DataError, match="holds no .wav recordings"):
        load_fsdd(tmp_path / "empty", data_dir=tmp_path / "tfds")


def test_download_failure_names_the_fix(tmp_path, offline_tfds):
    with pytest.raises(DataError, match="--data /path/to/fsdd.tar.gz"):
        load_fsdd(data_dir=tmp_path)


def test_tfds_source(tmp_path):
    # An offline stand-in for TFDS `spoken_digit` (int64 audio, no speaker).
    def as_dataset(self, *args, **kwargs):
        names = [
            f"{d}_{s}_{i}.wav" for d in range(10) for s in "xy" for i in (0, 9)
        ]
        return tf.data.Dataset.from_tensor_slices(
            {
                "audio": tf.fill([len(names), 4], tf.constant(16384, tf.int64)),
                "label": [int(name[0]) for name in names],
                "audio/filename": names,
            }
        )

    with tfds.testing.mock_data(as_dataset_fn=as_dataset):
        data = load_fsdd("tfds", data_dir=tmp_path, validation_fraction=0.5)
    assert data.info.source == "tfds" and data.info.speakers == ("x", "y")
    assert (data.info.num_train, data.info.num_validation) == (10, 10)
    assert data.info.num_test == 20
    audio, label = next(iter(data.test))
    np.testing.assert_array_equal(audio.numpy(), [0.5] * 4)
    assert label.dtype == tf.int64

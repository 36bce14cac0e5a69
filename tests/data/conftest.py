"""Tiny fake datasets written into `tmp_path`: aclImdb folders and archives,
FSDD recordings (sine tones) and malformed WAV files.

No test reads /work/shared/data or writes into ~/tensorflow_datasets: every
loader gets a `data_dir` under `tmp_path`.
"""

import io
import struct
import tarfile
import types
from pathlib import Path

import numpy as np
import pytest
import tensorflow_datasets as tfds

from zoo.data.audio import write_wav

REVIEWS_PER_CLASS = 6
SPEAKERS = ("alice", "bob", "theo")
TAKES = 8
SAMPLE_RATE = 8000


@pytest.fixture(autouse=True, scope="session")
def _quiet_tfds():
    tfds.disable_progress_bar()


def write_acl_imdb(
    root: Path, *, with_test: bool = True, reviews: int = REVIEWS_PER_CLASS
) -> Path:
    """Writes a fake aclImdb folder at `root` and returns it.

    Train has `reviews` positive and `reviews` negative reviews (the first
    positive one holds `<br />`, `train/pos/99_10.txt` is not UTF-8); test has
    as many; an `unsup` folder and the original's extra files are decoys.
    """
    splits = ("train", "test") if with_test else ("train",)
    for split in splits:
        for label, rating in (("pos", 8), ("neg", 2)):
            folder = root / split / label
            folder.mkdir(parents=True)
            for index in range(reviews):
                text = f"{split} {label} review {index}."
                if index == 0:
                    text += "<br /><br />A second paragraph."
                (folder / f"{index}_{rating}.txt").write_text(
                    text, encoding="utf-8"
                )
        (root / split / "urls_pos.txt").write_text("http://example.com\n")
        (root / split / "labeledBow.feat").write_text("0:1\n")
    (root / "train" / "pos" / "99_10.txt").write_bytes(
        b"Caf\xe9 in Latin-1, not UTF-8."
    )
    unsup = root / "train" / "unsup"
    unsup.mkdir()
    (unsup / "0_0.txt").write_text("unlabelled")
    (root / "imdb.vocab").write_text("the\n")
    (root / "README").write_text("Large Movie Review Dataset v1.0\n")
    return root


def make_archive(source: Path, archive: Path, arcname: str) -> Path:
    """Writes a .tar.gz of `source` under the name `arcname`."""
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(source, arcname=arcname)
    return archive


def add_member(archive: Path, name: str, data: bytes) -> Path:
    """Writes a .tar.gz holding one member called `name` (may be unsafe)."""
    with tarfile.open(archive, "w:gz") as tar:
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return archive


@pytest.fixture
def imdb_folder(tmp_path) -> Path:
    """A fake aclImdb folder with train and test splits."""
    return write_acl_imdb(tmp_path / "raw" / "aclImdb")


@pytest.fixture
def imdb_archive(tmp_path, imdb_folder) -> Path:
    """A fake aclImdb_v1.tar.gz: train, test, unsup and extra files."""
    return make_archive(imdb_folder, tmp_path / "aclImdb_v1.tar.gz", "aclImdb")


@pytest.fixture
def imdb_train_archive(tmp_path) -> Path:
    """A fake train-only archive, like aclImdb_train.tar.gz."""
    folder = write_acl_imdb(
        tmp_path / "train_only" / "aclImdb", with_test=False
    )
    return make_archive(folder, tmp_path / "aclImdb_train.tar.gz", "aclImdb")


def tone(digit: int, speaker: int, *, seconds: float = 0.12) -> np.ndarray:
    """A "spoken digit": a sine tone between 20 ms of near-silence."""
    time = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    frequency = 300 + 100 * digit + 37 * speaker
    voiced = 0.5 * np.sin(2 * np.pi * frequency * time)
    silence = np.full(int(0.02 * SAMPLE_RATE), 1e-4)
    return np.concatenate([silence, voiced, silence])


def write_fsdd(folder: Path, *, speakers=SPEAKERS, takes: int = TAKES) -> Path:
    """Writes fake FSDD recordings DIGIT_SPEAKER_INDEX.wav into `folder`."""
    folder.mkdir(parents=True, exist_ok=True)
    for speaker_index, speaker in enumerate(speakers):
        for digit in range(10):
            for take in range(takes):
                write_wav(
                    folder / f"{digit}_{speaker}_{take}.wav",
                    tone(digit, speaker_index),
                )
    (folder / ".gitignore").write_text("*.tmp\n")
    return folder


@pytest.fixture(scope="session")
def fsdd_folder(tmp_path_factory) -> Path:
    """A fake FSDD tree: `<root>/recordings/*.wav`, 3 speakers x 10 x 8."""
    root = tmp_path_factory.mktemp("fsdd_raw")
    write_fsdd(root / "recordings")
    return root


def wav_bytes(
    *,
    sample_rate: int = SAMPLE_RATE,
    channels: int = 1,
    bits: int = 16,
    frames: int = 800,
) -> bytes:
    """A PCM WAV file's bytes, in any format (for malformed files)."""
    width = bits // 8
    payload = bytes(frames * channels * width)
    header = struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF",
        36 + len(payload),
        b"WAVE",
        b"fmt ",
        16,
        1,
        channels,
        sample_rate,
        sample_rate * channels * width,
        channels * width,
        bits,
        b"data",
        len(payload),
    )
    return header + payload


@pytest.fixture(scope="session")
def fakes() -> types.SimpleNamespace:
    """The writers above, for tests that need their own variants."""
    return types.SimpleNamespace(
        REVIEWS_PER_CLASS=REVIEWS_PER_CLASS,
        SPEAKERS=SPEAKERS,
        TAKES=TAKES,
        write_acl_imdb=write_acl_imdb,
        make_archive=make_archive,
        add_member=add_member,
        tone=tone,
        write_fsdd=write_fsdd,
        wav_bytes=wav_bytes,
    )


@pytest.fixture
def offline_tfds(monkeypatch):
    """`tfds.builder` gives builders whose download fails, as offline."""

    class Offline:
        def is_prepared(self):
            return False

        def download_and_prepare(self, **kwargs):
            raise ConnectionError("no route to host")

    monkeypatch.setattr(tfds, "builder", lambda *a, **k: Offline())

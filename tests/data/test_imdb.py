"""Tests of the IMDB pipelines on tiny fake aclImdb folders and archives."""

import logging
import shutil
from pathlib import Path

import pytest
import tensorflow as tf
import tensorflow_datasets as tfds

from zoo.data import DataError
from zoo.data import imdb
from zoo.data import load_imdb

# The conftest's 6 reviews per class, and one non-UTF-8 positive review.
NUM_TRAIN = 2 * 6 + 1
NUM_TEST = 2 * 6


def texts(dataset):
    return sorted(text.decode() for text, _ in dataset.as_numpy_iterator())


def test_original_archive_end_to_end(imdb_archive, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    data = load_imdb(imdb_archive, data_dir=tmp_path / "tfds")

    num_validation = round(0.2 * NUM_TRAIN)
    assert data.info.num_train == NUM_TRAIN - num_validation
    assert data.info.num_validation == num_validation
    assert data.info.num_test == NUM_TEST
    assert data.info.source == str(imdb_archive)
    assert data.info.builder.startswith("imdb_local/archive_")
    assert len(data.train) == data.info.num_train
    assert len(texts(data.train)) == data.info.num_train
    assert len(texts(data.validation)) == num_validation
    assert len(texts(data.test)) == NUM_TEST

    text, label = next(iter(data.train))
    assert text.dtype == tf.string and text.shape == ()
    assert label.dtype == tf.int64 and label.shape == ()
    everything = texts(data.train) + texts(data.validation)
    # Raw text, <br /> kept; unsup and the extra files skipped.
    assert "train pos review 0.<br /><br />A second paragraph." in everything
    assert not any("unlabelled" in text for text in everything)
    assert "Caf\ufffd in Latin-1, not UTF-8." in everything
    assert "99_10.txt" in caplog.text and "not valid UTF-8" in caplog.text
    labels = {
        text.decode(): int(label)
        for text, label in data.test.as_numpy_iterator()
    }
    assert labels["test pos review 1."] == 1
    assert labels["test neg review 1."] == 0


def test_train_only_archive_has_no_test(imdb_train_archive, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    data = load_imdb(
        imdb_train_archive, data_dir=tmp_path / "tfds", batch_size=4
    )
    assert data.test is None and data.info.num_test is None
    assert f"no test split in {imdb_train_archive}" in caplog.text
    assert "report validation accuracy" in caplog.text
    texts, labels = next(iter(data.train))
    assert texts.shape == (4,) and labels.shape == (4,)


def test_folder_sources(imdb_folder, tmp_path):
    data_dir = tmp_path / "tfds"
    direct = load_imdb(imdb_folder, data_dir=data_dir, shuffle=False)
    parent = load_imdb(imdb_folder.parent, data_dir=data_dir, shuffle=False)
    assert direct.info.builder == parent.info.builder
    assert texts(direct.validation) == texts(parent.validation)
    assert len(texts(direct.test)) == NUM_TEST


def test_prepared_once_and_reused(imdb_archive, tmp_path, monkeypatch):
    data_dir = tmp_path / "tfds"
    first = load_imdb(imdb_archive, data_dir=data_dir)
    prepared = sorted(data_dir.glob("imdb_local/*/1.0.0/*"))
    mtimes = [path.stat().st_mtime_ns for path in prepared]

    def fail(*args, **kwargs):
        raise AssertionError("the raw files were read again")

    monkeypatch.setattr(imdb.ImdbLocal, "_split_generators", fail)
    monkeypatch.setattr(imdb.ImdbLocal, "_generate_examples", fail)
    again = load_imdb(imdb_archive, data_dir=data_dir)
    assert again.info == first.info
    assert [path.stat().st_mtime_ns for path in prepared] == mtimes
    assert texts(again.validation) == texts(first.validation)


def test_sources_do_not_collide(tmp_path, fakes):
    small = fakes.write_acl_imdb(tmp_path / "small" / "aclImdb", reviews=2)
    large = fakes.write_acl_imdb(tmp_path / "large" / "aclImdb", reviews=3)
    data_dir = tmp_path / "tfds"
    small_data = load_imdb(small, data_dir=data_dir, validation_fraction=0.0)
    large_data = load_imdb(large, data_dir=data_dir, validation_fraction=0.0)
    assert small_data.info.builder != large_data.info.builder
    assert small_data.info.num_train == 5
    assert large_data.info.num_train == 7
    assert len(texts(small_data.validation)) == 0


def test_env_data_dir(imdb_train_archive, tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_DATA_DIR", str(tmp_path / "env_tfds"))
    data = load_imdb(imdb_train_archive)
    assert data.info.data_dir == str(tmp_path / "env_tfds")
    assert list((tmp_path / "env_tfds").glob("imdb_local/*/1.0.0"))


def test_validation_split_is_seeded_and_disjoint(tmp_path, fakes):
    folder = fakes.write_acl_imdb(tmp_path / "raw" / "aclImdb", reviews=20)
    data_dir = tmp_path / "tfds"
    one = load_imdb(folder, data_dir=data_dir, seed=1)
    same = load_imdb(folder, data_dir=data_dir, seed=1)
    other = load_imdb(folder, data_dir=data_dir, seed=2)
    validation = texts(one.validation)
    assert len(validation) == round(0.2 * 41) == 8
    assert validation == texts(same.validation)
    assert validation != texts(other.validation)
    train = texts(one.train)
    assert not set(train) & set(validation)
    assert len(train) + len(validation) == 41
    # Not a slice of the pos-then-neg order: both classes are represented.
    labels = {int(label) for _, label in one.validation.as_numpy_iterator()}
    assert labels == {0, 1}


@pytest.mark.parametrize(
    "layout, message",
    [
        ("missing", "IMDB source not found"),
        ("no_train", "has no 'train/pos' and 'train/neg' folders"),
        ("empty_neg", "has no reviews in 'train/neg/'"),
        ("plain_file", "neither a folder nor a .tar.gz/.tar archive"),
    ],
)
def test_bad_folders(tmp_path, fakes, layout, message):
    source = tmp_path / "aclImdb"
    if layout == "no_train":
        (source / "test" / "pos").mkdir(parents=True)
    elif layout == "empty_neg":
        fakes.write_acl_imdb(source)
        shutil.rmtree(source / "train" / "neg")
        (source / "train" / "neg").mkdir()
    elif layout == "plain_file":
        source = tmp_path / "reviews.txt"
        source.write_text("not a dataset")
    with pytest.raises(DataError, match=message) as error:
        load_imdb(source, data_dir=tmp_path / "tfds")
    assert str(source) in str(error.value)


def test_truncated_archive(imdb_archive, tmp_path):
    truncated = tmp_path / "aclImdb_cut.tar.gz"
    truncated.write_bytes(imdb_archive.read_bytes()[:-200])
    with pytest.raises(DataError, match="truncated or not a valid tar") as err:
        load_imdb(truncated, data_dir=tmp_path / "tfds")
    assert str(truncated) in str(err.value)
    assert not list((tmp_path / "tfds").glob("imdb_local/*/1.0.0"))


def test_archive_without_acl_imdb(tmp_path, fakes):
    archive = fakes.add_member(
        tmp_path / "other.tar.gz", "data/notes.txt", b"x"
    )
    with pytest.raises(DataError, match="no 'aclImdb/train/pos/\\*.txt'"):
        load_imdb(archive, data_dir=tmp_path / "tfds")


def test_unsafe_archive_member(tmp_path, fakes):
    archive = fakes.add_member(
        tmp_path / "evil.tar.gz", "../aclImdb/train/pos/0_9.txt", b"x"
    )
    with pytest.raises(DataError, match="Unsafe member '../aclImdb"):
        load_imdb(archive, data_dir=tmp_path / "tfds")


def test_archive_with_empty_class(tmp_path, fakes):
    folder = fakes.write_acl_imdb(tmp_path / "raw" / "aclImdb", with_test=False)
    shutil.rmtree(folder / "train" / "neg")
    archive = fakes.make_archive(folder, tmp_path / "aclImdb.tar.gz", "aclImdb")
    with pytest.raises(DataError, match="no reviews in 'aclImdb/train/neg/'"):
        load_imdb(archive, data_dir=tmp_path / "tfds")


def test_invalid_fraction(imdb_folder, tmp_path):
    with pytest.raises(ValueError, match="`validation_fraction`"):
        load_imdb(imdb_folder, data_dir=tmp_path, validation_fraction=1.0)


def test_download_failure_names_the_fix(tmp_path, offline_tfds):
    with pytest.raises(DataError) as error:
        load_imdb(None, data_dir=tmp_path)
    message = str(error.value)
    assert "--data /path/to/aclImdb_v1.tar.gz" in message
    assert "no route to host" in message


def _write_split_metadata(data_dir, name: str, train_examples: int):
    """The dataset_info.json of a prepared `name` with a train split only,
    which `tfds.testing.mock_data` reads for split sizes."""
    builder = tfds.builder(name, data_dir=data_dir)
    Path(builder.data_dir).mkdir(parents=True)
    template = tfds.core.ShardedFileTemplate(
        data_dir=builder.data_dir,
        dataset_name=builder.name,
        split="train",
        filetype_suffix="tfrecord",
    )
    builder.info.set_splits(
        tfds.core.SplitDict(
            [
                tfds.core.SplitInfo(
                    name="train",
                    shard_lengths=[train_examples],
                    num_bytes=0,
                    filename_template=template,
                )
            ]
        )
    )
    builder.info.write_to_directory(builder.data_dir)


def test_tfds_source(tmp_path):
    # Offline stand-in for TFDS `imdb_reviews`: random reviews, train only.
    # The mock reads split sizes from metadata but ignores slices, so the
    # carve's sizes show in info; the slices themselves are tested above.
    _write_split_metadata(tmp_path, "imdb_reviews", 20)
    with tfds.testing.mock_data(num_examples=20, data_dir=tmp_path):
        data = load_imdb(None, data_dir=tmp_path)
        assert texts(data.validation)
    assert data.info.source == "tfds"
    assert data.info.builder == "imdb_reviews/plain_text"
    assert (data.info.num_train, data.info.num_validation) == (16, 4)

"""IMDB movie reviews (Maas et al., 2011) as `tf.data` pipelines.

Sources:
    * `None` or `"tfds"`: TFDS `imdb_reviews` (downloads; needs internet).
    * a local `aclImdb` folder (or a folder containing `aclImdb/`), or an
      `aclImdb*.tar.gz` archive: the original `aclImdb_v1.tar.gz` (train, test
      and unsup folders) or a train-only one (`aclImdb/train/{pos,neg}`).

A local source is read "the TFDS way": the `ImdbLocal` builder reads it from
`dl_manager.manual_dir` and writes TFRecords into a TFDS data dir once; later
calls read the prepared copy and never touch the raw files. Its builder
config is named after a fingerprint of the source (path, sizes, mtimes), so
different sources never share a prepared copy. The `unsup` folder is skipped.
Archives are streamed through `dl_manager.iter_archive`, never extracted.

Text is kept raw (with its `<br />` tags): cleaning belongs to the model.
Files are decoded as UTF-8 with `errors="replace"`: an invalid byte becomes
U+FFFD and a warning names the file, rather than one bad byte failing the
whole dataset.

Reference:
    Maas, Daly, Pham, Huang, Ng and Potts. "Learning Word Vectors for
    Sentiment Analysis." ACL 2011. https://ai.stanford.edu/~amaas/data/sentiment/
"""

import dataclasses
import logging
import os
import re
from pathlib import Path

import tensorflow as tf
import tensorflow_datasets as tfds

from zoo.data import sources
from zoo.data import splits
from zoo.data.errors import DataError

logger = logging.getLogger(__name__)

LABELS = ("neg", "pos")
_MEMBER = re.compile(
    r"^(?:(?P<root>.*)/)?(?P<split>train|test)/(?P<label>pos|neg)/[^/]+\.txt$"
)
_CITATION = """@InProceedings{maas-EtAl:2011:ACL-HLT2011,
  author = {Maas, Andrew L. and Daly, Raymond E. and Pham, Peter T. and
            Huang, Dan and Ng, Andrew Y. and Potts, Christopher},
  title = {Learning Word Vectors for Sentiment Analysis},
  booktitle = {ACL 2011},
  year = {2011},
  pages = {142--150},
}"""


@dataclasses.dataclass(frozen=True)
class ImdbInfo:
    """What `load_imdb` loaded.

    Attributes:
        source: a description of the source (TFDS name, folder or archive).
        builder: the TFDS builder and config that hold the prepared data.
        data_dir: the TFDS data dir of the prepared data.
        num_train: examples in `train`.
        num_validation: examples in `validation`.
        num_test: examples in `test`, or None when there is no test split.
        validation_fraction: the fraction of the source's train split carved
            out for validation.
        seed: the seed of the validation carve and of shuffling.
        labels: the class names, by label id (0 = "neg", 1 = "pos").
    """

    source: str
    builder: str
    data_dir: str
    num_train: int
    num_validation: int
    num_test: int | None
    validation_fraction: float
    seed: int
    labels: tuple[str, ...] = LABELS


@dataclasses.dataclass(frozen=True)
class ImdbSplits:
    """IMDB `tf.data` pipelines of `(text, label)` pairs.

    `text` is a tf.string scalar (the raw review) and `label` an int64 scalar
    (0 = negative, 1 = positive); batched when `load_imdb` got a
    `batch_size`. `test` is None when the source has no test split: report
    validation accuracy then.
    """

    train: tf.data.Dataset
    validation: tf.data.Dataset
    test: tf.data.Dataset | None
    info: ImdbInfo


@dataclasses.dataclass(eq=False)
class ImdbLocalConfig(tfds.core.BuilderConfig):
    """An `ImdbLocal` config: one per local source.

    Attributes:
        archive: the archive's file name inside `manual_dir`, or "" when
            `manual_dir` is the `aclImdb` folder itself.
    """

    archive: str = ""


class ImdbLocal(tfds.core.GeneratorBasedBuilder):
    """IMDB reviews from a local `aclImdb` folder or tar archive."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Train and test splits of a local aclImdb."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Point `manual_dir` at an `aclImdb` folder, or at the folder holding "
        "an aclImdb*.tar.gz archive (named by the config's `archive`)."
    )

    def _info(self) -> tfds.core.DatasetInfo:
        return self.dataset_info_from_configs(
            features=tfds.features.FeaturesDict(
                {
                    "text": tfds.features.Text(),
                    "label": tfds.features.ClassLabel(names=list(LABELS)),
                    "key": tfds.features.Text(),
                }
            ),
            supervised_keys=("text", "label"),
            homepage="https://ai.stanford.edu/~amaas/data/sentiment/",
            citation=_CITATION,
        )

    def _split_generators(self, dl_manager):
        config = self.builder_config
        if config.archive:
            path = Path(dl_manager.manual_dir) / config.archive
            names = sources.scan_archive(path)
            root = _find_root(names, path)
        else:
            path = Path(dl_manager.manual_dir)
            names = [
                file.relative_to(path).as_posix()
                for split in ("train", "test")
                for file in (path / split).glob("*/*.txt")
            ]
            root = ""
        counts = _count_members(names, root)
        _check_counts(counts, path, root)
        split_names = ["train"]
        if any(counts[("test", label)] for label in LABELS):
            split_names.append("test")
        return {
            split: self._generate_examples(dl_manager, path, root, split)
            for split in split_names
        }

    def _generate_examples(self, dl_manager, path: Path, root: str, split):
        if self.builder_config.archive:
            members = dl_manager.iter_archive(path)
        else:
            members = (
                (file.relative_to(path).as_posix(), file)
                for file in sorted((path / split).glob("*/*.txt"))
            )
        separator = ":" if self.builder_config.archive else "/"
        for name, member in members:
            match = _MEMBER.match(name)
            if (
                not match
                or match["split"] != split
                or (match["root"] or "") != root
            ):
                continue
            data = (
                member.read_bytes()
                if isinstance(member, Path)
                else member.read()
            )
            key = f"{split}/{match['label']}/{name.rsplit('/', 1)[-1]}"
            yield (
                key,
                {
                    "text": _decode(data, f"{path}{separator}{name}"),
                    "label": match["label"],
                    "key": key,
                },
            )


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        logger.warning(
            "Review '%s' is not valid UTF-8 (%s); invalid bytes were "
            "replaced by U+FFFD.",
            name,
            error.reason,
        )
        return data.decode("utf-8", errors="replace")


def _count_members(names: list[str], root: str) -> dict[tuple[str, str], int]:
    counts = {(s, label): 0 for s in ("train", "test") for label in LABELS}
    for name in names:
        match = _MEMBER.match(name)
        if match and (match["root"] or "") == root:
            counts[(match["split"], match["label"])] += 1
    return counts


def _check_counts(counts: dict, path: Path, root: str) -> None:
    prefix = f"{root}/" if root else ""
    for split in ("train", "test"):
        found = {label: counts[(split, label)] for label in LABELS}
        if split == "test" and not any(found.values()):
            continue
        for label, count in found.items():
            if count == 0:
                raise DataError(
                    f"IMDB source '{path}' has no reviews in "
                    f"'{prefix}{split}/{label}/': expected *.txt files there "
                    f"(found {found})."
                )


def _find_root(names: list[str], path: Path) -> str:
    """The prefix of `train/{pos,neg}` inside an archive's member names."""
    roots = sorted(
        {
            match["root"] or ""
            for match in map(_MEMBER.match, names)
            if match and match["split"] == "train"
        }
    )
    if not roots:
        examples = ", ".join(names[:3]) or "no files"
        raise DataError(
            f"IMDB archive '{path}' has no 'aclImdb/train/pos/*.txt' or "
            f"'aclImdb/train/neg/*.txt' members (it holds {len(names)} files: "
            f"{examples}). Expected the aclImdb_v1.tar.gz layout."
        )
    return roots[0]


def _find_folder(path: Path) -> Path:
    """The `aclImdb` folder: `path` itself or `path/aclImdb`."""
    for candidate in (path, path / "aclImdb"):
        if (candidate / "train").is_dir():
            return candidate
    raise DataError(
        f"IMDB folder '{path}' has no 'train/pos' and 'train/neg' folders: "
        "expected an aclImdb folder (or a folder containing aclImdb/)."
    )


def _local_builder(source: str | os.PathLike, data_dir: Path):
    """Returns `(builder, manual_dir, description)` for a local source."""
    path = sources.existing_path(source, "IMDB source")
    if path.is_dir():
        folder = _find_folder(path)
        files = [
            file
            for split in ("train", "test")
            for file in (folder / split).glob("*/*.txt")
        ]
        names = [file.relative_to(folder).as_posix() for file in files]
        _check_counts(_count_members(names, ""), folder, "")
        config = ImdbLocalConfig(
            name=f"folder_{sources.fingerprint(folder, files)}",
            description=f"aclImdb folder {folder}",
        )
        return ImdbLocal(config=config, data_dir=data_dir), folder, str(folder)
    if not sources.is_archive(path):
        raise DataError(
            f"IMDB source '{path}' is neither a folder nor a .tar.gz/.tar "
            "archive: expected an aclImdb folder or aclImdb_v1.tar.gz."
        )
    config = ImdbLocalConfig(
        name=f"archive_{sources.fingerprint(path)}",
        archive=path.name,
        description=f"aclImdb archive {path}",
    )
    return ImdbLocal(config=config, data_dir=data_dir), path.parent, str(path)


def _tfds_builder(data_dir: Path):
    builder = tfds.builder("imdb_reviews", data_dir=data_dir)
    try:
        sources.prepare(builder)
    except Exception as error:  # noqa: BLE001 - any download failure.
        raise DataError(
            "Could not download IMDB through TFDS `imdb_reviews` "
            f"({type(error).__name__}: {error}). Without internet, pass a "
            "local copy: --data /path/to/aclImdb_v1.tar.gz (or the aclImdb "
            "folder)."
        ) from None
    return builder


def load_imdb(
    source: str | os.PathLike | None = None,
    *,
    validation_fraction: float = 0.2,
    seed: int = 1337,
    data_dir: str | os.PathLike | None = None,
    batch_size: int | None = None,
    shuffle: bool = True,
    shuffle_buffer: int = 25_000,
) -> ImdbSplits:
    """Loads IMDB reviews as train/validation/test `tf.data` pipelines.

    The validation split is a seeded carve of the source's train split,
    exact in size (`round(validation_fraction * num_train)`) and stable
    across runs and machines (see `zoo.data.splits`); the raw data is grouped
    positive then negative, so a plain slice is never used.

    Args:
        source: None or "tfds" for TFDS `imdb_reviews`; else a path to an
            `aclImdb` folder or an `aclImdb*.tar.gz` archive.
        validation_fraction: fraction of train carved out for validation,
            in [0, 1).
        seed: seed of the validation carve and of the train shuffle.
        data_dir: TFDS data dir for the prepared data; default
            `$ZOO_DATA_DIR`, else `~/tensorflow_datasets`.
        batch_size: if given, every split is batched (the last batch may be
            smaller) and prefetched.
        shuffle: whether to shuffle train (reshuffled each epoch).
        shuffle_buffer: the train shuffle buffer size.

    Returns:
        An `ImdbSplits` of `(text, label)` datasets and an `ImdbInfo`.

    Raises:
        DataError: the source is missing or malformed, or the TFDS download
            failed (the message says how to pass a local copy).
    """
    validation_fraction = splits.check_fraction(validation_fraction)
    directory = sources.resolve_data_dir(data_dir)
    if source is None or str(source) == "tfds":
        builder, description = _tfds_builder(directory), "tfds"
    else:
        builder, manual_dir, description = _local_builder(source, directory)
        sources.prepare(builder, manual_dir)
    num_examples = builder.info.splits["train"].num_examples
    train_split, validation_split = splits.window_split(
        "train", num_examples, validation_fraction, seed
    )

    def finish(split, shuffled=False):
        if split is None:  # An empty validation carve.
            dataset = builder.as_dataset(split="train").take(0)
        else:
            dataset = builder.as_dataset(split=split)
        dataset = dataset.map(
            lambda example: (
                example["text"],
                tf.cast(example["label"], tf.int64),
            ),
            num_parallel_calls=tf.data.AUTOTUNE,
        )
        if shuffled:
            dataset = dataset.shuffle(shuffle_buffer, seed=seed)
        if batch_size is not None:
            dataset = dataset.batch(batch_size)
        return dataset.prefetch(tf.data.AUTOTUNE)

    test = None
    if "test" in builder.info.splits:
        test = finish("test")
    else:
        logger.warning(
            "no test split in %s: report validation accuracy.", description
        )
    num_validation = num_examples - sum(
        builder.info.splits[piece].num_examples
        for piece in train_split.split("+")
    )
    info = ImdbInfo(
        source=description,
        builder=sources.builder_id(builder),
        data_dir=str(directory),
        num_train=num_examples - num_validation,
        num_validation=num_validation,
        num_test=(
            builder.info.splits["test"].num_examples
            if test is not None
            else None
        ),
        validation_fraction=validation_fraction,
        seed=seed,
    )
    return ImdbSplits(
        train=finish(train_split, shuffled=shuffle),
        validation=finish(validation_split),
        test=test,
        info=info,
    )

"""Where datasets come from and where prepared copies go.

Helpers shared by the local TFDS builders: resolving the TFDS data dir,
fingerprinting a local source (so that different sources never share a
prepared copy) and scanning a tar archive safely before TFDS reads it.
"""

import hashlib
import os
import tarfile
import zlib
from collections.abc import Iterable
from pathlib import Path

from zoo.data.errors import DataError

ARCHIVE_SUFFIXES = (".tar.gz", ".tgz", ".tar")


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Returns the TFDS data dir for prepared datasets.

    The `data_dir` argument wins, then `$ZOO_DATA_DIR`, then TFDS' default
    `~/tensorflow_datasets`.
    """
    if data_dir is None:
        data_dir = os.environ.get("ZOO_DATA_DIR") or "~/tensorflow_datasets"
    return Path(data_dir).expanduser().resolve()


def existing_path(source: str | os.PathLike, what: str) -> Path:
    """Returns `source` resolved, or raises `DataError` if it is missing."""
    path = Path(source).expanduser()
    if not path.exists():
        raise DataError(f"{what} not found: '{path}' does not exist.")
    return path.resolve()


def is_archive(path: Path) -> bool:
    """Whether `path` is a file named like a tar archive."""
    return path.is_file() and path.name.endswith(ARCHIVE_SUFFIXES)


def fingerprint(path: Path, files: Iterable[Path] = ()) -> str:
    """A short hash of a source's identity: its path, sizes and mtimes.

    For an archive pass no `files` (the archive's own size and mtime count);
    for a folder pass the files that the builder reads. Only `stat` is called:
    no file is read.
    """
    digest = hashlib.sha256(str(path).encode())
    for item in [path, *sorted(files)]:
        stat = item.stat()
        digest.update(
            f"|{item.name}:{stat.st_size}:{int(stat.st_mtime)}".encode()
        )
    return digest.hexdigest()[:12]


def scan_archive(path: Path) -> list[str]:
    """Returns the regular-file member names of a tar archive, checked.

    The whole archive is decompressed once, so a truncated or corrupt archive
    is detected here rather than halfway through a TFDS preparation. Members
    with absolute paths or `..` components are rejected: the archive is read in
    place (never extracted), but such names mean that it is not a dataset
    archive.

    Raises:
        DataError: the archive is unreadable, truncated or has unsafe names.
    """
    names = []
    try:
        with tarfile.open(path, mode="r:*") as archive:
            for member in archive:
                name = member.name
                if name.startswith(("/", "\\")) or ".." in Path(name).parts:
                    raise DataError(
                        f"Unsafe member '{name}' in archive '{path}': absolute "
                        "paths and '..' components are not allowed."
                    )
                if member.isfile():
                    names.append(name.removeprefix("./"))
    except (tarfile.TarError, EOFError, OSError, zlib.error) as error:
        raise DataError(
            f"Cannot read archive '{path}': it is truncated or not a valid "
            f"tar(.gz) archive ({type(error).__name__}: {error})."
        ) from None
    return names


def prepare(builder, manual_dir: Path | None = None) -> None:
    """Prepares a TFDS builder once; a prepared builder is left untouched.

    Statistics are not computed (they cost a full pass and nothing here uses
    them). A `DataError` raised by a builder's generator is re-raised without
    the TFDS frames in its traceback, so the message is what the user sees.
    """
    import tensorflow_datasets as tfds

    if builder.is_prepared():
        return
    config = tfds.download.DownloadConfig(
        manual_dir=None if manual_dir is None else str(manual_dir),
        compute_stats=tfds.download.ComputeStatsMode.SKIP,
    )
    try:
        builder.download_and_prepare(download_config=config)
    except DataError as error:
        raise error.with_traceback(None) from None


def builder_id(builder) -> str:
    """`name/config` of a TFDS builder (just `name` without a config)."""
    config = builder.builder_config
    return builder.name if config is None else f"{builder.name}/{config.name}"

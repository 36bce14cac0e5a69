"""WAV reading, writing and checking for the speech pipelines.

`parse_wav_header` reads a RIFF/WAVE header with `struct`, because
`tf.audio.decode_wav` silently accepts any sample rate and channel count and
gives unhelpful errors for anything but 16-bit PCM. `decode_pcm16` checks the
header against what a dataset expects, then decodes with `tf.audio.decode_wav`.
"""

import dataclasses
import os
import struct
from pathlib import Path

import numpy as np
import tensorflow as tf

from zoo.data.errors import DataError

_PCM = 1
_EXTENSIBLE = 0xFFFE


@dataclasses.dataclass(frozen=True)
class WavInfo:
    """The format of a WAV file, as its header declares it.

    Attributes:
        sample_rate: samples per second per channel.
        channels: number of channels.
        bits_per_sample: bits per sample (16 for the datasets here).
        format_tag: 1 for integer PCM (WAVE_FORMAT_EXTENSIBLE with a PCM
            sub-format is reported as 1 too), 3 for float, ...
        num_frames: samples per channel in the data chunk.
    """

    sample_rate: int
    channels: int
    bits_per_sample: int
    format_tag: int
    num_frames: int

    def describe(self) -> str:
        kind = "PCM" if self.format_tag == _PCM else f"format {self.format_tag}"
        return (
            f"{self.sample_rate} Hz, {self.channels} channel"
            f"{'' if self.channels == 1 else 's'}, "
            f"{self.bits_per_sample}-bit {kind}, {self.num_frames} samples"
        )


def parse_wav_header(data: bytes, name: str = "<bytes>") -> WavInfo:
    """Parses the RIFF header of WAV file contents.

    Args:
        data: the file's bytes (at least the header and the data chunk).
        name: the file's name, for error messages.

    Returns:
        The declared format.

    Raises:
        DataError: not a RIFF/WAVE file, no `fmt `/`data` chunk, or the data
            chunk is shorter than declared (a truncated file).
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise DataError(
            f"'{name}' is not a WAV file: expected a RIFF/WAVE header, found "
            f"{len(data)} bytes starting with {data[:12]!r}."
        )
    fmt = None
    offset = 12
    while offset + 8 <= len(data):
        chunk_id, size = struct.unpack_from("<4sI", data, offset)
        body = offset + 8
        if chunk_id == b"fmt ":
            if size < 16 or body + 16 > len(data):
                break
            tag, channels, rate, _, _, bits = struct.unpack_from(
                "<HHIIHH", data, body
            )
            if tag == _EXTENSIBLE and size >= 40 and body + 26 <= len(data):
                tag = struct.unpack_from("<H", data, body + 24)[0]
            fmt = (tag, channels, rate, bits)
        elif chunk_id == b"data":
            if fmt is None:
                break
            available = len(data) - body
            if size > available:
                raise DataError(
                    f"WAV file '{name}' is truncated: its data chunk declares "
                    f"{size} bytes but only {available} are present."
                )
            tag, channels, rate, bits = fmt
            frame_bytes = max(channels * bits // 8, 1)
            return WavInfo(rate, channels, bits, tag, size // frame_bytes)
        offset = body + size + (size % 2)
    raise DataError(
        f"WAV file '{name}' is truncated or malformed: no complete 'fmt ' "
        "chunk followed by a 'data' chunk."
    )


def decode_pcm16(
    data: bytes, name: str = "<bytes>", sample_rate: int = 8000
) -> np.ndarray:
    """Decodes mono 16-bit PCM WAV contents at `sample_rate` to int16 samples.

    Args:
        data: the WAV file's bytes.
        name: the file's name, for error messages.
        sample_rate: the required sample rate in Hz.

    Returns:
        An int16 array of shape [samples].

    Raises:
        DataError: naming the file and what it found, if it is not mono
            16-bit PCM at `sample_rate`, is truncated, or holds no samples.
    """
    info = parse_wav_header(data, name)
    expected = (sample_rate, 1, 16, _PCM)
    found = (
        info.sample_rate,
        info.channels,
        info.bits_per_sample,
        info.format_tag,
    )
    if found != expected:
        raise DataError(
            f"WAV file '{name}' has the wrong format: expected {sample_rate} "
            f"Hz, 1 channel, 16-bit PCM; found {info.describe()}."
        )
    if info.num_frames == 0:
        raise DataError(f"WAV file '{name}' is empty: it holds 0 samples.")
    audio, _ = tf.audio.decode_wav(data, desired_channels=1)
    # decode_wav scales int16 by 1/32768, so this is exact.
    return np.round(audio.numpy()[:, 0] * 32768.0).astype(np.int16)


def read_wav(path: str | os.PathLike) -> tuple[np.ndarray, int]:
    """Reads a 16-bit PCM WAV file.

    Args:
        path: the file.

    Returns:
        `(samples, sample_rate)`: float32 samples in [-1, 1), shaped [frames]
        for mono files and [frames, channels] otherwise.

    Raises:
        DataError: the file is missing, not 16-bit PCM, truncated or empty.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(f"WAV file not found: '{path}' does not exist.")
    data = path.read_bytes()
    info = parse_wav_header(data, str(path))
    if info.bits_per_sample != 16 or info.format_tag != _PCM:
        raise DataError(
            f"WAV file '{path}' is not 16-bit PCM: found {info.describe()}."
        )
    if info.num_frames == 0:
        raise DataError(f"WAV file '{path}' is empty: it holds 0 samples.")
    audio, rate = tf.audio.decode_wav(data)
    audio = audio.numpy()
    return (audio[:, 0] if info.channels == 1 else audio), int(rate)


def write_wav(
    path: str | os.PathLike, samples: np.ndarray, sample_rate: int = 8000
) -> Path:
    """Writes a 16-bit PCM WAV file with `tf.audio.encode_wav`.

    Args:
        path: the file to write.
        samples: int16 samples (written as they are) or float samples in
            [-1, 1] (scaled by 32768 and clipped to the int16 range, the
            inverse of `read_wav`), shaped [frames] or [frames, channels].
        sample_rate: samples per second.

    Returns:
        The path written.
    """
    samples = np.asarray(samples)
    if samples.dtype == np.int16:
        # s / 32768 is exact in float32, and encode_wav scales it back.
        audio = samples.astype(np.float32) / 32768.0
    else:
        audio = validate_waveform(samples, rank=samples.ndim)
    audio = np.asarray(audio, np.float32)
    if audio.ndim == 1:
        audio = audio[:, None]
    path = Path(path)
    path.write_bytes(tf.audio.encode_wav(audio, sample_rate).numpy())
    return path


def validate_waveform(
    waveform: np.ndarray,
    *,
    rank: int = 1,
    max_abs: float = 1.5,
    name: str = "waveform",
) -> np.ndarray:
    """Checks that a waveform is finite float audio of the expected rank.

    Args:
        waveform: the samples (array-like).
        rank: the required number of dimensions (1 for [samples], 2 for
            [batch, samples] or [frames, channels]).
        max_abs: the largest allowed |sample|; audio is expected in [-1, 1],
            and a small excursion (e.g. after adding noise) is tolerated.
        name: what the waveform is, for error messages.

    Returns:
        The waveform as float32.

    Raises:
        ValueError: wrong rank, no samples, NaN/inf, or values far outside
            [-1, 1] (e.g. int16 counts passed as floats).
    """
    array = np.asarray(waveform)
    if array.ndim != rank:
        raise ValueError(
            f"Invalid {name}: expected rank {rank}, got shape {array.shape}."
        )
    if array.size == 0:
        raise ValueError(
            f"Invalid {name}: it holds no samples ({array.shape})."
        )
    if not np.issubdtype(array.dtype, np.number):
        raise ValueError(
            f"Invalid {name}: expected numbers, got {array.dtype}."
        )
    array = array.astype(np.float32)
    bad = ~np.isfinite(array)
    if bad.any():
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"Invalid {name}: {int(bad.sum())} non-finite value(s) (NaN or "
            f"inf), first at index {first}."
        )
    peak = float(np.abs(array).max())
    if peak > max_abs:
        raise ValueError(
            f"Invalid {name}: values must lie in [-1, 1] (tolerance "
            f"{max_abs}), got a peak of {peak:.4g}. Is it int16 counts? "
            "Divide by 32768."
        )
    return array

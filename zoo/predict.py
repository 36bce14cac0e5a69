"""`zoo predict`: run a SavedModel on texts or WAV files, one JSON line each.

    zoo predict saved_models/imdb "A wonderful film!" reviews.txt -
    zoo predict saved_models/spoken_digits one.wav two.wav

MODEL_DIR is a version folder (`saved_models/imdb/2`) or a model folder,
of which the latest complete version is taken (`zoo.export.version_folders`,
the rule every reader of version folders shares). The model is loaded with
`tf.saved_model.load` alone, as TensorFlow Serving would: nothing of the
zoo's Python code is needed to run it. (TensorFlow imports Keras, which
loads the zoo's Keras registrations, 25 ms; the SavedModel never uses them.)

What the inputs are follows from the signature (`serving_default` unless
`--signature`): one string input [batch] takes texts, one float32 input
[batch, samples] takes audio.

- Text: each INPUT is a review; an INPUT that names an existing file is read
  as one review per line, and `-` reads stdin the same way (empty lines are
  skipped). Bytes go to the model as they are (the shipped IMDB model
  replaces invalid UTF-8 itself).
- Audio: each INPUT is a WAV file (`-`: one WAV file on stdin), mono 16-bit
  PCM at the rate the model expects, scaled to [-1, 1) as
  `tf.audio.decode_wav` does (int16 / 32768). The rate comes from
  `--sample-rate`, else the model card (`assets.extra/model_card.json`:
  its `sample_rate`, or for cards written before that field, the "8 kHz"
  in its `inputs` text). Other rates, channel counts and sample formats are
  refused with a one-line message rather than converted: resampling and
  mixing down change what the model hears, so they are left to the user's
  tool of choice (`sox in.wav -r 8000 -c 1 out.wav`). WAV headers are read
  with Python's `wave` module because `tf.audio.decode_wav` accepts any rate
  and channel count without complaint and reports other sample formats
  with an opaque error.

Batching: up to `--batch-size` inputs go to the model in one call, audio
right-padded with zeros (the zoo's audio models mask all-zero frames; padded
and unpadded clips measured equal to 3e-5). An output with a time axis
(axis 1 unknown in the signature, e.g. CTC `logits`) is cut to each input's
own length by the signature's `NAME_lengths` output; a signature without
one runs padded inputs one at a time, so every line holds only its own
input's outputs.

Each line is `{"input": ..., OUTPUT: value, ...}` with the values written as
TensorFlow Serving's REST API writes them (`zoo.serving.codec`: floats in
their shortest round-trip form, UTF-8 strings as text).
"""

from __future__ import annotations

import io
import json
import re
import sys
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from zoo.export import version_folders

SIGNATURE = "serving_default"
STDIN = "-"


class PredictError(Exception):
    """Bad input: the message is one line for the user (exit code 2)."""


@dataclass(frozen=True)
class Example:
    """One input: what the JSON line calls it, and the model's value."""

    label: str
    value: object  # bytes (text) or float32 [samples] (audio)


def resolve_model_dir(path: str) -> Path:
    """The version folder to load: `path` itself, or its latest version."""
    folder = Path(path)
    if not folder.exists():
        raise PredictError(f"no such folder: '{path}'")
    if not folder.is_dir():
        raise PredictError(
            f"'{path}' is a file, not a SavedModel folder (a version folder "
            "holding saved_model.pb, or a model folder of version folders)"
        )
    if (folder / "saved_model.pb").is_file():
        return folder
    versions = version_folders(folder)
    if not versions:
        models = sorted(
            entry.name
            for entry in folder.iterdir()
            if entry.is_dir() and version_folders(entry)
        )
        if models:
            raise PredictError(
                f"'{path}' is a folder of models ({', '.join(models)}); name "
                f"one, e.g. {folder / models[0]}"
            )
        raise PredictError(
            f"'{path}' is not a SavedModel: it holds no saved_model.pb and no "
            "version folder (NAME/1/saved_model.pb)"
        )
    return versions[max(versions)]


def model_card(version_dir: Path) -> dict:
    """The model card exported with the model, or {} if there is none."""
    path = version_dir / "assets.extra" / "model_card.json"
    try:
        card = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return card if isinstance(card, dict) else {}


def expected_sample_rate(card: dict, override: int | None) -> int:
    """The sample rate the model takes, in Hz."""
    if override is not None:
        return override
    rate = card.get("sample_rate")
    if isinstance(rate, int) and not isinstance(rate, bool) and rate > 0:
        return rate
    # Cards written before the `sample_rate` field: "8 kHz mono ...".
    found = re.search(
        r"(\d+(?:\.\d+)?)\s*(kHz|Hz)\b", str(card.get("inputs", ""))
    )
    if found:
        scale = 1000 if found.group(2) == "kHz" else 1
        return round(float(found.group(1)) * scale)
    raise PredictError(
        "the model card does not say which sample rate the model takes; "
        "pass it with --sample-rate"
    )


def read_wav(data: bytes, name: str, sample_rate: int) -> np.ndarray:
    """Mono 16-bit PCM WAV bytes at `sample_rate` -> float32 in [-1, 1)."""
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise PredictError(
            f"'{name}' is not a WAV file (no RIFF/WAVE header); the model "
            f"takes {sample_rate} Hz mono 16-bit WAV files"
        )
    try:
        with wave.open(io.BytesIO(data)) as reader:
            rate = reader.getframerate()
            channels = reader.getnchannels()
            width = reader.getsampwidth()
            declared = reader.getnframes()
            frames = reader.readframes(declared)
    except (wave.Error, EOFError) as error:
        raise PredictError(
            f"'{name}' is not a 16-bit PCM WAV file the model can take "
            f"({error})"
        ) from None
    if rate != sample_rate:
        raise PredictError(
            f"'{name}' is sampled at {rate} Hz; the model takes {sample_rate}"
            f" Hz audio (resample it, e.g. sox IN.wav -r {sample_rate} "
            "OUT.wav)"
        )
    if channels != 1:
        raise PredictError(
            f"'{name}' has {channels} channels; the model takes mono audio "
            "(mix it down, e.g. sox IN.wav -c 1 OUT.wav)"
        )
    if width != 2:
        raise PredictError(
            f"'{name}' holds {8 * width}-bit samples; the model takes 16-bit "
            "PCM (convert it, e.g. sox IN.wav -b 16 OUT.wav)"
        )
    if declared == 0:
        raise PredictError(f"'{name}' holds no samples")
    if len(frames) < declared * 2:
        raise PredictError(
            f"'{name}' is truncated: its header declares {declared} samples,"
            f" the file holds {len(frames) // 2}"
        )
    return np.frombuffer(frames, "<i2").astype(np.float32) / 32768.0


def _is_file(item: str) -> bool:
    # A long review is no path: is_file raises for names the OS refuses.
    try:
        return Path(item).is_file()
    except (OSError, ValueError):
        return False


def _reviews(data: bytes) -> list[bytes]:
    return [line for line in data.splitlines() if line.strip()]


def _text_file(path: Path, name: str) -> bytes:
    data = path.read_bytes()
    if data[:4] == b"RIFF" or b"\0" in data[:65536]:
        raise PredictError(
            f"'{name}' is not a text file (it holds binary data"
            f"{', a WAV file' if data[:4] == b'RIFF' else ''}); the model "
            "takes text: reviews as arguments, or a text file of one review "
            "per line"
        )
    return data


def read_inputs(
    items: list[str], kind: str, sample_rate: int | None, stdin=None
) -> list[Example]:
    """The examples INPUT... stands for, read and checked before any run."""
    stdin = sys.stdin.buffer if stdin is None else stdin
    if items.count(STDIN) > 1:
        raise PredictError("'-' (stdin) can be given only once")
    examples = []
    for item in items:
        if kind == "text":
            if item == STDIN:
                data = stdin.read()
            elif _is_file(item):
                data = _text_file(Path(item), item)
            else:
                examples.append(Example(item, item.encode("utf-8")))
                continue
            examples += [
                Example(line.decode("utf-8", "replace"), line)
                for line in _reviews(data)
            ]
        else:
            if item == STDIN:
                data = stdin.read()
            elif _is_file(item):
                data = Path(item).read_bytes()
            else:
                raise PredictError(
                    f"no such file: '{item}' (the model takes WAV files)"
                )
            examples.append(Example(item, read_wav(data, item, sample_rate)))
    if not examples:
        raise PredictError("no inputs: the files and stdin hold no line")
    return examples


def _input_kind(function) -> tuple[str, str]:
    """(input name, "text" or "audio") from the signature's one input."""
    specs = function.structured_input_signature[1]
    if len(specs) == 1:
        ((name, spec),) = specs.items()
        if spec.dtype.name == "string" and spec.shape.rank == 1:
            return name, "text"
        if spec.dtype.name == "float32" and spec.shape.rank == 2:
            return name, "audio"
    described = ", ".join(
        f"{name} {spec.dtype.name} {spec.shape}"
        for name, spec in sorted(specs.items())
    )
    raise PredictError(
        f"zoo predict runs signatures with one input, string [batch] (text) "
        f"or float32 [batch, samples] (audio); this one takes {described}"
    )


def _batches(examples: list[Example], size: int):
    for start in range(0, len(examples), size):
        yield examples[start : start + size]


def _stack(batch: list[Example], kind: str) -> np.ndarray:
    if kind == "text":
        return np.array([example.value for example in batch], dtype=object)
    stacked = np.zeros(
        (len(batch), max(len(example.value) for example in batch)),
        np.float32,
    )
    for row, example in enumerate(batch):
        stacked[row, : len(example.value)] = example.value
    return stacked


def run(args) -> int:
    """`zoo predict` with parsed arguments; PredictError for bad input."""
    import tensorflow as tf

    from zoo.serving.codec import to_json_value

    version_dir = resolve_model_dir(args.model_dir)
    try:
        loaded = tf.saved_model.load(str(version_dir))
    # Any load failure (a corrupt or foreign file) is one line for the user.
    except Exception as error:
        first = str(error).strip().splitlines()[0] if str(error) else ""
        raise PredictError(
            f"cannot load the SavedModel in '{version_dir}': "
            f"{type(error).__name__}: {first}"
        ) from None
    if args.signature not in loaded.signatures:
        raise PredictError(
            f"'{version_dir}' has no signature {args.signature!r}; it has "
            f"{', '.join(sorted(loaded.signatures)) or 'none'}"
        )
    function = loaded.signatures[args.signature]
    input_name, kind = _input_kind(function)
    sample_rate = None
    if kind == "audio":
        sample_rate = expected_sample_rate(
            model_card(version_dir), args.sample_rate
        )
    outputs = function.structured_outputs
    shown = sorted(outputs) if args.outputs is None else args.outputs
    unknown = [name for name in shown if name not in outputs]
    if unknown:
        raise PredictError(
            f"the signature has no output(s) {', '.join(unknown)}; it has "
            f"{', '.join(sorted(outputs))}"
        )
    examples = read_inputs(args.inputs, kind, sample_rate)

    timed = {
        name
        for name, spec in outputs.items()
        if spec.shape.rank is not None
        and spec.shape.rank >= 2
        and spec.shape[1] is None
    }
    # Padding shows in time axes: without their lengths, one at a time.
    unpadded = kind == "audio" and any(
        f"{name}_lengths" not in outputs for name in timed
    )
    batch_size = 1 if unpadded else args.batch_size
    for batch in _batches(examples, batch_size):
        results = function(**{input_name: tf.constant(_stack(batch, kind))})
        arrays = {name: value.numpy() for name, value in results.items()}
        for row, example in enumerate(batch):
            line = {"input": example.label}
            for name in shown:
                value = arrays[name][row]
                if name in timed and f"{name}_lengths" in arrays:
                    value = value[: int(arrays[f"{name}_lengths"][row])]
                line[name] = to_json_value(value, name)
            print(json.dumps(line, ensure_ascii=False), flush=True)
    return 0

"""Server limits and the model config file.

`Limits` holds every knob of the server with its default; the command line
flags (see `zoo.serving.server.add_arguments`) map one to one onto its fields.

The model config file is a JSON version of TensorFlow Serving's
`model_config_list`:

    {"models": [
        {"name": "imdb",
         "base_path": "imdb",
         "version_policy": {"specific": {"versions": [1, 2]}},
         "version_labels": {"stable": 1, "canary": 2}}]}

`base_path` is relative to the served base directory and must stay inside
it. `version_policy` is one of `{"latest": {"num_versions": N}}` (the
default, N = 1), `{"all": {}}` or `{"specific": {"versions": [...]}}`.
"""

from __future__ import annotations

import dataclasses
import json
import os

MiB = 1024 * 1024


@dataclasses.dataclass(frozen=True)
class Limits:
    """Every limit of the server, with sane defaults.

    Args:
        max_body_bytes: largest request body; larger ones get HTTP 413.
        max_instances: most instances (batch rows) in one request.
        max_sequence_length: most elements per instance along the first
            non-batch axis of a numeric input (e.g. audio samples).
        max_string_bytes: longest string element, in bytes (e.g. a review).
        deadline_s: per-request deadline; past it the answer is HTTP 504.
        max_concurrency: most predict requests in flight; more get HTTP 429.
        max_batch_size: most instances the batcher runs in one model call.
        batch_timeout_ms: how long the batcher waits to fill a batch.
        poll_interval_s: how often the model folders are rescanned.
        max_elements: most scalar elements (numbers or strings) in one
            request, over all inputs; checked before JSON parsing for
            signatures without string inputs.
        header_timeout_s: most time a connection may take to send a
            request's headers (from connecting, or from the previous
            response); past it the connection is closed.
        body_timeout_s: most time to receive a request body; past it the
            answer is HTTP 408 and the connection is closed.
        idle_timeout_s: how long an idle keep-alive connection stays open.
        max_buffered_bytes: most request-body bytes held in memory by all
            requests together (read, not yet decoded); beyond it HTTP 429.
    """

    max_body_bytes: int = 10 * MiB
    max_instances: int = 256
    max_sequence_length: int = 8000 * 30
    max_string_bytes: int = 100_000
    deadline_s: float = 30.0
    max_concurrency: int = 64
    max_batch_size: int = 32
    batch_timeout_ms: float = 5.0
    poll_interval_s: float = 2.0
    max_elements: int = 1_000_000
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0
    idle_timeout_s: float = 5.0
    max_buffered_bytes: int = 128 * MiB

    def __post_init__(self) -> None:
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            minimum = 0 if field.name in _MAY_BE_ZERO else 1e-9
            if not isinstance(value, (int, float)) or value < minimum:
                raise ValueError(
                    f"Received an invalid value for argument `{field.name}`, "
                    "expected a "
                    f"{'non-negative' if minimum == 0 else 'positive'}"
                    f" number, got {value!r}."
                )

    def worst_case_bytes(self) -> int:
        """Most memory requests can take at once under these limits.

        Beyond the loaded models and their outputs: request bodies in memory
        (`max_buffered_bytes`), the Python objects of the bodies being
        parsed (by the event loop and the decode threads:
        `PARSERS_AT_ONCE`, each at most `PARSED_BYTES_PER_ELEMENT` per
        number or `PARSED_BYTES_PER_BODY_BYTE` times a body of strings),
        and the decoded arrays of every request in flight (8 bytes per
        element at most, twice: the request's and the batch's copy).
        """
        parsing = PARSERS_AT_ONCE * max(
            PARSED_BYTES_PER_ELEMENT * self.max_elements,
            PARSED_BYTES_PER_BODY_BYTE * self.max_body_bytes,
        )
        arrays = self.max_concurrency * self.max_elements * 8 * 2
        return self.max_buffered_bytes + parsing + arrays


# The event loop and the two decode threads (zoo.serving.app.DECODE_THREADS).
PARSERS_AT_ONCE = 3
# A parsed JSON number: a Python float (24 bytes), its list slot (8), and
# the float64 array NumPy first builds (8) before the cast.
PARSED_BYTES_PER_ELEMENT = 48
# A parsed JSON string: `"ab",` (5 bytes) becomes a 51-byte str + a slot.
PARSED_BYTES_PER_BODY_BYTE = 12

_MAY_BE_ZERO = {"batch_timeout_ms"}


@dataclasses.dataclass(frozen=True)
class VersionPolicy:
    """Which versions of a model to serve.

    Args:
        kind: "latest", "all" or "specific".
        num_versions: for "latest", how many of the newest versions.
        versions: for "specific", the versions to serve.
    """

    kind: str = "latest"
    num_versions: int = 1
    versions: tuple[int, ...] = ()


@dataclasses.dataclass(frozen=True)
class ModelConfig:
    """One served model: its name, folder, version policy and labels."""

    name: str
    base_path: str
    version_policy: VersionPolicy = VersionPolicy()
    version_labels: tuple[tuple[str, int], ...] = ()


def parse_model_config(text: str, base_dir: str) -> list[ModelConfig]:
    """Parses a JSON model config file (see the module docstring).

    Args:
        text: the file's content.
        base_dir: the served base directory; relative `base_path`s are
            resolved against it and must not leave it.

    Returns:
        One `ModelConfig` per entry, `base_path` made absolute.

    Raises:
        ValueError: naming the offending entry and key.
    """
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"Model config is not valid JSON: {error}") from None
    if not isinstance(document, dict) or not isinstance(
        document.get("models"), list
    ):
        raise ValueError(
            'Model config must be an object with a "models" list, got '
            f"{json.dumps(document)[:200]}"
        )
    configs = [
        _parse_model_entry(entry, index, base_dir)
        for index, entry in enumerate(document["models"])
    ]
    names = [config.name for config in configs]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ValueError(f"Model config names models twice: {duplicates}")
    return configs


def _parse_model_entry(entry: object, index: int, base_dir: str) -> ModelConfig:
    where = f"models[{index}]"
    if not isinstance(entry, dict):
        raise ValueError(f"{where} must be an object, got {entry!r}")
    unknown = set(entry) - {
        "name",
        "base_path",
        "version_policy",
        "version_labels",
        "model_platform",
    }
    if unknown:
        raise ValueError(f"{where} has unknown keys {sorted(unknown)}")
    name = entry.get("name")
    if not isinstance(name, str) or not _is_valid_name(name):
        raise ValueError(
            f"{where}.name must be a folder-like name (no '/', ':' or "
            f"leading '.'), got {name!r}"
        )
    base_path = entry.get("base_path", name)
    if not isinstance(base_path, str) or not base_path:
        raise ValueError(
            f"{where}.base_path must be a string, got {base_path!r}"
        )
    base_path = resolve_inside(base_dir, base_path, where)
    policy = _parse_version_policy(entry.get("version_policy", {}), where)
    labels = entry.get("version_labels", {})
    if not isinstance(labels, dict) or not all(
        isinstance(label, str) and _is_valid_name(label) and _is_version(v)
        for label, v in labels.items()
    ):
        raise ValueError(
            f"{where}.version_labels must map label names to positive "
            f"integer versions, got {labels!r}"
        )
    return ModelConfig(
        name=name,
        base_path=base_path,
        version_policy=policy,
        version_labels=tuple(sorted(labels.items())),
    )


def _parse_version_policy(policy: object, where: str) -> VersionPolicy:
    if policy in ({}, None):
        return VersionPolicy()
    if not isinstance(policy, dict) or len(policy) != 1:
        raise ValueError(
            f"{where}.version_policy must hold exactly one of 'latest', 'all', "
            f"'specific', got {policy!r}"
        )
    ((kind, body),) = policy.items()
    body = body or {}
    if kind == "all":
        return VersionPolicy(kind="all")
    if kind == "latest":
        count = body.get("num_versions", 1)
        if not _is_version(count):
            raise ValueError(
                f"{where}.version_policy.latest.num_versions must be a "
                f"positive integer, got {count!r}"
            )
        return VersionPolicy(kind="latest", num_versions=count)
    if kind == "specific":
        versions = body.get("versions")
        if (
            not isinstance(versions, list)
            or not versions
            or not all(_is_version(v) for v in versions)
        ):
            raise ValueError(
                f"{where}.version_policy.specific.versions must be a non-empty "
                f"list of positive integers, got {versions!r}"
            )
        return VersionPolicy(kind="specific", versions=tuple(sorted(versions)))
    raise ValueError(
        f"{where}.version_policy has unknown kind {kind!r}; expected 'latest', "
        "'all' or 'specific'"
    )


def resolve_inside(base_dir: str, path: str, where: str = "path") -> str:
    """Returns `path` (relative to `base_dir`) made absolute.

    Raises:
        ValueError: if the resolved path (symlinks followed) leaves base_dir.
    """
    root = os.path.realpath(base_dir)
    resolved = os.path.realpath(os.path.join(root, path))
    if resolved != root and not resolved.startswith(root + os.sep):
        raise ValueError(
            f"{where} {path!r} resolves to {resolved}, outside the served "
            f"folder {root}; only SavedModels under it are loaded"
        )
    return resolved


def _is_valid_name(name: str) -> bool:
    return (
        bool(name)
        and not name.startswith(".")
        and not any(c in name for c in "/\\:")
    )


def _is_version(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0

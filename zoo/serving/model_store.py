"""Model discovery, version policies, labels and hot reload.

The store maps model names to the versions being served. `refresh()` scans
the folders once: it finds `NAME/VERSION/saved_model.pb` (VERSION by
`zoo.export.version_number`; anything else, e.g. `.tmp-*` folders, is ignored,
and so are model folders that are symlinks out of the served folder), loads
the versions
the policy asks for with `tf.saved_model.load`, and only then swaps them in,
so a request never sees a half-loaded version. A version folder is loaded
once its content has been unchanged for two scans (a copy in progress is not
picked up); a version that fails to load is logged, reported with state END
and its error's canonical code, and retried only when its files change,
while older versions keep serving; once its folder is gone it is forgotten.
`check_labels()` refuses labels that name versions not served.
`start()` runs `refresh()` in a background thread every `poll_interval_s`.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import threading
from collections.abc import Callable
from typing import Any

import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.protobuf import saved_model_pb2

from zoo.export import version_folders
from zoo.serving import errors
from zoo.serving.config import ModelConfig
from zoo.serving.config import VersionPolicy
from zoo.serving.config import resolve_inside
from zoo.serving.signatures import SignatureInfo
from zoo.serving.signatures import describe_signature

logger = logging.getLogger("zoo.serving")

DEFAULT_SIGNATURE = "serving_default"


@dataclasses.dataclass
class LoadedVersion:
    """One loaded version of a model and its signatures."""

    name: str
    version: int
    path: str
    signatures: dict[str, SignatureInfo]
    signature_defs: dict[str, Any]
    module: Any = dataclasses.field(repr=False, default=None)

    def signature(self, signature_name: str) -> SignatureInfo:
        """Returns a signature by name ("" means serving_default)."""
        key = signature_name or DEFAULT_SIGNATURE
        if key not in self.signatures:
            raise errors.invalid_argument(
                f'Serving signature name: "{key}" not found in signature def'
            )
        return self.signatures[key]


@dataclasses.dataclass
class _ModelState:
    config: ModelConfig
    loaded: dict[int, LoadedVersion] = dataclasses.field(default_factory=dict)
    # version -> (fingerprint, error code, message) of the last failed load.
    failed: dict[int, tuple[Any, str, str]] = dataclasses.field(
        default_factory=dict
    )
    unloaded: set[int] = dataclasses.field(default_factory=set)
    # version -> fingerprint seen at the previous scan (stability check).
    seen: dict[int, Any] = dataclasses.field(default_factory=dict)


ChangeListener = Callable[[str, list[int], list[LoadedVersion]], None]


class ModelStore:
    """The served models, kept in sync with the folders on disk.

    Args:
        base_dir: the folder holding one sub-folder per model.
        model_configs: explicit models (from a model config file); None
            serves every model folder found under base_dir, latest version.
        on_change: called as `on_change(name, loaded_versions, unloaded)`
            after a model's set of served versions changes.
    """

    def __init__(
        self,
        base_dir: str,
        model_configs: list[ModelConfig] | None = None,
        on_change: ChangeListener | None = None,
    ) -> None:
        if not os.path.isdir(base_dir):
            raise ValueError(
                "Received an invalid value for argument `base_dir`, expected "
                f"an existing folder, got {base_dir!r}."
            )
        self.base_dir = os.path.realpath(base_dir)
        self.model_configs = model_configs
        self.on_change = on_change
        self._models: dict[str, _ModelState] = {}
        self._lock = threading.Lock()
        self._refresh_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._first_scan = True

    # Scanning and loading.

    def refresh(self) -> None:
        """Scans the folders once and loads/unloads versions as needed."""
        with self._refresh_lock:
            configs = self._current_configs()
            for config in configs:
                state = self._models.get(config.name)
                if state is None:
                    state = _ModelState(config)
                    with self._lock:
                        self._models[config.name] = state
                self._safely_refresh(state)
            # Models whose folder disappeared: their versions get unloaded.
            names = {config.name for config in configs}
            for name, state in list(self._models.items()):
                if name not in names:
                    self._safely_refresh(state)
            self._first_scan = False

    def _safely_refresh(self, state: _ModelState) -> None:
        try:
            self._refresh_model(state)
        except Exception:  # Never let one model stop the poller.
            logger.exception("Refreshing model %s failed", state.config.name)

    def _current_configs(self) -> list[ModelConfig]:
        if self.model_configs is not None:
            return self.model_configs
        return discover_models(self.base_dir)

    def _refresh_model(self, state: _ModelState) -> None:
        config = state.config
        on_disk = list_versions(config.base_path)
        fingerprints = {v: fingerprint(path) for v, path in on_disk.items()}
        wanted = _wanted_versions(config.version_policy, sorted(on_disk))
        target: dict[int, LoadedVersion] = {}
        needed = (
            config.version_policy.num_versions
            if config.version_policy.kind == "latest"
            else len(wanted)
        )
        for version in wanted:
            if len(target) >= needed:
                break
            loaded = state.loaded.get(version)
            if loaded is not None:
                target[version] = loaded
                continue
            current = fingerprints[version]
            failure = state.failed.get(version)
            if failure is not None and failure[0] == current:
                continue
            stable = self._first_scan or state.seen.get(version) == current
            if not stable:
                continue
            try:
                target[version] = load_version(
                    config.name, version, on_disk[version]
                )
                state.failed.pop(version, None)
                state.unloaded.discard(version)
                logger.info("Loaded model %s version %d", config.name, version)
            except Exception as error:  # A broken folder must not be served.
                code = _error_code(error)
                state.failed[version] = (current, code, str(error))
                logger.error(
                    "Failed to load model %s version %d from %s, keeping the "
                    "versions already served: %s",
                    config.name,
                    version,
                    on_disk[version],
                    error,
                )
        state.seen = fingerprints
        # A deleted version that failed to load is forgotten, not listed.
        for version in [v for v in state.failed if v not in on_disk]:
            del state.failed[version]
        if config.version_policy.kind == "latest" and not target:
            # Nothing new loadable yet: keep serving what is loaded, if its
            # folder still exists.
            target = {v: lv for v, lv in state.loaded.items() if v in on_disk}
        removed = [lv for v, lv in state.loaded.items() if v not in target]
        if removed or set(target) != set(state.loaded):
            with self._lock:
                state.loaded = target
                state.unloaded.update(lv.version for lv in removed)
            for lv in removed:
                logger.info("Unloaded model %s version %d", lv.name, lv.version)
            if self.on_change is not None:
                self.on_change(config.name, sorted(target), removed)

    def check_labels(self) -> None:
        """Refuses labels that name a version that is not served.

        TF Serving refuses such labels too (unless told otherwise): a label
        is a promise that the version answers.

        Raises:
            ValueError: naming the model, the label and the version.
        """
        with self._lock:
            problems = [
                f"label {label!r} of model {name} names version {version}, "
                f"which is not served (served: {sorted(state.loaded)})"
                for name, state in sorted(self._models.items())
                for label, version in state.config.version_labels
                if version not in state.loaded
            ]
        if problems:
            raise ValueError("; ".join(problems))

    def start(self, poll_interval_s: float) -> None:
        """Starts the background poll (refresh every `poll_interval_s`)."""
        if self._thread is not None:
            return
        self._stop.clear()

        def poll() -> None:
            while not self._stop.wait(poll_interval_s):
                self.refresh()

        self._thread = threading.Thread(
            target=poll, name="zoo-serving-poll", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stops the background poll and waits for a running scan."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None

    # Lookups.

    def resolve(
        self, name: str, version: int | None = None, label: str | None = None
    ) -> LoadedVersion:
        """Returns the version a request addresses, as TF Serving does.

        Raises:
            ServingError: NOT_FOUND for unknown models or versions,
                INVALID_ARGUMENT for unknown labels or both version and label.
        """
        if version is not None and label is not None:
            raise errors.invalid_argument(
                f"Both model version ({version}) and model version label "
                f"({label}) cannot be supplied."
            )
        with self._lock:
            state = self._models.get(name)
            if label is not None:
                labels = dict(state.config.version_labels) if state else {}
                if label not in labels:
                    raise errors.invalid_argument(
                        f"Unrecognized servable version label: {label}"
                    )
                version = labels[label]
            if state is None or not state.loaded:
                spec = (
                    f"Latest({name})"
                    if version is None
                    else (f"Specific({name}, {version})")
                )
                raise errors.not_found(
                    f"Servable not found for request: {spec}"
                )
            if version is None:
                return state.loaded[max(state.loaded)]
            if version not in state.loaded:
                raise errors.not_found(
                    "Servable not found for request: "
                    f"Specific({name}, {version})"
                )
            return state.loaded[version]

    def label_version(self, name: str, label: str) -> int:
        """Returns the version a label names (INVALID_ARGUMENT if unknown)."""
        with self._lock:
            state = self._models.get(name)
            labels = dict(state.config.version_labels) if state else {}
        if label not in labels:
            raise errors.invalid_argument(
                f"Unrecognized servable version label: {label}"
            )
        return labels[label]

    def status(self, name: str, version: int | None = None) -> dict:
        """Returns TF Serving's GetModelStatusResponse as a JSON-ready dict.

        Served versions are AVAILABLE; versions that failed to load or were
        unloaded are END (with the load error, if any). Newest first.
        """
        with self._lock:
            state = self._models.get(name)
            entries: dict[int, tuple[str, str, str]] = {}
            if state is not None:
                for v in state.unloaded:
                    entries[v] = ("END", "OK", "")
                for v, (_, code, message) in state.failed.items():
                    entries[v] = ("END", code, message)
                for v in state.loaded:
                    entries[v] = ("AVAILABLE", "OK", "")
        if version is not None:
            if version not in entries:
                raise errors.not_found(
                    f"Could not find version {version} of model {name}"
                )
            entries = {version: entries[version]}
        elif not entries:
            raise errors.not_found(
                f"Could not find any versions of model {name}"
            )
        return {
            "model_version_status": [
                {
                    "version": str(v),
                    "state": entries[v][0],
                    "status": {
                        "error_code": entries[v][1],
                        "error_message": entries[v][2],
                    },
                }
                for v in sorted(entries, reverse=True)
            ]
        }

    def served(self) -> dict[str, list[int]]:
        """Returns model name -> served versions (sorted)."""
        with self._lock:
            return {
                name: sorted(state.loaded)
                for name, state in sorted(self._models.items())
                if state.loaded
            }


def metadata(loaded: LoadedVersion) -> dict:
    """Returns TF Serving's GetModelMetadataResponse as a JSON-ready dict."""
    return {
        "model_spec": {
            "name": loaded.name,
            "signature_name": "",
            "version": str(loaded.version),
        },
        "metadata": {"signature_def": {"signature_def": loaded.signature_defs}},
    }


# Folder helpers.


def discover_models(base_dir: str) -> list[ModelConfig]:
    """Finds every model folder under base_dir that holds a version.

    A base_dir that itself holds version folders (TensorFlow Serving's
    `--model_base_path` layout) is served as one model named after it.
    A model folder that is a symlink to somewhere outside base_dir is
    skipped with a warning, as a config `base_path` outside it is refused:
    only SavedModels under the served folder are loaded.
    """
    if list_versions(base_dir):
        name = os.path.basename(os.path.normpath(base_dir))
        return [ModelConfig(name=name, base_path=base_dir)]
    configs = []
    for entry in sorted(os.listdir(base_dir)):
        path = os.path.join(base_dir, entry)
        if entry.startswith(".") or not os.path.isdir(path):
            continue
        try:
            path = resolve_inside(base_dir, entry, f"model folder {entry!r}")
        except ValueError as error:
            _warn_once(str(error))
            continue
        if list_versions(path):
            configs.append(ModelConfig(name=entry, base_path=path))
    return configs


_warned: set[str] = set()


def _warn_once(message: str) -> None:
    """Logs a scan's warning once, not at every poll."""
    if message not in _warned:
        _warned.add(message)
        logger.warning("Not served: %s", message)


def list_versions(model_dir: str) -> dict[int, str]:
    """Returns version -> folder for complete version folders.

    Version folders follow `zoo.export.version_number`, the rule every
    reader of saved_models/ shares: ASCII digits, no leading zero, at most
    18 digits, holding `saved_model.pb`; `.tmp-*` folders never count.
    """
    return {
        version: str(path)
        for version, path in version_folders(model_dir).items()
    }


def fingerprint(path: str) -> tuple:
    """A cheap summary (names, sizes, mtimes) of every file under path."""
    summary = []
    for root, _, files in os.walk(path):
        for file in files:
            full = os.path.join(root, file)
            try:
                stat = os.stat(full)
            except OSError:
                continue
            summary.append(
                (os.path.relpath(full, path), stat.st_size, stat.st_mtime_ns)
            )
    return tuple(sorted(summary))


def load_version(name: str, version: int, path: str) -> LoadedVersion:
    """Loads one SavedModel version and describes its signatures."""
    module = tf.saved_model.load(path)
    signatures = {
        key: describe_signature(key, function)
        for key, function in module.signatures.items()
    }
    if not signatures:
        raise ValueError(f"SavedModel at {path} has no signatures to serve")
    return LoadedVersion(
        name=name,
        version=version,
        path=path,
        signatures=signatures,
        signature_defs=read_signature_defs(path),
        module=module,
    )


def read_signature_defs(path: str) -> dict[str, Any]:
    """Reads the SignatureDefs of the "serve" MetaGraph as TF Serving's JSON."""
    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as file:
        proto.ParseFromString(file.read())
    graphs = [g for g in proto.meta_graphs if "serve" in g.meta_info_def.tags]
    graph = (graphs or list(proto.meta_graphs))[0]
    return {
        key: json_format.MessageToDict(
            graph.signature_def[key],
            always_print_fields_with_no_presence=True,
            preserving_proto_field_name=True,
        )
        for key in sorted(graph.signature_def)
    }


def _wanted_versions(policy: VersionPolicy, versions: list[int]) -> list[int]:
    """Versions to try, newest first, under a version policy."""
    if policy.kind == "specific":
        versions = [v for v in versions if v in policy.versions]
    return sorted(versions, reverse=True)


def _error_code(error: Exception) -> str:
    """Canonical code of a load error, as TF Serving would report it.

    TensorFlow's own errors carry theirs (NotFoundError -> NOT_FOUND); a
    saved_model.pb that does not parse is DATA_LOSS, a missing file
    NOT_FOUND, an unreadable one PERMISSION_DENIED, a SavedModel without
    servable signatures FAILED_PRECONDITION.
    """
    if isinstance(error, tf.errors.OpError):
        words = re.findall(r"[A-Z][a-z]*", type(error).__name__)
        code = "_".join(w.upper() for w in words if w != "Error")
        if code in errors.HTTP_STATUS:
            return code
    if isinstance(error, FileNotFoundError):
        return "NOT_FOUND"
    if isinstance(error, PermissionError):
        return "PERMISSION_DENIED"
    if isinstance(error, OSError):
        return "DATA_LOSS"  # "Cannot parse file ...": a corrupt proto.
    if isinstance(error, ValueError):
        return "FAILED_PRECONDITION"
    return "UNKNOWN"

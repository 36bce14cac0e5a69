"""SavedModel export: TF Serving layout, atomic writes, model cards.

Exports land in `BASE_DIR/NAME/VERSION/` (TensorFlow Serving's layout).
Everything is first written to a hidden temporary folder beside the target
and renamed into place at the end, so a crash or a kill at any moment leaves
either the previous state or the complete new version, never a half-written
one; servers that watch the folder (TF Serving, `zoo serve`) ignore the
hidden temporaries.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

# Ops that would tie an exported graph to a GPU, or embed Python code.
NON_PORTABLE_OPS = (
    "CudnnRNN",
    "CudnnRNNV2",
    "CudnnRNNV3",
    "PyFunc",
    "EagerPyFunc",
    "PyFuncStateless",
)


# TF Serving's version folders: positive integers in ASCII digits (no sign,
# no other script's digits), at most 18 digits so the number fits an int64.
_MAX_VERSION_DIGITS = 18


def version_number(name: str) -> int | None:
    """The version a folder name stands for, or None if it is not one.

    The one rule for every reader of version folders (exports, `zoo serve`,
    `zoo predict`): "7" is version 7; "0", "007", "-1", "٣", ".tmp-7" and
    names of more than 18 digits are not versions.
    """
    if not (
        name.isascii()
        and name.isdigit()
        and len(name) <= _MAX_VERSION_DIGITS
        and not name.startswith("0")
    ):
        return None
    return int(name)


def version_folders(model_dir: str | os.PathLike) -> dict[int, Path]:
    """version -> folder, for the complete versions under `model_dir`.

    A version is complete when its folder holds `saved_model.pb`; hidden
    temporaries (`.tmp-*`) never count.
    """
    model_dir = Path(model_dir)
    try:
        entries = list(model_dir.iterdir())
    except OSError:
        return {}
    found = {}
    for entry in entries:
        number = version_number(entry.name)
        if number is not None and (entry / "saved_model.pb").is_file():
            found[number] = entry
    return dict(sorted(found.items()))


def versions(model_dir: str | os.PathLike) -> list[int]:
    """The complete numeric versions under `model_dir`, sorted."""
    return list(version_folders(model_dir))


def next_version(model_dir: str | os.PathLike) -> int:
    """One more than the largest version folder present (1 if none).

    Incomplete version folders count too: their number is taken.
    """
    model_dir = Path(model_dir)
    taken = (
        [version_number(entry.name) for entry in model_dir.iterdir()]
        if model_dir.is_dir()
        else []
    )
    return max((number for number in taken if number), default=0) + 1


def resolve_version_dir(
    model_dir: str | os.PathLike,
    version: int | None = None,
    overwrite: bool = False,
) -> Path:
    """The folder a new export goes to; refuses to replace unless asked."""
    model_dir = Path(model_dir)
    if version is None:
        version = next_version(model_dir)
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise ValueError(
            f"Received an invalid export version {version!r}, expected a "
            "positive integer."
        )
    target = model_dir / str(version)
    if target.exists() and not overwrite:
        raise FileExistsError(
            f"{target} already exists; pass overwrite=True (--overwrite) to "
            "replace it, or leave the version out to use the next free one."
        )
    return target


@contextlib.contextmanager
def atomic_directory(
    target: str | os.PathLike, overwrite: bool = False
) -> Iterator[Path]:
    """Yields a temporary folder that becomes `target` only on success.

    The temporary folder is hidden (a leading dot) and lives beside the
    target, on the same file system, so the final step is a rename. On an
    exception it is removed and `target` is untouched.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = target.parent / f".tmp-{target.name}-{uuid.uuid4().hex[:8]}"
    temporary.mkdir()
    try:
        yield temporary
        _fsync_tree(temporary)
        if target.exists():
            if not overwrite:
                raise FileExistsError(f"{target} already exists.")
            retired = (
                target.parent / f".old-{target.name}-{uuid.uuid4().hex[:8]}"
            )
            os.replace(target, retired)
            os.replace(temporary, target)
            shutil.rmtree(retired, ignore_errors=True)
        else:
            os.replace(temporary, target)
        _fsync_directory(target.parent)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    """Writes a small text file atomically (temporary file + rename)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.parent / f".{path.name}.{uuid.uuid4().hex[:8]}.tmp"
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(text)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def _fsync_tree(root: Path) -> None:
    for path in sorted(root.rglob("*")):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
    _fsync_directory(root)


def _fsync_directory(directory: Path) -> None:
    try:
        descriptor = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(descriptor)
    except OSError:
        pass
    finally:
        os.close(descriptor)


def write_model_card(version_dir: str | os.PathLike, card: dict) -> Path:
    """Writes `model_card.json` and a readable `README.md` to `assets.extra`.

    TF Serving reserves `assets.extra/` for files it ignores, so the card
    travels with the model without disturbing any server.
    """
    folder = Path(version_dir) / "assets.extra"
    folder.mkdir(parents=True, exist_ok=True)
    atomic_write_text(
        folder / "model_card.json", json.dumps(card, indent=2) + "\n"
    )
    lines = [f"# Model card: {card.get('name', 'model')}", ""]
    lines += [f"- **{key}**: {value}" for key, value in card.items()]
    atomic_write_text(folder / "README.md", "\n".join(lines) + "\n")
    return folder / "model_card.json"


def graph_ops(saved_model_dir: str | os.PathLike) -> set[str]:
    """Every op type in a SavedModel's graphs, functions included."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    proto.ParseFromString(
        (Path(saved_model_dir) / "saved_model.pb").read_bytes()
    )
    ops = set()
    for meta_graph in proto.meta_graphs:
        ops.update(node.op for node in meta_graph.graph_def.node)
        for function in meta_graph.graph_def.library.function:
            ops.update(node.op for node in function.node_def)
    return ops


def check_portable(saved_model_dir: str | os.PathLike) -> None:
    """Raises if the graph holds GPU-only (cuDNN) or Python-function ops."""
    found = sorted(graph_ops(saved_model_dir) & set(NON_PORTABLE_OPS))
    if found:
        raise ValueError(
            f"The SavedModel at {saved_model_dir} is not portable: it holds "
            f"the op(s) {found}, which need a GPU or a Python interpreter."
        )


_VERIFY_SCRIPT = """
import json, sys
import numpy as np
import tensorflow as tf
saved_model_dir, arrays, signature_name, atol = sys.argv[1:5]
data = np.load(arrays, allow_pickle=False)
loaded = tf.saved_model.load(saved_model_dir)
function = loaded.signatures[signature_name]
inputs = {
    k[3:]: tf.constant(data[k]) for k in data.files if k.startswith("in_")
}
outputs = function(**inputs)
leaked = sorted(m for m in sys.modules if m.split(".")[0] == "zoo")
report = {"leaked_modules": leaked, "mismatches": []}
for key in data.files:
    if not key.startswith("out_"):
        continue
    name, expected = key[4:], data[key]
    got = outputs[name].numpy()
    if got.dtype.kind in "SOU":
        same = got.astype(bytes).tolist() == expected.astype(bytes).tolist()
    else:
        same = got.shape == expected.shape and np.allclose(
            got, expected, atol=float(atol)
        )
    if not same:
        report["mismatches"].append(name)
print(json.dumps(report))
"""


def verify_in_fresh_process(
    saved_model_dir: str | os.PathLike,
    inputs: dict,
    expected_outputs: dict,
    *,
    signature_name: str = "serving_default",
    atol: float = 1e-5,
    timeout: float = 300,
) -> None:
    """Loads the SavedModel in a new Python that never imports `zoo`.

    Calls `signature_name` with `inputs` (name -> numpy array) and compares
    each of `expected_outputs` (name -> numpy array). Raises RuntimeError
    with the details on any mismatch, load failure, or if `zoo` was
    imported by the load (which a serving system could not do).
    """
    import subprocess
    import sys
    import tempfile

    import numpy as np

    def storable(value):
        # npz cannot hold object arrays without pickle: strings become bytes.
        array = np.asarray(value)
        if array.dtype == object:
            array = np.array(
                [
                    item.encode("utf-8") if isinstance(item, str) else item
                    for item in array.ravel()
                ],
                dtype=bytes,
            ).reshape(array.shape)
        return array

    saved_model_dir = Path(saved_model_dir).resolve()
    with tempfile.TemporaryDirectory() as scratch:
        arrays = Path(scratch) / "arrays.npz"
        payload = {f"in_{k}": storable(v) for k, v in inputs.items()}
        payload.update(
            {f"out_{k}": storable(v) for k, v in expected_outputs.items()}
        )
        np.savez(arrays, **payload)
        environment = {
            key: value
            for key, value in os.environ.items()
            if key != "PYTHONPATH"
        }
        environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
        result = subprocess.run(
            [
                sys.executable,
                "-c",
                _VERIFY_SCRIPT,
                str(saved_model_dir),
                str(arrays),
                signature_name,
                str(atol),
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=scratch,
            env=environment,
        )
    if result.returncode != 0:
        raise RuntimeError(
            f"Reloading {saved_model_dir} in a fresh process failed:\n"
            f"{result.stderr[-3000:]}"
        )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    if report["leaked_modules"]:
        raise RuntimeError(
            f"Loading {saved_model_dir} imported {report['leaked_modules']}."
        )
    if report["mismatches"]:
        raise RuntimeError(
            f"The reloaded SavedModel at {saved_model_dir} disagrees with the "
            f"in-memory model on outputs {report['mismatches']}."
        )


def portable_tracing():
    """A context manager to trace a model for export without fused kernels.

    Inside it, zoo recurrent layers never use Keras' fused (cuDNN) kernels,
    so a model trained on a GPU still exports a graph that serves on any
    CPU (`check_portable` then finds no `CudnnRNN*` op).

        with zoo.export.portable_tracing():
            tf.saved_model.save(module, path, signatures=...)
    """
    from zoo.layers.recurrent import fused_kernels_disabled

    return fused_kernels_disabled()

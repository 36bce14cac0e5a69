"""SavedModel export: TF Serving layout, atomic writes, model cards.

`export_saved_model` is the one export every recipe and test goes through.
It traces with `keras.export.ExportArchive`, which tracks the variables and
resources (a TextVectorization vocabulary) that the serving functions use,
so the SavedModel loads both ways serving systems load one: TF2's
`tf.saved_model.load` and a TF1 session restoring from the checkpoint (TF
Serving's C++ loader, `saved_model_cli run`, KServe). A Keras 3 model
wrapped in a plain `tf.Module` and saved with `tf.saved_model.save` loads
only the first way ("Could not find variable ..."; tensorflow/serving#2226,
keras-team/keras#19274).

Exports land in `BASE_DIR/NAME/VERSION/` (TensorFlow Serving's layout).
Everything is first written to a hidden temporary folder beside the target
and renamed into place at the end, so a crash or a kill at any moment leaves
either the previous state or the complete new version, never a half-written
one; servers that watch the folder (TF Serving, `zoo serve`) ignore the
hidden temporaries.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import shutil
import uuid
from collections.abc import Callable
from collections.abc import Iterator
from collections.abc import Mapping
from pathlib import Path
from typing import Any

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


# Run by `verify_in_fresh_process` in a new Python that never imports zoo:
# the serving signature through TF2's loader and through a TF1 session, as
# TF Serving's C++ loader and `saved_model_cli run` restore it.
_VERIFY_SCRIPT = """
import json, sys
import numpy as np
import tensorflow as tf
saved_model_dir, arrays, signature_name, atol = sys.argv[1:5]
data = np.load(arrays, allow_pickle=False)
inputs = {k[3:]: data[k] for k in data.files if k.startswith("in_")}
expected = {k[4:]: data[k] for k in data.files if k.startswith("out_")}


def tf2_outputs():
    function = tf.saved_model.load(saved_model_dir).signatures[signature_name]
    outputs = function(**{k: tf.constant(v) for k, v in inputs.items()})
    return {k: v.numpy() for k, v in outputs.items()}


def tf1_outputs():
    graph = tf.Graph()
    with tf.compat.v1.Session(graph=graph) as session:
        meta_graph = tf.compat.v1.saved_model.loader.load(
            session, ["serve"], saved_model_dir
        )
        signature = meta_graph.signature_def[signature_name]
        feeds = {
            graph.get_tensor_by_name(signature.inputs[k].name): v
            for k, v in inputs.items()
        }
        fetches = {
            k: graph.get_tensor_by_name(v.name)
            for k, v in signature.outputs.items()
        }
        return session.run(fetches, feeds)


def same(got, want):
    got = np.asarray(got)
    if want.dtype.kind in "SOU":
        return got.astype(bytes).tolist() == want.astype(bytes).tolist()
    return got.shape == want.shape and np.allclose(got, want, atol=float(atol))


report = {"mismatches": []}
for loader, run in (("tf.saved_model.load", tf2_outputs),
                    ("TF1 session", tf1_outputs)):
    try:
        outputs = run()
    except Exception as error:  # Reported, with the loader that failed.
        report["mismatches"].append(f"{loader}: {type(error).__name__}: "
                                    + str(error).strip().splitlines()[0])
        continue
    for name, want in expected.items():
        if name not in outputs:
            report["mismatches"].append(f"{loader}: no output {name!r}")
        elif not same(outputs[name], want):
            report["mismatches"].append(f"{loader}: output {name!r} differs")
report["leaked_modules"] = sorted(
    m for m in sys.modules if m.split(".")[0] == "zoo"
)
print(json.dumps(report))
"""


def _storable(value) -> Any:
    """A numpy array that npz holds without pickle (strings as bytes)."""
    import numpy as np

    array = np.asarray(value)
    if array.dtype == object or array.dtype.kind == "U":
        array = np.array(
            [
                item.encode("utf-8") if isinstance(item, str) else item
                for item in array.ravel()
            ],
            dtype=bytes,
        ).reshape(array.shape)
    return array


def verify_in_fresh_process(
    saved_model_dir: str | os.PathLike,
    inputs: Mapping[str, Any],
    expected_outputs: Mapping[str, Any],
    *,
    signature_name: str = "serving_default",
    atol: float = 1e-5,
    timeout: float = 300,
) -> None:
    """Runs the SavedModel where `zoo` is never imported, loaded two ways.

    A new Python calls `signature_name` on `inputs` (name -> array) after
    `tf.saved_model.load` AND after a TF1 session load (what TF Serving
    and `saved_model_cli run` do), and compares every `expected_outputs`
    (name -> array) with both. Raises RuntimeError naming each loader that
    failed or disagreed, or if loading imported `zoo`.
    """
    import subprocess
    import sys
    import tempfile

    import numpy as np

    saved_model_dir = Path(saved_model_dir).resolve()
    with tempfile.TemporaryDirectory() as scratch:
        arrays = Path(scratch) / "arrays.npz"
        payload = {f"in_{k}": _storable(v) for k, v in inputs.items()}
        payload.update(
            {f"out_{k}": _storable(v) for k, v in expected_outputs.items()}
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
            f"The SavedModel at {saved_model_dir} does not serve like the "
            "in-memory model: " + "; ".join(report["mismatches"])
        )


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """A serving function and the inputs it is traced for.

    `function(**inputs)` takes one tensor per name of `inputs` (name ->
    `tf.TensorSpec`) and returns a dict of output name -> tensor; it is
    exported as a signature with those input and output names.
    """

    function: Callable[..., Mapping[str, Any]]
    inputs: Mapping[str, Any]


def model_endpoint(model) -> Endpoint:
    """`serving_default` of a Keras model: its inputs by their Input names,
    its outputs by `model.output_names`, without training-mode layers."""
    import tensorflow as tf

    names = [tensor.name.split(":")[0] for tensor in model.inputs]
    specs = {
        name: tf.TensorSpec(tensor.shape, tensor.dtype, name=name)
        for name, tensor in zip(names, model.inputs)
    }

    def serve(**inputs):
        ordered = [inputs[name] for name in names]
        outputs = model(
            ordered[0] if len(ordered) == 1 else ordered, training=False
        )
        if not isinstance(outputs, (list, tuple)):
            outputs = [outputs]
        return dict(zip(model.output_names, outputs))

    return Endpoint(serve, specs)


def export_saved_model(
    model_or_endpoints,
    export_dir: str | os.PathLike,
    version: int | None = None,
    *,
    probe_inputs: Mapping[str, Any],
    card: Mapping[str, Any] | None = None,
    track: tuple = (),
    overwrite: bool = False,
    atol: float = 1e-5,
    verify: bool = True,
    reference_outputs: Mapping[str, Any] | None = None,
) -> Path:
    """Exports, verifies and only then publishes `export_dir/VERSION`.

    The whole contract, in order: pick the version folder (`version`, or
    the next free one); write into a hidden temporary folder beside it;
    trace portably (no `CudnnRNN*` or Python-function op); write the model
    card (`card`, with the version added) to `assets.extra/`; verify in a
    fresh process that never imports `zoo`, through `tf.saved_model.load`
    and a TF1 session, that `serving_default` on `probe_inputs` gives what
    the in-process model gives; rename into place. Any failure removes
    the temporary folder, and no version folder appears.

    Args:
        model_or_endpoints: A Keras model (exported as `serving_default`,
            see `model_endpoint`), or a dict of signature name ->
            `Endpoint` that holds "serving_default".
        export_dir: The model folder (`saved_models/imdb`).
        version: A positive integer; default the next free one.
        probe_inputs: name -> array for `serving_default`'s inputs.
        card: The model card (JSON-able dict).
        track: Keras layers or TF trackables holding resources the
            endpoints use that are not variables (a TextVectorization's
            vocabulary table). The endpoints' variables are saved without
            it; a Keras layer with variables is refused here, because
            ExportArchive would store its weights a second time. A Keras
            model passed as `model_or_endpoints` has its variable-free
            layers tracked already.
        overwrite: Replace an existing version folder.
        atol: Tolerance of the comparison.
        verify: False skips the fresh-process check, for a caller that
            checks many exports in one process of its own (the registry-
            wide test does, through both loaders); recipes always verify.
        reference_outputs: Optional output name -> array that
            `serving_default` must give on `probe_inputs` (within `atol`)
            before anything is written: the trained model's own outputs
            when it trained under another Keras backend and was reloaded
            here under TensorFlow for export. A difference raises
            ValueError naming the outputs.

    Returns:
        The published version folder.
    """
    import keras
    import numpy as np
    import tensorflow as tf

    if isinstance(model_or_endpoints, keras.Model):
        endpoints = {"serving_default": model_endpoint(model_or_endpoints)}
        track = (*_resource_layers(model_or_endpoints), *track)
    else:
        endpoints = dict(model_or_endpoints)
    weighted = [
        resource.name
        for resource in track
        if isinstance(resource, keras.layers.Layer) and resource.variables
    ]
    if weighted:
        raise ValueError(
            f"track= holds Keras layers with variables {weighted}: their "
            "weights would be saved twice (the endpoints' variables are "
            "saved already); track only layers that hold other resources, "
            "such as a TextVectorization."
        )
    if "serving_default" not in endpoints:
        raise ValueError(
            "export_saved_model needs a 'serving_default' endpoint; got "
            f"{sorted(endpoints)}."
        )
    target = resolve_version_dir(export_dir, version, overwrite)
    serving = endpoints["serving_default"]
    missing = sorted(set(serving.inputs) - set(probe_inputs))
    if missing:
        raise ValueError(f"probe_inputs lacks the input(s) {missing}.")
    probe = {name: _storable(probe_inputs[name]) for name in serving.inputs}
    with portable_tracing():
        expected = {
            name: _storable(np.asarray(value))
            for name, value in serving.function(
                **{
                    name: tf.constant(value, serving.inputs[name].dtype)
                    for name, value in probe.items()
                }
            ).items()
        }
    if reference_outputs is not None:
        _check_reference(expected, reference_outputs, atol)
    card = {**(card or {}), "version": int(target.name)}
    with atomic_directory(target, overwrite=overwrite) as folder:
        with portable_tracing():
            archive = keras.export.ExportArchive()
            for resource in track:
                archive.track(resource)
            for name, endpoint in endpoints.items():
                archive.add_endpoint(
                    name,
                    _positional(endpoint),
                    # The signature's input names are the specs' names.
                    input_signature=[
                        tf.TensorSpec(spec.shape, spec.dtype, name=key)
                        for key, spec in endpoint.inputs.items()
                    ],
                )
            archive.write_out(str(folder), verbose=False)
        check_portable(folder)
        write_model_card(folder, card)
        if verify:
            verify_in_fresh_process(folder, probe, expected, atol=atol)
    return target


def _resource_layers(model) -> list:
    """The layers of `model`, nested ones included, that hold no variables
    (lookup tables and other resources live in such layers)."""
    found, pending = [], list(model.layers)
    while pending:
        layer = pending.pop()
        if hasattr(layer, "layers"):
            pending.extend(layer.layers)
        elif not layer.variables:
            found.append(layer)
    return found


def _check_reference(
    outputs: Mapping[str, Any], reference: Mapping[str, Any], atol: float
) -> None:
    """Raises ValueError unless `outputs` holds every `reference` output
    with the same shape and values (within `atol`; strings exactly)."""
    import numpy as np

    problems = []
    for name, want in reference.items():
        want = _storable(want)
        if name not in outputs:
            problems.append(f"no output {name!r}")
            continue
        got = outputs[name]
        if got.shape != want.shape:
            problems.append(
                f"output {name!r} has shape {got.shape}, expected {want.shape}"
            )
        elif want.dtype.kind == "S":
            if got.astype(bytes).tolist() != want.tolist():
                problems.append(f"output {name!r} differs")
        elif not np.allclose(got, want, atol=atol):
            gap = float(np.max(np.abs(got - want)))
            problems.append(
                f"output {name!r} differs by up to {gap:.3g} (atol {atol})"
            )
    if problems:
        raise ValueError(
            "The serving function does not give the trained model's "
            "reference outputs on the probe inputs: " + "; ".join(problems)
        )


def _positional(endpoint: Endpoint):
    """ExportArchive passes inputs by position; the endpoint takes names."""
    names = list(endpoint.inputs)

    def function(*inputs):
        return dict(endpoint.function(**dict(zip(names, inputs))))

    return function


def portable_tracing():
    """A context manager to trace a model for export without fused kernels.

    Inside it, zoo recurrent layers never use Keras' fused (cuDNN) kernels,
    so a model trained on a GPU still exports a graph that serves on any
    CPU (`check_portable` then finds no `CudnnRNN*` op).

        with zoo.export.portable_tracing():
            tf.saved_model.save(module, path, signatures=...)
    """
    from zoo.layers.fused import fused_kernels_disabled

    return fused_kernels_disabled()

"""A recipe's export step, the same TensorFlow graph under every backend.

The exported graph is TensorFlow (SavedModel, TF Serving), and the
recipes' serving functions use TensorFlow-only ops (`tf.ensure_shape`, the
`tf.debugging.Assert` checks of raw audio, CTC greedy decoding, string
ops, the TextVectorization vocabulary). So a model trained under another
Keras backend (JAX, PyTorch) is exported by a child Python under
`KERAS_BACKEND=tensorflow`: the trained model is saved as `.keras`, the
child reloads it, builds the recipe's own endpoints on it and calls
`zoo.export.export_saved_model`, which first checks that the endpoints
give the trained model's own outputs on the probe inputs
(`reference_outputs`, computed under the training backend), then verifies
the SavedModel through `tf.saved_model.load` and a TF1 session in a
process without `zoo`. Under TensorFlow the same function runs in
process. Either way the graph is built by the same code from the same
weights, so what is served is what was trained.

    python -m recipes.export_step SPEC.json   # the child; prints the folder
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np


@dataclasses.dataclass
class ExportPlan:
    """How a trained model is exported.

    `endpoints(model, **options)` returns `({signature name: Endpoint},
    track)`, `track` being the Keras layers or models whose variables and
    resources the endpoints use. It must be a module-level function of an
    importable module, with JSON-able `options`, so that a child process
    can call it on the reloaded model. `reference_outputs` (output name ->
    array) are the trained model's own outputs on `probe_inputs`.
    """

    endpoints: Callable[..., tuple[dict, tuple]]
    probe_inputs: dict
    card: dict
    options: dict = dataclasses.field(default_factory=dict)
    reference_outputs: dict = dataclasses.field(default_factory=dict)
    atol: float = 1e-5


def export_trained(
    plan: ExportPlan,
    model,
    folder: Path,
    version: int | None,
    *,
    overwrite: bool,
    scratch: Path,
) -> Path:
    """Exports `model` by `plan` to `folder/VERSION`; the version folder.

    Under TensorFlow in this process; under another backend through a
    TensorFlow child (the module docstring), which needs `scratch`, a
    folder for the saved model and the arrays.
    """
    import keras

    if keras.backend.backend() == "tensorflow":
        return _export(plan, model, folder, version, overwrite)
    return _export_in_child(plan, model, folder, version, overwrite, scratch)


def _export(plan, model, folder, version, overwrite) -> Path:
    from zoo import export

    endpoints, track = plan.endpoints(model, **plan.options)
    return export.export_saved_model(
        endpoints,
        folder,
        version,
        probe_inputs=plan.probe_inputs,
        card=plan.card,
        track=tuple(track),
        overwrite=overwrite,
        atol=plan.atol,
        reference_outputs=plan.reference_outputs,
    )


def _function_name(function) -> str:
    """`module:qualname`, with `python -m recipes.X`'s real module name."""
    module = function.__module__
    if module == "__main__":
        spec = getattr(sys.modules["__main__"], "__spec__", None)
        if spec is None:
            raise ValueError(
                f"The export function {function.__qualname__} lives in a "
                "script; a TensorFlow child cannot import it. Run the "
                "recipe as a module (python -m recipes.NAME or zoo train)."
            )
        module = spec.name
    return f"{module}:{function.__qualname__}"


def _export_in_child(plan, model, folder, version, overwrite, scratch):
    from zoo import export

    scratch = Path(scratch).resolve()
    scratch.mkdir(parents=True, exist_ok=True)
    model_path = scratch / "export_model.keras"
    model.save(model_path)
    arrays = scratch / "export_arrays.npz"
    payload = {
        f"in_{k}": export._storable(v) for k, v in plan.probe_inputs.items()
    }
    payload.update(
        {
            f"ref_{k}": export._storable(v)
            for k, v in plan.reference_outputs.items()
        }
    )
    np.savez(arrays, **payload)
    spec = {
        "endpoints": _function_name(plan.endpoints),
        "options": plan.options,
        "model": str(model_path),
        "arrays": str(arrays),
        "card": plan.card,
        "atol": plan.atol,
        "folder": str(Path(folder).resolve()),
        "version": version,
        "overwrite": overwrite,
    }
    spec_path = scratch / "export_spec.json"
    spec_path.write_text(json.dumps(spec), encoding="utf-8")
    # The child imports this package's recipes and zoo from where they are.
    root = str(Path(__file__).resolve().parent.parent)
    path = os.environ.get("PYTHONPATH")
    environment = {
        **os.environ,
        "KERAS_BACKEND": "tensorflow",
        "PYTHONPATH": root + (os.pathsep + path if path else ""),
    }
    environment.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    result = subprocess.run(
        [sys.executable, "-m", "recipes.export_step", str(spec_path)],
        capture_output=True,
        text=True,
        env=environment,
    )
    if result.returncode == 3:  # The version folder exists.
        raise FileExistsError(result.stderr.strip().splitlines()[-1])
    if result.returncode != 0:
        raise RuntimeError(
            "The TensorFlow export step failed (KERAS_BACKEND=tensorflow "
            f"python -m recipes.export_step {spec_path}):\n"
            f"{result.stderr[-3000:]}"
        )
    for name in (model_path, arrays, spec_path):
        name.unlink()
    return Path(result.stdout.strip().splitlines()[-1])


def main(argv=None) -> int:
    """The child: exports by a spec file; prints the version folder."""
    import keras

    if keras.backend.backend() != "tensorflow":
        raise SystemExit(
            "recipes.export_step runs under KERAS_BACKEND=tensorflow, got "
            f"{keras.backend.backend()!r}."
        )
    (spec_path,) = sys.argv[1:] if argv is None else argv
    spec = json.loads(Path(spec_path).read_text(encoding="utf-8"))
    module, name = spec["endpoints"].split(":")
    endpoints = getattr(importlib.import_module(module), name)
    data = np.load(spec["arrays"], allow_pickle=False)
    plan = ExportPlan(
        endpoints=endpoints,
        probe_inputs={k[3:]: data[k] for k in data.files if k[:3] == "in_"},
        card=spec["card"],
        options=spec["options"],
        reference_outputs={
            k[4:]: data[k] for k in data.files if k[:4] == "ref_"
        },
        atol=spec["atol"],
    )
    model = keras.saving.load_model(spec["model"], compile=False)
    try:
        target = _export(
            plan, model, spec["folder"], spec["version"], spec["overwrite"]
        )
    except FileExistsError as error:
        print(error, file=sys.stderr)
        return 3
    print(target)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

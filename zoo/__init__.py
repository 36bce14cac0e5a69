"""seqzoo: recurrent and convolutional sequence models for Keras 3.

The public API:

    import zoo
    model = zoo.build("pyramid_lstm", feature_dim=80, head="sequence")
    zoo.list_models("*lstm")
    zoo.describe("cifg_lstm")

Layers live in `zoo.layers`; the builders in `zoo.models`.

Importing the package is cheap: it does not import Keras (and through it
TensorFlow, 5 s and 800 MB), so the `zoo` command answers `--help` at once
and `zoo predict` loads a SavedModel with TensorFlow alone. The public names
are loaded on first use (PEP 562 module `__getattr__`). What Keras needs to
deserialize the zoo's objects (`keras.saving.load_model` of a `.keras` file)
is registered as soon as both `zoo` and `keras` are imported, in either
order: at once if Keras is already loaded, otherwise right after Keras
finishes loading (a one-shot import hook that the first `import keras`
consumes). So `import zoo` followed by `keras.saving.load_model(...)` works
as it always did.
"""

from __future__ import annotations

import importlib
import importlib.abc
import importlib.util
import sys

__version__ = "0.1.0"

__all__ = [
    "build",
    "describe",
    "features",
    "is_model",
    "layers",
    "list_models",
    "models",
    "register_model",
    "text",
]

# Modules whose import registers Keras serializables: the layers, the audio
# front end and the text standardization. (The builders in zoo.models
# register in the zoo's own registry; they are loaded with it.)
_KERAS_REGISTRATIONS = ("zoo.layers", "zoo.features", "zoo.text")
_SUBMODULES = ("features", "layers", "models", "text")
_REGISTRY_FUNCTIONS = (
    "build",
    "describe",
    "is_model",
    "list_models",
    "register_model",
)


def _register_with_keras() -> None:
    for name in _KERAS_REGISTRATIONS:
        importlib.import_module(name)


class _AfterKerasImport(importlib.abc.MetaPathFinder):
    """Registers the zoo with Keras right after Keras is first executed."""

    def find_spec(self, fullname, path, target=None):
        if fullname != "keras":
            return None
        # The spec the other finders would give, with a loader that
        # registers after executing Keras. (Probes such as
        # importlib.util.find_spec("keras") get one too and never run it.)
        others = sys.meta_path[sys.meta_path.index(self) + 1 :]
        for finder in others:
            find = getattr(finder, "find_spec", None)
            spec = find(fullname, path, target) if find else None
            if spec is not None:
                break
        else:
            return None
        if spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        execute = spec.loader.exec_module

        def exec_module(module):
            execute(module)
            if self in sys.meta_path:
                sys.meta_path.remove(self)
            _register_with_keras()

        spec.loader.exec_module = exec_module
        return spec


def __getattr__(name: str):
    if name in _SUBMODULES:
        value = importlib.import_module(f"zoo.{name}")
    elif name in _REGISTRY_FUNCTIONS:
        importlib.import_module("zoo.models")  # fills the registry
        value = getattr(importlib.import_module("zoo.registry"), name)
    else:
        raise AttributeError(f"module 'zoo' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))


if "keras" in sys.modules:
    _register_with_keras()
elif not any(isinstance(f, _AfterKerasImport) for f in sys.meta_path):
    sys.meta_path.insert(0, _AfterKerasImport())

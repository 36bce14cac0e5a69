"""The model registry: a dict of builders, a decorator, and lookups.

A builder is a keyword-only function returning a Functional `keras.Model`
named after its registry key (the function's name), which the registry
passes to it as `name`. Its other keyword-only parameters, typed and with
defaults, are the documented hyperparameters: the registry reads the
defaults from the signature, so they are written once.
"""

from __future__ import annotations

import difflib
import fnmatch
import inspect
from collections.abc import Callable
from collections.abc import Iterable
from dataclasses import dataclass

import keras


@dataclass(frozen=True)
class ModelEntry:
    """What the registry knows about one model."""

    name: str
    builder: Callable[..., keras.Model]
    defaults: dict
    summary: str
    structure: str
    reference: str
    inputs: tuple[str, ...]
    heads: tuple[str, ...]


_MODELS: dict[str, ModelEntry] = {}


def register_model(
    *,
    structure: str,
    reference: str,
    inputs: Iterable[str] = ("tokens", "features"),
    heads: Iterable[str] = ("classify", "sequence"),
    name: str | None = None,
) -> Callable:
    """Decorator that registers a keyword-only model builder.

    Args:
        structure: A short description of the architecture, for tables.
        reference: The paper the model follows.
        inputs: Input kinds the model accepts ("tokens", "features").
        heads: Heads it can end in ("classify": one output per example,
            "sequence": one per step).
        name: Registry key; defaults to the function's name.

    Raises:
        ValueError: If the key is already registered, or the builder takes
            positional arguments, no `name` or a hyperparameter without a
            default.
    """

    def decorator(builder: Callable) -> Callable:
        key = name or builder.__name__
        if key in _MODELS:
            raise ValueError(f"A model named {key!r} is already registered.")
        parameters = inspect.signature(builder).parameters
        positional = [
            parameter.name
            for parameter in parameters.values()
            if parameter.kind
            in (parameter.POSITIONAL_ONLY, parameter.POSITIONAL_OR_KEYWORD)
        ]
        if positional:
            raise ValueError(
                f"Builder {key!r} must be keyword-only, found positional "
                f"parameters {positional}."
            )
        if "name" not in parameters:
            raise ValueError(
                f"Builder {key!r} must take a keyword-only `name` (the "
                "registry passes it the registry key)."
            )
        defaults = {
            parameter.name: parameter.default
            for parameter in parameters.values()
            if parameter.kind is parameter.KEYWORD_ONLY
            and parameter.name != "name"
        }
        empty = inspect.Parameter.empty
        missing = [key for key, value in defaults.items() if value is empty]
        if missing:
            raise ValueError(
                f"Builder {key!r} must give every hyperparameter a default, "
                f"found none for {missing}."
            )
        summary = (inspect.getdoc(builder) or key).splitlines()[0]
        _MODELS[key] = ModelEntry(
            name=key,
            builder=builder,
            defaults=defaults,
            summary=summary,
            structure=structure,
            reference=reference,
            inputs=tuple(inputs),
            heads=tuple(heads),
        )
        return builder

    return decorator


def _entry(name: str) -> ModelEntry:
    if not isinstance(name, str) or name not in _MODELS:
        close = difflib.get_close_matches(str(name), list(_MODELS), n=3)
        hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
        raise ValueError(
            f"Unknown model name {name!r}.{hint} Available models: "
            f"{', '.join(sorted(_MODELS))}."
        )
    return _MODELS[name]


def list_models(
    include: str | Iterable[str] | None = None,
    exclude: str | Iterable[str] | None = None,
) -> list[str]:
    """Sorted registry keys, filtered by glob patterns ("*lstm")."""

    def patterns(value):
        return [value] if isinstance(value, str) else list(value or [])

    names = sorted(_MODELS)
    if include is not None:
        names = [
            name
            for name in names
            if any(fnmatch.fnmatch(name, p) for p in patterns(include))
        ]
    return [
        name
        for name in names
        if not any(fnmatch.fnmatch(name, p) for p in patterns(exclude))
    ]


def is_model(name: str) -> bool:
    """Whether `name` is a registered model."""
    return isinstance(name, str) and name in _MODELS


def describe(name: str) -> dict:
    """Defaults, one-line summary, structure and reference of a model."""
    entry = _entry(name)
    return {
        "name": entry.name,
        "summary": entry.summary,
        "structure": entry.structure,
        "reference": entry.reference,
        "inputs": list(entry.inputs),
        "heads": list(entry.heads),
        "defaults": dict(entry.defaults),
    }


def build(name: str, **overrides) -> keras.Model:
    """Builds the registered model `name` with its defaults and `overrides`.

    Raises:
        ValueError: For an unknown name (listing close matches) or an
            unknown hyperparameter.
    """
    entry = _entry(name)
    unknown = sorted(set(overrides) - set(entry.defaults))
    if unknown:
        raise ValueError(
            f"Model {name!r} has no hyperparameter(s) {unknown}. It takes: "
            f"{', '.join(sorted(entry.defaults))}."
        )
    return entry.builder(name=entry.name, **overrides)

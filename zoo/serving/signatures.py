"""What a SavedModel signature takes and returns, read from the signature.

The server never imports the layers a model was built with: it reads each
signature's `structured_input_signature` and `structured_outputs` and
describes them as `TensorInfo`s, which the codec validates requests against
and the batcher uses to decide how requests may be merged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

# TensorFlow's DataTypeString names, which TensorFlow Serving's messages use.
_DTYPE_NAMES = {tf.float32: "float", tf.float64: "double", tf.half: "half"}


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """One named input or output of a signature.

    Args:
        name: the key in the signature's input or output dict.
        dtype: its TensorFlow dtype.
        shape: one entry per axis, None where the axis is dynamic; None for
            an unknown rank.
    """

    name: str
    dtype: tf.DType
    shape: tuple[int | None, ...] | None

    @property
    def rank(self) -> int | None:
        return None if self.shape is None else len(self.shape)

    @property
    def is_string(self) -> bool:
        return self.dtype == tf.string

    @property
    def numpy_dtype(self) -> np.dtype:
        return np.dtype(object if self.is_string else self.dtype.as_numpy_dtype)

    @property
    def dtype_name(self) -> str:
        """The dtype as TensorFlow prints it in errors: float, int64, string."""
        return _DTYPE_NAMES.get(self.dtype, self.dtype.name)

    @property
    def pad_value(self) -> Any:
        """What right-padding fills with: b"" for strings, else zero."""
        return b"" if self.is_string else self.numpy_dtype.type(0)

    @property
    def batched(self) -> bool:
        """Whether axis 0 is a dynamic batch axis."""
        return bool(self.shape) and self.shape[0] is None

    @property
    def has_dynamic_time_axis(self) -> bool:
        """Whether axis 1, the first non-batch axis, is dynamic."""
        return (
            self.shape is not None
            and len(self.shape) >= 2
            and (self.shape[1] is None)
        )

    def shape_string(self) -> str:
        if self.shape is None:
            return "[?]"
        return (
            "["
            + ",".join("-1" if d is None else str(d) for d in self.shape)
            + "]"
        )


@dataclasses.dataclass(frozen=True)
class SignatureInfo:
    """A callable signature with the description of its tensors.

    Args:
        name: the signature key, e.g. "serving_default".
        inputs: input name -> TensorInfo.
        outputs: output name -> TensorInfo.
        function: the loaded concrete function, called with keyword tensors.
    """

    name: str
    inputs: dict[str, TensorInfo]
    outputs: dict[str, TensorInfo]
    function: Callable[..., Any] = dataclasses.field(repr=False, compare=False)

    @property
    def batchable(self) -> bool:
        """Whether requests can be merged: every tensor has a batch axis."""
        return bool(self.inputs) and all(
            info.batched
            for info in [*self.inputs.values(), *self.outputs.values()]
        )

    @property
    def length_sensitive(self) -> bool:
        """Whether an output has a dynamic time axis (e.g. per-frame logits).

        Padding such a request to a longer batch would lengthen its output,
        so the batcher only merges requests of equal length for it.
        """
        return any(info.has_dynamic_time_axis for info in self.outputs.values())

    def run(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Calls the signature on NumPy inputs and returns NumPy outputs."""
        tensors = {
            name: tf.constant(arrays[name], dtype=info.dtype)
            for name, info in self.inputs.items()
        }
        outputs = self.function(**tensors)
        if not isinstance(outputs, dict):
            outputs = {"output_0": outputs}
        return {name: value.numpy() for name, value in outputs.items()}


def describe_signature(name: str, function: Any) -> SignatureInfo:
    """Builds a `SignatureInfo` from a loaded signature function."""
    args, kwargs = function.structured_input_signature
    if args:
        raise ValueError(
            f"Signature {name!r} takes positional inputs; only keyword "
            "(named) inputs are servable."
        )
    outputs = function.structured_outputs
    if not isinstance(outputs, dict):
        outputs = {"output_0": outputs}
    return SignatureInfo(
        name=name,
        inputs={key: _tensor_info(key, spec) for key, spec in kwargs.items()},
        outputs={key: _tensor_info(key, spec) for key, spec in outputs.items()},
        function=function,
    )


def _tensor_info(name: str, spec: Any) -> TensorInfo:
    shape = spec.shape
    dims = None if shape.rank is None else tuple(shape.as_list())
    return TensorInfo(name=name, dtype=spec.dtype, shape=dims)

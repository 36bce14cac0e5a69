"""JSON <-> NumPy in TensorFlow Serving's predict formats.

Requests come in the row format (`{"instances": [...]}`, one entry per
instance) or the columnar format (`{"inputs": ...}`, one list per named
input); responses mirror them as `{"predictions": [...]}` and
`{"outputs": ...}`. Strings may be sent as `{"b64": "..."}`; string outputs
whose name ends in `_bytes` (and any that are not UTF-8) are returned that
way. Parsing is strict: NaN and Infinity are rejected.

Variable-length instances: a rank >= 2 input whose first non-batch axis is
dynamic (None in the signature, e.g. audio [batch, samples]) may get rows of
different lengths; they are right-padded to the longest with zeros (b"" for
strings). Every other axis must match across instances, and an axis the
signature fixes must have exactly that size.

Output lengths: when a signature has an integer output `<X>_lengths` of
shape [batch] next to an output `<X>` of rank >= 2, each instance's `<X>` is
cut to its first `<X>_lengths[i]` steps along axis 1 in the response (row
and columnar format), so padding added for batching never shows.

Sizes are checked before the work they bound: a body's element count (for
signatures without string inputs) before it is parsed, nesting depth before
a value is converted.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import json
from collections.abc import Callable
from typing import Any

import numpy as np

from zoo.serving import errors
from zoo.serving.config import Limits
from zoo.serving.signatures import SignatureInfo
from zoo.serving.signatures import TensorInfo

ROW = "row"
COLUMNAR = "columnar"


@dataclasses.dataclass
class DecodedInputs:
    """A decoded predict request.

    Args:
        format: ROW or COLUMNAR, which decides the response format.
        arrays: input name -> array, batch axis first when batch_size is set.
        batch_size: number of instances, or None for a signature without a
            batch axis (run as given, never merged with other requests).
    """

    format: str
    arrays: dict[str, np.ndarray]
    batch_size: int | None


class _NonFiniteConstant(ValueError):
    pass


def _reject_constant(token: str) -> None:
    raise _NonFiniteConstant(token)


def parse_json(body: bytes) -> dict:
    """Parses a request body strictly into a JSON object.

    Raises:
        ServingError: INVALID_ARGUMENT for empty bodies, invalid JSON,
            NaN/Infinity literals and non-object documents.
    """
    if not body.strip():
        raise errors.invalid_argument("JSON Parse error: The document is empty")
    try:
        document = json.loads(body, parse_constant=_reject_constant)
    except RecursionError:
        raise errors.invalid_argument(
            "JSON Parse error: the document is nested too deeply"
        ) from None
    except _NonFiniteConstant as error:
        raise errors.invalid_argument(
            f"JSON Parse error: {error} is not a valid JSON number; NaN and "
            "Infinity are rejected, send finite numbers only"
        ) from None
    except json.JSONDecodeError as error:
        raise errors.invalid_argument(
            f"JSON Parse error: {error.msg} at offset: {error.pos}"
        ) from None
    except UnicodeDecodeError as error:
        raise errors.invalid_argument(
            f"JSON Parse error: the body is not UTF-8 ({error.reason} at "
            f"offset: {error.start})"
        ) from None
    if not isinstance(document, dict):
        raise errors.invalid_argument(
            f"JSON Value: {_short(document)} Is not object"
        )
    return document


def signature_name(document: dict) -> str:
    """Returns the request's `signature_name` ("" when absent)."""
    name = document.get("signature_name", "")
    if not isinstance(name, str):
        raise errors.invalid_argument(
            f"JSON Value: {_short(document)} not formatted correctly. "
            "'signature_name' key must be a string value."
        )
    return name


def check_body_elements(body: bytes, signatures: Any, limits: Limits) -> None:
    """Refuses, before parsing, a body with too many numbers to convert.

    For signatures without string inputs, a JSON body of N scalars holds at
    least N - 1 commas (outside strings, which such requests hardly hold),
    so counting commas bounds the elements without parsing. Bodies for
    models with a string input are checked after parsing instead
    (`check_element_count`).

    Args:
        body: the raw request body.
        signatures: the `SignatureInfo`s the request may address.
        limits: the server limits (`max_elements`).
    """
    if any(
        info.is_string
        for signature in signatures
        for info in signature.inputs.values()
    ):
        return
    count = body.count(b",")
    if count > limits.max_elements:
        raise errors.invalid_argument(
            f"Too many elements: the request holds about {count + 1} "
            f"numbers, over the limit of {limits.max_elements} per request "
            "(--max-elements)"
        )


def check_element_count(arrays: dict[str, np.ndarray], limits: Limits) -> None:
    """Refuses decoded inputs with more than `max_elements` elements."""
    count = sum(int(array.size) for array in arrays.values())
    if count > limits.max_elements:
        raise errors.invalid_argument(
            f"Too many elements: the request holds {count}, over the limit "
            f"of {limits.max_elements} per request (--max-elements)"
        )


def may_hold_booleans(body: bytes) -> bool:
    """Whether a JSON body may hold `true`/`false` (a cheap byte search)."""
    return b"true" in body or b"false" in body


def decode_inputs(
    document: dict,
    signature: SignatureInfo,
    limits: Limits,
    check_booleans: bool = True,
) -> DecodedInputs:
    """Turns a predict request into input arrays, validating everything.

    Args:
        document: the parsed request.
        signature: the signature it addresses.
        limits: the server limits.
        check_booleans: whether to look for JSON booleans, which no input
            takes (numbers would silently turn `true` into 1); False when
            the body holds no `true`/`false` (see `may_hold_booleans`).

    Raises:
        ServingError: INVALID_ARGUMENT naming the offending key, element and
            expectation (dtype, rank, shape, limits).
    """
    has_instances = "instances" in document
    has_inputs = "inputs" in document
    if has_instances and has_inputs:
        raise errors.invalid_argument(
            "Not formatted correctly expecting only one of 'inputs' or "
            "'instances' keys to exist"
        )
    unknown = set(document) - {"instances", "inputs", "signature_name"}
    if unknown:
        raise errors.invalid_argument(
            f"Unknown key(s) {sorted(unknown)} in the request; expected "
            "'instances' or 'inputs' and optionally 'signature_name'"
        )
    if not (has_instances or has_inputs):
        raise errors.invalid_argument("Missing 'inputs' or 'instances' key")
    payload = document["instances" if has_instances else "inputs"]
    if check_booleans:
        _refuse_booleans(payload, signature)
    if has_instances:
        return _decode_rows(payload, signature, limits)
    return _decode_columns(payload, signature, limits)


def _refuse_booleans(payload: Any, signature: SignatureInfo) -> None:
    """Refuses any JSON boolean: no input takes them (iteratively, so deep
    nesting cannot exhaust the stack)."""
    stack = [payload]
    while stack:
        value = stack.pop()
        if isinstance(value, bool):
            expected = ", ".join(
                f"{name}: {info.dtype_name}"
                for name, info in signature.inputs.items()
            )
            raise errors.invalid_argument(
                f"JSON Value: {json.dumps(value)} Type: {_json_type(value)} "
                f"is not of expected type: booleans are not accepted for "
                f"any input ({expected})"
            )
        if isinstance(value, list):
            stack.extend(value)
        elif isinstance(value, dict):
            stack.extend(value.values())


def _decode_rows(
    instances: Any, signature: SignatureInfo, limits: Limits
) -> DecodedInputs:
    if not isinstance(instances, list):
        raise errors.invalid_argument(
            "Expecting 'instances' to be an list/array"
        )
    if not instances:
        raise errors.invalid_argument("No values in 'instances' array")
    _check_count(len(instances), "'instances'", limits)
    names = list(signature.inputs)
    named = _is_named_object(instances[0])
    if not named and len(names) > 1:
        raise errors.invalid_argument(
            "instances is a plain list, but expecting list of objects as "
            f"multiple input tensors required as per tensorinfo_map: "
            f"{','.join(sorted(names))}"
        )
    columns: dict[str, list] = {name: [] for name in names}
    for index, element in enumerate(instances):
        if named:
            if not _is_named_object(element):
                raise errors.invalid_argument(
                    f"Expecting object but got list at item {index} of "
                    "input list"
                )
            if set(element) != set(names):
                raise errors.invalid_argument(
                    f"Failed to process element: {index} of 'instances' list. "
                    f"JSON object: {_short(element)} keys must be equal to: "
                    f"{','.join(sorted(names))}"
                )
            for name in names:
                columns[name].append(element[name])
        else:
            if _is_named_object(element):
                raise errors.invalid_argument(
                    f"Expecting value/list but got object at item {index} of "
                    "input list"
                )
            columns[names[0]].append(element)

    def where(name: str) -> Callable[[int], str]:
        key = f" key: {name}" if named else ""
        return lambda i: (
            f"Failed to process element: {i}{key} of 'instances' list."
        )

    arrays = {
        name: stack_instances(columns[name], info, limits, where(name))
        for name, info in signature.inputs.items()
    }
    batch_size = len(instances) if signature.batchable else None
    return DecodedInputs(ROW, arrays, batch_size)


def _decode_columns(
    inputs: Any, signature: SignatureInfo, limits: Limits
) -> DecodedInputs:
    names = list(signature.inputs)
    if not _is_named_object(inputs):
        if len(names) > 1:
            raise errors.invalid_argument(
                "inputs is a plain value/list, but expecting an object as "
                "multiple input tensors required as per tensorinfo_map: "
                f"{','.join(sorted(names))}"
            )
        inputs = {names[0]: inputs}
    unknown = sorted(set(inputs) - set(names))
    if unknown:
        raise errors.invalid_argument(
            f"Unknown named input(s): {','.join(unknown)} in 'inputs' object; "
            f"the signature expects: {','.join(sorted(names))}"
        )
    arrays = {}
    for name, info in signature.inputs.items():
        if name not in inputs:
            raise errors.invalid_argument(
                f"Missing named input: {name} in 'inputs' object."
            )
        value = inputs[name]
        if not signature.batchable:
            arrays[name] = _convert_or_raise(
                value, info, info.rank, limits, f"Input: {name}."
            )
            continue
        if not isinstance(value, list):
            raise errors.invalid_argument(
                f"Input: {name} must be a list with one entry per instance "
                f"(its signature shape {info.shape_string()} starts with the "
                f"batch axis), got {_short(value)}"
            )
        if not value:
            raise errors.invalid_argument(
                f"No values in 'inputs' for input: {name}"
            )
        _check_count(len(value), f"'inputs' for input: {name}", limits)
        arrays[name] = stack_instances(
            value,
            info,
            limits,
            lambda i, name=name: (
                f"Failed to process instance: {i} of input: {name}."
            ),
        )
    if not signature.batchable:
        return DecodedInputs(COLUMNAR, arrays, None)
    sizes = {name: len(array) for name, array in arrays.items()}
    if len(set(sizes.values())) > 1:
        raise errors.invalid_argument(
            "All inputs must have the same batch size (first axis), "
            f"got {sizes}"
        )
    return DecodedInputs(COLUMNAR, arrays, next(iter(sizes.values())))


def stack_instances(
    values: list,
    info: TensorInfo,
    limits: Limits,
    where: Callable[[int], str],
) -> np.ndarray:
    """Converts per-instance JSON values into one array, batch axis first.

    Instances of different lengths along their first axis are right-padded
    with `info.pad_value` when the signature leaves that axis dynamic.
    """
    rank = None if info.rank is None else info.rank - 1
    arrays = [
        _convert_or_raise(value, info, rank, limits, where(index))
        for index, value in enumerate(values)
    ]
    first = arrays[0]
    for index, array in enumerate(arrays):
        if array.shape[1:] != first.shape[1:] or (array.ndim != first.ndim):
            raise errors.invalid_argument(
                f"{where(index)} Error: instances of input {info.name} "
                "differ in "
                f"shape beyond their first axis: {list(first.shape)} vs "
                f"{list(array.shape)}; only the first axis may vary (it is "
                "right-padded)"
            )
    if first.ndim == 0 or all(a.shape == first.shape for a in arrays):
        return np.stack(arrays)
    if not info.has_dynamic_time_axis:
        lengths = [a.shape[0] for a in arrays]
        raise errors.invalid_argument(
            f"Ragged instances for input {info.name}: lengths {lengths} along "
            f"axis 1, which signature shape {info.shape_string()} fixes"
        )
    length = max(a.shape[0] for a in arrays)
    out = np.full(
        (len(arrays), length, *first.shape[1:]),
        info.pad_value,
        info.numpy_dtype,
    )
    for index, array in enumerate(arrays):
        out[index, : array.shape[0]] = array
    return out


def _convert_or_raise(
    value: Any, info: TensorInfo, rank: int | None, limits: Limits, where: str
) -> np.ndarray:
    if rank is not None:
        depth = _leading_depth(value)
        if depth > rank:
            raise errors.invalid_argument(
                f"{where} Error: input {info.name} expects rank {rank} here "
                f"(signature shape {info.shape_string()}), got nesting of "
                f"depth {depth} or more from {_short(value)}"
            )
    try:
        array = _convert(value, info, limits)
    except _Problem as problem:
        raise errors.invalid_argument(f"{where} Error: {problem}") from None
    except (ValueError, RecursionError) as error:
        # NumPy's own limits, e.g. at most 32 dimensions.
        raise errors.invalid_argument(
            f"{where} Error: input {info.name} cannot be converted from "
            f"{_short(value)}: {error}"
        ) from None
    if rank is not None and array.ndim != rank:
        raise errors.invalid_argument(
            f"{where} Error: input {info.name} expects rank {rank} here "
            f"(signature shape {info.shape_string()}), got rank {array.ndim} "
            f"from {_short(value)}"
        )
    if info.shape is not None:
        offset = len(info.shape) - array.ndim
        for axis, size in enumerate(array.shape):
            expected = info.shape[axis + offset]
            if expected is not None and expected != size:
                raise errors.invalid_argument(
                    f"{where} Error: input {info.name} needs size "
                    f"{expected} on "
                    f"axis {axis + offset} (signature shape "
                    f"{info.shape_string()}), got {size}"
                )
    if not info.is_string and array.ndim >= 1 and rank is not None:
        if array.shape[0] > limits.max_sequence_length:
            raise errors.invalid_argument(
                f"{where} Error: input {info.name} has {array.shape[0]} "
                "elements along its first axis, over the limit of "
                f"{limits.max_sequence_length} (--max-sequence-length)"
            )
    return array


def _leading_depth(value: Any) -> int:
    """Nesting depth along the first elements: [[1, 2]] -> 2."""
    depth = 0
    while isinstance(value, list) and value:
        value = value[0]
        depth += 1
    return depth + (1 if isinstance(value, list) else 0)


class _Problem(ValueError):
    """A value that does not fit its input; the message says why."""


def _convert(value: Any, info: TensorInfo, limits: Limits) -> np.ndarray:
    if info.is_string:
        return _string_array(value, info, limits)
    if isinstance(value, (bool, str, dict)) or value is None:
        raise _Problem(_type_message(value, info))
    try:
        array = np.asarray(value)
    except (ValueError, OverflowError):
        bad = _first_bad_leaf(value, info)
        if bad is not _NONE:
            raise _Problem(_type_message(bad, info)) from None
        raise _Problem(
            f"ragged nested lists in {_short(value)}: every row within an "
            "instance must have the same length"
        ) from None
    kind = array.dtype.kind
    wants_integer = info.numpy_dtype.kind in "iu"
    if kind not in "iuf" or (wants_integer and kind == "f"):
        bad = _first_bad_leaf(value, info)
        raise _Problem(_type_message(value if bad is _NONE else bad, info))
    if wants_integer:
        bounds = np.iinfo(info.numpy_dtype)
        if array.size and (
            array.min() < bounds.min or array.max() > bounds.max
        ):
            raise _Problem(
                f"values of {_short(value)} are out of range for "
                f"{info.dtype_name}"
            )
        return array.astype(info.numpy_dtype)
    if info.numpy_dtype.kind != "f":
        raise _Problem(
            f"input dtype {info.dtype_name} is not supported over JSON"
        )
    with np.errstate(over="ignore"):  # Overflow is reported just below.
        converted = array.astype(info.numpy_dtype)
    if not np.isfinite(converted).all():
        raise _Problem(
            f"Cannot convert JSON value: {_short(value)} to {info.dtype_name} "
            "without loss of precision."
        )
    return converted


def _string_array(value: Any, info: TensorInfo, limits: Limits) -> np.ndarray:
    if isinstance(value, list):
        children = [_string_array(v, info, limits) for v in value]
        shapes = {child.shape for child in children}
        if len(shapes) > 1:
            raise _Problem(
                f"ragged nested lists in {_short(value)}: every row within an "
                "instance must have the same length"
            )
        shape = shapes.pop() if shapes else ()
        out = np.empty((len(children), *shape), dtype=object)
        for index, child in enumerate(children):
            out[index] = child
        return out
    if isinstance(value, str):
        data = value.encode("utf-8")
    elif _is_b64(value):
        try:
            data = base64.b64decode(value["b64"], validate=True)
        except (binascii.Error, ValueError):
            raise _Problem("Unable to base64 decode") from None
    elif isinstance(value, dict):
        raise _Problem(
            f"JSON Value: {_short(value)} not formatted correctly for "
            "base64 data"
        )
    else:
        raise _Problem(_type_message(value, info))
    if len(data) > limits.max_string_bytes:
        raise _Problem(
            f"a string of {len(data)} bytes is over the limit of "
            f"{limits.max_string_bytes} bytes (--max-string-bytes)"
        )
    out = np.empty((), dtype=object)
    out[()] = data
    return out


_NONE = object()


def _first_bad_leaf(value: Any, info: TensorInfo) -> Any:
    """The first leaf that is not a number of the input's kind, or _NONE."""
    if isinstance(value, list):
        for item in value:
            bad = _first_bad_leaf(item, info)
            if bad is not _NONE:
                return bad
        return _NONE
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return value
    if info.numpy_dtype.kind in "iu" and isinstance(value, float):
        return value
    return _NONE


def _type_message(value: Any, info: TensorInfo) -> str:
    return (
        f"JSON Value: {_short(value)} Type: {_json_type(value)} is not of "
        f"expected type: {info.dtype_name}"
    )


def _json_type(value: Any) -> str:
    if value is None:
        return "Null"
    if isinstance(value, bool):
        return "True" if value else "False"
    if isinstance(value, dict):
        return "Object"
    if isinstance(value, list):
        return "Array"
    if isinstance(value, str):
        return "String"
    return "Number"


def _is_b64(value: Any) -> bool:
    return (
        isinstance(value, dict)
        and len(value) == 1
        and isinstance(value.get("b64"), str)
    )


def _is_named_object(value: Any) -> bool:
    return isinstance(value, dict) and not _is_b64(value)


def _check_count(count: int, what: str, limits: Limits) -> None:
    if count > limits.max_instances:
        raise errors.invalid_argument(
            f"Too many instances: {count} in {what}, over the limit of "
            f"{limits.max_instances} per request (--max-instances)"
        )


def _short(value: Any, limit: int = 120) -> str:
    try:
        text = json.dumps(value)
    except (RecursionError, ValueError, TypeError):
        text = f"<{type(value).__name__} nested too deeply to print>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


# Responses.


def encode_outputs(
    outputs: dict[str, np.ndarray], request_format: str
) -> bytes:
    """Writes model outputs as TF Serving's predict response JSON.

    Row format: `{"predictions": [...]}`, one entry per instance, an object
    of named outputs when there are several. Columnar: `{"outputs": ...}`,
    the tensor itself for one output, else an object of named tensors.
    Floats are written with the shortest decimal that round-trips in their
    own precision (float32 0.1 -> 0.1).
    """
    if not outputs:
        raise errors.invalid_argument("Cannot convert empty tensor map to JSON")
    names = sorted(outputs)
    lengths = output_lengths(outputs)
    values = {
        name: (
            _cut_to_lengths(outputs[name], lengths[name], name)
            if name in lengths
            else to_json_value(outputs[name], name)
        )
        for name in names
    }
    if request_format == COLUMNAR:
        body = values[names[0]] if len(names) == 1 else values
        return _dumps({"outputs": body})
    batch_size = None
    for name in names:
        if outputs[name].ndim == 0:
            raise errors.invalid_argument(
                f"Tensor name: {name} has no shape information "
            )
        size = outputs[name].shape[0]
        if batch_size is not None and size != batch_size:
            raise errors.invalid_argument(
                f"Tensor name: {name} has inconsistent batch size: {size} "
                f"expecting: {batch_size}"
            )
        batch_size = size
    if len(names) == 1:
        predictions = values[names[0]]
    else:
        predictions = [
            {name: values[name][index] for name in names}
            for index in range(batch_size)
        ]
    return _dumps({"predictions": predictions})


def output_lengths(outputs: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Output name X -> its per-instance lengths, from an output X_lengths.

    Counts only an integer X_lengths of shape [batch] next to an output X
    of rank >= 2 with the same batch size.
    """
    found = {}
    for name, value in outputs.items():
        if not name.endswith("_lengths") or len(name) == len("_lengths"):
            continue
        target = outputs.get(name[: -len("_lengths")])
        value = np.asarray(value)
        if (
            target is not None
            and value.dtype.kind in "iu"
            and value.ndim == 1
            and target.ndim >= 2
            and target.shape[0] == value.shape[0]
        ):
            found[name[: -len("_lengths")]] = value
    return found


def _cut_to_lengths(array: np.ndarray, lengths: np.ndarray, name: str) -> list:
    """One JSON value per instance, its first lengths[i] steps of axis 1."""
    limit = array.shape[1]
    return [
        to_json_value(array[index, : int(min(max(length, 0), limit))], name)
        for index, length in enumerate(lengths)
    ]


def to_json_value(array: np.ndarray, name: str) -> Any:
    """Converts an output array to nested JSON-ready Python values."""
    array = np.asarray(array)
    kind = array.dtype.kind
    if kind == "f":
        if array.dtype == np.float64:
            return array.tolist()
        # Shortest round-trip decimal of each float32 (vectorised in C).
        return array.astype(str).astype(np.float64).tolist()
    if kind in "iub":
        return array.tolist()
    if kind in "OSU":
        as_bytes = name.endswith("_bytes")
        convert = np.frompyfunc(lambda v: _string_value(v, as_bytes), 1, 1)
        converted = np.asarray(convert(array), dtype=object)
        return converted.tolist()
    raise errors.invalid_argument(
        f"Failed to write JSON value for tensor type: {array.dtype}"
    )


def _string_value(value: Any, as_bytes: bool) -> Any:
    if isinstance(value, str):
        value = value.encode("utf-8")
    if not as_bytes:
        try:
            return value.decode("utf-8")
        except UnicodeDecodeError:
            pass
    return {"b64": base64.b64encode(value).decode("ascii")}


def _dumps(document: Any) -> bytes:
    return json.dumps(document, ensure_ascii=False).encode("utf-8")

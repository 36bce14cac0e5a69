"""TensorFlow Serving's gRPC API, on the protos `tensorflow-serving-api` ships.

    zoo serve saved_models --grpc-port 8500

Serves `PredictionService.Predict`, `PredictionService.GetModelMetadata`
and `ModelService.GetModelStatus` on the same store, batchers, concurrency
slots and limits as the REST API (`zoo.serving.app.ServingApp`), in the
same event loop (`grpc.aio`). Failures carry TF Serving's status codes
(`zoo.serving.errors`: INVALID_ARGUMENT, NOT_FOUND, RESOURCE_EXHAUSTED...).
Clients call it as they call TF Serving:

    stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
    request = predict_pb2.PredictRequest()
    request.model_spec.name = "imdb"
    request.inputs["text"].CopyFrom(tf.make_tensor_proto(["a great movie"]))
    stub.Predict(request, timeout=10)

Tensors are dense, so unlike the JSON API, a sequence output `X` comes back
padded to the longest instance; its `X_lengths` output (when the signature
has one) says how many steps of each instance are valid.
"""

from __future__ import annotations

import math
import time
from typing import Any

import grpc
import tensorflow as tf
from google.protobuf import json_format
from tensorflow.core.protobuf import error_codes_pb2
from tensorflow_serving.apis import get_model_metadata_pb2
from tensorflow_serving.apis import get_model_status_pb2
from tensorflow_serving.apis import model_service_pb2_grpc
from tensorflow_serving.apis import predict_pb2
from tensorflow_serving.apis import prediction_service_pb2_grpc

from zoo.serving import errors
from zoo.serving.codec import COLUMNAR
from zoo.serving.codec import DecodedInputs
from zoo.serving.signatures import SignatureInfo


async def start_grpc_server(serving: Any, host: str, port: int) -> Any:
    """Starts a `grpc.aio` server for `serving` (a ServingApp) on host:port.

    Messages over `max_body_bytes` are refused by gRPC itself
    (RESOURCE_EXHAUSTED).

    Raises:
        ValueError: if the port cannot be bound.
    """
    server = grpc.aio.server(
        options=[
            ("grpc.max_receive_message_length", serving.limits.max_body_bytes),
            ("grpc.max_send_message_length", -1),
            ("grpc.so_reuseport", 0),
        ]
    )
    prediction_service_pb2_grpc.add_PredictionServiceServicer_to_server(
        PredictionService(serving), server
    )
    model_service_pb2_grpc.add_ModelServiceServicer_to_server(
        ModelService(serving), server
    )
    address = f"{host}:{port}"
    if server.add_insecure_port(address) == 0:
        raise ValueError(f"Cannot bind the gRPC port {address}")
    await server.start()
    return server


def _spec(request: Any) -> tuple[str, int | None, str | None]:
    spec = request.model_spec
    version = spec.version.value if spec.HasField("version") else None
    return spec.name, version, spec.version_label or None


class _Servicer:
    def __init__(self, serving: Any) -> None:
        self.serving = serving

    async def _answer(self, method: str, name: str, context, work) -> Any:
        """Runs `work()`, counting the call and turning errors into status
        codes."""
        start = time.perf_counter()
        code = "OK"
        try:
            return await work()
        except errors.ServingError as error:
            code = error.code
            message = error.message
        except Exception as error:  # Never a crash for the client.
            code, message = "INTERNAL", f"Internal error: {error}"
        finally:
            metrics = self.serving.metrics
            status = str(errors.HTTP_STATUS[code])
            metrics.requests.labels(name, f"grpc_{method}", status).inc()
            metrics.latency.labels(name, f"grpc_{method}").observe(
                time.perf_counter() - start
            )
        await context.abort(grpc.StatusCode[code], message)


class PredictionService(
    _Servicer, prediction_service_pb2_grpc.PredictionServiceServicer
):
    """Predict and GetModelMetadata (Classify, Regress: UNIMPLEMENTED)."""

    async def Predict(self, request, context):  # noqa: N802 (gRPC's name)
        name, version, label = _spec(request)

        async def work():
            start = time.monotonic()
            serving = self.serving
            with serving.slot():
                loaded = serving.store.resolve(name, version, label)
                signature_name = request.model_spec.signature_name
                signature = loaded.signature(signature_name)
                decoded = decode_tensors(
                    request.inputs, signature, serving.limits
                )
                result = await serving.run_model(
                    loaded, signature_name, decoded, start
                )
            wanted = list(request.output_filter) or sorted(result.outputs)
            unknown = [k for k in wanted if k not in result.outputs]
            if unknown:
                raise errors.invalid_argument(
                    f"output tensor alias not found in signature: "
                    f"{unknown[0]} Outputs expected to be in the set "
                    f"{{{','.join(sorted(result.outputs))}}}."
                )
            response = predict_pb2.PredictResponse()
            response.model_spec.name = name
            response.model_spec.version.value = loaded.version
            response.model_spec.signature_name = signature.name
            for key in wanted:
                response.outputs[key].CopyFrom(
                    tf.make_tensor_proto(result.outputs[key])
                )
            return response

        return await self._answer("predict", name, context, work)

    async def GetModelMetadata(self, request, context):  # noqa: N802
        name, version, label = _spec(request)

        async def work():
            fields = list(request.metadata_field)
            if fields != ["signature_def"]:
                raise errors.invalid_argument(
                    "Metadata field(s) must be exactly ['signature_def'], "
                    f"got {fields}"
                )
            loaded = self.serving.store.resolve(name, version, label)
            signatures = get_model_metadata_pb2.SignatureDefMap()
            for key, value in loaded.signature_defs.items():
                json_format.ParseDict(
                    value,
                    signatures.signature_def[key],
                    ignore_unknown_fields=True,
                )
            response = get_model_metadata_pb2.GetModelMetadataResponse()
            response.model_spec.name = name
            response.model_spec.version.value = loaded.version
            response.metadata["signature_def"].Pack(signatures)
            return response

        return await self._answer("metadata", name, context, work)

    async def Classify(self, request, context):  # noqa: N802
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            "Classify needs tf.Example signatures, which the zoo does not "
            "export; use Predict",
        )

    async def Regress(self, request, context):  # noqa: N802
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            "Regress needs tf.Example signatures, which the zoo does not "
            "export; use Predict",
        )

    async def MultiInference(self, request, context):  # noqa: N802
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED, "MultiInference is not supported"
        )


class ModelService(_Servicer, model_service_pb2_grpc.ModelServiceServicer):
    """GetModelStatus (HandleReloadConfigRequest: UNIMPLEMENTED)."""

    async def GetModelStatus(self, request, context):  # noqa: N802
        name, version, label = _spec(request)

        async def work():
            store = self.serving.store
            wanted = version
            if label is not None:
                wanted = store.label_version(name, label)
            body = store.status(name, wanted)
            response = get_model_status_pb2.GetModelStatusResponse()
            state = get_model_status_pb2.ModelVersionStatus.State
            for entry in body["model_version_status"]:
                status = response.model_version_status.add()
                status.version = int(entry["version"])
                status.state = state.Value(entry["state"])
                status.status.error_code = error_codes_pb2.Code.Value(
                    entry["status"]["error_code"]
                )
                status.status.error_message = entry["status"]["error_message"]
            return response

        return await self._answer("status", name, context, work)

    async def HandleReloadConfigRequest(self, request, context):  # noqa: N802
        await context.abort(
            grpc.StatusCode.UNIMPLEMENTED,
            "Reloading the config over gRPC is not supported; the server "
            "picks up new versions by itself",
        )


def decode_tensors(
    tensors: Any, signature: SignatureInfo, limits: Any
) -> DecodedInputs:
    """Checks request TensorProtos against a signature and the limits,
    then converts them (sizes are checked from the shapes first, so a
    small message cannot expand into a huge array).

    Raises:
        ServingError: INVALID_ARGUMENT naming the input and the problem.
    """
    names = set(signature.inputs)
    unknown = sorted(set(tensors) - names)
    if unknown:
        raise errors.invalid_argument(
            f"input tensor alias not found in signature: {unknown[0]}. "
            f"Inputs expected to be in the set {{{','.join(sorted(names))}}}."
        )
    missing = sorted(names - set(tensors))
    if missing:
        raise errors.invalid_argument(
            f"input size does not match signature: {len(tensors)}!="
            f"{len(names)} len({{{','.join(sorted(tensors))}}}) != "
            f"len({{{','.join(sorted(names))}}}). Sent extra: {{}}. "
            f"Missing but required: {{{','.join(missing)}}}."
        )
    total = 0
    arrays = {}
    for name, info in signature.inputs.items():
        proto = tensors[name]
        shape = _checked_shape(name, proto, info, limits)
        total += math.prod(shape)
        if total > limits.max_elements:
            raise errors.invalid_argument(
                f"Too many elements: the request holds over "
                f"{limits.max_elements} (--max-elements)"
            )
        try:
            array = tf.make_ndarray(proto)
        except (ValueError, TypeError) as error:
            raise errors.invalid_argument(
                f"Input {name}: the TensorProto cannot be read: {error}"
            ) from None
        if info.is_string:
            longest = max((len(v) for v in array.reshape(-1)), default=0)
            if longest > limits.max_string_bytes:
                raise errors.invalid_argument(
                    f"Input {name}: a string of {longest} bytes is over the "
                    f"limit of {limits.max_string_bytes} bytes "
                    "(--max-string-bytes)"
                )
        arrays[name] = array
    if not signature.batchable:
        return DecodedInputs(COLUMNAR, arrays, None)
    sizes = {name: len(array) for name, array in arrays.items()}
    if len(set(sizes.values())) > 1:
        raise errors.invalid_argument(
            f"All inputs must have the same batch size, got {sizes}"
        )
    return DecodedInputs(COLUMNAR, arrays, next(iter(sizes.values())))


def _checked_shape(
    name: str, proto: Any, info: Any, limits: Any
) -> tuple[int, ...]:
    """The shape a TensorProto declares, checked against the signature."""
    expected = tf.as_dtype(info.dtype).as_datatype_enum
    if proto.dtype != expected:
        given = tf.dtypes.DType(proto.dtype).name if proto.dtype else "invalid"
        raise errors.invalid_argument(
            f"Expects arg[{name}] to be {info.dtype_name} but {given} is "
            "provided"
        )
    if proto.tensor_shape.unknown_rank:
        raise errors.invalid_argument(f"Input {name} has an unknown rank")
    shape = tuple(dim.size for dim in proto.tensor_shape.dim)
    if any(size < 0 for size in shape):
        raise errors.invalid_argument(
            f"Input {name} has a negative dimension: {list(shape)}"
        )
    if info.shape is not None:
        if len(shape) != len(info.shape):
            raise errors.invalid_argument(
                f"Input {name} expects rank {len(info.shape)} (signature "
                f"shape {info.shape_string()}), got shape {list(shape)}"
            )
        for axis, (size, want) in enumerate(zip(shape, info.shape)):
            if want is not None and size != want:
                raise errors.invalid_argument(
                    f"Input {name} needs size {want} on axis {axis} "
                    f"(signature shape {info.shape_string()}), got "
                    f"{list(shape)}"
                )
    if info.batched and shape:
        if shape[0] == 0:
            raise errors.invalid_argument(f"Input {name} has no instances")
        if shape[0] > limits.max_instances:
            raise errors.invalid_argument(
                f"Too many instances: {shape[0]} in input {name}, over the "
                f"limit of {limits.max_instances} (--max-instances)"
            )
        if (
            not info.is_string
            and len(shape) >= 2
            and shape[1] > limits.max_sequence_length
        ):
            raise errors.invalid_argument(
                f"Input {name} has {shape[1]} elements along axis 1, over "
                f"the limit of {limits.max_sequence_length} "
                "(--max-sequence-length)"
            )
    return shape

"""Errors with TensorFlow Serving's canonical codes and their HTTP statuses.

Every failure the server reports is a `ServingError` carrying one of the
canonical status codes (the gRPC/absl ones TensorFlow Serving uses) and a
message. `http_status` maps the code to the HTTP status exactly as TensorFlow
Serving's REST handler does; the body is always `{"error": message}`.
"""

from __future__ import annotations

# Canonical code -> HTTP status, as in TensorFlow Serving's http_server.cc.
HTTP_STATUS = {
    "OK": 200,
    "CANCELLED": 499,
    "UNKNOWN": 500,
    "INVALID_ARGUMENT": 400,
    "DEADLINE_EXCEEDED": 504,
    "NOT_FOUND": 404,
    "ALREADY_EXISTS": 409,
    "PERMISSION_DENIED": 403,
    "RESOURCE_EXHAUSTED": 429,
    "FAILED_PRECONDITION": 400,
    "ABORTED": 409,
    "OUT_OF_RANGE": 400,
    "UNIMPLEMENTED": 501,
    "INTERNAL": 500,
    "UNAVAILABLE": 503,
    "DATA_LOSS": 500,
    "UNAUTHENTICATED": 401,
}


class ServingError(Exception):
    """A request failure with a canonical status code.

    Args:
        code: one of the keys of `HTTP_STATUS`, e.g. "INVALID_ARGUMENT".
        message: the human-readable reason, returned as `{"error": message}`.
        http_status: overrides the status derived from `code` (used for 413,
            a body over the size limit, which is RESOURCE_EXHAUSTED too).
        headers: extra HTTP response headers (`Allow` for 405,
            `Connection: close` for 408).
    """

    def __init__(
        self,
        code: str,
        message: str,
        http_status: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if code not in HTTP_STATUS:
            raise ValueError(
                "Received an invalid value for argument `code`, expected one "
                f"of {sorted(HTTP_STATUS)}, got {code!r}."
            )
        super().__init__(message)
        self.code = code
        self.message = message
        self.http_status = http_status or HTTP_STATUS[code]
        self.headers = headers or {}

    def to_json(self) -> dict:
        """Returns the response body, `{"error": message}`."""
        return {"error": self.message}


def invalid_argument(message: str) -> ServingError:
    """A malformed request (HTTP 400)."""
    return ServingError("INVALID_ARGUMENT", message)


def not_found(message: str) -> ServingError:
    """An unknown model, version or route (HTTP 404)."""
    return ServingError("NOT_FOUND", message)


def resource_exhausted(message: str, http_status: int = 429) -> ServingError:
    """A limit was hit: concurrency (429) or body size (413)."""
    return ServingError("RESOURCE_EXHAUSTED", message, http_status)


def unavailable(message: str) -> ServingError:
    """The server cannot take the request now, e.g. shutting down (503)."""
    return ServingError("UNAVAILABLE", message)


def deadline_exceeded(message: str) -> ServingError:
    """The per-request deadline passed (HTTP 504)."""
    return ServingError("DEADLINE_EXCEEDED", message)


def unimplemented(message: str) -> ServingError:
    """A TensorFlow Serving method this server does not offer (HTTP 501)."""
    return ServingError("UNIMPLEMENTED", message)


def internal(message: str) -> ServingError:
    """An unexpected failure inside the server or the model (HTTP 500)."""
    return ServingError("INTERNAL", message)


def cancelled(message: str) -> ServingError:
    """The client went away before the request was complete (499)."""
    return ServingError("CANCELLED", message)


def method_not_allowed(path: str, method: str, allow: str) -> ServingError:
    """An HTTP method the path does not take (405 with `Allow`)."""
    return ServingError(
        "UNIMPLEMENTED",
        f"Method {method} is not allowed on {path}; allowed: {allow}",
        http_status=405,
        headers={"Allow": allow},
    )


def body_timeout(seconds: float) -> ServingError:
    """The body did not arrive in time (408; the connection is closed)."""
    return ServingError(
        "DEADLINE_EXCEEDED",
        f"The request body did not arrive within {seconds:g} s "
        "(--body-timeout-s)",
        http_status=408,
        headers={"Connection": "close"},
    )

"""Domain errors of tuneserve.

Code that detects a problem raises one of these with a message that tells the caller what to
change. Which gRPC status each becomes is decided in one place, `common.rpc.status`.
"""

from __future__ import annotations

from typing import Any

# causes a caller's program may act on (TuneserveError.code); the names are the OpenAI API's error codes
CONTEXT_LENGTH_EXCEEDED = "context_length_exceeded"
UNKNOWN_PARAMETER = "unknown_parameter"
UNSUPPORTED_PARAMETER = "unsupported_parameter"
MODEL_NOT_FOUND = "model_not_found"


class TuneserveError(Exception):
    """Base of every error a caller is meant to see."""

    def __init__(self, message: str, code: str = "") -> None:
        super().__init__(message)
        self.message = message
        # a machine-readable cause where a caller's program may act on it (the OpenAI API's error
        # `code`): "context_length_exceeded", "unknown_parameter", ...; "" where the status says it
        self.code = code


class InvalidRequest(TuneserveError):
    """The request itself is wrong: a missing, conflicting or out-of-range field."""

    def __init__(self, field: str, message: str, code: str = "") -> None:
        super().__init__(f"{field}: {message}" if field else message, code)
        self.field = field
        self.reason = message  # without the field: the same refusal under another name for it


def invalid_request(exc: Any, prefix: str = "", whole: str = "") -> InvalidRequest:
    """The InvalidRequest for a pydantic ValidationError `exc`: its first error, under the field it
    names (`prefix` and the field's name), or under `whole` when it concerns the model as a whole."""
    error = exc.errors()[0]
    field = f"{prefix}{error['loc'][0]}" if error["loc"] else whole
    return InvalidRequest(field, error["msg"].removeprefix("Value error, "))


class NotFound(TuneserveError):
    """Something the request names does not exist (adapter, version, task, job)."""


class AlreadyExists(TuneserveError):
    """Creating something that is already there."""


class FailedPrecondition(TuneserveError):
    """The request is well formed but the system is not in a state to do it."""


class ResourceExhausted(TuneserveError):
    """A bounded resource is full (waiting queue, adapter slots); retry later."""


class Unavailable(TuneserveError):
    """The service cannot answer now (model still loading, shutting down); retry later."""


class DeadlineExceeded(TuneserveError):
    """The caller's deadline passed before the work finished."""


class Cancelled(TuneserveError):
    """The work was cancelled before it finished."""


class Unauthenticated(TuneserveError):
    """No credentials, or credentials that match no known token."""


class PermissionDenied(TuneserveError):
    """Valid credentials without the scope this call needs."""


class NonFiniteOutput(FailedPrecondition):
    """The model's output for one request became NaN or infinite; that request ends, the rest go on."""

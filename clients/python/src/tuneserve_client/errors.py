"""One exception class per way a tuneserve call can fail, mirroring the server's status codes."""

from __future__ import annotations

import grpc

FIELD_METADATA_KEY = "tuneserve-field"
REQUEST_ID_METADATA_KEY = "x-request-id"


class TuneserveError(Exception):
    """A failed call. `code` is the gRPC status; `field` names the request field at fault, if any."""

    code: grpc.StatusCode = grpc.StatusCode.UNKNOWN
    retryable = False

    def __init__(self, message: str, *, code: grpc.StatusCode | None = None, field: str = "", request_id: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.code = code or type(self).code
        self.field = field
        self.request_id = request_id

    def __str__(self) -> str:
        return f"{self.code.name}: {self.message}"


class InvalidArgumentError(TuneserveError):
    """The request is wrong; `field` says which part. Fix the request, do not retry it."""

    code = grpc.StatusCode.INVALID_ARGUMENT


class NotFoundError(TuneserveError):
    """The adapter, version, task or job named does not exist."""

    code = grpc.StatusCode.NOT_FOUND


class AlreadyExistsError(TuneserveError):
    code = grpc.StatusCode.ALREADY_EXISTS


class FailedPreconditionError(TuneserveError):
    """The request is valid but the server is not in a state to do it (e.g. a refused adapter)."""

    code = grpc.StatusCode.FAILED_PRECONDITION


class ResourceExhaustedError(TuneserveError):
    """A queue or budget is full, or a message is too large; back off and retry later."""

    code = grpc.StatusCode.RESOURCE_EXHAUSTED


class UnavailableError(TuneserveError):
    """The server cannot answer now (starting, stopping, unreachable); retried automatically."""

    code = grpc.StatusCode.UNAVAILABLE
    retryable = True


class DeadlineExceededError(TuneserveError):
    code = grpc.StatusCode.DEADLINE_EXCEEDED


class CancelledError(TuneserveError):
    code = grpc.StatusCode.CANCELLED


class UnauthenticatedError(TuneserveError):
    """No token, or a token the server does not know."""

    code = grpc.StatusCode.UNAUTHENTICATED


class PermissionDeniedError(TuneserveError):
    """The token is valid but lacks the scope this call needs."""

    code = grpc.StatusCode.PERMISSION_DENIED


class UnimplementedError(TuneserveError):
    code = grpc.StatusCode.UNIMPLEMENTED


class InternalError(TuneserveError):
    """A server bug; report the request id."""

    code = grpc.StatusCode.INTERNAL


ERROR_BY_CODE: dict[grpc.StatusCode, type[TuneserveError]] = {
    cls.code: cls
    for cls in (
        InvalidArgumentError,
        NotFoundError,
        AlreadyExistsError,
        FailedPreconditionError,
        ResourceExhaustedError,
        UnavailableError,
        DeadlineExceededError,
        CancelledError,
        UnauthenticatedError,
        PermissionDeniedError,
        UnimplementedError,
        InternalError,
    )
}


def _metadata_value(metadata: object, key: str) -> str:
    for item in metadata or ():  # type: ignore[attr-defined]
        k, v = item if isinstance(item, tuple) else (item.key, item.value)
        if k == key:
            return v.decode() if isinstance(v, bytes) else str(v)
    return ""


def from_rpc_error(error: grpc.RpcError) -> TuneserveError:
    """The typed error for a failed gRPC call (sync or asyncio)."""
    code = error.code()
    details = error.details() or code.name
    trailing = error.trailing_metadata()
    initial = error.initial_metadata() if hasattr(error, "initial_metadata") else ()
    cls = ERROR_BY_CODE.get(code, TuneserveError)
    return cls(
        details,
        code=code,
        field=_metadata_value(trailing, FIELD_METADATA_KEY),
        request_id=_metadata_value(trailing, REQUEST_ID_METADATA_KEY) or _metadata_value(initial, REQUEST_ID_METADATA_KEY),
    )

"""The one place where failures become gRPC status codes; also counts and logs every RPC.

Services raise domain errors from common.errors; the interceptor turns each into its own code
with the error's message (and, for invalid requests, the offending field in the trailing
metadata key `tuneserve-field`). Anything else is a bug: it is logged with its traceback and the
caller gets INTERNAL with the request id to report.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import grpc

from common import errors
from common.logs import request_id_var
from common.rpc.handlers import behavior_of, kind_of, with_behavior
from common.rpc.metrics import RpcMetrics
from common.rpc.request_decoding import Undecodable, tolerant

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[errors.TuneserveError], grpc.StatusCode] = {
    errors.InvalidRequest: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.ResourceExhausted: grpc.StatusCode.RESOURCE_EXHAUSTED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
    errors.DeadlineExceeded: grpc.StatusCode.DEADLINE_EXCEEDED,
    errors.Cancelled: grpc.StatusCode.CANCELLED,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
}

# the OpenAI-compatible HTTP API answers the same errors with these statuses
HTTP_STATUS_BY_CODE: dict[grpc.StatusCode, int] = {
    grpc.StatusCode.INVALID_ARGUMENT: 400,
    grpc.StatusCode.FAILED_PRECONDITION: 400,
    grpc.StatusCode.OUT_OF_RANGE: 400,
    grpc.StatusCode.UNAUTHENTICATED: 401,
    grpc.StatusCode.PERMISSION_DENIED: 403,
    grpc.StatusCode.NOT_FOUND: 404,
    grpc.StatusCode.ALREADY_EXISTS: 409,
    grpc.StatusCode.RESOURCE_EXHAUSTED: 429,
    grpc.StatusCode.CANCELLED: 499,
    grpc.StatusCode.UNAVAILABLE: 503,
    grpc.StatusCode.DEADLINE_EXCEEDED: 504,
}
FIELD_METADATA_KEY = "tuneserve-field"
REQUEST_ID_METADATA_KEY = "x-request-id"


def status_for(error: errors.TuneserveError) -> grpc.StatusCode:
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    raise TypeError(f"{type(error).__name__} has no gRPC status; add it to STATUS_BY_ERROR")


def http_status_for(code: grpc.StatusCode) -> int:
    return HTTP_STATUS_BY_CODE.get(code, 500)


def _incoming_request_id(context: grpc.aio.ServicerContext) -> str:
    for key, value in context.invocation_metadata() or ():
        if key == REQUEST_ID_METADATA_KEY and value:
            return str(value)[:128]
    return uuid.uuid4().hex


def _decoded(request: Any) -> Any:
    if isinstance(request, Undecodable):
        raise request.error()
    return request


async def _decoded_stream(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    async for request in requests:
        yield _decoded(request)


class StatusInterceptor(grpc.aio.ServerInterceptor):
    """Maps domain errors to status codes, and records each RPC's outcome and duration."""

    def __init__(self, metrics: RpcMetrics) -> None:
        self._metrics = metrics

    async def intercept_service(
        self, continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]], details: grpc.HandlerCallDetails
    ) -> grpc.RpcMethodHandler:
        handler = await continuation(details)
        if handler is None:
            return handler
        rpc, kind, behavior = details.method.lstrip("/"), kind_of(handler), behavior_of(handler)
        wrapped: Callable[..., Any]
        if kind in ("unary_unary", "stream_unary") and inspect.iscoroutinefunction(behavior):
            wrapped = self._unary(rpc, behavior, streaming=kind == "stream_unary")
        elif kind == "unary_stream" and inspect.isasyncgenfunction(behavior):
            wrapped = self._stream(rpc, behavior)
        else:
            return handler
        return with_behavior(handler, wrapped, tolerant(handler.request_deserializer))

    def _unary(self, rpc: str, behavior: Callable[..., Awaitable[Any]], streaming: bool = False) -> Callable[..., Awaitable[Any]]:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> Any:
            started, token = time.monotonic(), request_id_var.set(_incoming_request_id(context))
            try:
                response = await behavior(_decoded_stream(request) if streaming else _decoded(request), context)
                self._record(rpc, grpc.StatusCode.OK, started)
                return response
            except BaseException as exc:
                await self._fail(rpc, exc, context, started)
                raise
            finally:
                request_id_var.reset(token)

        return call

    def _stream(self, rpc: str, behavior: Callable[..., AsyncIterator[Any]]) -> Callable[..., AsyncIterator[Any]]:
        async def call(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
            started, token = time.monotonic(), request_id_var.set(_incoming_request_id(context))
            try:
                async for response in behavior(_decoded(request), context):
                    yield response
                self._record(rpc, grpc.StatusCode.OK, started)
            except BaseException as exc:
                await self._fail(rpc, exc, context, started)
                raise
            finally:
                request_id_var.reset(token)

        return call

    async def _fail(self, rpc: str, exc: BaseException, context: grpc.aio.ServicerContext, started: float) -> None:
        """Records the failure and aborts the RPC with its status; re-raises what gRPC raises."""
        if isinstance(exc, (asyncio.CancelledError, GeneratorExit)):  # the caller went away
            remaining = context.time_remaining()
            expired = remaining is not None and remaining <= 0
            self._record(rpc, grpc.StatusCode.DEADLINE_EXCEEDED if expired else grpc.StatusCode.CANCELLED, started)
            return
        if isinstance(exc, grpc.aio.AbortError):  # a servicer (health, reflection) aborted itself
            self._record(rpc, context.code() or grpc.StatusCode.UNKNOWN, started)
            return
        request_id = request_id_var.get()
        metadata: tuple[tuple[str, str], ...] = ((REQUEST_ID_METADATA_KEY, request_id),)
        if isinstance(exc, errors.TuneserveError):
            code = status_for(exc)
            if isinstance(exc, errors.InvalidRequest) and exc.field:
                metadata += ((FIELD_METADATA_KEY, exc.field),)
            self._record(rpc, code, started, level=logging.INFO, message=exc.message)
            await context.abort(code, exc.message, trailing_metadata=metadata)
        log.error("unexpected failure", exc_info=exc, extra={"rpc": rpc})
        self._record(rpc, grpc.StatusCode.INTERNAL, started, level=logging.ERROR)
        await context.abort(grpc.StatusCode.INTERNAL, f"internal error; report request id {request_id}", trailing_metadata=metadata)

    def _record(self, rpc: str, code: grpc.StatusCode, started: float, level: int = logging.INFO, message: str = "") -> None:
        record_call(self._metrics, "grpc", rpc, code, started, level, message)


def record_call(
    metrics: RpcMetrics, api: str, rpc: str, code: grpc.StatusCode, started: float, level: int = logging.INFO, message: str = ""
) -> None:
    """Counts and logs one finished call of either API (`api` is "grpc" or "http")."""
    seconds = time.monotonic() - started
    metrics.requests.labels(api, rpc, code.name).inc()
    metrics.request_seconds.labels(api, rpc).observe(seconds)
    if rpc.startswith("grpc."):  # health checks and reflection would drown the log
        return
    extra: dict[str, Any] = {"api": api, "rpc": rpc, "code": code.name, "ms": round(seconds * 1000, 1)}
    if message:
        extra["error"] = message
    log.log(level, "rpc", extra=extra)

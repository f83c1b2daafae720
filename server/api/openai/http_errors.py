"""How the HTTP routes refuse: their errors before a domain error can arise, a refusal named as
the caller wrote it, and OpenAI's error body with its type and code for each status. TGI's routes
word the same refusals their own way (tgi.tgi_error)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from common import errors

ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error"}
ERROR_TYPES |= {405: "invalid_request_error", 408: "invalid_request_error", 413: "invalid_request_error", 415: "invalid_request_error"}
ERROR_TYPES |= {429: "rate_limit_error", 503: "service_unavailable_error"}
HTTP_ERROR_CODES = {413: grpc.StatusCode.RESOURCE_EXHAUSTED, 408: grpc.StatusCode.DEADLINE_EXCEEDED}
OPENAI_CODES = {401: "invalid_api_key", 429: "rate_limit_exceeded"}
# how long a refused caller should wait: a full queue drains in about a second; a replica that is
# loading or shutting down is better left for a few (a load balancer sends the retry elsewhere)
RETRY_AFTER_S = {429: 1, 503: 5}


class HttpError(Exception):
    """A refusal that happens before a domain error can: body too large, not JSON."""

    def __init__(self, status: int, message: str, param: str | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.param = status, message, param


class CallerNamed(errors.InvalidRequest):
    """A refusal whose field is named as the caller wrote it already (a Responses field, not a chat one)."""


def error_code(exc: BaseException, status: int, code: grpc.StatusCode, model_named: bool = False) -> str:
    """OpenAI's error `code` where one exists for the failure, else the gRPC status's name."""
    if isinstance(exc, errors.TuneserveError) and exc.code:
        return exc.code
    if model_named and isinstance(exc, errors.NotFound):
        return errors.MODEL_NOT_FOUND
    return OPENAI_CODES.get(status, code.name.lower())


def error_body(status: int, message: str, param: str | None, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": ERROR_TYPES.get(status, "server_error"), "param": param, "code": code}}


ErrorShape = Callable[[int, str, str | None, str], dict[str, Any]]  # an error body: (status, message, param, code)

"""The OpenAI-compatible routes: chat and text completions (streamed as server-sent events or
whole), the model list, and an open health route for HTTP probes.

Every generation goes through the gRPC path's admission and adapter manager; errors are the same
domain errors, answered in OpenAI's JSON error shape with the HTTP status that matches their gRPC
code, and counted in the same metrics with api="http".
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import grpc
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from common import errors
from common.logs import request_id_var
from common.rpc.metrics import RpcMetrics
from common.rpc.status import REQUEST_ID_METADATA_KEY, http_status_for, record_call, status_for
from common.security.auth import AUTHORIZATION_KEY, TokenFile, authorize
from server.adapters.manager import AdapterManager
from server.adapters.manager import Route as RouteTaken
from server.api.event_stream import raise_if_failed, stream_generation
from server.api.inference import give_feedback, prepare_generation
from server.api.openai.answers import CHAT, TEXT, Answer, HeldCalls, Shape, system_fingerprint
from server.api.openai.fine_tuning import FineTuning
from server.api.openai.schemas import FeedbackBody, openai_param
from server.api.rollouts import record, record_failure
from server.api.serving_state import Serving, ServingState
from server.api.token_spelling import speller_for
from server.engine.request import GenerationEvent, GenerationRequest

log = logging.getLogger(__name__)

GENERATE_METHOD = "/tuneserve.v1.Inference/Generate"  # HTTP generation needs what gRPC Generate needs
FEEDBACK_METHOD = "/tuneserve.v1.Inference/Feedback"
BodyT = TypeVar("BodyT", bound=BaseModel)
ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error"}
ERROR_TYPES |= {408: "invalid_request_error", 413: "invalid_request_error", 415: "invalid_request_error"}
ERROR_TYPES |= {429: "rate_limit_error", 503: "service_unavailable_error"}
JSON_TYPE = "application/json"
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


def error_code(exc: BaseException, status: int, code: grpc.StatusCode, model_named: bool = False) -> str:
    """OpenAI's error `code` where one exists for the failure, else the gRPC status's name."""
    if isinstance(exc, errors.TuneserveError) and exc.code:
        return exc.code
    if model_named and isinstance(exc, errors.NotFound):
        return errors.MODEL_NOT_FOUND
    return OPENAI_CODES.get(status, code.name.lower())


def error_body(status: int, message: str, param: str | None, code: str) -> dict[str, Any]:
    return {"error": {"message": message, "type": ERROR_TYPES.get(status, "server_error"), "param": param, "code": code}}


class OpenAIRoutes:
    def __init__(
        self,
        state: ServingState,
        metrics: RpcMetrics,
        tokens: TokenFile | None,
        max_body_bytes: int,
        body_timeout_s: float = 30.0,
        cors_origins: list[str] | None = None,
        fine_tuning: FineTuning | None = None,
    ) -> None:
        self._state = state
        self._metrics = metrics
        self._tokens = tokens
        self._max_body_bytes = max_body_bytes
        self._body_timeout_s = body_timeout_s
        self._cors_origins = list(cors_origins or [])
        self._fine_tuning = fine_tuning

    def app(self) -> Starlette:
        # no CORS unless origins are named: a page elsewhere cannot read answers, and since JSON
        # bodies must say application/json, it cannot send a request without a preflight either
        middleware = []
        if self._cors_origins:
            middleware.append(
                Middleware(
                    CORSMiddleware,
                    allow_origins=self._cors_origins,
                    allow_methods=["GET", "POST"],
                    allow_headers=["authorization", "content-type", REQUEST_ID_METADATA_KEY],
                    expose_headers=[REQUEST_ID_METADATA_KEY, "x-rollout-arm"],
                )
            )
        return Starlette(
            middleware=middleware,
            routes=[
                Route(CHAT.route, self._chat, methods=["POST"]),
                Route(TEXT.route, self._text, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/v1/feedback", self._feedback, methods=["POST"]),
                Route("/health", self._health, methods=["GET"]),
                # the metrics port's page here too: a gateway's endpoint picker scrapes the port it routes to
                Route("/metrics", self._prometheus, methods=["GET"]),
                *(self._fine_tuning.routes(self) if self._fine_tuning is not None else []),
            ],
        )

    def _record_ok(self, route: str, started: float) -> None:
        record_call(self._metrics, "http", route, grpc.StatusCode.OK, started)

    # -- routes ---------------------------------------------------------------------------------

    async def _chat(self, request: Request) -> Response:
        return await self._generate(request, CHAT)

    async def _text(self, request: Request) -> Response:
        return await self._generate(request, TEXT)

    async def _health(self, request: Request) -> Response:
        ready = self._state.ready
        return JSONResponse({"status": "serving" if ready else "not_serving"}, status_code=200 if ready else 503)

    async def _prometheus(self, request: Request) -> Response:
        page = await asyncio.to_thread(generate_latest, self._metrics.registry)
        return Response(page, media_type=CONTENT_TYPE_LATEST)

    async def _models(self, request: Request) -> Response:
        started = time.monotonic()
        try:
            self._authorize(request)
            serving = self._state.require()
            models = [_model_card(serving.base.name, "tuneserve")]
            if isinstance(serving.adapters, AdapterManager):
                for status in serving.adapters.statuses():
                    if status.serving_version or status.current_version:
                        models.append(_model_card(status.name, serving.base.name))
                    models += [
                        _model_card(f"{status.name}@{v.version}", serving.base.name) for v in status.versions if v.state != "refused"
                    ]
        except Exception as exc:
            return self._refusal(exc, "/v1/models", started, uuid.uuid4().hex)
        record_call(self._metrics, "http", "/v1/models", grpc.StatusCode.OK, started)
        return JSONResponse({"object": "list", "data": models})

    async def _generate(self, request: Request, shape: Shape) -> Response:
        started = time.monotonic()
        request_id = request.headers.get(REQUEST_ID_METADATA_KEY) or uuid.uuid4().hex
        request_id_var.set(request_id)
        try:
            self._authorize(request)
            serving = self._state.require()
            body = await self._parse(request, shape.body)
            adapter_name = "" if body.model in ("", serving.base.name) else body.model
            proto = body.generate_request(adapter_name, request_id)  # type: ignore[attr-defined]
            try:
                generation, note = await asyncio.to_thread(prepare_generation, serving, proto, None)
            except errors.InvalidRequest as exc:
                if exc.field == "parameters.max_new_tokens":  # under the name the caller used
                    raise errors.InvalidRequest(body.limit_name(), str(exc).removeprefix(f"{exc.field}: ")) from None
                raise
            request_id = generation.request_id
            # OpenAI's `user` is the routing key: one user always gets the same arm of a split
            route = await serving.adapters.acquire_routed(adapter_name, None, body.routing_key())
        except Exception as exc:
            return self._refusal(exc, shape.route, started, request_id, model_named=True)
        generation = dataclasses.replace(generation, adapter=route.adapter)
        log.info("http generation", extra={"request_id": request_id, "model": body.model, "user": body.routing_key()})
        model = route.adapter.label if route.adapter is not None else serving.base.name
        headers = {REQUEST_ID_METADATA_KEY: request_id}
        if route.arm:
            headers["x-rollout-arm"] = route.arm
        serving.shadows.copy(serving, route, generation)
        release: Callable[[], None] = lambda: serving.adapters.release(route.adapter)  # noqa: E731
        tools = note.tools if note is not None else None
        speller = speller_for(serving.base.tokenizer)
        answer = Answer(shape, body, model, system_fingerprint(serving, route), speller, generation.prompt_ids, tools)
        if body.stream:
            include_usage = body.stream_options is not None and body.stream_options.include_usage
            events = self._sse(serving, generation, answer, include_usage, started, release, route)
            return StreamingResponse(events, media_type="text/event-stream", headers=headers)
        try:
            return await self._whole(serving, generation, answer, started, headers, route, request)
        finally:
            release()

    async def _feedback(self, request: Request) -> Response:
        started = time.monotonic()
        request_id = request.headers.get(REQUEST_ID_METADATA_KEY) or uuid.uuid4().hex
        try:
            self._authorize(request, FEEDBACK_METHOD)
            serving = self._state.require()
            body = await self._parse(request, FeedbackBody)
            result = await give_feedback(serving, body.feedback_request())
        except Exception as exc:
            return self._refusal(exc, "/v1/feedback", started, request_id)
        record_call(self._metrics, "http", "/v1/feedback", grpc.StatusCode.OK, started)
        answer = result.answer
        payload = {"request_id": answer.request_id, "model": f"{answer.name}@{answer.version}", "rollout_arm": answer.arm}
        return JSONResponse({**payload, "correct": result.correct}, headers={REQUEST_ID_METADATA_KEY: request_id})

    # -- answering ------------------------------------------------------------------------------

    async def _whole(
        self,
        serving: Serving,
        generation: GenerationRequest,
        shaped: Answer,
        started: float,
        headers: dict[str, str],
        route: RouteTaken,
        request: Request,
    ) -> Response:
        shape = shaped.shape
        answer = asyncio.ensure_future(_collect(serving, generation))
        gone = asyncio.ensure_future(_disconnect(request))
        try:
            await asyncio.wait({answer, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if not answer.done():  # the client left: stop generating for nobody (as streams and gRPC do)
            answer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await answer
            record_call(self._metrics, "http", shape.route, grpc.StatusCode.CANCELLED, started)
            log.info("http client gone; generation cancelled", extra={"request_id": generation.request_id})
            return Response(status_code=499)  # nobody reads it
        try:
            events = answer.result()
            finished = events[-1].finished
            assert finished is not None
            raise_if_failed(finished)
        except Exception as exc:
            record_failure(serving, route, generation.request_id, exc, generation.arrival)
            return self._refusal(exc, shape.route, started, generation.request_id)
        record_call(self._metrics, "http", shape.route, grpc.StatusCode.OK, started)
        record(serving, route, generation.request_id, "".join(e.text for e in events), finished.total_s)
        payload = shaped.envelope(shape.object, generation.request_id)
        payload["choices"] = [shaped.whole_choice(events, finished)]
        payload["usage"] = shaped.usage(finished)
        return JSONResponse(payload, headers=headers)

    async def _sse(
        self,
        serving: Serving,
        generation: GenerationRequest,
        shaped: Answer,
        include_usage: bool,
        started: float,
        release: Callable[[], None],
        route: RouteTaken,
    ) -> AsyncIterator[str]:
        shape = shaped.shape
        envelope = shaped.envelope(shape.chunk_object, generation.request_id)
        code = grpc.StatusCode.CANCELLED  # unless the stream gets to its end
        first = True
        texts: list[str] = []
        held = HeldCalls(shaped.tools)
        try:
            async for event in stream_generation(serving.engine, generation):
                finished = event.finished
                texts.append(event.text)
                if finished is not None:
                    raise_if_failed(finished)
                    record(serving, route, generation.request_id, "".join(texts), finished.total_s)
                for choice in shaped.delta_choices(event, finished, first, held):
                    yield _sse_event({**envelope, "choices": [choice]})
                    first = False
                if finished is not None and include_usage:
                    yield _sse_event({**envelope, "choices": [], "usage": shaped.usage(finished)})
            code = grpc.StatusCode.OK
        except Exception as exc:  # the status line is sent already: the error travels as an event
            record_failure(serving, route, generation.request_id, exc, generation.arrival)
            code, status, message, param = self._describe(exc, generation.request_id)
            yield _sse_event(error_body(status, message, param, error_code(exc, status, code)))
        finally:
            release()
            record_call(self._metrics, "http", shape.route, code, started)
        yield "data: [DONE]\n\n"

    # -- checks ---------------------------------------------------------------------------------

    def _authorize(self, request: Request, method: str = GENERATE_METHOD) -> None:
        if self._tokens is None:
            return
        header = request.headers.get(AUTHORIZATION_KEY)
        authorize(self._tokens.current(), method, [(AUTHORIZATION_KEY, header)] if header is not None else [])

    async def _parse(self, request: Request, body_type: type[BodyT]) -> BodyT:
        media_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media_type != JSON_TYPE:
            shown = media_type or "none"
            raise HttpError(415, f"the body must be JSON sent as Content-Type: {JSON_TYPE}, got {shown}", "content-type")
        declared = request.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > self._max_body_bytes:
            raise HttpError(413, f"the body has {declared} bytes, over the server's max_message_bytes ({self._max_body_bytes})")
        try:
            body = await asyncio.wait_for(self._read_body(request), self._body_timeout_s)
        except TimeoutError:
            raise HttpError(408, f"the body did not arrive within the server's http_body_timeout_s ({self._body_timeout_s:g} s)") from None
        try:
            return body_type.model_validate_json(body)
        except ValidationError as exc:
            error = exc.errors()[0]
            where = ".".join(str(part) for part in error["loc"])
            raise HttpError(400, f"{where}: {error['msg']}" if where else error["msg"], where or None) from None

    async def _read_body(self, request: Request) -> bytes:
        chunks, size = [], 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > self._max_body_bytes:
                raise HttpError(413, f"the body is over the server's max_message_bytes ({self._max_body_bytes})")
            chunks.append(chunk)
        return b"".join(chunks)

    # -- errors ---------------------------------------------------------------------------------

    def _describe(self, exc: BaseException, request_id: str) -> tuple[grpc.StatusCode, int, str, str | None]:
        """The gRPC code, HTTP status, message and OpenAI parameter name of a failure."""
        if isinstance(exc, HttpError):
            code = HTTP_ERROR_CODES.get(exc.status, grpc.StatusCode.INVALID_ARGUMENT)
            return code, exc.status, exc.message, exc.param
        if isinstance(exc, errors.TuneserveError):
            code = status_for(exc)
            if isinstance(exc, errors.InvalidRequest) and exc.field:
                param = openai_param(exc.field)
                return code, http_status_for(code), exc.message.replace(exc.field, param, 1), param
            return code, http_status_for(code), exc.message, None
        log.error("unexpected failure", exc_info=exc, extra={"request_id": request_id})
        return grpc.StatusCode.INTERNAL, 500, f"internal error; report request id {request_id}", None

    def _refusal(self, exc: BaseException, route: str, started: float, request_id: str, model_named: bool = False) -> Response:
        """The error response; `model_named`: the request names a model, so "not found" is about it."""
        code, status, message, param = self._describe(exc, request_id)
        record_call(self._metrics, "http", route, code, started, message=message)
        headers = {REQUEST_ID_METADATA_KEY: request_id}
        if status == 401:
            headers["www-authenticate"] = "Bearer"
        if status in RETRY_AFTER_S:
            headers["retry-after"] = str(RETRY_AFTER_S[status])
        if model_named and isinstance(exc, errors.NotFound):
            param = param or "model"
        return JSONResponse(
            error_body(status, message, param, error_code(exc, status, code, model_named)), status_code=status, headers=headers
        )


async def _collect(serving: Serving, generation: GenerationRequest) -> list[GenerationEvent]:
    """The whole answer's events; the last one says how it ended."""
    return [event async for event in stream_generation(serving.engine, generation)]


async def _disconnect(request: Request) -> None:
    """Returns when the client closes the connection (its body already read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _model_card(model_id: str, owner: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": owner}


def _sse_event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

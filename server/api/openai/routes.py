"""The OpenAI-compatible routes: chat and text completions (streamed as server-sent events or
whole), the model list, feedback, vLLM's tokenize and detokenize, and an open health route for HTTP
probes; and what every generation route shares: admission on one adapter version, answering whole
or streamed, and refusals. The Responses API's routes (response_routes) and TGI's (tgi_routes) are
served beside them on the same.

Every generation goes through the gRPC path's admission and adapter manager; errors are the same
domain errors, answered in OpenAI's JSON error shape with the HTTP status that matches their gRPC
code, and counted in the same metrics with api="http".
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import grpc
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ValidationError
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from tuneserve.v1 import inference_pb2

from common import errors
from common.logs import request_id_var
from common.rpc.metrics import RpcMetrics
from common.rpc.status import REQUEST_ID_METADATA_KEY, http_status_for, record_call, status_for
from common.security.auth import AUTHORIZATION_KEY, TokenFile, authorize
from server.adapters.manager import AdapterManager
from server.adapters.manager import Route as RouteTaken
from server.api.admission import MAX_REQUEST_ID_CHARS
from server.api.event_stream import raise_if_failed, stream_generation
from server.api.inference import PromptNote, give_feedback, prepare_generation, tokenize
from server.api.openai.answers import CHAT, TEXT, Answer, Chunks, Shape, StreamWording, summed, system_fingerprint
from server.api.openai.fine_tuning import FineTuning
from server.api.openai.http_errors import (
    HTTP_ERROR_CODES,
    RETRY_AFTER_S,
    CallerNamed,
    ErrorShape,
    HttpError,
    error_body,
    error_code,
)
from server.api.openai.response_routes import ResponseRoutes
from server.api.openai.responses import ROUTE as RESPONSES_ROUTE
from server.api.openai.schemas import FeedbackBody, SamplingBody, openai_param
from server.api.openai.stored_responses import ResponseStore
from server.api.openai.tgi_routes import TgiRoutes
from server.api.openai.tokenize import DETOKENIZE_ROUTE, TOKENIZE_ROUTE, DetokenizeBody, TokenizeBody
from server.api.rollouts import record, record_failure
from server.api.serving_state import Serving, ServingState
from server.api.token_spelling import speller_for
from server.engine.request import Finished, GenerationEvent, GenerationRequest

log = logging.getLogger(__name__)

GENERATE_METHOD = "/tuneserve.v1.Inference/Generate"  # HTTP generation needs what gRPC Generate needs
FEEDBACK_METHOD = "/tuneserve.v1.Inference/Feedback"
BodyT = TypeVar("BodyT", bound=BaseModel)
JSON_TYPE = "application/json"


async def _no_route(request: Request, exc: Exception) -> Response:
    """A path no route has, or a method the route does not take, refused in the error shape of
    every other answer (Starlette's own is plain text, which OpenAI clients show as nothing)."""
    assert isinstance(exc, HTTPException)
    shown = f"{request.method} {request.url.path[:200]}"
    if exc.status_code == 405:
        allowed = {key.lower(): value for key, value in (exc.headers or {}).items()}.get("allow", "")
        message, code = f"{shown}: this path takes {allowed or 'other methods'}", "method_not_allowed"
    elif request.url.path.startswith(RESPONSES_ROUTE + "/"):
        message = f"{shown}: no such route; a stored response is at {RESPONSES_ROUTE}/{{id}}, with /input_items and /cancel"
        code = "unknown_url"
    else:
        routes = "/v1/chat/completions, /v1/completions, /v1/responses, /v1/models, /tokenize, /detokenize, /generate and /generate_stream"
        message, code = f"{shown}: no such route; this server answers {routes}", "unknown_url"
    return JSONResponse(error_body(exc.status_code, message, None, code), status_code=exc.status_code, headers=exc.headers)


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
        responses: ResponseStore | None = None,
    ) -> None:
        self._state = state
        self._metrics = metrics
        self._tokens = tokens
        self._max_body_bytes = max_body_bytes
        self._body_timeout_s = body_timeout_s
        self._cors_origins = list(cors_origins or [])
        self._fine_tuning = fine_tuning
        self._responses = responses  # the stored responses (None: responses are not kept)

    @property
    def state(self) -> ServingState:
        """What is served (the base model, adapters, engine), once loaded."""
        return self._state

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
            exception_handlers={404: _no_route, 405: _no_route},
            routes=[
                Route(CHAT.route, self._chat, methods=["POST"]),
                Route(TEXT.route, self._text, methods=["POST"]),
                *ResponseRoutes(self, self._responses).routes(),
                Route("/v1/models", self._models, methods=["GET"]),
                Route("/v1/models/{model:path}", self._model, methods=["GET"]),
                Route("/v1/feedback", self._feedback, methods=["POST"]),
                Route(TOKENIZE_ROUTE, self._tokenize, methods=["POST"]),
                Route(DETOKENIZE_ROUTE, self._detokenize, methods=["POST"]),
                *TgiRoutes(self).routes(),
                Route("/health", self._health, methods=["GET"]),
                # the metrics port's page here too: a gateway's endpoint picker scrapes the port it routes to
                Route("/metrics", self._prometheus, methods=["GET"]),
                *(self._fine_tuning.routes(self) if self._fine_tuning is not None else []),
            ],
        )

    async def answered(self, route: str, work: Awaitable[Response]) -> Response:
        """Runs `work` (a coroutine giving the response) as one call of `route`: counted, and a
        failure answered in OpenAI's error shape."""
        started = time.monotonic()
        try:
            response = await work
        except Exception as exc:
            return self.refusal(exc, route, started, uuid.uuid4().hex)
        self.record_ok(route, started)
        return response

    def record_ok(self, route: str, started: float) -> None:
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
            self.authorize(request)
            models = _model_cards(self._state.require())
        except Exception as exc:
            return self.refusal(exc, "/v1/models", started, uuid.uuid4().hex)
        record_call(self._metrics, "http", "/v1/models", grpc.StatusCode.OK, started)
        return JSONResponse({"object": "list", "data": models})

    async def _model(self, request: Request) -> Response:
        """One model of the list, by its id (the OpenAI SDK's `models.retrieve`)."""
        started = time.monotonic()
        model_id = request.path_params["model"]
        try:
            self.authorize(request)
            card = _served_card(self._state.require(), model_id)
        except Exception as exc:
            return self.refusal(exc, "/v1/models/{model}", started, uuid.uuid4().hex, model_named=True)
        record_call(self._metrics, "http", "/v1/models/{model}", grpc.StatusCode.OK, started)
        return JSONResponse(card)

    async def _tokenize(self, request: Request) -> Response:
        """vLLM's /tokenize: the tokens a generation of this prompt (or these messages) would see."""
        started = time.monotonic()
        try:
            self.authorize(request)
            serving = self._state.require()
            body = await self.parse(request, TokenizeBody)
            self._check_model(serving, body.model)
            try:
                tokenized = await tokenize(serving, body.tokenize_request())
            except errors.InvalidRequest as exc:  # gRPC's plain text is HTTP's prompt
                if exc.field != "text":
                    raise
                raise CallerNamed("prompt", exc.reason, exc.code) from None
        except Exception as exc:
            return self.refusal(exc, TOKENIZE_ROUTE, started, uuid.uuid4().hex, model_named=True)
        self.record_ok(TOKENIZE_ROUTE, started)
        answer = {
            "count": len(tokenized.token_ids),
            "max_model_len": serving.admission.limits.context_window,
            "tokens": list(tokenized.token_ids),
            "token_strs": list(tokenized.tokens) if body.return_token_strs else None,
        }
        return JSONResponse(answer)

    async def _detokenize(self, request: Request) -> Response:
        """vLLM's /detokenize: the text of token ids of the base model."""
        started = time.monotonic()
        try:
            self.authorize(request)
            serving = self._state.require()
            body = await self.parse(request, DetokenizeBody)
            self._check_model(serving, body.model)
            ids = body.token_ids(int(serving.base.config.vocab_size))
            text = await asyncio.to_thread(serving.base.tokenizer.decode, ids)
        except Exception as exc:
            return self.refusal(exc, DETOKENIZE_ROUTE, started, uuid.uuid4().hex, model_named=True)
        self.record_ok(DETOKENIZE_ROUTE, started)
        return JSONResponse({"prompt": text})

    def opened(self, request: Request) -> tuple[float, str]:
        """When a generation request began, and its id (the caller's x-request-id, or a new one)."""
        request_id = request.headers.get(REQUEST_ID_METADATA_KEY) or uuid.uuid4().hex
        request_id_var.set(request_id)
        return time.monotonic(), request_id

    def _check_model(self, serving: Serving, model: str) -> None:
        """Refuses a model this server does not serve (every one it serves shares the base tokenizer)."""
        if model:
            _served_card(serving, model)

    async def _generate(self, request: Request, shape: Shape) -> Response:
        started, request_id = self.opened(request)
        try:
            self.authorize(request)
            serving = self._state.require()
            body = await self.parse(request, shape.body)
            admitted = await self.admit(serving, body, shape, request_id)
        except Exception as exc:
            return self.refusal(exc, shape.route, started, request_id, model_named=True)
        parts = admitted.parts
        if body.stream:
            include_usage = body.stream_options is not None and body.stream_options.include_usage
            wording = Chunks([part.answer for part in parts], request_id, include_usage)
            events = self.sse(serving, admitted, wording, started, shape.route)
            return StreamingResponse(events, media_type="text/event-stream", headers=admitted.headers)
        try:
            ended = await self.ended(serving, admitted, started, request, shape.route)
            if isinstance(ended, Response):
                return ended
            choices = [part.answer.whole_choice(events, finished) for part, (events, finished) in zip(parts, ended, strict=True)]
            usages = [part.answer.usage(finished) for part, (_, finished) in zip(parts, ended, strict=True)]
            payload = parts[0].answer.envelope(shape.object, request_id)
            return JSONResponse({**payload, "choices": choices, "usage": summed(usages)}, headers=admitted.headers)
        finally:
            admitted.release()

    async def admit(self, serving: Serving, body: SamplingBody, shape: Shape, request_id: str) -> Admitted:
        """The body's generations, admitted, on the adapter version that answers them (held until
        `release`)."""
        adapter_name = "" if body.model in ("", *serving.model_names) else body.model
        protos = body.generate_requests(adapter_name, request_id)
        prepared = [await self._prepare(serving, body, proto, i, len(protos)) for i, proto in enumerate(protos)]
        generations = choices_of([generation for generation, _ in prepared], body.n, request_id)
        # OpenAI's `user` is the routing key: one user always gets the same arm of a split; a
        # request's prompts share one version, as one answer's choices do
        route = await serving.adapters.acquire_routed(adapter_name, None, body.routing_key())
        log.info("http generation", extra={"request_id": request_id, "model": body.model, "user": body.routing_key()})
        model = route.adapter.label if route.adapter is not None else serving.model_names[0]
        headers = {REQUEST_ID_METADATA_KEY: request_id}
        if route.arm:
            headers["x-rollout-arm"] = route.arm
        speller = speller_for(serving.base.tokenizer)
        fingerprint = system_fingerprint(serving, route)
        parts = []
        for index, generation in enumerate(generations):
            proto, (_, note) = protos[index // body.n], prepared[index // body.n]
            generation = dataclasses.replace(generation, adapter=route.adapter)
            serving.shadows.copy(serving, route, generation)
            tools = note.tools if note is not None else None
            repeats = index % body.n != 0
            answer = Answer(shape, body, model, fingerprint, speller, generation.prompt_ids, tools, proto.prompt, index, repeats)
            parts.append(Part(generation, answer))
        return Admitted(request_id, parts, route, headers, lambda: serving.adapters.release(route.adapter))

    async def _prepare(
        self, serving: Serving, body: SamplingBody, proto: inference_pb2.GenerateRequest, index: int, count: int
    ) -> tuple[GenerationRequest, PromptNote | None]:
        """Admission of one of the body's generations; a refusal names the field as the caller
        knows it (the output limit by the name it was given, a batch's prompt by its place)."""
        try:
            return await asyncio.to_thread(prepare_generation, serving, proto, None)
        except errors.InvalidRequest as exc:
            field = body.limit_name() if exc.field == "parameters.max_new_tokens" else exc.field
            if count > 1 and field in ("prompt", "prompt_token_ids"):  # the prompt's place in the batch
                field = f"prompt[{index}]"
            if field == exc.field:
                raise
            raise errors.InvalidRequest(field, exc.reason, exc.code) from None

    async def _feedback(self, request: Request) -> Response:
        started = time.monotonic()
        request_id = request.headers.get(REQUEST_ID_METADATA_KEY) or uuid.uuid4().hex
        try:
            self.authorize(request, FEEDBACK_METHOD)
            serving = self._state.require()
            body = await self.parse(request, FeedbackBody)
            result = await give_feedback(serving, body.feedback_request())
        except Exception as exc:
            return self.refusal(exc, "/v1/feedback", started, request_id)
        record_call(self._metrics, "http", "/v1/feedback", grpc.StatusCode.OK, started)
        answer = result.answer
        payload = {"request_id": answer.request_id, "model": f"{answer.name}@{answer.version}", "rollout_arm": answer.arm}
        return JSONResponse({**payload, "correct": result.correct}, headers={REQUEST_ID_METADATA_KEY: request_id})

    # -- answering ------------------------------------------------------------------------------

    async def ended(
        self, serving: Serving, admitted: Admitted, started: float, request: Request, route_name: str, shape: ErrorShape = error_body
    ) -> list[tuple[list[GenerationEvent], Finished]] | Response:
        """Each generation's events and how it ended, recorded; or the response that says the
        request failed (or that nobody waits for it)."""
        parts, route, request_id = admitted.parts, admitted.route, admitted.request_id
        answers = asyncio.ensure_future(_collect_all(serving, [part.generation for part in parts]))
        gone = asyncio.ensure_future(_disconnect(request))
        try:
            await asyncio.wait({answers, gone}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            gone.cancel()
        if not answers.done():  # the client left: stop generating for nobody (as streams and gRPC do)
            answers.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await answers
            record_call(self._metrics, "http", route_name, grpc.StatusCode.CANCELLED, started)
            log.info("http client gone; generation cancelled", extra={"request_id": request_id})
            return Response(status_code=499)  # nobody reads it
        results = answers.result()
        # the prompt that failed first, before those its failure cancelled (CancelledError is no Exception)
        order = sorted(range(len(parts)), key=lambda i: isinstance(results[i], asyncio.CancelledError))
        ended: dict[int, tuple[list[GenerationEvent], Finished]] = {}
        for i in order:
            part, result = parts[i], results[i]
            try:
                if isinstance(result, BaseException):
                    raise result
                finished = result[-1].finished
                assert finished is not None
                raise_if_failed(finished)
            except Exception as exc:  # one prompt failed: the request fails, as a whole
                record_failure(serving, route, part.generation.request_id, exc, part.generation.arrival)
                return self.refusal(exc, route_name, started, part.generation.request_id, shape=shape)
            ended[i] = (result, finished)
        record_call(self._metrics, "http", route_name, grpc.StatusCode.OK, started)
        for i, part in enumerate(parts):
            events, finished = ended[i]
            record(serving, route, part.generation.request_id, "".join(e.text for e in events), finished.total_s)
        return [ended[i] for i in range(len(parts))]

    async def sse(
        self, serving: Serving, admitted: Admitted, wording: StreamWording, started: float, route_name: str
    ) -> AsyncIterator[str]:
        parts, route = admitted.parts, admitted.route
        code = grpc.StatusCode.CANCELLED  # unless the stream gets to its end
        texts: list[list[str]] = [[] for _ in parts]
        usages = []
        failed = parts[0]
        try:
            for line in wording.opening():
                yield line
            async with contextlib.aclosing(_interleaved(serving, [part.generation for part in parts])) as events:
                async for index, event in events:
                    failed = parts[index]
                    if isinstance(event, BaseException):
                        raise event
                    finished = event.finished
                    texts[index].append(event.text)
                    used = None
                    if finished is not None:
                        raise_if_failed(finished)
                        record(serving, route, failed.generation.request_id, "".join(texts[index]), finished.total_s)
                        used = failed.answer.usage(finished)
                        usages.append(used)
                    for line in wording.event(index, event, used):
                        yield line
            for line in wording.closing(usages):
                yield line
            code = grpc.StatusCode.OK
        except Exception as exc:  # the status line is sent already: the error travels as an event
            record_failure(serving, route, failed.generation.request_id, exc, failed.generation.arrival)
            code, status, message, param = self._describe(exc, failed.generation.request_id)
            for line in wording.failure(error_body(status, message, param, error_code(exc, status, code))):
                yield line
        finally:
            admitted.release()
            record_call(self._metrics, "http", route_name, code, started)
        if wording.done:
            yield wording.done

    # -- checks ---------------------------------------------------------------------------------

    def authorize(self, request: Request, method: str = GENERATE_METHOD) -> str:
        """The caller's token name ("" without tokens); raises where the caller may not call `method`."""
        if self._tokens is None:
            return ""
        header = request.headers.get(AUTHORIZATION_KEY)
        entry = authorize(self._tokens.current(), method, [(AUTHORIZATION_KEY, header)] if header is not None else [])
        return entry.name if entry is not None else ""

    async def parse(self, request: Request, body_type: type[BodyT]) -> BodyT:
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
                param = exc.field if isinstance(exc, CallerNamed) else openai_param(exc.field)
                return code, http_status_for(code), exc.message.replace(exc.field, param, 1), param
            return code, http_status_for(code), exc.message, None
        log.error("unexpected failure", exc_info=exc, extra={"request_id": request_id})
        return grpc.StatusCode.INTERNAL, 500, f"internal error; report request id {request_id}", None

    def refusal(
        self,
        exc: BaseException,
        route: str,
        started: float,
        request_id: str,
        model_named: bool = False,
        shape: ErrorShape = error_body,
    ) -> Response:
        """The error response, in the body `shape` makes (OpenAI's by default); `model_named`: the
        request names a model, so "not found" is about it."""
        code, status, message, param = self._describe(exc, request_id)
        record_call(self._metrics, "http", route, code, started, message=message)
        headers = {REQUEST_ID_METADATA_KEY: request_id}
        if status == 401:
            headers["www-authenticate"] = "Bearer"
        if status in RETRY_AFTER_S:
            headers["retry-after"] = str(RETRY_AFTER_S[status])
        if model_named and isinstance(exc, errors.NotFound):
            param = param or "model"
        return JSONResponse(shape(status, message, param, error_code(exc, status, code, model_named)), status_code=status, headers=headers)


def choices_of(prompts: list[GenerationRequest], n: int, request_id: str) -> list[GenerationRequest]:
    """`n` choices of each admitted prompt, in OpenAI's order (a prompt's choices together). Each
    is a generation of its own, so it has its own request id (`<id>-<k>` where there are several;
    the response keeps the given one) and, where a seed is set, its own seed: seed + j for the
    j-th choice, reproducible, yet not n copies of one answer. A compiled grammar is shared: each
    generation takes its own matcher from it."""
    choices = []
    for prompt in prompts:
        for j in range(n):
            seed = prompt.params.seed
            params = dataclasses.replace(prompt.params, seed=(seed + j) % 2**64) if j and seed is not None else prompt.params
            choices.append(dataclasses.replace(prompt, params=params))
    if len(choices) > 1:
        longest = f"{request_id}-{len(choices) - 1}"
        if len(longest) > MAX_REQUEST_ID_CHARS:  # feedback could not name it
            raise errors.InvalidRequest(
                "request_id",
                f"has {len(request_id)} characters; this request's {len(choices)} answers are named {request_id[:8]}...-<k>,"
                f" which must fit in {MAX_REQUEST_ID_CHARS}",
            )
        choices = [dataclasses.replace(choice, request_id=f"{request_id}-{k}") for k, choice in enumerate(choices)]
    return choices


@dataclasses.dataclass(frozen=True)
class Admitted:
    """A request's admitted generations and the adapter version that answers them."""

    request_id: str
    parts: list[Part]
    route: RouteTaken
    headers: dict[str, str]
    release: Callable[[], None]  # gives the adapter version back, once the answers are done


@dataclasses.dataclass(frozen=True)
class Part:
    """One generation of a request (one prompt of a batch) and how its choice is worded."""

    generation: GenerationRequest
    answer: Answer


async def _collect(serving: Serving, generation: GenerationRequest) -> list[GenerationEvent]:
    """The whole answer's events; the last one says how it ended."""
    return [event async for event in stream_generation(serving.engine, generation)]


async def _collect_all(serving: Serving, generations: list[GenerationRequest]) -> list[list[GenerationEvent] | BaseException]:
    """Each generation's events, or the exception that ended it. The first to fail stops the rest,
    whose answers would be thrown away with the request (they come back as CancelledError)."""
    tasks = [asyncio.ensure_future(_collect(serving, generation)) for generation in generations]
    try:
        await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    finally:
        for task in tasks:
            task.cancel()  # nothing to a finished one
    return await asyncio.gather(*tasks, return_exceptions=True)


async def _interleaved(
    serving: Serving, generations: list[GenerationRequest]
) -> AsyncGenerator[tuple[int, GenerationEvent | Exception], None]:
    """The events of several generations as they come, each with its generation's index; an
    exception that ends one comes in its place, and closing this stops them all."""
    queue: asyncio.Queue[tuple[int, GenerationEvent | Exception | None]] = asyncio.Queue()

    async def pump(index: int, generation: GenerationRequest) -> None:
        try:
            async for event in stream_generation(serving.engine, generation):
                queue.put_nowait((index, event))
            queue.put_nowait((index, None))
        except Exception as exc:
            queue.put_nowait((index, exc))

    tasks = [asyncio.ensure_future(pump(index, generation)) for index, generation in enumerate(generations)]
    try:
        running = len(tasks)
        while running:
            index, item = await queue.get()
            if item is None:
                running -= 1
                continue
            yield index, item
    finally:
        for task in tasks:
            task.cancel()


async def _disconnect(request: Request) -> None:
    """Returns when the client closes the connection (its body already read)."""
    while (await request.receive())["type"] != "http.disconnect":
        pass


def _model_cards(serving: Serving) -> list[dict[str, Any]]:
    """The base model by each of its names, then each adapter by its bare name (where a version
    serves it) and by each version that was not refused."""
    names = serving.model_names
    models = [_model_card(name, "tuneserve") for name in names]
    if isinstance(serving.adapters, AdapterManager):
        for status in serving.adapters.statuses():
            if status.name in names:  # the base model's name wins
                continue
            if status.serving_version or status.current_version:
                models.append(_model_card(status.name, names[0]))
            models += [_model_card(f"{status.name}@{v.version}", names[0]) for v in status.versions if v.state != "refused"]
    return models


def _served_card(serving: Serving, model_id: str) -> dict[str, Any]:
    """The card of a model served here, by its id; NotFound where none is."""
    card = next((card for card in _model_cards(serving) if card["id"] == model_id), None)
    if card is None:
        raise errors.NotFound(f"no model {model_id[:64]!r}: GET /v1/models lists the base model and the adapters served")
    return card


def _model_card(model_id: str, owner: str) -> dict[str, Any]:
    return {"id": model_id, "object": "model", "created": 0, "owned_by": owner}

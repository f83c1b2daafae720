"""TGI's and LoRAX's routes: POST /generate, /generate_stream and /, GET /info. The body is
translated (tgi.GenerateBody) into a text completion, admitted and answered as the OpenAI routes
do (routes.OpenAIRoutes), and worded as TGI words it (tgi.TgiWording, tgi.TgiStream).
"""

from __future__ import annotations

import time
import uuid
from typing import TYPE_CHECKING

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from tuneserve.v1 import inference_pb2

from common import errors
from server import __version__
from server.api.inference import tokenize
from server.api.openai.answers import TEXT
from server.api.openai.http_errors import CallerNamed
from server.api.openai.schemas import openai_param
from server.api.openai.tgi import (
    COMPAT_ROUTE,
    GENERATE_ROUTE,
    INFO_ROUTE,
    MAX_BEST_OF,
    STREAM_ROUTE,
    GenerateBody,
    TgiStream,
    TgiWording,
    tgi_error,
    tgi_param,
)
from server.api.serving_state import Serving

if TYPE_CHECKING:
    from server.api.openai.routes import OpenAIRoutes


class TgiRoutes:
    """TGI's generation API on the OpenAI routes `host`."""

    def __init__(self, host: OpenAIRoutes) -> None:
        self._host = host

    def routes(self) -> list[Route]:
        return [
            Route(GENERATE_ROUTE, self.generate, methods=["POST"]),
            Route(STREAM_ROUTE, self.generate_stream, methods=["POST"]),
            Route(COMPAT_ROUTE, self.compat, methods=["POST"]),
            Route(INFO_ROUTE, self.info, methods=["GET"]),
        ]

    async def generate(self, request: Request) -> Response:
        return await self._answer(request, GENERATE_ROUTE, streamed=False)

    async def generate_stream(self, request: Request) -> Response:
        return await self._answer(request, STREAM_ROUTE, streamed=True)

    async def compat(self, request: Request) -> Response:
        """TGI's "/": /generate_stream where the body says `stream`, else /generate in a list."""
        return await self._answer(request, COMPAT_ROUTE, streamed=None)

    async def _answer(self, request: Request, route: str, streamed: bool | None) -> Response:
        """TGI's and LoRAX's generation: a text completion underneath, worded as TGI words it."""
        started, request_id = self._host.opened(request)
        try:
            self._host.authorize(request)
            serving = self._host.state.require()
            body = await self._host.parse(request, GenerateBody)
            if streamed is None:
                streamed = body.stream
            elif body.stream and not streamed:
                raise errors.InvalidRequest("stream", f"is not taken by {route}; POST to {STREAM_ROUTE} (or to / with stream) for a stream")
            completion, seed = body.completion(streamed, await self._truncated(serving, body))
            try:
                admitted = await self._host.admit(serving, completion, TEXT, request_id)
            except errors.InvalidRequest as exc:  # named as the TGI body names it
                raise CallerNamed(tgi_param(openai_param(exc.field), body), exc.reason, exc.code) from None
        except Exception as exc:
            return self._host.refusal(exc, route, started, request_id, model_named=True, shape=tgi_error)
        first = admitted.parts[0]
        wording = TgiWording(body, first.answer.speller, first.generation.prompt_ids, seed)
        if streamed:
            details = body.parameters.details
            stream = self._host.sse(serving, admitted, TgiStream(wording, details), started, route)
            return StreamingResponse(stream, media_type="text/event-stream", headers=admitted.headers)
        try:
            ended = await self._host.ended(serving, admitted, started, request, route, shape=tgi_error)
            if isinstance(ended, Response):
                return ended
            answer = wording.whole(ended)
            counts = {
                "x-prompt-tokens": str(ended[0][1].prompt_tokens),
                "x-generated-tokens": str(sum(f.generated_tokens for _, f in ended)),
            }
            return JSONResponse([answer] if route == COMPAT_ROUTE else answer, headers={**admitted.headers, **counts})
        finally:
            admitted.release()

    async def _truncated(self, serving: Serving, body: GenerateBody) -> list[int] | None:
        """The prompt's last `truncate` tokens, where the body asks for them (None: the whole prompt)."""
        keep = body.parameters.truncate
        if keep is None:
            return None
        if keep < 1:
            raise errors.InvalidRequest("parameters.truncate", f"must be at least 1, got {keep}")
        try:
            tokenized = await tokenize(serving, inference_pb2.TokenizeRequest(text=body.inputs))
        except errors.InvalidRequest as exc:
            raise CallerNamed("inputs", exc.reason, exc.code) from None
        return list(tokenized.token_ids[-keep:])

    async def info(self, request: Request) -> Response:
        """TGI's /info: the served model and the limits a client plans its requests by."""
        started = time.monotonic()
        try:
            self._host.authorize(request)
            serving = self._host.state.require()
        except Exception as exc:
            return self._host.refusal(exc, INFO_ROUTE, started, uuid.uuid4().hex, shape=tgi_error)
        self._host.record_ok(INFO_ROUTE, started)
        limits, base = serving.admission.limits, serving.base
        info = {
            "model_id": serving.model_names[0],
            "model_sha": base.fingerprint,
            "model_dtype": str(base.dtype).removeprefix("torch."),
            "model_device_type": base.device.type,
            "model_pipeline_tag": "text-generation",
            "max_concurrent_requests": serving.settings.max_waiting + serving.settings.max_batch_size,
            "max_best_of": MAX_BEST_OF,
            "max_stop_sequences": limits.max_stop_sequences,
            "max_input_tokens": limits.max_prompt_tokens,
            "max_total_tokens": limits.context_window,
            "max_client_batch_size": 1,
            "router": "tuneserve",
            "version": __version__,
        }
        return JSONResponse(info)

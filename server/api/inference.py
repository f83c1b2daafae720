"""The tuneserve.v1.Inference service: Generate, GenerateStream, Tokenize, ModelInfo."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
from collections.abc import AsyncIterator
from typing import cast

import grpc
from tuneserve.v1 import common_pb2, inference_pb2, inference_pb2_grpc

from common.errors import FailedPrecondition, InvalidRequest, ResourceExhausted
from common.logs import request_id_var
from common.rpc.status import REQUEST_ID_METADATA_KEY
from server import __version__
from server.adapters.loader import LoadedAdapter
from server.adapters.manager import Route
from server.api.admission import MAX_REQUEST_ID_CHARS, request_variables
from server.api.event_stream import raise_if_failed, stream_generation
from server.api.rollouts import failures_recorded, record
from server.api.serving_state import Serving, ServingState
from server.api.token_spelling import speller_for
from server.api.tool_calling import ToolPlan, tool_plan
from server.engine.engine import Engine
from server.engine.logprobs import TokenLogprob
from server.engine.request import Finished, GenerationRequest, StopReason
from server.experiments.recorder import FeedbackResult


def stop_reason_proto(reason: StopReason) -> common_pb2.StopReason:
    # the generated stubs type enum fields as the enum's class, its numbers as plain ints
    return cast(common_pb2.StopReason, common_pb2.StopReason.Value(f"STOP_REASON_{reason.name}"))


def usage_proto(finished: Finished) -> common_pb2.Usage:
    return common_pb2.Usage(
        prompt_tokens=finished.prompt_tokens,
        generated_tokens=finished.generated_tokens,
        cached_prompt_tokens=finished.cached_prompt_tokens,
    )


def timings_proto(finished: Finished) -> common_pb2.Timings:
    return common_pb2.Timings(
        queue_ms=finished.queue_s * 1000,
        time_to_first_token_ms=finished.time_to_first_token_s * 1000,
        total_ms=finished.total_s * 1000,
    )


def adapter_label(adapter: LoadedAdapter | None) -> str:
    return "" if adapter is None else adapter.label


@dataclasses.dataclass(frozen=True)
class PromptNote:
    """What a few-shot request or task call reports about its prompt besides the generation."""

    used: tuple[int, ...] = ()
    backing: str = ""  # "adapter", "demonstrations", "base"; "" for plain generate requests
    arm: str = ""  # the rollout arm that answered, when the adapter's traffic is split
    describes_prompt: bool = True  # False for a note that only carries the arm (plain generate requests)
    tools: ToolPlan | None = None  # the request's tools: its answer may be calls

    def proto(self, finished: Finished) -> common_pb2.PromptInfo:
        return common_pb2.PromptInfo(
            demonstrations_used=self.used,
            prompt_tokens=finished.prompt_tokens,
            cached_prompt_tokens=finished.cached_prompt_tokens,
            backing=f"TASK_BACKING_{self.backing.upper()}" if self.backing else "TASK_BACKING_UNSPECIFIED",
        )


async def unary_response(engine: Engine, generation: GenerationRequest, note: PromptNote | None) -> inference_pb2.GenerateResponse:
    """Runs a generation to its end and answers it whole."""
    texts: list[str] = []
    tokens: list[int] = []
    logprobs: list[TokenLogprob | None] = []
    prompt_logprobs: list[TokenLogprob | None] = []
    finished: Finished | None = None
    async for event in stream_generation(engine, generation):
        texts.append(event.text)
        tokens.extend(event.token_ids)
        logprobs.extend(event.logprobs)
        prompt_logprobs.extend(event.prompt_logprobs[1:])  # the first token has none
        finished = event.finished
    assert finished is not None
    raise_if_failed(finished)
    speller = speller_for(engine.base.tokenizer)
    calls = note.tools.calls_in("".join(texts)) if note is not None and note.tools is not None else None
    return inference_pb2.GenerateResponse(
        tool_calls=[call.proto() for call in calls or []],
        logprobs=[speller.proto(lp) for lp in logprobs],
        prompt_logprobs=[speller.proto(lp) for lp in prompt_logprobs],
        text="".join(texts),
        stop_reason=stop_reason_proto(finished.reason),
        usage=usage_proto(finished),
        timings=timings_proto(finished),
        request_id=generation.request_id,
        adapter=adapter_label(generation.adapter),
        token_ids=tokens,
        stop_sequence=finished.stop_sequence,
        prompt_info=note.proto(finished) if note and note.describes_prompt else None,
        rollout_arm=note.arm if note else "",
    )


async def stream_responses(
    engine: Engine, generation: GenerationRequest, note: PromptNote | None
) -> AsyncIterator[inference_pb2.GenerateStreamResponse]:
    """Runs a generation, yielding its text as it comes; the last message carries the accounting."""
    speller = speller_for(engine.base.tokenizer)
    texts: list[str] = []
    async for event in stream_generation(engine, generation):
        texts.append(event.text)
        chunk = inference_pb2.GenerateStreamResponse(text=event.text, token_ids=event.token_ids)
        if event.logprobs or event.prompt_logprobs:
            chunk.logprobs.extend(speller.proto(lp) for lp in event.logprobs)
            chunk.prompt_logprobs.extend(speller.proto(lp) for lp in event.prompt_logprobs[1:])
        if event.finished is not None:
            raise_if_failed(event.finished)
            chunk.stop_reason = stop_reason_proto(event.finished.reason)
            chunk.usage.CopyFrom(usage_proto(event.finished))
            chunk.timings.CopyFrom(timings_proto(event.finished))
            chunk.request_id = generation.request_id
            chunk.adapter = adapter_label(generation.adapter)
            chunk.stop_sequence = event.finished.stop_sequence
            if note and note.describes_prompt:
                chunk.prompt_info.CopyFrom(note.proto(event.finished))
            if note:
                chunk.rollout_arm = note.arm
            if note is not None and note.tools is not None:
                chunk.tool_calls.extend(call.proto() for call in note.tools.calls_in("".join(texts)) or [])
        yield chunk


async def answer_recorded(
    serving: Serving, generation: GenerationRequest, note: PromptNote | None, route: Route
) -> inference_pb2.GenerateResponse:
    """`unary_response`, the answer recorded for the experiment report of the version that gave it."""
    response = await unary_response(serving.engine, generation, note)
    record(serving, route, generation.request_id, response.text, response.timings.total_ms / 1000)
    return response


async def stream_recorded(
    serving: Serving, generation: GenerationRequest, note: PromptNote | None, route: Route
) -> AsyncIterator[inference_pb2.GenerateStreamResponse]:
    """`stream_responses`, the whole answer recorded once the last message (with timings) is out."""
    texts = []
    async for chunk in stream_responses(serving.engine, generation, note):
        texts.append(chunk.text)
        if chunk.HasField("timings"):
            record(serving, route, generation.request_id, "".join(texts), chunk.timings.total_ms / 1000)
        yield chunk


async def request_id_header(context: grpc.aio.ServicerContext, request_id: str) -> None:
    """Sends a stream's request id as initial metadata, before its first message."""
    await context.send_initial_metadata(((REQUEST_ID_METADATA_KEY, request_id),))


def request_id_trailer(context: grpc.aio.ServicerContext, request_id: str) -> None:
    """Gives a unary call's request id as trailing metadata, which gRPC sends with the reply and
    the status in one write. The client's gRPC retries a call only while it has received nothing:
    headers sent apart from the reply would commit the call, and a replica killed (or a connection
    aged out) between the two would leave the caller an UNAVAILABLE that no retry takes to another."""
    context.set_trailing_metadata(((REQUEST_ID_METADATA_KEY, request_id),))


def prepare_generation(
    serving: Serving, request: inference_pb2.GenerateRequest, remaining: float | None
) -> tuple[GenerationRequest, PromptNote | None]:
    """The engine request for a GenerateRequest (a few-shot one included), on the base model."""
    note = None
    prompt = None
    tools = tool_plan(request)
    if request.HasField("few_shot"):
        if tools is not None:
            raise InvalidRequest("tools", "need messages: tools are described in a chat, not a few-shot prompt")
        few_shot = serving.admission.few_shot(request)
        prompt, note = few_shot.prompt, PromptNote(tuple(few_shot.used))
    elif tools is not None:
        note = PromptNote(describes_prompt=False, tools=tools)
    return serving.admission.generation(request, time_remaining=remaining, prompt=prompt, tools=tools), note


def feedback_fields(request: inference_pb2.FeedbackRequest) -> tuple[str | None, int | None, int | None]:
    """The label, rating and thumb (1 up, -1 down) of a FeedbackRequest, checked; at least one is set."""
    if not request.request_id:
        raise InvalidRequest("request_id", "is empty; give the request_id of the answer judged")
    if len(request.request_id) > MAX_REQUEST_ID_CHARS:
        raise InvalidRequest("request_id", f"has {len(request.request_id)} characters; request ids have at most {MAX_REQUEST_ID_CHARS}")
    label = request.label if request.HasField("label") else None
    rating = request.rating if request.HasField("rating") else None
    if rating is not None and not 1 <= rating <= 5:
        raise InvalidRequest("rating", f"must be 1 to 5, got {rating}")
    thumbs = {inference_pb2.THUMB_UNSPECIFIED: None, inference_pb2.THUMB_UP: 1, inference_pb2.THUMB_DOWN: -1}
    if request.thumb not in thumbs:
        raise InvalidRequest("thumb", f"must be THUMB_UP or THUMB_DOWN, got {request.thumb}")
    thumb = thumbs[request.thumb]
    if label is None and rating is None and thumb is None:
        raise InvalidRequest("label", "give at least one of label, rating and thumb")
    return label, rating, thumb


async def tokenize(serving: Serving, request: inference_pb2.TokenizeRequest) -> inference_pb2.TokenizeResponse:
    """The tokens Generate would see for the request's text or messages (gRPC's Tokenize, HTTP's /tokenize)."""
    variables = request_variables(request)
    render = functools.partial(serving.admission.render, text_field="text", variables=variables)
    prompt, _ = await asyncio.to_thread(render, request.text, request.messages)
    tokens = serving.base.tokenizer.convert_ids_to_tokens(prompt.token_ids)
    response = inference_pb2.TokenizeResponse(token_ids=prompt.token_ids, tokens=tokens)
    limit = serving.settings.max_message_bytes
    if response.ByteSize() > limit:
        raise ResourceExhausted(
            f"the {len(tokens)} tokens take {response.ByteSize()} bytes, over "
            f"the server's max_message_bytes ({limit}); tokenize less at once"
        )
    return response


async def give_feedback(serving: Serving, request: inference_pb2.FeedbackRequest) -> FeedbackResult:
    """Checks a FeedbackRequest and joins it to the recorded answer (what gRPC and HTTP feedback do)."""
    label, rating, thumb = feedback_fields(request)
    if serving.experiments is None:
        raise FailedPrecondition("this server has no adapter store, so it records no answers to give feedback on")
    return await serving.experiments.feedback(request.request_id, label, rating, thumb)


class InferenceService(inference_pb2_grpc.InferenceServicer):
    def __init__(self, state: ServingState) -> None:
        self._state = state

    @contextlib.asynccontextmanager
    async def _admitted(
        self, request: inference_pb2.GenerateRequest, context: grpc.aio.ServicerContext, stream: bool
    ) -> AsyncIterator[tuple[Serving, GenerationRequest, PromptNote | None, Route]]:
        """Validates the request, then holds its adapter version until the generation ends; a
        failure on the server's side counts against the version that took the request."""
        serving = self._state.require()
        if not request.request_id:
            request.request_id = request_id_var.get()
        remaining = context.time_remaining()
        # rendering and tokenizing run off the event loop: a long prompt must not hold up other calls
        generation, note = await asyncio.to_thread(prepare_generation, serving, request, remaining)
        request_id_var.set(generation.request_id)
        route = await serving.adapters.acquire_routed(request.adapter, context.time_remaining(), request.routing_key)
        if route.arm:
            note = dataclasses.replace(note or PromptNote(describes_prompt=False), arm=route.arm)
        generation = dataclasses.replace(generation, adapter=route.adapter)
        try:
            with failures_recorded(serving, route, generation.request_id, generation.arrival):
                if stream:  # a unary call gives it with its reply (see request_id_trailer)
                    await request_id_header(context, generation.request_id)
                serving.shadows.copy(serving, route, generation)
                yield serving, generation, note, route
        finally:
            serving.adapters.release(route.adapter)

    async def Generate(self, request: inference_pb2.GenerateRequest, context: grpc.aio.ServicerContext) -> inference_pb2.GenerateResponse:
        async with self._admitted(request, context, stream=False) as (serving, generation, note, route):
            response = await answer_recorded(serving, generation, note, route)
            request_id_trailer(context, generation.request_id)
            return response

    async def GenerateStream(
        self, request: inference_pb2.GenerateRequest, context: grpc.aio.ServicerContext
    ) -> AsyncIterator[inference_pb2.GenerateStreamResponse]:
        async with self._admitted(request, context, stream=True) as (serving, generation, note, route):
            async for chunk in stream_recorded(serving, generation, note, route):
                yield chunk

    async def Feedback(self, request: inference_pb2.FeedbackRequest, context: grpc.aio.ServicerContext) -> inference_pb2.FeedbackResponse:
        result = await give_feedback(self._state.require(), request)
        answer = result.answer
        reply = inference_pb2.FeedbackResponse(
            request_id=answer.request_id, adapter=f"{answer.name}@{answer.version}", rollout_arm=answer.arm
        )
        if result.correct is not None:
            reply.correct = result.correct
        return reply

    async def Tokenize(self, request: inference_pb2.TokenizeRequest, context: grpc.aio.ServicerContext) -> inference_pb2.TokenizeResponse:
        return await tokenize(self._state.require(), request)

    async def ModelInfo(
        self, request: inference_pb2.ModelInfoRequest, context: grpc.aio.ServicerContext
    ) -> inference_pb2.ModelInfoResponse:
        serving = self._state.require()
        base, limits = serving.base, serving.admission.limits
        return inference_pb2.ModelInfoResponse(
            model=base.name,
            source=base.source.describe(),
            architecture=base.architecture,
            fingerprint=base.fingerprint,
            quantization=base.quantization,
            dtype=str(base.dtype).removeprefix("torch."),
            device=str(base.device),
            context_window=limits.context_window,
            vocab_size=int(base.config.vocab_size),
            max_batch_size=serving.engine.config.max_batch_size,
            max_prompt_tokens=limits.max_prompt_tokens,
            max_new_tokens_limit=limits.max_new_tokens_limit,
            has_chat_template=base.has_chat_template,
            server_version=__version__,
            precision_reason=base.precision.reason,
            kv_cache_dtype=str(base.precision.kv_cache_dtype).removeprefix("torch."),
            decode_step=serving.engine.decode_step,
        )

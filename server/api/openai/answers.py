"""How an OpenAI answer is worded: chat messages or plain text, whole or in chunks, with its
log-probabilities, its tool calls and its accounting."""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any, Protocol

from server.adapters.manager import Route
from server.api.openai.logprobs_format import chat_logprobs, completion_logprobs
from server.api.openai.schemas import ChatCompletionRequest, CompletionRequest, SamplingBody
from server.api.serving_state import Serving
from server.api.token_spelling import TokenSpeller
from server.api.tool_calling import ToolCall, ToolPlan
from server.engine.logprobs import TokenLogprob
from server.engine.request import Finished, GenerationEvent, StopReason


def finish_reason(reason: StopReason) -> str:
    if reason in (StopReason.MAX_TOKENS, StopReason.UNFINISHED_STRUCTURE, StopReason.TIME_LIMIT):
        return "length"
    return "abort" if reason is StopReason.CANCELLED else "stop"


def usage(finished: Finished) -> dict[str, Any]:
    return {
        "prompt_tokens": finished.prompt_tokens,
        "completion_tokens": finished.generated_tokens,
        "total_tokens": finished.prompt_tokens + finished.generated_tokens,
        "prompt_tokens_details": {"cached_tokens": finished.cached_prompt_tokens},
    }


def summed(usages: list[dict[str, Any]]) -> dict[str, Any]:
    """The usage of a request's generations together."""
    total = {key: sum(u[key] for u in usages) for key in ("prompt_tokens", "completion_tokens", "total_tokens")}
    cached = sum(u["prompt_tokens_details"]["cached_tokens"] for u in usages)
    return {**total, "prompt_tokens_details": {"cached_tokens": cached}}


@dataclasses.dataclass(frozen=True)
class Shape:
    """How one endpoint words its responses: chat messages or plain text."""

    route: str
    body: type[SamplingBody]
    object: str
    chunk_object: str
    id_prefix: str

    def choice(
        self,
        text: str,
        finished: Finished | None,
        delta: bool,
        first: bool = False,
        logprobs: dict[str, Any] | None = None,
        calls: list[ToolCall] | None = None,
        index: int = 0,
    ) -> dict[str, Any]:
        if self.object == "chat.completion":
            key = "delta" if delta else "message"
            content: dict[str, Any] = {"content": text} if text or not delta else {}
            if calls:
                content = {"content": None, "tool_calls": [tool_call(call, i, delta) for i, call in enumerate(calls)]}
            if first or not delta:
                content = {"role": "assistant", **content}
            choice: dict[str, Any] = {"index": index, key: content}
        else:
            choice = {"index": index, "text": text}
        choice["logprobs"] = logprobs
        choice["finish_reason"] = ("tool_calls" if calls else finish_reason(finished.reason)) if finished else None
        if finished is not None:  # vLLM's extension: why exactly it stopped
            choice["stop_reason"] = finished.stop_sequence or finished.reason.name.lower()
        return choice


def tool_call(call: ToolCall, index: int, delta: bool) -> dict[str, Any]:
    shown: dict[str, Any] = {"id": call.id, "type": "function", "function": {"name": call.name, "arguments": call.arguments}}
    return {"index": index, **shown} if delta else shown


CHAT = Shape("/v1/chat/completions", ChatCompletionRequest, "chat.completion", "chat.completion.chunk", "chatcmpl-")
TEXT = Shape("/v1/completions", CompletionRequest, "text_completion", "text_completion", "cmpl-")


def system_fingerprint(serving: Serving, route: Route) -> str:
    """Names what answered: the base model's weights and the adapter version (OpenAI's field for
    "the backend changed, expect different answers")."""
    adapter = route.adapter.label if route.adapter is not None else "base"
    return f"{serving.base.name}-{serving.base.fingerprint[:12]}+{adapter}"


class HeldCalls:
    """A streamed answer's text held back while it may be tool calls: from the start where the
    answer must call, from its first character ("{" or "[") where the model chooses."""

    def __init__(self, plan: ToolPlan | None) -> None:
        self._plan = plan
        self._held: list[str] = []
        self._calling: bool | None = False if plan is None or plan.mode == "none" else (True if plan.always_calls else None)

    def passed(self, text: str) -> str:
        """What of `text` streams now as content."""
        if self._calling is False:
            return text
        self._held.append(text)
        if self._calling is None:
            joined = "".join(self._held)
            if not joined.strip():
                return ""
            self._calling = joined.lstrip().startswith(("{", "["))
            if not self._calling:
                self._held = []
                return joined
        return ""

    def end(self) -> tuple[list[ToolCall] | None, str]:
        """The calls of the held text, or (None, the held text) where it did not make whole calls."""
        held = "".join(self._held)
        calls = self._plan.calls_in(held) if self._plan is not None and held else None
        return calls, "" if calls else held


@dataclasses.dataclass(frozen=True)
class Answer:
    """How one request's answer is worded: its shape, what the body asked of it, who answered."""

    shape: Shape
    body: SamplingBody
    model: str
    fingerprint: str
    speller: TokenSpeller
    prompt_ids: tuple[int, ...]
    tools: ToolPlan | None = None
    prompt_text: str = ""  # the prompt as the caller wrote it, where it was a text
    index: int = 0  # the choice's place among the request's answers
    repeats_prompt: bool = False  # a second or later choice of its prompt (n > 1): its prompt is counted once

    def envelope(self, kind: str, request_id: str) -> dict[str, Any]:
        return {
            "id": self.shape.id_prefix + request_id,
            "object": kind,
            "created": int(time.time()),
            "model": self.model,
            "system_fingerprint": self.fingerprint,
        }

    def usage(self, finished: Finished) -> dict[str, Any]:
        counted = usage(finished)
        if self.repeats_prompt:  # as OpenAI counts n choices: the prompt once, every choice's tokens
            counted["total_tokens"] -= counted["prompt_tokens"]
            counted["prompt_tokens"] = 0
            counted["prompt_tokens_details"] = {"cached_tokens": 0}
        if not self.body.keeps_output():  # the token generated to score the prompt is not part of the answer
            counted["completion_tokens"] = 0
            counted["total_tokens"] = counted["prompt_tokens"]
        return counted

    def echo(self) -> str:
        if not self.body.echoes():
            return ""
        return self.prompt_text or self.speller.decode(self.prompt_ids)

    def whole_choice(self, events: list[GenerationEvent], finished: Finished) -> dict[str, Any]:
        text = "".join(e.text for e in events) if self.body.keeps_output() else ""
        logprobs = [lp for e in events for lp in e.logprobs] if self.body.keeps_output() else []
        prompt = [lp for e in events for lp in e.prompt_logprobs]
        calls = self.tools.calls_in(text) if self.tools is not None else None
        shown = "" if calls else self.echo() + text
        return self.shape.choice(shown, finished, delta=False, logprobs=self._logprobs(prompt, logprobs), calls=calls, index=self.index)

    def delta_choices(self, event: GenerationEvent, finished: Finished | None, first: bool, held: HeldCalls) -> list[dict[str, Any]]:
        """A streamed event's choices: none where it adds nothing to say, two where held text ends
        as calls (the calls, then the finish)."""
        keeps = self.body.keeps_output()
        text = (self.echo() if first else "") + held.passed(event.text if keeps else "")
        logprobs = self._logprobs(event.prompt_logprobs, event.logprobs if keeps else [])
        if finished is None:
            if not (text or first):
                return []
            return [self.shape.choice(text, None, delta=True, first=first, logprobs=logprobs, index=self.index)]
        calls, rest = held.end()
        if calls:
            return [
                self.shape.choice("", None, delta=True, first=first, logprobs=logprobs, calls=calls, index=self.index),
                self.shape.choice("", finished, delta=True, calls=calls, index=self.index) | {"delta": {}},
            ]
        return [self.shape.choice(text + rest, finished, delta=True, first=first, logprobs=logprobs, index=self.index)]

    def _logprobs(self, prompt: list[TokenLogprob | None], generated: list[TokenLogprob]) -> dict[str, Any] | None:
        if not self.body.wants_logprobs():
            return None
        if self.shape is CHAT:
            return chat_logprobs(self.speller, generated)
        entries: list[tuple[int, TokenLogprob | None]] = []
        if prompt:  # echo: every prompt token, the first without a log-probability
            entries = [(token_id, lp) for token_id, lp in zip(self.prompt_ids, prompt, strict=True)]
        entries += [(lp.token_id, lp) for lp in generated]
        return completion_logprobs(self.speller, entries)


class StreamWording(Protocol):
    """How a streamed answer is worded as server-sent events: chat chunks or Responses events."""

    done: str  # what follows the last event ("data: [DONE]" for completions)

    def opening(self) -> list[str]:
        """The events before the first piece of any answer."""

    def event(self, index: int, event: GenerationEvent, used: dict[str, Any] | None) -> list[str]:
        """The events of answer `index`'s next piece; `used` (its usage) where the piece ends it."""

    def closing(self, usages: list[dict[str, Any]]) -> list[str]:
        """The events once every answer has ended."""

    def failure(self, error: dict[str, Any]) -> list[str]:
        """The events that say the request failed (`error`: OpenAI's error body)."""


class Chunks:
    """A chat or text completion's stream: one chunk per choice's piece, each in the envelope."""

    done = "data: [DONE]\n\n"

    def __init__(self, answers: list[Answer], request_id: str, include_usage: bool) -> None:
        self._answers = answers
        self._envelope = answers[0].envelope(answers[0].shape.chunk_object, request_id)
        self._include_usage = include_usage
        self._first = [True] * len(answers)
        self._held = [HeldCalls(answer.tools) for answer in answers]

    def opening(self) -> list[str]:
        return []

    def event(self, index: int, event: GenerationEvent, used: dict[str, Any] | None) -> list[str]:
        choices = self._answers[index].delta_choices(event, event.finished, self._first[index], self._held[index])
        if choices:
            self._first[index] = False
        return [sse_event({**self._envelope, "choices": [choice]}) for choice in choices]

    def closing(self, usages: list[dict[str, Any]]) -> list[str]:
        return [sse_event({**self._envelope, "choices": [], "usage": summed(usages)})] if self._include_usage else []

    def failure(self, error: dict[str, Any]) -> list[str]:
        return [sse_event(error)]


def sse_event(payload: dict[str, Any]) -> str:
    return f"data: {json.dumps(payload, ensure_ascii=False)}\n\n"

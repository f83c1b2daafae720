"""Admission: turning an API generate request into a validated, tokenized engine request.

Every check names the field to change and the allowed range, and raises InvalidRequest before
anything is queued. Which adapter answers is decided afterwards, by server.adapter_manager.
"""

from __future__ import annotations

import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

from server.base_model import BaseModel
from server.errors import InvalidRequest
from server.prompting import check_messages, encode, render_chat
from server.request import GenerationRequest
from server.sampling import SamplingParams

MAX_REQUEST_ID_CHARS = 128
MAX_TEMPERATURE = 100.0
MAX_REPETITION_PENALTY = 10.0


@dataclass(frozen=True)
class Limits:
    context_window: int
    max_prompt_tokens: int
    default_max_new_tokens: int
    max_new_tokens_limit: int
    max_stop_sequences: int
    max_stop_sequence_chars: int

    @classmethod
    def from_settings(cls, settings: Any, context_window: int) -> Limits:
        return cls(
            context_window=context_window,
            max_prompt_tokens=min(settings.max_prompt_tokens or context_window - 1, context_window - 1),
            default_max_new_tokens=settings.default_max_new_tokens,
            max_new_tokens_limit=settings.max_new_tokens_limit,
            max_stop_sequences=settings.max_stop_sequences,
            max_stop_sequence_chars=settings.max_stop_sequence_chars,
        )


@dataclass(frozen=True)
class Prompt:
    text: str
    token_ids: list[int]


def _in_range(field: str, value: float, low: float, high: float, low_open: bool = False) -> None:
    if not math.isfinite(value) or value > high or (value <= low if low_open else value < low):
        bracket = "(" if low_open else "["
        raise InvalidRequest(field, f"must be in {bracket}{low:g}, {high:g}], got {value:g}")


class Admission:
    def __init__(self, base: BaseModel, limits: Limits) -> None:
        self.base = base
        self.limits = limits

    def render(self, text: str, messages: Any, *, text_field: str = "prompt") -> tuple[Prompt, str]:
        """Renders exactly one of plain text and chat messages; returns it and the field it came from."""
        if text and len(messages):
            raise InvalidRequest(text_field, f"give either {text_field} or messages, not both")
        if len(messages):
            rendered = render_chat(self.base.tokenizer, check_messages(messages))
            return Prompt(rendered, encode(self.base.tokenizer, rendered, chat=True)), "messages"
        if text:
            return Prompt(text, encode(self.base.tokenizer, text, chat=False)), text_field
        raise InvalidRequest(text_field, f"is empty; give {text_field} or messages")

    def prompt(self, text: str, messages: Any, *, text_field: str = "prompt") -> Prompt:
        """`render`, then the prompt's token count checked against the limits."""
        prompt, field = self.render(text, messages, text_field=text_field)
        if not prompt.token_ids:
            raise InvalidRequest(field, "has no tokens")
        if len(prompt.token_ids) > self.limits.max_prompt_tokens:
            raise InvalidRequest(
                field, f"has {len(prompt.token_ids)} tokens; at most {self.limits.max_prompt_tokens} are accepted, shorten it"
            )
        return prompt

    def sampling(self, params: Any, prompt_tokens: int, defaults: Any = None) -> SamplingParams:
        """Validated decoding parameters; unset fields take `defaults` (a task's), then the server's."""
        limits = self.limits

        def pick(name: str, fallback: Any) -> Any:
            if params is not None and params.HasField(name):
                return getattr(params, name)
            if defaults is not None and defaults.HasField(name):
                return getattr(defaults, name)
            return fallback

        room = limits.context_window - prompt_tokens
        max_new = pick("max_new_tokens", None)
        if max_new is None:
            max_new = min(limits.default_max_new_tokens, room)
        elif not 1 <= max_new <= limits.max_new_tokens_limit:
            raise InvalidRequest("parameters.max_new_tokens", f"must be between 1 and {limits.max_new_tokens_limit}, got {max_new}")
        elif max_new > room:
            raise InvalidRequest(
                "parameters.max_new_tokens",
                f"the prompt has {prompt_tokens} tokens, so at most {room} more fit in the "
                f"{limits.context_window}-token context window; got {max_new}",
            )
        min_new = pick("min_new_tokens", 0)
        if not 0 <= min_new <= max_new:
            raise InvalidRequest("parameters.min_new_tokens", f"must be between 0 and max_new_tokens ({max_new}), got {min_new}")
        temperature = float(pick("temperature", 0.0))
        _in_range("parameters.temperature", temperature, 0.0, MAX_TEMPERATURE)
        top_p = float(pick("top_p", 1.0))
        _in_range("parameters.top_p", top_p, 0.0, 1.0, low_open=True)
        top_k = pick("top_k", 0)
        vocab = int(self.base.config.vocab_size)
        if not 0 <= top_k <= vocab:
            raise InvalidRequest("parameters.top_k", f"must be between 0 (off) and the vocabulary size {vocab}, got {top_k}")
        penalty = float(pick("repetition_penalty", 1.0))
        _in_range("parameters.repetition_penalty", penalty, 0.0, MAX_REPETITION_PENALTY, low_open=True)
        stop = tuple(params.stop) if params is not None and len(params.stop) else tuple(defaults.stop if defaults is not None else ())
        if len(stop) > limits.max_stop_sequences:
            raise InvalidRequest("parameters.stop", f"has {len(stop)} strings; at most {limits.max_stop_sequences} are allowed")
        for i, s in enumerate(stop):
            if not s or len(s) > limits.max_stop_sequence_chars:
                raise InvalidRequest(f"parameters.stop[{i}]", f"must have 1 to {limits.max_stop_sequence_chars} characters, got {len(s)}")
        seed = pick("seed", None)
        return SamplingParams(
            max_new_tokens=max_new,
            min_new_tokens=min_new,
            temperature=temperature,
            top_p=top_p,
            top_k=top_k,
            seed=seed,
            repetition_penalty=penalty,
            stop=stop,
        )

    def request_id(self, given: str) -> str:
        if len(given) > MAX_REQUEST_ID_CHARS:
            raise InvalidRequest("request_id", f"has {len(given)} characters; at most {MAX_REQUEST_ID_CHARS} are allowed")
        if given and not given.isprintable():
            raise InvalidRequest("request_id", "must be printable text")
        return given or uuid.uuid4().hex

    def generation(
        self,
        request: Any,
        *,
        time_remaining: float | None,
        arrival: float | None = None,
        defaults: Any = None,
        prompt: Prompt | None = None,
    ) -> GenerationRequest:
        """The engine request for an API GenerateRequest (or a prompt built by the caller), on the base model."""
        arrival = time.monotonic() if arrival is None else arrival
        request_id = self.request_id(request.request_id)
        prompt = prompt or self.prompt(request.prompt, request.messages)
        params = request.parameters if request.HasField("parameters") else None
        sampling = self.sampling(params, len(prompt.token_ids), defaults)
        limit_ms = params.time_limit_ms if params is not None and params.HasField("time_limit_ms") else 0
        return GenerationRequest(
            request_id=request_id,
            prompt_ids=tuple(prompt.token_ids),
            params=sampling,
            arrival=arrival,
            time_limit_at=arrival + limit_ms / 1000 if limit_ms else None,
            deadline_at=arrival + time_remaining if time_remaining is not None else None,
        )

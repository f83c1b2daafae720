"""The OpenAI request bodies this server accepts, and their translation into a GenerateRequest.

The translation is the only thing done here: the GenerateRequest then goes through the same
admission (validation, rendering, tokenizing, structured-output compilation) as a gRPC call.
Fields OpenAI defines that the engine cannot honour are refused with 400, not ignored.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from tuneserve.v1 import common_pb2, inference_pb2

from common.errors import InvalidRequest

# admission names fields as the proto does; an HTTP caller knows them by OpenAI's names
PARAMETER_NAMES = {
    "parameters.max_new_tokens": "max_tokens",
    "parameters.min_new_tokens": "min_tokens",
    "parameters.temperature": "temperature",
    "parameters.top_p": "top_p",
    "parameters.top_k": "top_k",
    "parameters.seed": "seed",
    "parameters.repetition_penalty": "repetition_penalty",
    "parameters.stop": "stop",
    "parameters.structured_output": "response_format",
    "request_id": "x-request-id",
}


def openai_param(field: str) -> str:
    """The OpenAI name of an admission field ("parameters.stop[2]" -> "stop[2]")."""
    for proto_name, name in PARAMETER_NAMES.items():
        if field == proto_name or field.startswith((proto_name + ".", proto_name + "[")):
            return name + field[len(proto_name) :]
    return field


class Body(BaseModel):
    # extra fields are kept so that unsupported ones can be named in a 400 rather than ignored;
    # strict: "5" is not a number and true is not 1, as OpenAI refuses them
    model_config = ConfigDict(extra="allow", strict=True)


class StreamOptions(Body):
    include_usage: bool = False


class JsonSchemaFormat(Body):
    name: str = "output"
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    strict: bool | None = None


class ResponseFormat(Body):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class SamplingBody(Body):
    """What chat and text completions share."""

    model: str = ""
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    stop: str | list[str] | None = None
    stream: bool = False
    stream_options: StreamOptions | None = None
    n: int = 1
    logprobs: Any = None
    user: str | None = None
    frequency_penalty: float = 0.0
    presence_penalty: float = 0.0
    response_format: ResponseFormat | None = None
    # vLLM's extras, which clients written for vLLM send through `extra_body`
    top_k: int | None = None
    min_tokens: int | None = None
    repetition_penalty: float | None = None
    guided_json: dict[str, Any] | str | None = None
    guided_regex: str | None = None
    guided_choice: list[str] | None = None
    guided_grammar: str | None = None

    def output_limit(self) -> int | None:
        return self.max_tokens

    def limit_name(self) -> str:
        """The name the caller gave the output limit under."""
        return "max_tokens"

    def parameters(self) -> common_pb2.GenerationParameters:
        """The GenerationParameters of this body; fields the engine cannot honour raise InvalidRequest."""
        self._refuse_unsupported()
        params = common_pb2.GenerationParameters()
        limit = self.output_limit()
        if limit is not None:
            params.max_new_tokens = limit
        # OpenAI's default temperature is 1; 0 decodes greedily, as in the gRPC API
        params.temperature = 1.0 if self.temperature is None else self.temperature
        for name in ("top_p", "seed", "top_k", "repetition_penalty"):
            value = getattr(self, name)
            if value is not None:
                setattr(params, name, value)
        if self.min_tokens:
            params.min_new_tokens = self.min_tokens
        if self.stop is not None:
            params.stop.extend([self.stop] if isinstance(self.stop, str) else self.stop)
        structured = self._structured_output()
        if structured is not None:
            params.structured_output.CopyFrom(structured)
        return params

    def _refuse_unsupported(self) -> None:
        if self.n < 1:
            raise InvalidRequest("n", f"must be at least 1, got {self.n}")
        if self.n != 1:
            raise InvalidRequest("n", f"only 1 choice per request is supported, got {self.n}; send {self.n} requests instead")
        if self.logprobs:
            raise InvalidRequest("logprobs", "log-probabilities of generated tokens are not available from this server")
        for name in ("frequency_penalty", "presence_penalty"):
            if getattr(self, name):
                raise InvalidRequest(name, "is not supported; use repetition_penalty (> 1 discourages repeated tokens)")
        if self.seed is not None and not 0 <= self.seed < 2**64:
            raise InvalidRequest("seed", "must be between 0 and 2**64 - 1")
        for name in ("top_k", "min_tokens"):
            value = getattr(self, name)
            if value is not None and not 0 <= value < 2**31:
                raise InvalidRequest(name, f"must be between 0 and {2**31 - 1}, got {value}")
        limit = self.output_limit()
        if limit is not None and not 1 <= limit < 2**31:  # -1 and 0 alike: the same rule, in one place
            raise InvalidRequest(self.limit_name(), f"must be at least 1, got {limit}")

    def _structured_output(self) -> common_pb2.StructuredOutput | None:
        given = {
            "response_format": self.response_format is not None and self.response_format.type != "text",
            "guided_json": self.guided_json is not None,
            "guided_regex": self.guided_regex is not None,
            "guided_choice": self.guided_choice is not None,
            "guided_grammar": self.guided_grammar is not None,
        }
        chosen = [name for name, present in given.items() if present]
        if len(chosen) > 1:
            raise InvalidRequest(chosen[1], f"give only one of {', '.join(chosen)}")
        if not chosen:
            return None
        if self.guided_json is not None:
            schema = self.guided_json if isinstance(self.guided_json, str) else json.dumps(self.guided_json)
            return common_pb2.StructuredOutput(json_schema=schema)
        if self.guided_regex is not None:
            return common_pb2.StructuredOutput(regex=self.guided_regex)
        if self.guided_choice is not None:
            return common_pb2.StructuredOutput(choice=common_pb2.ChoiceList(choices=self.guided_choice))
        if self.guided_grammar is not None:
            return common_pb2.StructuredOutput(lark_grammar=self.guided_grammar)
        assert self.response_format is not None
        if self.response_format.type == "json_object":
            return common_pb2.StructuredOutput(json_object=True)
        if self.response_format.json_schema is None:
            raise InvalidRequest("response_format.json_schema", "is required when type is json_schema")
        return common_pb2.StructuredOutput(json_schema=json.dumps(self.response_format.json_schema.schema_))


class TextPart(Body):
    type: str
    text: str = ""


class ChatMessage(Body):
    role: str
    content: str | list[TextPart] | None = None


class ChatCompletionRequest(SamplingBody):
    messages: list[ChatMessage]
    max_completion_tokens: int | None = None

    def output_limit(self) -> int | None:
        if self.max_completion_tokens is not None and self.max_tokens is not None and self.max_completion_tokens != self.max_tokens:
            raise InvalidRequest("max_completion_tokens", "differs from max_tokens; give one of them")
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens

    def limit_name(self) -> str:
        return "max_completion_tokens" if self.max_completion_tokens is not None else "max_tokens"

    def generate_request(self, adapter: str, request_id: str) -> inference_pb2.GenerateRequest:
        if not self.messages:
            raise InvalidRequest("messages", "is empty: give at least one message")
        messages = [common_pb2.ChatMessage(role=m.role, content=_text_of(m, i)) for i, m in enumerate(self.messages)]
        return inference_pb2.GenerateRequest(messages=messages, adapter=adapter, request_id=request_id, parameters=self.parameters())


class CompletionRequest(SamplingBody):
    prompt: str | list[str]
    echo: bool = False
    suffix: str | None = None
    best_of: int | None = None

    def generate_request(self, adapter: str, request_id: str) -> inference_pb2.GenerateRequest:
        if self.echo:
            raise InvalidRequest("echo", "is not supported")
        if self.suffix:
            raise InvalidRequest("suffix", "is not supported (no fill-in-the-middle)")
        if self.best_of not in (None, 1):
            raise InvalidRequest("best_of", "only 1 is supported")
        prompt = self.prompt
        if isinstance(prompt, list):
            if len(prompt) != 1:
                raise InvalidRequest("prompt", f"one prompt per request is supported, got a list of {len(prompt)}")
            prompt = prompt[0]
        return inference_pb2.GenerateRequest(prompt=prompt, adapter=adapter, request_id=request_id, parameters=self.parameters())


def _text_of(message: ChatMessage, index: int) -> str:
    if message.content is None or isinstance(message.content, str):
        return message.content or ""
    parts = []
    for j, part in enumerate(message.content):
        if part.type != "text":
            raise InvalidRequest(f"messages[{index}].content[{j}].type", f"only text parts are supported, got {part.type!r}")
        parts.append(part.text)
    return "".join(parts)


class FeedbackBody(BaseModel):
    """POST /v1/feedback: a judgement of an earlier answer, as in gRPC's Feedback."""

    model_config = ConfigDict(extra="forbid")

    request_id: str
    label: str | None = None
    rating: int | None = None
    thumb: Literal["up", "down"] | None = None

    def feedback_request(self) -> Any:
        from tuneserve.v1 import inference_pb2

        # a completion's id is its request id behind OpenAI's prefix; either is accepted
        request_id = self.request_id.removeprefix("chatcmpl-").removeprefix("cmpl-")
        thumb = {None: inference_pb2.THUMB_UNSPECIFIED, "up": inference_pb2.THUMB_UP, "down": inference_pb2.THUMB_DOWN}[self.thumb]
        request = inference_pb2.FeedbackRequest(request_id=request_id, label=self.label, thumb=thumb)
        if self.rating is not None:
            if not 0 <= self.rating < 2**32:
                from common.errors import InvalidRequest

                raise InvalidRequest("rating", f"must be 1 to 5, got {self.rating}")
            request.rating = self.rating
        return request

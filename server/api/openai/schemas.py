"""The OpenAI request bodies this server accepts, and their translation into a GenerateRequest.

The translation is the only thing done here: the GenerateRequest then goes through the same
admission (validation, rendering, tokenizing, structured-output compilation) as a gRPC call.
Nothing a caller sends is ignored: a field OpenAI (or vLLM) defines is honoured, accepted at its
neutral value, or refused with a 400 naming it (UNSUPPORTED); a field no one defines is refused
as OpenAI refuses it (`Body.refuse_unknown`), in nested objects too.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal, TypeGuard

from pydantic import BaseModel, ConfigDict, Field
from tuneserve.v1 import common_pb2, inference_pb2

from common.errors import UNKNOWN_PARAMETER, UNSUPPORTED_PARAMETER, InvalidRequest
from server.engine.logprobs import MAX_TOP_LOGPROBS

MAX_COMPLETION_LOGPROBS = 5  # OpenAI's limit for text completions
# Answers of one request: its prompts (a text completion's batch, from an evaluation harness) times
# n, each a generation of its own; as many as the engine's default waiting queue holds
MAX_GENERATIONS = 128
# below 2**32, as the proto's ids (the vocabulary is checked in admission); one spelling per id, so
# that "5" and "05" cannot both bias token 5, the last silently winning
_TOKEN_ID_KEY = re.compile(r"0|[1-9][0-9]{0,8}")
_TOOL_FIELD = re.compile(r"^tools\[(\d+)\]\.(name|description|parameters)")
TOOL_CHOICE_MODES = {
    "none": common_pb2.TOOL_CHOICE_MODE_NONE,
    "auto": common_pb2.TOOL_CHOICE_MODE_AUTO,
    "required": common_pb2.TOOL_CHOICE_MODE_REQUIRED,
}

# admission names fields as the proto does; an HTTP caller knows them by OpenAI's names
PARAMETER_NAMES = {
    "parameters.max_new_tokens": "max_tokens",
    "parameters.min_new_tokens": "min_tokens",
    "parameters.temperature": "temperature",
    "parameters.top_p": "top_p",
    "parameters.top_k": "top_k",
    "parameters.seed": "seed",
    "parameters.repetition_penalty": "repetition_penalty",
    "parameters.frequency_penalty": "frequency_penalty",
    "parameters.presence_penalty": "presence_penalty",
    "parameters.logit_bias": "logit_bias",
    "parameters.ignore_eos": "ignore_eos",
    "parameters.stop_token_ids": "stop_token_ids",
    "parameters.include_stop_str_in_output": "include_stop_str_in_output",
    "parameters.stop": "stop",
    "parameters.structured_output": "response_format",
    "parameters.top_logprobs": "top_logprobs",
    "tool_choice.function": "tool_choice.function.name",
    "tool_choice.mode": "tool_choice",
    "request_id": "x-request-id",
    "prompt_token_ids": "prompt",
}


def openai_param(field: str) -> str:
    """The OpenAI name of an admission field ("parameters.stop[2]" -> "stop[2]")."""
    field = _TOOL_FIELD.sub(r"tools[\1].function.\2", field)
    for proto_name, name in PARAMETER_NAMES.items():
        if field == proto_name or field.startswith((proto_name + ".", proto_name + "[")):
            return name + field[len(proto_name) :]
    return field


class Body(BaseModel):
    # extra fields are kept so that each can be named in a 400 rather than ignored (OpenAI refuses
    # a field it does not define); strict: "5" is not a number and true is not 1, as OpenAI refuses them
    model_config = ConfigDict(extra="allow", strict=True)

    def refuse_unknown(self, prefix: str = "") -> None:
        """Refuses the first field no one defines, here or in a nested body, naming it."""
        for name in self.model_extra or {}:
            raise InvalidRequest(prefix + name, "is not a field of this request (unrecognized request argument)", UNKNOWN_PARAMETER)
        for name, value in self:
            field = prefix + (type(self).model_fields[name].alias or name)
            if isinstance(value, Body):
                value.refuse_unknown(field + ".")
            elif isinstance(value, list):
                for i, item in enumerate(value):
                    if isinstance(item, Body):
                        item.refuse_unknown(f"{field}[{i}].")


class StreamOptions(Body):
    include_usage: bool = False
    include_obfuscation: bool = False  # padding against length side channels; nothing to pad here


class JsonSchemaFormat(Body):
    name: str = "output"
    description: str | None = None
    schema_: dict[str, Any] = Field(default_factory=dict, alias="schema")
    strict: bool | None = None


class ResponseFormat(Body):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: JsonSchemaFormat | None = None


class StructuredOutputs(Body):
    """vLLM's `structured_outputs` (since 0.12, in place of the `guided_*` fields): one of these."""

    json_: dict[str, Any] | str | None = Field(None, alias="json")
    regex: str | None = None
    choice: list[str] | None = None
    grammar: str | None = None
    json_object: bool | None = None

    def proto(self) -> common_pb2.StructuredOutput:
        given = [
            name
            for name in ("json", "regex", "choice", "grammar", "json_object")
            if getattr(self, name.replace("json", "json_", 1) if name == "json" else name) is not None
        ]
        if len(given) != 1:
            raise InvalidRequest(
                "structured_outputs", f"give exactly one of json, regex, choice, grammar and json_object, got {len(given)}"
            )
        if self.json_object is not None:
            if not self.json_object:
                raise InvalidRequest("structured_outputs.json_object", "must be true when set")
            return common_pb2.StructuredOutput(json_object=True)
        structured = _structured(self.json_, self.regex, self.choice, self.grammar)
        assert structured is not None
        return structured


# Fields OpenAI (or vLLM) defines that this server cannot honour: refused by name, with the
# reason, whenever given with anything but their neutral value. None of them is ignored.
UNSUPPORTED = {
    "audio": "is not supported: this server answers in text only",
    "prediction": "is not supported: predicted outputs are not used by this server",
    "web_search_options": "is not supported: this server has no web search",
    "reasoning_effort": "is not supported: the served models do not reason in hidden tokens",
    "verbosity": "is not supported by the served models",
    "metadata": "is not supported: completions are not stored, so there is nothing to tag",
    "functions": "is not supported: it was replaced by tools",
    "function_call": "is not supported: it was replaced by tool_choice",
    "suffix": "is not supported (no fill-in-the-middle)",
}
NEUTRAL: tuple[Any, ...] = (None, 0, 0.0, {}, [], "", False)


def set_template_variables(request: inference_pb2.GenerateRequest | inference_pb2.TokenizeRequest, given: dict[str, Any]) -> None:
    """Sets a request's chat_template_kwargs (checked in admission) from a JSON body's."""
    try:
        request.chat_template_kwargs.update(given)
    except (ValueError, TypeError, OverflowError):  # a number JSON can write and a double cannot hold
        raise InvalidRequest("chat_template_kwargs", "must be an object of booleans, finite numbers and strings") from None


def refuse_unsupported(body: BaseModel, reasons: dict[str, str]) -> None:
    """Refuses the first of the fields `reasons` names that the body gives with anything but its
    neutral value, with the reason."""
    for name, reason in reasons.items():
        value = getattr(body, name, None)
        if name in body.model_fields_set and not any(value == neutral and type(value) is type(neutral) for neutral in NEUTRAL):
            raise InvalidRequest(name, reason, UNSUPPORTED_PARAMETER)


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
    user: str | None = None  # the routing key of a rollout split (the same user, the same arm)
    safety_identifier: str | None = None  # OpenAI's newer name for `user`; the routing key when `user` is not given
    prompt_cache_key: str | None = None  # honoured without it: cached prefixes are found by their content
    service_tier: Literal["auto", "default"] | None = None  # one tier here; "flex", "priority" and "scale" are refused
    store: Literal[False] | None = None  # completions are not stored
    frequency_penalty: float | None = None
    presence_penalty: float | None = None
    logit_bias: dict[str, float] | None = None  # token ids (as JSON keys, so texts) and the bias added to each
    response_format: ResponseFormat | None = None
    # vLLM's extras, which clients written for vLLM send through `extra_body`
    top_k: int | None = None
    min_tokens: int | None = None
    ignore_eos: bool = False  # load tests (vLLM's and SGLang's benchmarks) send it, false included
    stop_token_ids: list[int] | None = None
    include_stop_str_in_output: bool = False
    best_of: int | None = None  # and best_of 1, to chat completions too
    repetition_penalty: float | None = None
    structured_outputs: StructuredOutputs | None = None
    guided_json: dict[str, Any] | str | None = None
    guided_regex: str | None = None
    guided_choice: list[str] | None = None
    guided_grammar: str | None = None

    def output_limit(self) -> int | None:
        return self.max_tokens

    def limit_name(self) -> str:
        """The name the caller gave the output limit under."""
        return "max_tokens"

    def routing_key(self) -> str:
        return self.user or self.safety_identifier or ""

    def parameters(self) -> common_pb2.GenerationParameters:
        """The GenerationParameters of this body; fields the engine cannot honour raise InvalidRequest."""
        self.refuse_unknown()
        self._refuse_unsupported()
        params = common_pb2.GenerationParameters()
        limit = self.output_limit()
        if limit is not None:
            params.max_new_tokens = limit
        # OpenAI's default temperature is 1; 0 decodes greedily, as in the gRPC API
        params.temperature = 1.0 if self.temperature is None else self.temperature
        for name in ("top_p", "top_k", "repetition_penalty", "frequency_penalty", "presence_penalty"):
            value = getattr(self, name)
            if value is not None:
                setattr(params, name, value)
        if self.seed is not None:  # OpenAI's and vLLM's seeds are signed: a negative one is its two's complement
            params.seed = self.seed % 2**64
        if self.min_tokens:
            params.min_new_tokens = self.min_tokens
        if self.ignore_eos:
            params.ignore_eos = True
        if self.stop_token_ids:
            params.stop_token_ids.extend(_token_ids(self.stop_token_ids, "stop_token_ids"))
        if self.best_of not in (None, 1):
            raise InvalidRequest("best_of", "only 1 is supported: each choice is one generation (ask for more with n)")
        if self.stop is not None:
            params.stop.extend([self.stop] if isinstance(self.stop, str) else self.stop)
        if self.include_stop_str_in_output:
            params.include_stop_str_in_output = True
        for key, bias in (self.logit_bias or {}).items():
            params.logit_bias[_token_id_key(key)] = bias
        structured = self._structured_output()
        if structured is not None:
            params.structured_output.CopyFrom(structured)
        self._logprob_parameters(params)
        return params

    def _logprob_parameters(self, params: common_pb2.GenerationParameters) -> None:
        """Sets what the body asks of log-probabilities (their fields differ between the two APIs)."""

    def wants_logprobs(self) -> bool:
        return False

    def echoes(self) -> bool:
        """Whether each answer begins with its prompt (text completions' echo)."""
        return False

    def generate_requests(self, adapter: str, request_id: str) -> list[inference_pb2.GenerateRequest]:
        """One GenerateRequest per prompt, in the order of the choices (each prompt has `n`)."""
        raise NotImplementedError

    def _prompts_checked(self, prompts: list[inference_pb2.GenerateRequest]) -> list[inference_pb2.GenerateRequest]:
        """The prompts' requests, once the answers they ask for (prompts times `n`) are within
        MAX_GENERATIONS. Each prompt is admitted once; its `n` choices are derived from it
        (`routes.choices_of`). `n` is at least 1 here: `parameters()` refused less."""
        if len(prompts) * self.n > MAX_GENERATIONS:
            raise InvalidRequest(
                "n", f"asks for {len(prompts) * self.n} answers ({len(prompts)} prompts, n={self.n}); at most {MAX_GENERATIONS} per request"
            )
        return prompts

    def keeps_output(self) -> bool:
        """False where only the echoed prompt is wanted (max_tokens 0): one token is generated and dropped."""
        return True

    def _refuse_unsupported(self) -> None:
        refuse_unsupported(self, UNSUPPORTED)
        if self.n < 1:
            raise InvalidRequest("n", f"must be at least 1, got {self.n}")
        if self.seed is not None and not -(2**63) <= self.seed < 2**64:
            raise InvalidRequest("seed", "must be between -2**63 and 2**64 - 1")
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
            "structured_outputs": self.structured_outputs is not None,
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
        if self.structured_outputs is not None:
            return self.structured_outputs.proto()
        return _structured(self.guided_json, self.guided_regex, self.guided_choice, self.guided_grammar) or self._response_format()

    def _response_format(self) -> common_pb2.StructuredOutput:
        assert self.response_format is not None
        if self.response_format.type == "json_object":
            return common_pb2.StructuredOutput(json_object=True)
        if self.response_format.json_schema is None:
            raise InvalidRequest("response_format.json_schema", "is required when type is json_schema")
        return common_pb2.StructuredOutput(json_schema=json.dumps(self.response_format.json_schema.schema_))


def _structured(json_schema: Any, regex: str | None, choice: list[str] | None, grammar: str | None) -> common_pb2.StructuredOutput | None:
    """The StructuredOutput of vLLM's four kinds, whichever one is given."""
    if json_schema is not None:
        return common_pb2.StructuredOutput(json_schema=json_schema if isinstance(json_schema, str) else json.dumps(json_schema))
    if regex is not None:
        return common_pb2.StructuredOutput(regex=regex)
    if choice is not None:
        return common_pb2.StructuredOutput(choice=common_pb2.ChoiceList(choices=choice))
    if grammar is not None:
        return common_pb2.StructuredOutput(lark_grammar=grammar)
    return None


class TextPart(Body):
    type: str
    text: str = ""


class FunctionCall(Body):
    name: str
    arguments: str = "{}"  # JSON text, as OpenAI sends it


class ToolCallBody(Body):
    id: str
    type: Literal["function"] = "function"
    function: FunctionCall


class ChatMessage(Body):
    role: str
    content: str | list[TextPart] | None = None
    tool_calls: list[ToolCallBody] | None = None
    tool_call_id: str | None = None
    name: str | None = None  # a participant's name: the chat templates have no place for it
    refusal: str | None = None  # an earlier answer's refusal, sent back in the history


class FunctionBody(Body):
    name: str
    description: str = ""
    parameters: dict[str, Any] | None = None
    strict: bool | None = None  # honoured whatever it says: arguments are always generated under the schema


class ToolBody(Body):
    type: Literal["function"]
    function: FunctionBody


class NamedFunction(Body):
    name: str


class NamedToolChoice(Body):
    type: Literal["function"]
    function: NamedFunction


class ChatCompletionRequest(SamplingBody):
    messages: list[ChatMessage]
    max_completion_tokens: int | None = None
    chat_template_kwargs: dict[str, Any] | None = None  # vLLM's: the chat template's own variables (checked in admission)
    logprobs: bool | None = None
    top_logprobs: int | None = None
    modalities: list[Literal["text"]] | None = None
    audio: dict[str, Any] | None = None
    prediction: dict[str, Any] | None = None
    web_search_options: dict[str, Any] | None = None
    reasoning_effort: str | None = None
    verbosity: str | None = None
    metadata: dict[str, Any] | None = None
    functions: list[Any] | None = None
    function_call: Any = None
    tools: list[ToolBody] | None = None
    tool_choice: Literal["none", "auto", "required"] | NamedToolChoice | None = None
    parallel_tool_calls: bool | None = None

    def output_limit(self) -> int | None:
        if self.max_completion_tokens is not None and self.max_tokens is not None and self.max_completion_tokens != self.max_tokens:
            raise InvalidRequest("max_completion_tokens", "differs from max_tokens; give one of them")
        return self.max_completion_tokens if self.max_completion_tokens is not None else self.max_tokens

    def limit_name(self) -> str:
        return "max_completion_tokens" if self.max_completion_tokens is not None else "max_tokens"

    def _logprob_parameters(self, params: common_pb2.GenerationParameters) -> None:
        if self.top_logprobs is not None:
            if not 0 <= self.top_logprobs <= MAX_TOP_LOGPROBS:
                raise InvalidRequest("top_logprobs", f"must be between 0 and {MAX_TOP_LOGPROBS}, got {self.top_logprobs}")
            if not self.logprobs:
                raise InvalidRequest("top_logprobs", "needs logprobs set to true")
        if self.logprobs:
            params.logprobs = True
            params.top_logprobs = self.top_logprobs or 0

    def wants_logprobs(self) -> bool:
        return bool(self.logprobs)

    def generate_requests(self, adapter: str, request_id: str) -> list[inference_pb2.GenerateRequest]:
        return self._prompts_checked([self.generate_request(adapter, request_id)])

    def generate_request(self, adapter: str, request_id: str) -> inference_pb2.GenerateRequest:
        if not self.messages:
            raise InvalidRequest("messages", "is empty: give at least one message")
        messages = [message_proto(m, i) for i, m in enumerate(self.messages)]
        request = inference_pb2.GenerateRequest(messages=messages, adapter=adapter, request_id=request_id, parameters=self.parameters())
        if self.chat_template_kwargs:
            set_template_variables(request, self.chat_template_kwargs)
        for tool in self.tools or []:
            parameters = json.dumps(tool.function.parameters) if tool.function.parameters is not None else ""
            request.tools.append(common_pb2.Tool(name=tool.function.name, description=tool.function.description, parameters=parameters))
        if isinstance(self.tool_choice, NamedToolChoice):
            request.tool_choice.CopyFrom(
                common_pb2.ToolChoice(mode=common_pb2.TOOL_CHOICE_MODE_FUNCTION, function=self.tool_choice.function.name)
            )
        elif self.tool_choice is not None:
            request.tool_choice.mode = TOOL_CHOICE_MODES[self.tool_choice]
        if self.parallel_tool_calls is not None:
            request.parallel_tool_calls = self.parallel_tool_calls
        return request


class CompletionRequest(SamplingBody):
    # a text, token ids, or a list of either (OpenAI's four forms); checked by `_prompts`, which
    # can say what is wrong better than a union's first error
    prompt: str | list[Any]
    echo: bool = False
    suffix: str | None = None
    logprobs: int | None = None

    def output_limit(self) -> int | None:
        # echo with max_tokens 0 scores the prompt alone (lm-evaluation-harness asks so): the engine
        # generates one token, which the answer leaves out
        return 1 if self.echo and self.max_tokens == 0 else self.max_tokens

    def _logprob_parameters(self, params: common_pb2.GenerationParameters) -> None:
        if self.logprobs is None:
            return
        if not 0 <= self.logprobs <= MAX_COMPLETION_LOGPROBS:
            raise InvalidRequest("logprobs", f"must be between 0 and {MAX_COMPLETION_LOGPROBS}, got {self.logprobs}")
        params.logprobs = True
        params.top_logprobs = self.logprobs
        params.prompt_logprobs = self.echo

    def wants_logprobs(self) -> bool:
        return self.logprobs is not None

    def echoes(self) -> bool:
        return self.echo

    def keeps_output(self) -> bool:
        return not (self.echo and self.max_tokens == 0)

    def _prompts(self) -> list[str | list[int]]:
        """The prompts, each a text or token ids: one, or a list of them (a batch, each answered in
        its own choice)."""
        prompt = self.prompt
        if isinstance(prompt, str):
            return [prompt]
        if _looks_like_token_ids(prompt):
            return [_token_ids(prompt, "prompt")]
        if not prompt:
            raise InvalidRequest("prompt", "is an empty list; give a text, token ids, or a list of either")
        if len(prompt) > MAX_GENERATIONS:
            raise InvalidRequest("prompt", f"has {len(prompt)} prompts; at most {MAX_GENERATIONS} are accepted in one request")
        prompts: list[str | list[int]] = []
        for i, one in enumerate(prompt):
            if isinstance(one, str):
                prompts.append(one)
            elif _looks_like_token_ids(one):
                prompts.append(_token_ids(one, f"prompt[{i}]"))
            else:
                raise InvalidRequest(f"prompt[{i}]", "must be a text or a list of token ids")
        return prompts

    def generate_requests(self, adapter: str, request_id: str) -> list[inference_pb2.GenerateRequest]:
        parameters = self.parameters()
        requests = []
        for prompt in self._prompts():
            request = inference_pb2.GenerateRequest(adapter=adapter, request_id=request_id, parameters=parameters)
            if isinstance(prompt, str):
                request.prompt = prompt
            else:
                request.prompt_token_ids.extend(prompt)
            requests.append(request)
        return self._prompts_checked(requests)


def _token_id_key(key: str) -> int:
    """A logit_bias key: a token id spelled in ASCII digits (JSON keys are texts)."""
    if not _TOKEN_ID_KEY.fullmatch(key):
        raise InvalidRequest(
            "logit_bias", f'has the key {key[:32]!r}; its keys are token ids in decimal, such as "1234" (no sign, no leading zero)'
        )
    return int(key)


def _looks_like_token_ids(prompt: Any) -> TypeGuard[list[Any]]:
    return isinstance(prompt, list) and bool(prompt) and not isinstance(prompt[0], (str, list))


def _token_ids(tokens: list[Any], field: str) -> list[int]:
    # the proto's ids are 32-bit; admission checks them against the model's vocabulary
    outside = next((i for i, token in enumerate(tokens) if type(token) is not int or not 0 <= token < 2**32), None)
    if outside is not None:
        raise InvalidRequest(field, f"[{outside}] is {tokens[outside]!r}; token ids are whole numbers from 0")
    return tokens


def message_proto(message: ChatMessage, index: int) -> common_pb2.ChatMessage:
    if message.name:
        raise InvalidRequest(
            f"messages[{index}].name", "is not supported: the chat template has no place for participant names", UNSUPPORTED_PARAMETER
        )
    calls = [common_pb2.ToolCall(id=c.id, name=c.function.name, arguments=c.function.arguments) for c in message.tool_calls or []]
    return common_pb2.ChatMessage(
        role=message.role, content=_text_of(message, index), tool_calls=calls, tool_call_id=message.tool_call_id or ""
    )


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
        request_id = self.request_id.removeprefix("chatcmpl-").removeprefix("cmpl-").removeprefix("resp_")
        thumb = {None: inference_pb2.THUMB_UNSPECIFIED, "up": inference_pb2.THUMB_UP, "down": inference_pb2.THUMB_DOWN}[self.thumb]
        request = inference_pb2.FeedbackRequest(request_id=request_id, label=self.label, thumb=thumb)
        if self.rating is not None:
            if not 0 <= self.rating < 2**32:
                raise InvalidRequest("rating", f"must be 1 to 5, got {self.rating}")
            request.rating = self.rating
        return request

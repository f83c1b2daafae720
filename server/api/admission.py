"""Admission: turning an API generate request into a validated, tokenized engine request.

Every check names the field to change and the allowed range, and raises InvalidRequest before
anything is queued. Which adapter answers is decided afterwards, by server.adapters.manager.
"""

from __future__ import annotations

import json
import math
import re
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from google.protobuf import struct_pb2
from pydantic import ValidationError
from tuneserve.v1 import common_pb2, inference_pb2

from common.base_model import BaseModel
from common.errors import CONTEXT_LENGTH_EXCEEDED, InvalidRequest, invalid_request
from common.prompting import check_messages, encode, encode_raw, render_chat
from common.rpc.enums import enum_choice
from server.api.tool_calling import ToolPlan, describe_tools, has_tool_turns, rendered_turns
from server.engine.logprobs import MAX_TOP_LOGPROBS
from server.engine.request import GenerationRequest
from server.engine.sampling import SamplingParams
from server.engine.structured_output import Constraint, ConstraintSpec, GrammarCompiler, GrammarLimits

Params = common_pb2.GenerationParameters
Messages = Sequence[common_pb2.ChatMessage]
ONE_INPUT = "prompt, prompt_token_ids, messages and few_shot"

MAX_REQUEST_ID_CHARS = 128
MAX_TEMPERATURE = 100.0
MAX_REPETITION_PENALTY = 10.0
MAX_OPENAI_PENALTY = 2.0  # frequency and presence penalties, as OpenAI bounds them
MAX_LOGIT_BIAS = 100.0  # OpenAI's bound on each bias
MAX_LOGIT_BIAS_TOKENS = 1024
MAX_STOP_TOKEN_IDS = 64
MAX_TEMPLATE_VARIABLES = 16
MAX_TEMPLATE_VARIABLE_CHARS = 1000
_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,63}")
# names the chat template gets from transformers (its arguments and globals), which a caller's
# variable must not replace; the special tokens (`*_token`) too
TEMPLATE_OWN_NAMES = frozenset(
    {
        "messages",
        "conversation",
        "tools",
        "documents",
        "add_generation_prompt",
        "continue_final_message",
        "chat_template",
        "tokenize",
        "padding",
        "truncation",
        "max_length",
        "return_tensors",
        "return_dict",
        "return_assistant_tokens_mask",
        "tokenizer_kwargs",
        "raise_exception",
        "strftime_now",
    }
)


class LimitSettings(Protocol):
    """The settings admission reads (server.config.ServerSettings)."""

    max_prompt_tokens: int | None
    default_max_new_tokens: int
    max_new_tokens_limit: int
    max_stop_sequences: int
    max_stop_sequence_chars: int
    max_demonstrations: int
    max_demonstration_chars: int
    max_structured_output_chars: int
    grammar_cache_size: int
    grammar_max_size: int
    grammar_lexer_fuel: int
    grammar_step_fuel: int
    grammar_max_lexer_states: int


@dataclass(frozen=True)
class Limits:
    context_window: int
    max_prompt_tokens: int
    default_max_new_tokens: int
    max_new_tokens_limit: int
    max_stop_sequences: int
    max_stop_sequence_chars: int
    max_demonstrations: int = 256
    max_demonstration_chars: int = 16384
    max_prompt_chars: int = 2**31  # more characters than max_prompt_tokens can hold, whatever they are
    max_structured_output_chars: int = 65536
    grammar_cache_size: int = 128
    grammar: GrammarLimits = GrammarLimits()

    @classmethod
    def from_settings(cls, settings: LimitSettings, context_window: int, longest_token_chars: int) -> Limits:
        max_prompt_tokens = min(settings.max_prompt_tokens or context_window - 1, context_window - 1)
        return cls(
            context_window=context_window,
            max_prompt_tokens=max_prompt_tokens,
            default_max_new_tokens=settings.default_max_new_tokens,
            max_new_tokens_limit=settings.max_new_tokens_limit,
            max_stop_sequences=settings.max_stop_sequences,
            max_stop_sequence_chars=settings.max_stop_sequence_chars,
            max_demonstrations=settings.max_demonstrations,
            max_demonstration_chars=settings.max_demonstration_chars,
            max_prompt_chars=max_prompt_tokens * longest_token_chars,
            max_structured_output_chars=settings.max_structured_output_chars,
            grammar_cache_size=settings.grammar_cache_size,
            grammar=GrammarLimits(
                max_grammar_size=settings.grammar_max_size,
                lexer_fuel=settings.grammar_lexer_fuel,
                step_lexer_fuel=settings.grammar_step_fuel,
                max_lexer_states=settings.grammar_max_lexer_states,
            ),
        )


@dataclass(frozen=True)
class Prompt:
    text: str
    token_ids: list[int]


@dataclass(frozen=True)
class FewShotPrompt:
    prompt: Prompt
    used: list[int]  # indices of the request's demonstrations in the prompt, in prompt order


def _in_range(field: str, value: float, low: float, high: float, low_open: bool = False) -> None:
    if not math.isfinite(value) or value > high or (value <= low if low_open else value < low):
        bracket = "(" if low_open else "["
        raise InvalidRequest(field, f"must be in {bracket}{low:g}, {high:g}], got {value:g}")


def _logit_bias(given: Mapping[int, float], vocab: int) -> tuple[tuple[int, float], ...]:
    """A request's logit_bias, checked: every id must index the logits, every bias be in range."""
    if len(given) > MAX_LOGIT_BIAS_TOKENS:
        raise InvalidRequest("parameters.logit_bias", f"has {len(given)} tokens; at most {MAX_LOGIT_BIAS_TOKENS} are allowed")
    for token, bias in sorted(given.items()):
        if token >= vocab:
            raise InvalidRequest("parameters.logit_bias", f"names token {token}, not a token of the model's {vocab}-token vocabulary")
        _in_range(f"parameters.logit_bias[{token}]", bias, -MAX_LOGIT_BIAS, MAX_LOGIT_BIAS)
    return tuple(sorted((token, float(bias)) for token, bias in given.items() if bias))


def _stop_token_ids(given: list[int], vocab: int) -> frozenset[int]:
    """A request's stop_token_ids, checked: ids the model can produce, not too many."""
    if len(given) > MAX_STOP_TOKEN_IDS:
        raise InvalidRequest("parameters.stop_token_ids", f"has {len(given)} ids; at most {MAX_STOP_TOKEN_IDS} are allowed")
    outside = next((i for i, token in enumerate(given) if token >= vocab), None)
    if outside is not None:
        raise InvalidRequest(
            f"parameters.stop_token_ids[{outside}]", f"is {given[outside]}, not a token of the model's {vocab}-token vocabulary"
        )
    return frozenset(given)


def template_variables(given: struct_pb2.Struct) -> dict[str, Any]:
    """A request's chat_template_kwargs, checked: a few named scalars that are not the template's own."""
    if len(given.fields) > MAX_TEMPLATE_VARIABLES:
        raise InvalidRequest("chat_template_kwargs", f"has {len(given.fields)} names; at most {MAX_TEMPLATE_VARIABLES} are allowed")
    variables: dict[str, Any] = {}
    for name, value in sorted(given.fields.items()):
        if not _IDENTIFIER.fullmatch(name):
            raise InvalidRequest("chat_template_kwargs", f"has the name {name[:64]!r}; names are identifiers (letters, digits, _)")
        if name in TEMPLATE_OWN_NAMES or name.endswith("_token"):
            raise InvalidRequest(f"chat_template_kwargs.{name}", "is the chat template's own; it cannot be set")
        kind = value.WhichOneof("kind")
        if kind == "bool_value":
            variables[name] = value.bool_value
        elif kind == "number_value" and math.isfinite(value.number_value):
            number = value.number_value
            variables[name] = int(number) if number.is_integer() and abs(number) < 2**53 else number  # JSON has one number type
        elif kind == "string_value" and len(value.string_value) <= MAX_TEMPLATE_VARIABLE_CHARS:
            variables[name] = value.string_value
        else:
            raise InvalidRequest(
                f"chat_template_kwargs.{name}",
                f"must be a boolean, a finite number or a string of at most {MAX_TEMPLATE_VARIABLE_CHARS} characters",
            )
    return variables


def request_variables(request: inference_pb2.GenerateRequest | inference_pb2.TokenizeRequest) -> dict[str, Any]:
    """The template variables a request with messages sets (none when it sets none)."""
    if not request.HasField("chat_template_kwargs"):
        return {}
    variables = template_variables(request.chat_template_kwargs)
    if variables and not len(request.messages):
        raise InvalidRequest("chat_template_kwargs", "applies to messages: only they are rendered with the chat template")
    return variables


_FORMATS = ("json_schema", "json_object", "regex", "choice", "lark_grammar")


def _structured(params: Params | None, defaults: Params | None) -> common_pb2.StructuredOutput | None:
    for source in (params, defaults):
        if source is not None and source.HasField("structured_output"):
            return source.structured_output
    return None


def _canonical_schema(text: str, field: str) -> str:
    # the same schema written with other spacing or key order compiles once
    try:
        schema = json.loads(text)
    except json.JSONDecodeError as exc:
        raise InvalidRequest(field, f"is not JSON: {exc}") from None
    if not isinstance(schema, dict):
        raise InvalidRequest(field, "must be a JSON object (a JSON schema)")
    return json.dumps(schema, sort_keys=True, separators=(",", ":"))


class Admission:
    def __init__(self, base: BaseModel, limits: Limits) -> None:
        self.base = base
        self.limits = limits
        self.grammars = GrammarCompiler(
            base.tokenizer, int(base.config.vocab_size), base.eos_token_ids, limits.grammar_cache_size, limits.grammar
        )

    def render(
        self,
        text: str,
        messages: Messages,
        *,
        text_field: str = "prompt",
        tools: ToolPlan | None = None,
        variables: Mapping[str, Any] | None = None,
    ) -> tuple[Prompt, str]:
        """Renders exactly one of plain text and chat messages (with `tools` described, and calls
        and results in the history, server.api.tool_calling, and the template's own `variables`);
        returns it and the field it came from.

        Inputs longer than `max_prompt_tokens` tokens could possibly hold are refused before any
        tokenizing, so an oversized request costs nothing but its own transfer.
        """
        if text and len(messages):
            raise InvalidRequest(text_field, f"give either {text_field} or messages, not both")
        tokenizer = self.base.tokenizer
        if len(messages):
            checked = check_messages(rendered_turns(messages) if tools is not None or has_tool_turns(messages) else messages)
            if tools is not None:
                checked = describe_tools(checked, tools)
            self.check_chars("messages", sum(len(m["content"]) for m in checked))
            rendered = render_chat(tokenizer, checked, variables=variables)
            return Prompt(rendered, encode(tokenizer, rendered)), "messages"
        if text:
            self.check_chars(text_field, len(text))
            return Prompt(text, encode_raw(tokenizer, text)), text_field
        raise InvalidRequest(text_field, f"is empty; give {text_field} or messages" + (" or few_shot" if text_field == "prompt" else ""))

    def check_chars(self, field: str, chars: int) -> None:
        limits = self.limits
        if chars > limits.max_prompt_chars:
            raise InvalidRequest(
                field,
                f"has {chars} characters, more than {limits.max_prompt_tokens} tokens (max_prompt_tokens) can hold; shorten it",
                CONTEXT_LENGTH_EXCEEDED,
            )

    def budget(self, params: Params | None, defaults: Params | None = None, cap: int = 0) -> int:
        """Prompt tokens available when the output needs room for max_new_tokens (default if unset)."""
        limits = self.limits
        for source in (params, defaults):
            if source is not None and source.HasField("max_new_tokens"):
                output = source.max_new_tokens
                break
        else:
            output = limits.default_max_new_tokens
        room = limits.context_window - max(1, min(output, limits.max_new_tokens_limit))
        budget = min(limits.max_prompt_tokens, room)
        return min(budget, cap) if cap else budget

    def few_shot(self, request: inference_pb2.GenerateRequest) -> FewShotPrompt:
        """The prompt of a few-shot request: demonstrations chosen and ordered to fit the budget."""
        from common.task_spec import Demonstration, TaskSpec
        from server.tasks.few_shot import build

        fs = request.few_shot
        if request.prompt or len(request.messages) or len(request.prompt_token_ids):
            raise InvalidRequest("few_shot", f"give exactly one of {ONE_INPUT}")
        if not fs.query.strip():
            raise InvalidRequest("few_shot.query", "is empty")
        limits = self.limits
        if len(fs.demonstrations) > limits.max_demonstrations:
            raise InvalidRequest(
                "few_shot.demonstrations", f"has {len(fs.demonstrations)}; at most {limits.max_demonstrations} are accepted"
            )
        for name, text in (("few_shot.query", fs.query), ("few_shot.instruction", fs.instruction)):
            if len(text) > limits.max_demonstration_chars:
                raise InvalidRequest(name, f"has {len(text)} characters; at most {limits.max_demonstration_chars} are accepted")
        demos = []
        for i, d in enumerate(fs.demonstrations):
            for part in ("input", "output"):
                value = getattr(d, part)
                if not value.strip() or len(value) > limits.max_demonstration_chars:
                    raise InvalidRequest(
                        f"few_shot.demonstrations[{i}].{part}", f"must have 1 to {limits.max_demonstration_chars} characters"
                    )
            demos.append(Demonstration(input=d.input, output=d.output))
        if fs.input_format and fs.input_format.count("{input}") != 1:
            raise InvalidRequest("few_shot.input_format", "must contain {input} exactly once")
        if fs.max_prompt_tokens > limits.max_prompt_tokens:
            raise InvalidRequest(
                "few_shot.max_prompt_tokens", f"must be at most the server's max_prompt_tokens ({limits.max_prompt_tokens})"
            )
        try:
            template = fs.template or ("chat" if self.base.has_chat_template else "plain")  # a base model has no chat template
            spec = TaskSpec(name="request", instruction=fs.instruction, template=template, input_format=fs.input_format)
        except ValidationError as exc:
            raise invalid_request(exc, "few_shot.", "few_shot") from None
        params = request.parameters if request.HasField("parameters") else None
        built = build(
            self.base.tokenizer,
            spec,
            fs.query,
            demos,
            self.budget(params, cap=fs.max_prompt_tokens),
            strategy=enum_choice(inference_pb2.DemonstrationSelection, fs.selection, "DEMONSTRATION_SELECTION_", "few_shot.selection"),  # type: ignore[arg-type]
            ordering=enum_choice(inference_pb2.DemonstrationOrder, fs.order, "DEMONSTRATION_ORDER_", "few_shot.order"),  # type: ignore[arg-type]
            seed=fs.seed,
            max_count=fs.max_demonstrations,
            query_field="few_shot.query",
        )
        return FewShotPrompt(Prompt(built.text, built.token_ids), built.used)

    def prompt(
        self,
        text: str,
        messages: Messages,
        *,
        text_field: str = "prompt",
        tools: ToolPlan | None = None,
        variables: Mapping[str, Any] | None = None,
    ) -> Prompt:
        """`render`, then the prompt's token count checked against the limits."""
        prompt, field = self.render(text, messages, text_field=text_field, tools=tools, variables=variables)
        if not prompt.token_ids:
            raise InvalidRequest(field, "has no tokens")
        if len(prompt.token_ids) > self.limits.max_prompt_tokens:
            raise InvalidRequest(
                field,
                f"has {len(prompt.token_ids)} tokens; at most {self.limits.max_prompt_tokens} are accepted, shorten it",
                CONTEXT_LENGTH_EXCEEDED,
            )
        return prompt

    def token_prompt(self, request: inference_pb2.GenerateRequest) -> Prompt:
        """A GenerateRequest's prompt_token_ids, checked: every id must index the embedding, or the
        step that reads it would fail for the whole batch."""
        ids = list(request.prompt_token_ids)
        if request.prompt or len(request.messages):
            raise InvalidRequest("prompt_token_ids", f"give exactly one of {ONE_INPUT}")
        if len(ids) > self.limits.max_prompt_tokens:
            raise InvalidRequest(
                "prompt_token_ids",
                f"has {len(ids)} tokens; at most {self.limits.max_prompt_tokens} are accepted, shorten it",
                CONTEXT_LENGTH_EXCEEDED,
            )
        vocab = int(self.base.config.vocab_size)
        outside = next((i for i, token in enumerate(ids) if token >= vocab), None)
        if outside is not None:
            raise InvalidRequest("prompt_token_ids", f"[{outside}] is {ids[outside]}, not a token of the model's {vocab}-token vocabulary")
        return Prompt(str(self.base.tokenizer.decode(ids)), ids)

    def sampling(self, params: Params | None, prompt_tokens: int, defaults: Params | None = None) -> SamplingParams:
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
                CONTEXT_LENGTH_EXCEEDED,
            )
        min_new = pick("min_new_tokens", 0)
        if not 0 <= min_new <= max_new:
            raise InvalidRequest("parameters.min_new_tokens", f"must be between 0 and max_new_tokens ({max_new}), got {min_new}")
        if min_new and _structured(params, defaults) is not None:
            raise InvalidRequest(
                "parameters.min_new_tokens", "cannot be combined with structured_output: the grammar decides where the answer ends"
            )
        if pick("ignore_eos", False):  # end tokens are suppressed until min_new_tokens: until the end
            if _structured(params, defaults) is not None:
                raise InvalidRequest(
                    "parameters.ignore_eos", "cannot be combined with structured_output: the grammar decides where the answer ends"
                )
            min_new = max_new
        temperature = float(pick("temperature", 0.0))
        _in_range("parameters.temperature", temperature, 0.0, MAX_TEMPERATURE)
        top_p = float(pick("top_p", 1.0))
        _in_range("parameters.top_p", top_p, 0.0, 1.0)  # 0 keeps the likeliest token alone, as OpenAI takes it
        top_k = pick("top_k", 0)
        vocab = int(self.base.config.vocab_size)
        if not 0 <= top_k <= vocab:
            raise InvalidRequest("parameters.top_k", f"must be between 0 (off) and the vocabulary size {vocab}, got {top_k}")
        penalty = float(pick("repetition_penalty", 1.0))
        _in_range("parameters.repetition_penalty", penalty, 0.0, MAX_REPETITION_PENALTY, low_open=True)
        frequency, presence = float(pick("frequency_penalty", 0.0)), float(pick("presence_penalty", 0.0))
        _in_range("parameters.frequency_penalty", frequency, -MAX_OPENAI_PENALTY, MAX_OPENAI_PENALTY)
        _in_range("parameters.presence_penalty", presence, -MAX_OPENAI_PENALTY, MAX_OPENAI_PENALTY)
        bias = _logit_bias(params.logit_bias if params is not None else {}, vocab)
        stop_ids = _stop_token_ids(list(params.stop_token_ids) if params is not None else [], vocab)
        stop = tuple(params.stop) if params is not None and len(params.stop) else tuple(defaults.stop if defaults is not None else ())
        if len(stop) > limits.max_stop_sequences:
            raise InvalidRequest("parameters.stop", f"has {len(stop)} strings; at most {limits.max_stop_sequences} are allowed")
        for i, s in enumerate(stop):
            if not s or len(s) > limits.max_stop_sequence_chars:
                raise InvalidRequest(f"parameters.stop[{i}]", f"must have 1 to {limits.max_stop_sequence_chars} characters, got {len(s)}")
        seed = pick("seed", None)
        logprobs, top_logprobs, prompt_logprobs = (
            bool(pick("logprobs", False)),
            pick("top_logprobs", 0),
            bool(pick("prompt_logprobs", False)),
        )
        if not 0 <= top_logprobs <= MAX_TOP_LOGPROBS:
            raise InvalidRequest("parameters.top_logprobs", f"must be between 0 and {MAX_TOP_LOGPROBS}, got {top_logprobs}")
        if top_logprobs and not (logprobs or prompt_logprobs):
            raise InvalidRequest("parameters.top_logprobs", "needs logprobs (or prompt_logprobs) set to true")
        return SamplingParams(
            max_new_tokens=max_new,
            min_new_tokens=min_new,
            temperature=temperature,
            top_p=top_p,
            top_k=top_k,
            seed=seed,
            repetition_penalty=penalty,
            frequency_penalty=frequency,
            presence_penalty=presence,
            logit_bias=bias,
            stop=stop,
            include_stop=bool(pick("include_stop_str_in_output", False)),
            stop_token_ids=stop_ids,
            logprobs=logprobs,
            top_logprobs=top_logprobs,
            prompt_logprobs=prompt_logprobs,
        )

    def constraint(self, params: Params | None, defaults: Params | None = None) -> Constraint | None:
        """The compiled structured-output grammar of the request (or of the task's defaults), if any."""
        structured = _structured(params, defaults)
        if structured is None:
            return None
        return self.compile(structured, "parameters.structured_output")

    def compile(self, structured: common_pb2.StructuredOutput, where: str) -> Constraint:
        """A StructuredOutput compiled; refusals name its field under `where`."""
        kind = structured.WhichOneof("format")
        field = f"{where}.{kind}"
        if kind is None:
            raise InvalidRequest(where, f"set one of {', '.join(_FORMATS)}")
        if kind == "json_object":
            if not structured.json_object:
                raise InvalidRequest(field, "must be true when set")
            spec = ConstraintSpec("json_object", '{"type": "object"}')
        elif kind == "choice":
            choices = list(structured.choice.choices)
            if not choices or not all(choices):
                raise InvalidRequest(field, "must list at least one choice, none of them empty")
            spec = ConstraintSpec("choice", json.dumps(choices))
        else:
            source = getattr(structured, kind)
            if not source.strip():
                raise InvalidRequest(field, "is empty")
            if kind == "json_schema":
                source = _canonical_schema(source, field)
            spec = ConstraintSpec(kind, source)
        if len(spec.source) > self.limits.max_structured_output_chars:
            raise InvalidRequest(
                field, f"has {len(spec.source)} characters; at most {self.limits.max_structured_output_chars} are accepted"
            )
        return self.grammars.compile(spec, field)

    def request_id(self, given: str) -> str:
        if len(given) > MAX_REQUEST_ID_CHARS:
            raise InvalidRequest("request_id", f"has {len(given)} characters; at most {MAX_REQUEST_ID_CHARS} are allowed")
        if given and not (given.isascii() and given.isprintable()):  # it goes back as gRPC metadata, which is ASCII
            raise InvalidRequest("request_id", "must be printable ASCII text")
        return given or uuid.uuid4().hex

    def generation(
        self,
        request: inference_pb2.GenerateRequest,
        *,
        time_remaining: float | None,
        arrival: float | None = None,
        defaults: Params | None = None,
        prompt: Prompt | None = None,
        tools: ToolPlan | None = None,
    ) -> GenerationRequest:
        """The engine request for an API GenerateRequest (or a prompt built by the caller), on the
        base model; with `tools`, the answer is generated under their calls' schemas."""
        arrival = time.monotonic() if arrival is None else arrival
        request_id = self.request_id(request.request_id)
        variables = request_variables(request)
        if prompt is None and len(request.prompt_token_ids):
            prompt = self.token_prompt(request)
        elif prompt is None:
            prompt = self.prompt(request.prompt, request.messages, tools=tools, variables=variables)
        params = request.parameters if request.HasField("parameters") else None
        sampling = self.sampling(params, len(prompt.token_ids), defaults)
        calls = tools.structured_output() if tools is not None else None
        constraint = self.compile(calls, "tools") if calls is not None else self.constraint(params, defaults)
        limit_ms = params.time_limit_ms if params is not None and params.HasField("time_limit_ms") else 0
        return GenerationRequest(
            request_id=request_id,
            prompt_ids=tuple(prompt.token_ids),
            params=sampling,
            arrival=arrival,
            time_limit_at=arrival + limit_ms / 1000 if limit_ms else None,
            deadline_at=arrival + time_remaining if time_remaining is not None else None,
            constraint=constraint,
        )

"""OpenAI's Responses API (POST /v1/responses): its request translated into a chat completion's,
and the answer worded as a response object, whole or as its typed stream events.

Where the server keeps responses (its responses_store setting, stored_responses), a response is
stored unless `store: false`, and `previous_response_id` continues one: its conversation comes
before this request's input (its instructions do not, as in OpenAI's API). Without it,
`store: true` and `previous_response_id` are refused by name, and a conversation travels whole in
`input`, earlier function calls and their outputs included (as the Agents SDK sends it without
`previous_response_id`). `conversation` (the Conversations API) and `background` are refused.
Everything else goes through the chat path's translation and admission; a refusal names the field
as a Responses caller wrote it (`responses_param`).
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import Field

from common.errors import UNSUPPORTED_PARAMETER, InvalidRequest
from server.api.openai.answers import HeldCalls, finish_reason
from server.api.openai.logprobs_format import chat_logprobs
from server.api.openai.schemas import Body, ChatCompletionRequest, ChatMessage, refuse_unsupported
from server.api.token_spelling import TokenSpeller
from server.api.tool_calling import ToolCall, ToolPlan
from server.engine.logprobs import TokenLogprob
from server.engine.request import Finished, GenerationEvent

ROUTE = "/v1/responses"
LOGPROBS_INCLUDE = "message.output_text.logprobs"
# OpenAI's limits on metadata, which a response carries back as it was given
MAX_METADATA_KEYS, MAX_METADATA_KEY_CHARS, MAX_METADATA_VALUE_CHARS = 16, 64, 512
_NOT_STORED = "is not supported: this server keeps no responses (its responses_store setting is off); send the whole conversation in input"
UNSUPPORTED = {
    "conversation": "is not supported: conversations are not kept here; continue a response with previous_response_id",
    "background": "is not supported: a response is answered while the request waits (or streams)",
    "prompt": "is not supported: no prompt templates are stored here",
    "reasoning": "is not supported: the served models do not reason in hidden tokens",
    "max_tool_calls": "is not supported: it limits hosted tools, and this server has none",
}
# the chat translation's field names, as a Responses caller knows them
_CHAT_NAMES = (
    (re.compile(r"^max_(completion_)?tokens"), "max_output_tokens"),
    (re.compile(r"^response_format(\.json_schema)?"), "text.format"),
    (re.compile(r"^tools\[(\d+)\]\.function"), r"tools[\1]"),
    (re.compile(r"^tool_choice\.function"), "tool_choice"),
    (re.compile(r"^logprobs"), "include"),
)
_MESSAGE_FIELD = re.compile(r"^messages\[(\d+)\](.*)$", re.DOTALL)


class ContentPart(Body):
    type: str
    text: str = ""
    annotations: list[Any] | None = None  # an earlier answer's output_text, sent back
    logprobs: list[Any] | None = None


class InputItem(Body):
    """One item of `input`: a message, a function call of an earlier answer, or its output."""

    type: str = "message"
    role: str | None = None
    content: str | list[ContentPart] | None = None
    id: str | None = None
    status: str | None = None
    call_id: str | None = None
    name: str | None = None
    arguments: str | None = None
    output: str | None = None


_ITEM_FIELDS = {
    "message": {"type", "role", "content", "id", "status"},
    "function_call": {"type", "call_id", "name", "arguments", "id", "status"},
    "function_call_output": {"type", "call_id", "output", "id", "status"},
}


class FunctionTool(Body):
    type: str
    name: str = ""
    description: str = ""
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class FunctionChoice(Body):
    type: str
    name: str = ""


class TextFormat(Body):
    type: Literal["text", "json_object", "json_schema"]
    name: str = "output"
    description: str | None = None
    schema_: dict[str, Any] | None = Field(None, alias="schema")
    strict: bool | None = None


class TextConfig(Body):
    format: TextFormat | None = None
    verbosity: str | None = None


class ResponseStreamOptions(Body):
    include_obfuscation: bool = False  # padding against length side channels; nothing to pad here


class ResponseRequest(Body):
    model: str = ""
    input: str | list[InputItem]
    instructions: str | None = None
    max_output_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_logprobs: int | None = None
    include: list[str] | None = None
    stream: bool = False
    stream_options: ResponseStreamOptions | None = None
    tools: list[FunctionTool] | None = None
    tool_choice: Literal["none", "auto", "required"] | FunctionChoice | None = None
    parallel_tool_calls: bool | None = None
    text: TextConfig | None = None
    truncation: Literal["disabled", "auto"] | None = None  # auto: the oldest turns are dropped until the conversation fits
    metadata: dict[str, str] | None = None
    user: str | None = None
    safety_identifier: str | None = None
    prompt_cache_key: str | None = None
    service_tier: Literal["auto", "default"] | None = None
    store: bool | None = None
    previous_response_id: str | None = None
    conversation: Any = None
    background: bool | None = None
    prompt: Any = None
    reasoning: Any = None
    max_tool_calls: int | None = None

    def wants_logprobs(self) -> bool:
        return LOGPROBS_INCLUDE in (self.include or []) or bool(self.top_logprobs)

    def stored(self, store_on: bool) -> bool:
        """Whether this response is to be kept (`store_on`: whether the server keeps responses)."""
        if not store_on:
            refuse_unsupported(self, {"store": _NOT_STORED, "previous_response_id": _NOT_STORED})
        return store_on and self.store is not False

    def input_items(self, request_id: str) -> list[dict[str, Any]]:
        """The request's own input as items as input_items lists them: each with its type and an
        id, a message's text as an input_text part."""
        given = [InputItem(role="user", content=self.input)] if isinstance(self.input, str) else self.input
        items = []
        for i, item in enumerate(given):
            shown = {"id": item.id or f"in_{request_id}_{i}", "type": item.type, **item.model_dump(by_alias=True, exclude_unset=True)}
            if isinstance(item.content, str):
                shown["content"] = [{"type": "input_text", "text": item.content}]
            items.append(shown)
        return items

    def chat_request(self, history: list[dict[str, Any]] | None = None) -> tuple[ChatCompletionRequest, list[str]]:
        """The chat completion this response is, and where each of its messages came from (the
        field that names it in a refusal). `history`: the items of the response it continues."""
        messages, places = self._messages(history or [])  # first: an item or part of a kind not served is named as such, not by its fields
        self.refuse_unknown()
        self._refuse_unsupported()
        chat: dict[str, Any] = {"model": self.model, "messages": messages}
        for name in ("temperature", "top_p", "parallel_tool_calls", "user", "safety_identifier", "prompt_cache_key", "service_tier"):
            if getattr(self, name) is not None:
                chat[name] = getattr(self, name)
        if self.max_output_tokens is not None:
            chat["max_completion_tokens"] = self.max_output_tokens
        if self.wants_logprobs():
            chat["logprobs"] = True
            chat["top_logprobs"] = self.top_logprobs or 0
        if self.tools:
            chat["tools"] = [self._tool(tool, i) for i, tool in enumerate(self.tools)]
        if isinstance(self.tool_choice, FunctionChoice):
            if self.tool_choice.type != "function":
                raise InvalidRequest("tool_choice.type", f"only function tools are served, got {self.tool_choice.type[:40]!r}")
            chat["tool_choice"] = {"type": "function", "function": {"name": self.tool_choice.name}}
        elif self.tool_choice is not None:
            chat["tool_choice"] = self.tool_choice
        response_format = self._response_format()
        if response_format is not None:
            chat["response_format"] = response_format
        return ChatCompletionRequest.model_validate(chat, strict=False), places

    def _refuse_unsupported(self) -> None:
        refuse_unsupported(self, UNSUPPORTED)
        for i, included in enumerate(self.include or []):
            if included != LOGPROBS_INCLUDE:
                raise InvalidRequest(
                    f"include[{i}]", f"{included[:80]!r} is not served; only {LOGPROBS_INCLUDE!r} is", UNSUPPORTED_PARAMETER
                )
        if self.text is not None and self.text.verbosity not in (None, "medium"):
            raise InvalidRequest("text.verbosity", "is not supported by the served models", UNSUPPORTED_PARAMETER)
        metadata = self.metadata or {}
        if len(metadata) > MAX_METADATA_KEYS:
            raise InvalidRequest("metadata", f"has {len(metadata)} keys; at most {MAX_METADATA_KEYS} are allowed")
        for key, value in metadata.items():
            if len(key) > MAX_METADATA_KEY_CHARS or len(value) > MAX_METADATA_VALUE_CHARS:
                raise InvalidRequest(
                    f"metadata.{key[:64]}", f"keys are at most {MAX_METADATA_KEY_CHARS} characters, values {MAX_METADATA_VALUE_CHARS}"
                )

    def _messages(self, history: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
        messages: list[dict[str, Any]] = []
        places: list[str] = []
        if self.instructions:
            messages.append({"role": "system", "content": self.instructions})
            places.append("instructions")
        items = [(InputItem.model_validate(item, strict=False), "previous_response_id") for item in history]
        if isinstance(self.input, str):
            items.append((InputItem(role="user", content=self.input), "input"))
        elif not self.input:
            raise InvalidRequest("input", "is empty: give a text or at least one item")
        else:
            items += [(item, f"input[{i}]") for i, item in enumerate(self.input)]
        for item, field in items:
            allowed = _ITEM_FIELDS.get(item.type)
            if allowed is None:
                known = ", ".join(_ITEM_FIELDS)
                raise InvalidRequest(
                    f"{field}.type", f"items of type {item.type[:40]!r} are not served; only {known}", UNSUPPORTED_PARAMETER
                )
            extra = sorted(item.model_fields_set - allowed)
            if extra:
                raise InvalidRequest(f"{field}.{extra[0]}", f"is not a field of a {item.type} item")
            if item.type == "function_call":
                if item.call_id is None or item.name is None:
                    raise InvalidRequest(field, "a function_call item needs call_id and name")
                call = {"id": item.call_id, "type": "function", "function": {"name": item.name, "arguments": item.arguments or "{}"}}
                if messages and messages[-1].get("tool_calls"):  # calls made at once
                    messages[-1]["tool_calls"].append(call)
                    continue
                messages.append({"role": "assistant", "content": None, "tool_calls": [call]})
            elif item.type == "function_call_output":
                if item.call_id is None or item.output is None:
                    raise InvalidRequest(field, "a function_call_output item needs call_id and output")
                messages.append({"role": "tool", "tool_call_id": item.call_id, "content": item.output})
            else:
                if item.role is None or item.content is None:
                    raise InvalidRequest(field, "a message item needs role and content")
                messages.append({"role": item.role, "content": _text_of(item.content, field)})
            places.append(field)
        return messages, places

    @staticmethod
    def _tool(tool: FunctionTool, index: int) -> dict[str, Any]:
        if tool.type != "function":
            raise InvalidRequest(f"tools[{index}].type", f"only function tools are served, got {tool.type[:40]!r}", UNSUPPORTED_PARAMETER)
        function: dict[str, Any] = {"name": tool.name, "description": tool.description}
        if tool.parameters is not None:
            function["parameters"] = tool.parameters
        if tool.strict is not None:
            function["strict"] = tool.strict
        return {"type": "function", "function": function}

    def _response_format(self) -> dict[str, Any] | None:
        given = self.text.format if self.text is not None else None
        if given is None or given.type == "text":
            return None
        if given.type == "json_object":
            return {"type": "json_object"}
        if given.schema_ is None:
            raise InvalidRequest("text.format.schema", "is required when type is json_schema")
        return {"type": "json_schema", "json_schema": {"name": given.name, "schema": given.schema_, "strict": given.strict}}


def _text_of(content: str | list[ContentPart], field: str) -> str:
    if isinstance(content, str):
        return content
    texts = []
    for j, part in enumerate(content):
        if part.type not in ("input_text", "output_text", "text"):
            raise InvalidRequest(f"{field}.content[{j}].type", f"only text parts are supported, got {part.type[:40]!r}")
        texts.append(part.text)
    return "".join(texts)


def oldest_turn_dropped(messages: list[ChatMessage], places: list[str]) -> tuple[list[ChatMessage], list[str]] | None:
    """The conversation without its oldest turn (`truncation: auto`), with its places: the
    instructions stay, the first message after them goes, and so do tool outputs left at the front
    without their call. None where nothing but the instructions would be left."""
    start = 1 if places and places[0] == "instructions" else 0
    end = start + 1
    while end < len(messages) and messages[end].role == "tool":
        end += 1
    if end >= len(messages):
        return None
    return messages[:start] + messages[end:], places[:start] + places[end:]


def responses_param(field: str, places: list[str]) -> str:
    """The Responses name of a field the chat path names ("messages[2].content" -> "input[1].content")."""
    message = _MESSAGE_FIELD.match(field)
    if message is not None:
        index, rest = int(message.group(1)), message.group(2)
        place = places[index] if index < len(places) else "input"
        return place if place in ("instructions", "input", "previous_response_id") else place + rest
    if field == "messages":
        return "input"
    for pattern, name in _CHAT_NAMES:
        if pattern.match(field):
            return pattern.sub(name, field, count=1)
    return field


def usage(chat_usage: dict[str, Any]) -> dict[str, Any]:
    return {
        "input_tokens": chat_usage["prompt_tokens"],
        "input_tokens_details": {"cached_tokens": chat_usage["prompt_tokens_details"]["cached_tokens"]},
        "output_tokens": chat_usage["completion_tokens"],
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": chat_usage["total_tokens"],
    }


class ResponseWording:
    """How one answer is worded as a response: its object, its output items and its stream events."""

    def __init__(
        self, body: ResponseRequest, request_id: str, model: str, speller: TokenSpeller, tools: ToolPlan | None, stored: bool = False
    ) -> None:
        self.body = body
        self.stored = stored
        self.final: dict[str, Any] | None = None  # the streamed response, once its last events are made
        self._tools = tools
        self._held = HeldCalls(tools)
        self._pending: list[dict[str, Any]] = []  # log-probabilities of text not yet streamed (held while it may be calls)
        self._request_id = request_id
        self.id = "resp_" + request_id
        self.model = model
        self.speller = speller
        self.created_at = int(time.time())
        self._sequence = 0
        self._text: list[str] = []
        self._logprobs: list[dict[str, Any]] = []
        self._opened = False  # whether the message item has been announced in the stream

    # -- the response object ------------------------------------------------------------------

    def response(self, status: str, output: list[dict[str, Any]], usage: dict[str, Any] | None = None) -> dict[str, Any]:
        body = self.body
        text_format = body.text.format.model_dump(by_alias=True, exclude_none=True) if body.text and body.text.format else {"type": "text"}
        tool_choice = body.tool_choice.model_dump() if isinstance(body.tool_choice, FunctionChoice) else body.tool_choice or "auto"
        return {
            "id": self.id,
            "object": "response",
            "created_at": self.created_at,
            "status": status,
            "error": None,
            "incomplete_details": {"reason": "max_output_tokens"} if status == "incomplete" else None,
            "instructions": body.instructions,
            "max_output_tokens": body.max_output_tokens,
            "model": self.model,
            "output": output,
            "parallel_tool_calls": body.parallel_tool_calls is not False,
            "previous_response_id": body.previous_response_id,
            "reasoning": {"effort": None, "summary": None},
            "store": self.stored,
            "temperature": 1.0 if body.temperature is None else body.temperature,
            "text": {"format": text_format},
            "tool_choice": tool_choice,
            "tools": [tool.model_dump(exclude_none=True) for tool in body.tools or []],
            "top_p": 1.0 if body.top_p is None else body.top_p,
            "truncation": body.truncation or "disabled",
            "usage": usage,
            "user": body.user,
            "metadata": body.metadata or {},
        }

    def whole(self, events: list[GenerationEvent], finished: Finished, used: dict[str, Any]) -> dict[str, Any]:
        """The response of a whole answer (not streamed)."""
        text = "".join(event.text for event in events)
        calls = self._tools.calls_in(text) if self._tools is not None else None
        status = _status(finished)
        output = [] if calls else [self._message(text, self._entries([lp for e in events for lp in e.logprobs]), status)]
        output += [self._call(call, i) for i, call in enumerate(calls or [])]
        return self.response(status, output, usage(used))

    def _message_id(self) -> str:
        return "msg_" + self._request_id

    def _message(self, text: str, logprobs: list[dict[str, Any]], status: str) -> dict[str, Any]:
        return {"id": self._message_id(), "type": "message", "status": status, "role": "assistant", "content": [self._part(text, logprobs)]}

    def _part(self, text: str, logprobs: list[dict[str, Any]]) -> dict[str, Any]:
        return {"type": "output_text", "text": text, "annotations": [], "logprobs": logprobs}

    def _call(self, call: ToolCall, index: int, status: str = "completed") -> dict[str, Any]:
        return {
            "id": f"fc_{self._request_id}_{index}",
            "type": "function_call",
            "status": status,
            "call_id": call.id,
            "name": call.name,
            "arguments": call.arguments,
        }

    def _entries(self, logprobs: list[TokenLogprob]) -> list[dict[str, Any]]:
        return chat_logprobs(self.speller, logprobs)["content"] if self.body.wants_logprobs() else []

    # -- stream events (server.api.openai.answers.StreamWording) ------------------------------

    done = ""  # the stream ends with its last event, no sentinel after it

    def _event(self, kind: str, **fields: Any) -> str:
        payload = {"type": kind, "sequence_number": self._sequence, **fields}
        self._sequence += 1
        return f"event: {kind}\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n"

    def opening(self) -> list[str]:
        started = self.response("in_progress", [])
        return [self._event("response.created", response=started), self._event("response.in_progress", response=started)]

    def event(self, index: int, event: GenerationEvent, used: dict[str, Any] | None) -> list[str]:
        """The events of the answer's next piece; the last one (`used` given) also ends it."""
        self._pending += self._entries(event.logprobs)
        passed = self._held.passed(event.text)
        events = self._text_delta(passed) if passed else []
        if used is not None:
            assert event.finished is not None
            events += self._ended(event.finished, used)
        return events

    def closing(self, usages: list[dict[str, Any]]) -> list[str]:
        return []  # the answer's last event said it all

    def failure(self, error: dict[str, Any]) -> list[str]:
        failed = self.response("failed", [])
        failed["error"] = {"code": error["error"]["code"], "message": error["error"]["message"]}
        return [self._event("response.failed", response=failed)]

    def _text_delta(self, text: str) -> list[str]:
        where = {"item_id": self._message_id(), "output_index": 0, "content_index": 0}
        events = []
        if not self._opened:
            self._opened = True
            item = {"id": self._message_id(), "type": "message", "status": "in_progress", "role": "assistant", "content": []}
            events.append(self._event("response.output_item.added", output_index=0, item=item))
            events.append(self._event("response.content_part.added", **where, part=self._part("", [])))
        if text or self._pending:
            self._text.append(text)
            self._logprobs += self._pending
            events.append(self._event("response.output_text.delta", **where, delta=text, logprobs=self._pending))
            self._pending = []
        return events

    def _ended(self, finished: Finished, used: dict[str, Any]) -> list[str]:
        """The events that end the answer: its items completed, then the whole response."""
        calls, rest = self._held.end()
        status = _status(finished)
        events = self._text_delta(rest) if rest or not (calls or self._opened) else []
        output = []
        if self._opened:
            text, where = "".join(self._text), {"item_id": self._message_id(), "output_index": 0, "content_index": 0}
            events.append(self._event("response.output_text.done", **where, text=text, logprobs=self._logprobs))
            events.append(self._event("response.content_part.done", **where, part=self._part(text, self._logprobs)))
            output.append(self._message(text, self._logprobs, status))
            events.append(self._event("response.output_item.done", output_index=0, item=output[-1]))
        for i, call in enumerate(calls or []):
            index, item = len(output), self._call(call, i)
            where = {"item_id": item["id"], "output_index": index}
            events.append(
                self._event("response.output_item.added", output_index=index, item={**self._call(call, i, "in_progress"), "arguments": ""})
            )
            events.append(self._event("response.function_call_arguments.delta", **where, delta=call.arguments))
            events.append(self._event("response.function_call_arguments.done", **where, name=call.name, arguments=call.arguments))
            events.append(self._event("response.output_item.done", output_index=index, item=item))
            output.append(item)
        kind = "response.completed" if status == "completed" else "response.incomplete"
        self.final = self.response(status, output, usage(used))
        events.append(self._event(kind, response=self.final))
        return events


def _status(finished: Finished) -> str:
    return "incomplete" if finish_reason(finished.reason) == "length" else "completed"


def input_items_page(items: list[dict[str, Any]], query: Mapping[str, str]) -> dict[str, Any]:
    """One page of a response's input items, as OpenAI lists them: `order` asc or desc (the
    default), after the item named by `after`, at most `limit` (1 to 100, 20 by default)."""
    order = query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest("order", f"must be asc or desc, got {order[:20]!r}")
    limit = query.get("limit", "20")
    if not limit.isdigit() or not 1 <= int(limit) <= 100:
        raise InvalidRequest("limit", f"must be a whole number from 1 to 100, got {limit[:20]!r}")
    ordered = items if order == "asc" else items[::-1]
    after = query.get("after")
    if after is not None:
        ids = [item["id"] for item in ordered]
        if after not in ids:
            raise InvalidRequest("after", f"{after[:80]!r} is not an input item of this response")
        ordered = ordered[ids.index(after) + 1 :]
    page = ordered[: int(limit)]
    first, last = (page[0]["id"], page[-1]["id"]) if page else (None, None)
    return {"object": "list", "data": page, "first_id": first, "last_id": last, "has_more": len(ordered) > len(page)}

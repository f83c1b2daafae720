"""Tool calling: functions described to the model, its calls generated under their schemas, and
the answer read back as calls.

Every chat template renders it, whether or not it knows about tools: the functions are described
in a system turn, an earlier call is shown as the assistant's JSON, and a function's result as a
user turn that names the call. The model calls by answering with a JSON object
`{"name": ..., "arguments": {...}}`, name first (or a JSON list of them where parallel calls are
allowed), generated under a grammar whose arguments follow each function's schema
(server.engine.structured_output):

* `required` and a named function constrain the whole answer to calls, so it always parses and
  validates (unless max_tokens cuts it: then it is text, marked `length`);
* `auto` lets the model choose: an answer that begins with "{" (or "[") is a call and continues
  under the schemas; any other first character starts a text answer, which then cannot begin with
  "{", "[" or white space;
* `none` leaves the tools out of the prompt and generates plain text.

Everything here is pure: no model, no engine.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tuneserve.v1 import common_pb2, inference_pb2

from common.errors import InvalidRequest

MAX_TOOLS = 128
MAX_DESCRIPTION_CHARS = 4096
_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}")
ANY_OBJECT: dict[str, Any] = {"type": "object"}
MODES = {
    common_pb2.TOOL_CHOICE_MODE_NONE: "none",
    common_pb2.TOOL_CHOICE_MODE_AUTO: "auto",
    common_pb2.TOOL_CHOICE_MODE_REQUIRED: "required",
    common_pb2.TOOL_CHOICE_MODE_FUNCTION: "function",
}


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]  # the JSON schema of the arguments object


@dataclass(frozen=True)
class ToolCall:
    id: str
    name: str
    arguments: str  # a JSON object, as text

    def proto(self) -> common_pb2.ToolCall:
        return common_pb2.ToolCall(id=self.id, name=self.name, arguments=self.arguments)


@dataclass(frozen=True)
class ToolPlan:
    """What one request's tools ask: the functions, the mode and whether calls may come several at once."""

    tools: tuple[Tool, ...]
    mode: str  # "none", "auto", "required" or "function"
    function: str = ""  # the one function to call in mode "function"
    parallel: bool = True

    @property
    def callable(self) -> tuple[Tool, ...]:
        return tuple(t for t in self.tools if t.name == self.function) if self.mode == "function" else self.tools

    @property
    def always_calls(self) -> bool:
        return self.mode in ("required", "function")

    def structured_output(self) -> common_pb2.StructuredOutput | None:
        """The constraint of the answer: None for plain text (mode none)."""
        if self.mode == "none":
            return None
        return common_pb2.StructuredOutput(
            lark_grammar=call_grammar(self.callable, self.parallel and self.mode != "function", self.mode == "auto")
        )

    def system_text(self) -> str:
        """The system turn that describes the functions and how to call them."""
        several = " To call several at once, answer with a JSON list of such objects." if self.parallel else ""
        if self.mode == "function":
            ask = f"Answer with only a JSON object that calls the function {self.function}."
        elif self.mode == "required":
            ask = "Answer with only a JSON object that calls one of them." + several
        else:
            ask = "To call one, answer with only a JSON object; otherwise answer in plain text." + several
        described = "\n".join(
            json.dumps({"name": t.name, "description": t.description, "parameters": t.parameters}, ensure_ascii=False) for t in self.tools
        )
        return (
            "You can call these functions. A call is the JSON object "
            '{"name": <function name>, "arguments": <the arguments as a JSON object>}. '
            f"{ask}\nFunctions:\n{described}"
        )

    def calls_in(self, text: str) -> list[ToolCall] | None:
        """The calls an answer made, or None where it is a text answer (or not a whole call)."""
        text = text.strip()
        if self.mode == "none" or not text.startswith(("{", "[")):
            return None
        try:
            made = json.loads(text)
        except json.JSONDecodeError:
            return None  # cut short by max_tokens: the caller gets the text, marked as not finished
        made = made if isinstance(made, list) else [made]
        names = {t.name for t in self.callable}
        calls = []
        for call in made:
            if not isinstance(call, dict) or call.get("name") not in names or not isinstance(call.get("arguments"), dict):
                return None
            calls.append(ToolCall(new_call_id(), call["name"], json.dumps(call["arguments"], ensure_ascii=False)))
        return calls or None


def new_call_id() -> str:
    return "call_" + uuid.uuid4().hex[:24]


def call_grammar(tools: tuple[Tool, ...], parallel: bool, text_allowed: bool) -> str:
    """The Lark grammar (llguidance's, with %json) of an answer that calls one of `tools` (or a
    list of calls, where `parallel`), or, where `text_allowed`, is text that does not begin like one.

    Each call is written name first, `{"name": "f", "arguments": {...}}`, its arguments under the
    function's schema: a model reads the name it chose before it writes the arguments."""
    rules = []
    for i, tool in enumerate(tools):
        opening = json.dumps('{"name": ' + json.dumps(tool.name) + ', "arguments": ')  # a JSON string is a Lark string
        rules.append(f"call_{i}: {opening} %json {json.dumps(tool.parameters)} " + json.dumps("}"))
    answer = "call | calls" if parallel else "call"
    text = "\ntext: /" + ("[^{\\[\\s]" if parallel else "[^{\\s]") + "(.|\\n)*/" if text_allowed else ""
    lines = [f"start: {answer}" + (" | text" if text_allowed else ""), "call: " + " | ".join(f"call_{i}" for i in range(len(tools)))]
    if parallel:
        lines.append('calls: "[" call (", " call)* "]"')
    return "\n".join(lines + rules) + text + "\n"


def tool_plan(request: inference_pb2.GenerateRequest) -> ToolPlan | None:
    """The checked ToolPlan of a GenerateRequest; None where it gives no tools."""
    choice = request.tool_choice if request.HasField("tool_choice") else None
    if not request.tools:
        if choice is not None and choice.mode not in (common_pb2.TOOL_CHOICE_MODE_UNSPECIFIED, common_pb2.TOOL_CHOICE_MODE_NONE):
            raise InvalidRequest("tool_choice", "needs tools: give the functions the model may call")
        return None
    if not len(request.messages):
        raise InvalidRequest("tools", "need messages: tools are described in a chat, not a plain or few-shot prompt")
    if request.parameters.HasField("structured_output"):
        raise InvalidRequest("tools", "cannot be combined with structured_output: calls are generated under the tools' schemas")
    if request.parameters.min_new_tokens:
        raise InvalidRequest("tools", "cannot be combined with min_new_tokens: a call ends where its JSON does")
    if len(request.tools) > MAX_TOOLS:
        raise InvalidRequest("tools", f"has {len(request.tools)} functions; at most {MAX_TOOLS} are accepted")
    tools = tuple(_tool(tool, f"tools[{i}]") for i, tool in enumerate(request.tools))
    names = [t.name for t in tools]
    duplicate = next((n for n in names if names.count(n) > 1), None)
    if duplicate is not None:
        raise InvalidRequest("tools", f"name the function {duplicate!r} twice; names must be unique")
    mode = MODES.get(choice.mode, "auto") if choice is not None else "auto"
    if choice is not None and choice.mode not in MODES and choice.mode != common_pb2.TOOL_CHOICE_MODE_UNSPECIFIED:
        raise InvalidRequest("tool_choice.mode", f"is not a ToolChoiceMode, got {choice.mode}")
    function = choice.function if choice is not None else ""
    if mode == "function" and function not in names:
        raise InvalidRequest("tool_choice.function", f"names no function of tools, got {function[:64]!r}")
    if mode != "function" and function:
        raise InvalidRequest("tool_choice.function", "is only for mode FUNCTION")
    parallel = request.parallel_tool_calls if request.HasField("parallel_tool_calls") else True
    return ToolPlan(tools, mode, function, parallel)


def _tool(tool: common_pb2.Tool, field: str) -> Tool:
    if not _NAME.fullmatch(tool.name):
        raise InvalidRequest(f"{field}.name", f"must be 1 to 64 letters, digits, '_' or '-', got {tool.name[:64]!r}")
    if len(tool.description) > MAX_DESCRIPTION_CHARS:
        raise InvalidRequest(f"{field}.description", f"has {len(tool.description)} characters; at most {MAX_DESCRIPTION_CHARS}")
    parameters = ANY_OBJECT
    if tool.parameters:
        try:
            parameters = json.loads(tool.parameters)
        except json.JSONDecodeError as exc:
            raise InvalidRequest(f"{field}.parameters", f"is not JSON: {exc}") from None
        if not isinstance(parameters, dict):
            raise InvalidRequest(f"{field}.parameters", "must be a JSON schema object")
        if parameters.get("type", "object") != "object":
            raise InvalidRequest(f"{field}.parameters", "must describe a JSON object (the arguments)")
    return Tool(tool.name, tool.description, parameters)


@dataclass(frozen=True)
class Turn:
    """A chat turn as the chat template renders it."""

    role: str
    content: str


def rendered_turns(messages: Sequence[common_pb2.ChatMessage]) -> list[Turn]:
    """One turn per message, as the template renders it: earlier calls as the assistant's JSON,
    results as user turns that name the call they answer."""
    names: dict[str, str] = {}  # call id -> function name, for the results that answer them
    turns: list[Turn] = []
    for i, message in enumerate(messages):
        field = f"messages[{i}]"
        if message.tool_calls:
            if message.role != "assistant":
                raise InvalidRequest(f"{field}.tool_calls", f"only assistant turns make calls, not {message.role[:40]!r}")
            shown = []
            for j, call in enumerate(message.tool_calls):
                try:
                    arguments = json.loads(call.arguments or "{}")
                except json.JSONDecodeError as exc:
                    raise InvalidRequest(f"{field}.tool_calls[{j}].function.arguments", f"is not JSON: {exc}") from None
                names[call.id] = call.name
                shown.append({"name": call.name, "arguments": arguments})
            calls = json.dumps(shown[0] if len(shown) == 1 else shown, ensure_ascii=False)
            turns.append(Turn("assistant", f"{message.content}\n{calls}" if message.content else calls))
        elif message.role == "tool":
            if not message.tool_call_id:
                raise InvalidRequest(f"{field}.tool_call_id", "is required for a tool turn: the id of the call it answers")
            if message.tool_call_id not in names:
                raise InvalidRequest(f"{field}.tool_call_id", f"answers no earlier call, got {message.tool_call_id[:64]!r}")
            turns.append(Turn("user", f"Result of {names[message.tool_call_id]} ({message.tool_call_id}):\n{message.content}"))
        else:
            if message.tool_call_id:
                raise InvalidRequest(f"{field}.tool_call_id", "is only for tool turns")
            turns.append(Turn(message.role, message.content))
    return turns


def describe_tools(turns: list[dict[str, str]], plan: ToolPlan) -> list[dict[str, str]]:
    """The checked turns with the functions described in the system turn (none in mode none)."""
    if plan.mode == "none":
        return turns
    described = plan.system_text()
    if turns and turns[0]["role"] == "system":
        return [{"role": "system", "content": f"{turns[0]['content']}\n\n{described}"}, *turns[1:]]
    return [{"role": "system", "content": described}, *turns]


def has_tool_turns(messages: Sequence[common_pb2.ChatMessage]) -> bool:
    """Whether a chat's history holds calls or results (rendered by `rendered_turns`)."""
    return any(m.tool_calls or m.role == "tool" or m.tool_call_id for m in messages)

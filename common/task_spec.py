"""Task specs and the one prompt format shared by training and serving.

A task is a name, a kind (classification over a label set, or generation), an instruction, a
template (the model's chat template, or a plain text format) and how the input is written into it.
The trainer formats every training example with `render_prompt` + `completion_ids`, and writes the
spec into the adapter's manifest; the server renders requests for that task with the same
functions, so a task is served with exactly the prompt it was trained on.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any, Literal

import llguidance
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from common.adapter_manifest import check_name
from common.errors import InvalidRequest
from common.prompting import encode, plain, render_chat

DEFAULT_PLAIN_FORMAT = "Input: {input}\nOutput:"
# GenerationParameters fields a task may set defaults for
PARAMETER_NAMES = frozenset(
    {
        "max_new_tokens",
        "min_new_tokens",
        "temperature",
        "top_p",
        "top_k",
        "seed",
        "repetition_penalty",
        "frequency_penalty",
        "presence_penalty",
        "stop",
        "time_limit_ms",
    }
)


class Demonstration(BaseModel):
    """An example input and its expected output, for few-shot prompts."""

    model_config = ConfigDict(frozen=True)

    input: str = Field(min_length=1)
    output: str = Field(min_length=1)


class TaskSpec(BaseModel):
    """What a task endpoint does and how its prompts look."""

    model_config = ConfigDict(extra="forbid")

    name: str
    """Task name, also the default adapter name."""
    kind: Literal["classification", "generation"] = "generation"
    """classification answers one of `labels`; generation answers free text."""
    instruction: str = ""
    """What the model is asked to do (the system message with the chat template)."""
    template: Literal["chat", "plain"] = "chat"
    """chat: the model's chat template; plain: instruction, demonstrations and input as plain text."""
    input_format: str = ""
    """How the input is written into the user turn (chat) or prompt (plain); must contain {input}.
    Empty means "{input}" for chat and "Input: {input}\\nOutput:" for plain."""
    labels: list[str] = Field(default_factory=list)
    """The answers a classification task can give."""
    demonstrations: list[Demonstration] = Field(default_factory=list)
    """Stored demonstrations for few-shot prompting when no adapter backs the task."""
    selection: Literal["first", "random", "similar"] = "first"
    """How stored demonstrations are chosen when not all fit the prompt (see server.tasks.few_shot)."""
    adapter: str = ""
    """Adapter that backs the task ("name" or "name@version"); empty: the base model with demonstrations."""
    parameters: dict[str, Any] = Field(default_factory=dict)
    """Default decoding parameters (GenerationParameters fields) of RunTask."""
    output_schema: dict[str, Any] | None = None
    """Generation tasks: a JSON schema every answer validates against. It is written into the
    instruction (of training prompts too) and enforced by structured output when serving."""

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        try:
            return check_name(value, "name")
        except InvalidRequest as exc:  # pydantic reports ValueErrors as validation errors
            raise ValueError(exc.message) from None

    @model_validator(mode="after")
    def _consistent(self) -> TaskSpec:
        if self.input_format and self.input_format.count("{input}") != 1:
            raise ValueError("input_format must contain {input} exactly once")
        if self.kind == "classification":
            if len(self.labels) < 2:
                raise ValueError("a classification task needs at least two labels")
            if len(set(self.labels)) != len(self.labels) or not all(label.strip() for label in self.labels):
                raise ValueError("labels must be distinct and non-empty")
        elif self.labels:
            raise ValueError("only classification tasks have labels")
        if self.output_schema is not None:
            if self.kind != "generation":
                raise ValueError("only generation tasks have an output_schema (classification answers one of its labels)")
            problem = llguidance.LLMatcher.validate_grammar(llguidance.LLMatcher.grammar_from_json_schema(self.schema_text()))
            if problem:
                raise ValueError(f"output_schema is not a usable JSON schema: {problem.strip().splitlines()[0]}")
        unknown = sorted(set(self.parameters) - PARAMETER_NAMES)
        if unknown:
            raise ValueError(f"parameters {unknown} are not decoding parameters ({', '.join(sorted(PARAMETER_NAMES))})")
        return self

    @property
    def format(self) -> str:
        return self.input_format or ("{input}" if self.template == "chat" else DEFAULT_PLAIN_FORMAT)

    def schema_text(self) -> str:
        """The output schema as compact JSON with sorted keys (the same text in every prompt)."""
        return json.dumps(self.output_schema, sort_keys=True, separators=(",", ":"))

    def system_text(self) -> str:
        parts = [self.instruction.strip()] if self.instruction.strip() else []
        if self.kind == "classification":
            parts.append(f"Answer with one of: {', '.join(self.labels)}.")
        if self.output_schema is not None:
            parts.append(f"Answer with JSON that follows this JSON schema: {self.schema_text()}")
        return "\n".join(parts)


def render_prompt(tokenizer: Any, spec: TaskSpec, text: str, demonstrations: Sequence[Demonstration] = ()) -> str:
    """The prompt for `text`, with demonstrations before it; the answer follows it directly.

    Everything written into it (instruction, demonstrations, input) is untrusted text: control
    tokens spelled there are encoded as plain text (common.prompting).
    """
    if spec.template == "chat":
        messages = [{"role": "system", "content": spec.system_text()}] if spec.system_text() else []
        for demo in demonstrations:
            messages.append({"role": "user", "content": spec.format.format(input=demo.input)})
            messages.append({"role": "assistant", "content": demo.output})
        messages.append({"role": "user", "content": spec.format.format(input=text)})
        return render_chat(tokenizer, messages)
    blocks = [spec.system_text()] if spec.system_text() else []
    blocks += [f"{spec.format.format(input=demo.input)} {demo.output}" for demo in demonstrations]
    blocks.append(spec.format.format(input=text))
    return plain(tokenizer, "\n\n".join(blocks))


def completion_text(spec: TaskSpec, output: str) -> str:
    """How an answer is written after the prompt (plain prompts end in a label like 'Output:')."""
    return output if spec.template == "chat" else " " + output


def prompt_ids(tokenizer: Any, prompt: str) -> list[int]:
    """Token ids of a prompt made by `render_prompt` or common.prompting.render_chat."""
    return encode(tokenizer, prompt)


def completion_ids(tokenizer: Any, spec: TaskSpec, output: str, end_token_id: int) -> list[int]:
    """Tokens of an answer as the model should produce them: the answer, then end of turn.

    Tokenized apart from the prompt, as the model sees it when it generates after the prompt.
    """
    return encode(tokenizer, plain(tokenizer, completion_text(spec, output))) + [end_token_id]

"""Training data: reading JSONL in the formats people already have, and refusing bad lines.

Three formats, one per file: `{"prompt", "completion"}`, `{"messages": [...]}` (OpenAI chat) and
`{"text", "label"}` (classification). The whole file is read first and every bad line is reported
with its number and reason (parse errors, unknown labels and lines over the token limit together);
nothing is trained on a file with invalid lines. Lines over the token limit are refused by default,
or truncated, or dropped, as the job says.
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from common.errors import InvalidRequest
from common.prompting import CHAT_ROLES, RENDERED_ROLES, encode, plain, render_chat
from common.task_spec import TaskSpec, completion_ids, prompt_ids, render_prompt

DataFormat = Literal["prompt_completion", "messages", "classification"]
MESSAGE_KEYS = {"role", "content", "weight"}  # what a chat line's message may hold (OpenAI's fine-tuning format)
OverLength = Literal["refuse", "truncate", "drop"]
_FORMAT_FIELDS: dict[DataFormat, tuple[str, ...]] = {
    "prompt_completion": ("prompt", "completion"),
    "messages": ("messages",),
    "classification": ("text", "label"),
}
_SHOWN_ERRORS = 20


@dataclass(frozen=True)
class LineError:
    line: int
    reason: str
    source: str = ""  # "" for the training file, "validation data" for a separate holdout file

    def __str__(self) -> str:
        return f"{self.source + ' ' if self.source else ''}line {self.line}: {self.reason}"


class DataRejected(InvalidRequest):
    """The training data has invalid lines; `errors` lists every one, in file and line order."""

    def __init__(self, errors: Sequence[LineError], what: str = "training data") -> None:
        errors = sorted(errors, key=lambda e: (e.source, e.line))
        shown = "; ".join(str(e) for e in errors[:_SHOWN_ERRORS])
        more = f" (and {len(errors) - _SHOWN_ERRORS} more, every one listed with the job)" if len(errors) > _SHOWN_ERRORS else ""
        super().__init__("", f"{what} has {len(errors)} invalid line(s): {shown}{more}")
        self.errors = errors


@dataclass(frozen=True)
class Example:
    line: int
    input: str  # prompt, text, or the last user message
    output: str  # completion, label, or the last assistant message
    conversation: tuple[tuple[str, str], ...] = ()  # chat format: the turns before the answer


@dataclass(frozen=True)
class TokenizedExample:
    line: int
    prompt: list[int]
    completion: list[int]  # ends with the end-of-turn token

    def __len__(self) -> int:
        return len(self.prompt) + len(self.completion)


@dataclass
class Dataset:
    format: DataFormat | None  # None when no line could be read as any format
    examples: list[Example]
    errors: list[LineError] = field(default_factory=list)
    duplicates: list[tuple[int, int]] = field(default_factory=list)  # (line, the earlier line it repeats), dropped


def example_key(example: Example) -> tuple[str, str, tuple[tuple[str, str], ...]]:
    """What makes two examples the same: input, output and the turns before them."""
    return (example.input, example.output, example.conversation)


def detect_format(obj: dict[str, Any]) -> DataFormat | None:
    for name, fields in _FORMAT_FIELDS.items():
        if all(f in obj for f in fields):
            return name
    return None


def _json_type(value: Any) -> str:
    names = {bool: "a boolean", int: "a number", float: "a number", list: "a list", dict: "an object", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _text_problem(name: str, value: Any) -> str | None:
    if not isinstance(value, str):
        return f"{name} must be a string, got {_json_type(value)}"
    return None if value.strip() else f"empty {name}"


def _parse_line(obj: Any, number: int, fmt: DataFormat) -> Example | str:
    """An example, or the reason the line is invalid."""
    if not isinstance(obj, dict):
        return "not a JSON object"
    missing = [f for f in _FORMAT_FIELDS[fmt] if f not in obj]
    if missing:
        return f"missing field {missing[0]!r} (this file is in {fmt} format: {', '.join(_FORMAT_FIELDS[fmt])})"
    if fmt == "prompt_completion":
        prompt, completion = obj["prompt"], obj["completion"]
        problem = _text_problem("prompt", prompt) or _text_problem("completion", completion)
        return problem or Example(number, prompt, completion)
    if fmt == "classification":
        text, label = obj["text"], obj["label"]
        problem = _text_problem("text", text)
        if problem:
            return problem
        if isinstance(label, bool) or not isinstance(label, (str, int)):
            return f"label must be a string or an integer, got {_json_type(label)}"
        if not str(label).strip():
            return "empty label"
        return Example(number, text, str(label).strip())
    messages = obj["messages"]
    if not isinstance(messages, list) or not messages:
        return "messages must be a non-empty list"
    for key in ("tools", "functions"):
        if key in obj:
            return f"{key}: training on tool calls is not supported (train on plain assistant answers)"
    turns = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("content"), str):
            return f"messages[{i}] must be an object with a string content"
        if message.get("role") not in CHAT_ROLES:
            return f"messages[{i}] has unknown role {message.get('role')!r} (known: {', '.join(CHAT_ROLES)})"
        if not message["content"].strip():
            return f"messages[{i}] has empty content"
        unknown = sorted(set(message) - MESSAGE_KEYS)
        if unknown:
            return f"messages[{i}] has {unknown[0]!r}, which is not used in training (give role, content and, for answers, weight)"
        problem = _weight_problem(message, i, last=i == len(messages) - 1)
        if problem:
            return problem
        role = str(message["role"])
        turns.append((RENDERED_ROLES.get(role, role), message["content"]))
    if not any(role == "assistant" for role, _ in turns):
        return "no assistant turn to learn from"
    if turns[-1][0] != "assistant":
        return "the last message must be the assistant's answer"
    if not any(role == "user" for role, _ in turns):
        return "no user turn"
    last_user = next(content for role, content in reversed(turns) if role == "user")
    return Example(number, last_user, turns[-1][1], tuple(turns[:-1]))


def _weight_problem(message: dict[str, Any], index: int, last: bool) -> str:
    """OpenAI's per-answer weight: the last answer is the one learnt (1); earlier ones are context (0)."""
    if "weight" not in message:
        return ""
    weight = message["weight"]
    if message["role"] != "assistant" or isinstance(weight, bool) or weight not in (0, 1):
        return f"messages[{index}].weight must be 0 or 1, on assistant messages only"
    if last and weight == 0:
        return f"messages[{index}].weight is 0 on the last answer: the line would teach nothing"
    if not last and weight == 1:
        return f"messages[{index}].weight is 1 on an earlier answer: only the last answer of a line is learnt (split the line)"
    return ""


def parse_jsonl(
    data: bytes, what: str = "training data", source: str = "", duplicates: str = "refuse", field: str = "training_data"
) -> Dataset:
    """Parses the whole file; the dataset's `errors` list every bad line (with `source` on each).

    Exact duplicates of an earlier line are errors (`duplicates` "refuse"), dropped and listed in
    the dataset's `duplicates` ("drop"), or kept ("keep")."""
    errors: list[LineError] = []
    examples: list[Example] = []
    repeated: list[tuple[int, int]] = []
    seen: dict[tuple[str, str, tuple[tuple[str, str], ...]], int] = {}
    fmt: DataFormat | None = None
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InvalidRequest(field, f"{what} is not UTF-8 text ({exc.reason} at byte {exc.start}, line {line})") from None
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
        except json.JSONDecodeError as exc:
            errors.append(LineError(number, f"not JSON ({exc.msg})", source))
            continue
        except ValueError as exc:  # e.g. an integer literal beyond Python's digit limit
            errors.append(LineError(number, f"not JSON ({exc})", source))
            continue
        if fmt is None:
            fmt = detect_format(obj) if isinstance(obj, dict) else None
            if fmt is None:
                errors.append(LineError(number, "unknown format: expected prompt+completion, messages, or text+label", source))
                continue
        parsed = _parse_line(obj, number, fmt)
        if isinstance(parsed, str):
            errors.append(LineError(number, parsed, source))
            continue
        key = example_key(parsed)
        if key in seen and duplicates != "keep":
            if duplicates == "refuse":
                errors.append(LineError(number, f"duplicate of line {seen[key]} (duplicates=refuse; drop or keep them instead)", source))
            else:
                repeated.append((number, seen[key]))
            continue
        seen.setdefault(key, number)
        examples.append(parsed)
    if not examples and not errors:
        raise InvalidRequest(field, f"{what} has no examples")
    return Dataset(fmt, examples, errors, repeated)


def read_jsonl(data: bytes, what: str = "training data") -> Dataset:
    """`parse_jsonl`, raising DataRejected when any line is bad."""
    dataset = parse_jsonl(data, what)
    if dataset.errors:
        raise DataRejected(dataset.errors, what)
    return dataset


def choose_labels(dataset: Dataset, labels: Sequence[str]) -> list[str]:
    """The label set: the job's, or the distinct labels of the data."""
    if dataset.format != "classification":
        return list(labels)
    chosen = list(labels) or sorted({e.output for e in dataset.examples})
    if len(chosen) < 2:
        raise InvalidRequest("task.labels", f"a classification task needs at least two labels; the data has {chosen}")
    return chosen


def label_errors(dataset: Dataset, labels: Sequence[str], source: str = "") -> list[LineError]:
    """Lines whose label is not one of `labels`."""
    if dataset.format != "classification":
        return []
    return [
        LineError(e.line, f"label {e.output!r} is not one of {list(labels)}", source) for e in dataset.examples if e.output not in labels
    ]


def check_labels(dataset: Dataset, labels: Sequence[str]) -> list[str]:
    """`choose_labels`, raising DataRejected when an example uses another label."""
    chosen = choose_labels(dataset, labels)
    unknown = label_errors(dataset, chosen)
    if unknown:
        raise DataRejected(unknown)
    return chosen


def render_example(tokenizer: Any, spec: TaskSpec, example: Example) -> str:
    """The prompt text of one example, exactly as the served task will render the request."""
    if not example.conversation:
        return render_prompt(tokenizer, spec, example.input)
    messages = [{"role": role, "content": content} for role, content in example.conversation]
    if spec.system_text() and messages[0]["role"] != "system":
        messages.insert(0, {"role": "system", "content": spec.system_text()})
    return render_chat(tokenizer, messages)


def _with_input(example: Example, text: str) -> Example:
    if not example.conversation:
        return Example(example.line, text, example.output)
    turns = list(example.conversation)
    last_user = max(i for i, (role, _) in enumerate(turns) if role == "user")
    turns[last_user] = ("user", text)
    return Example(example.line, text, example.output, tuple(turns))


def tokenize(
    tokenizer: Any,
    spec: TaskSpec,
    examples: Sequence[Example],
    max_tokens: int,
    end_token_id: int,
    over_length: OverLength = "refuse",
    errors: list[LineError] | None = None,
    source: str = "",
) -> tuple[list[TokenizedExample], list[int]]:
    """Tokenizes every example; returns them and the lines dropped.

    Lines over the limit (when refused) are added to `errors`, or, without such a list, raise
    DataRejected."""
    out: list[TokenizedExample] = []
    dropped: list[int] = []
    collect = errors is not None
    errors = errors if errors is not None else []
    for example in examples:
        completion = completion_ids(tokenizer, spec, example.output, end_token_id)
        prompt = prompt_ids(tokenizer, render_example(tokenizer, spec, example))
        if len(prompt) + len(completion) > max_tokens and over_length == "truncate":
            input_ids = encode(tokenizer, plain(tokenizer, example.input))
            for _ in range(4):  # re-rendering can shift a token or two at the cut
                excess = len(prompt) + len(completion) - max_tokens
                if excess <= 0 or excess >= len(input_ids):
                    break
                input_ids = input_ids[: len(input_ids) - excess]
                prompt = prompt_ids(tokenizer, render_example(tokenizer, spec, _with_input(example, tokenizer.decode(input_ids))))
        if len(prompt) + len(completion) > max_tokens:
            if over_length == "drop":
                dropped.append(example.line)
                continue
            hint = "; set over_length to truncate or drop, or raise max_seq_len" if over_length == "refuse" else ""
            errors.append(
                LineError(example.line, f"over the token limit ({len(prompt) + len(completion)} > {max_tokens} tokens){hint}", source)
            )
            continue
        out.append(TokenizedExample(example.line, prompt, completion))
    if errors and not collect:
        raise DataRejected(errors)
    if not out and examples and not errors:
        raise InvalidRequest("training_data", "every example was dropped as too long")
    return out, dropped


def split(examples: Sequence[Any], holdout_fraction: float, seed: int) -> tuple[list[Any], list[Any]]:
    """Seeded shuffle into (train, holdout); the holdout has at least one example."""
    order = list(examples)
    random.Random(seed).shuffle(order)
    size = max(1, round(len(order) * holdout_fraction))
    if size >= len(order):
        raise InvalidRequest(
            "validation_split", f"{len(order)} examples are too few to hold {size} out; add data or pass a validation file"
        )
    return order[size:], order[:size]

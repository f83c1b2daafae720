"""Turning API inputs (plain prompts, chat messages) into the text and tokens the model reads.

The trainer formats its training examples with these same functions, so a task is served with
exactly the prompt it was trained on.

Text that callers write into a template (chat messages, task inputs, demonstrations) is
untrusted: if it spells a control token such as `<|im_end|>`, a plain tokenizer call would turn it
into that token and let the caller forge a turn of the conversation. `plain()` marks such spans
before the template is applied, and `encode()` writes them as ordinary text; everything else is
tokenized exactly as a plain tokenizer call would. Plain `prompt` requests are the caller's whole
prompt and are tokenized as given (`encode_raw`).

All tokenizer encoding goes through this module under one lock: transformers' fast tokenizers
keep the split-special-tokens switch on the shared Rust object, so two threads encoding at once
could see each other's setting.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterable, Mapping
from typing import Any

from common.errors import FailedPrecondition, InvalidRequest

CHAT_ROLES = ("system", "developer", "user", "assistant")
# OpenAI's newer name for the system role; chat templates know only "system"
RENDERED_ROLES = {"developer": "system"}

# Private-use code points bracket the index of a control token's text inside untrusted input.
_OPEN, _CLOSE = "\ue000", "\ue001"
_MARKED = re.compile(f"{_OPEN}([0-9]+){_CLOSE}")
_LOCK = threading.Lock()
_CONTROLS: dict[int, tuple[Any, tuple[str, ...], re.Pattern[str] | None]] = {}


def _controls(tokenizer: Any) -> tuple[tuple[str, ...], re.Pattern[str] | None]:
    """The texts that encode to control tokens (and the marker itself), and a pattern finding any of them."""
    cached = _CONTROLS.get(id(tokenizer))
    if cached is None or cached[0] is not tokenizer:
        decoder = getattr(tokenizer, "added_tokens_decoder", {}) or {}
        texts = sorted({str(t.content) for t in decoder.values() if getattr(t, "special", False) and str(t.content)}, key=len, reverse=True)
        texts.append(_OPEN)
        pattern = re.compile("|".join(re.escape(t) for t in texts)) if texts else None
        cached = (tokenizer, tuple(texts), pattern)
        _CONTROLS[id(tokenizer)] = cached
    return cached[1], cached[2]


def plain(tokenizer: Any, text: str) -> str:
    """Untrusted text ready for a template: control-token text in it will be encoded as plain text."""
    texts, pattern = _controls(tokenizer)
    if pattern is None:
        return text
    index = {t: i for i, t in enumerate(texts)}
    return pattern.sub(lambda m: f"{_OPEN}{index[m.group(0)]}{_CLOSE}", text)


def _tokens(tokenizer: Any, text: str, add_special_tokens: bool, split_special_tokens: bool) -> list[int]:
    return list(tokenizer(text, add_special_tokens=add_special_tokens, split_special_tokens=split_special_tokens)["input_ids"])


def encode(tokenizer: Any, text: str, *, add_special_tokens: bool = False) -> list[int]:
    """Token ids of text built by this module's renderers (spans marked by `plain` become plain text)."""
    with _LOCK:
        if _OPEN not in text:
            return _tokens(tokenizer, text, add_special_tokens, False)
        texts, _ = _controls(tokenizer)
        ids: list[int] = []
        position = 0
        for match in _MARKED.finditer(text):
            if match.start() > position:
                ids += _tokens(tokenizer, text[position : match.start()], add_special_tokens and not ids, False)
            ids += _tokens(tokenizer, texts[int(match.group(1))], False, True)
            position = match.end()
        if position < len(text):
            ids += _tokens(tokenizer, text[position:], False, False)
        return ids


def encode_raw(tokenizer: Any, text: str, *, add_special_tokens: bool = True) -> list[int]:
    """Token ids of a caller's whole plain prompt, control-token text included as the caller wrote it."""
    with _LOCK:
        return _tokens(tokenizer, text, add_special_tokens, False)


def longest_token_chars(tokenizer: Any) -> int:
    """An upper bound on the characters one token can stand for, so length checks need no tokenizing.

    A byte-level vocabulary spells each byte as one character, and a sentencepiece one each
    character as itself, so no token decodes to more characters than its vocabulary string has.
    """
    return max((len(token) for token in tokenizer.get_vocab()), default=1)


def check_messages(messages: Iterable[Any], field: str = "messages") -> list[dict[str, str]]:
    """Validates chat messages (objects with role and content) and returns them as dicts."""
    checked = []
    for i, message in enumerate(messages):
        if message.role not in CHAT_ROLES:
            raise InvalidRequest(f"{field}[{i}].role", f"must be one of {', '.join(CHAT_ROLES)}, got {message.role[:40]!r}")
        if not message.content:
            raise InvalidRequest(f"{field}[{i}].content", "is empty")
        checked.append({"role": RENDERED_ROLES.get(message.role, message.role), "content": message.content})
    if not checked:
        raise InvalidRequest(field, "is empty")
    return checked


def render_chat(
    tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool = True, variables: Mapping[str, Any] | None = None
) -> str:
    """The model's chat template applied to the messages (contents made `plain`), ending with the
    assistant's header; `variables` (checked by the caller) are the template's own, such as Qwen3's
    enable_thinking, their strings made `plain` too."""
    if not getattr(tokenizer, "chat_template", None):
        raise FailedPrecondition("the base model has no chat template; send a plain prompt instead of messages")
    safe = [{"role": m["role"], "content": plain(tokenizer, m["content"])} for m in messages]
    extra = {name: plain(tokenizer, value) if isinstance(value, str) else value for name, value in (variables or {}).items()}
    return str(tokenizer.apply_chat_template(safe, tokenize=False, add_generation_prompt=add_generation_prompt, **extra))

"""Turning API inputs (plain prompts, chat messages) into the text the model reads.

The trainer formats its training examples with these same functions, so a task is served with
exactly the prompt it was trained on.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from server.errors import FailedPrecondition, InvalidRequest

CHAT_ROLES = ("system", "user", "assistant")


def check_messages(messages: Iterable[Any], field: str = "messages") -> list[dict[str, str]]:
    """Validates chat messages (objects with role and content) and returns them as dicts."""
    checked = []
    for i, message in enumerate(messages):
        if message.role not in CHAT_ROLES:
            raise InvalidRequest(f"{field}[{i}].role", f"must be one of {', '.join(CHAT_ROLES)}, got {message.role!r}")
        if not message.content:
            raise InvalidRequest(f"{field}[{i}].content", "is empty")
        checked.append({"role": message.role, "content": message.content})
    if not checked:
        raise InvalidRequest(field, "is empty")
    return checked


def render_chat(tokenizer: Any, messages: list[dict[str, str]], add_generation_prompt: bool = True) -> str:
    """The model's chat template applied to the messages, ending with the assistant's header."""
    if not getattr(tokenizer, "chat_template", None):
        raise FailedPrecondition("the base model has no chat template; send a plain prompt instead of messages")
    return tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=add_generation_prompt)


def encode(tokenizer: Any, text: str, *, chat: bool) -> list[int]:
    """Token ids of a prompt; chat text already holds its special tokens, so none are added."""
    return list(tokenizer(text, add_special_tokens=not chat)["input_ids"])

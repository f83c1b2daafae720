"""Building request messages from keyword arguments, shared by the sync and asyncio clients."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Union

from tuneserve.v1 import common_pb2, inference_pb2

Message = Union[common_pb2.ChatMessage, Mapping[str, str], tuple[str, str]]  # noqa: UP007 (a runtime alias on 3.10)

_PARAMETER_FIELDS = tuple(common_pb2.GenerationParameters.DESCRIPTOR.fields_by_name)


def chat_messages(messages: Iterable[Message] | None) -> list[common_pb2.ChatMessage]:
    out = []
    for m in messages or ():
        if isinstance(m, common_pb2.ChatMessage):
            out.append(m)
        elif isinstance(m, tuple):
            out.append(common_pb2.ChatMessage(role=m[0], content=m[1]))
        else:
            out.append(common_pb2.ChatMessage(role=m["role"], content=m["content"]))
    return out


def parameters(**values: Any) -> common_pb2.GenerationParameters | None:
    """GenerationParameters with the given fields set; None values are left unset."""
    unknown = set(values) - set(_PARAMETER_FIELDS)
    if unknown:
        raise TypeError(f"unknown generation parameters: {', '.join(sorted(unknown))}")
    params = common_pb2.GenerationParameters()
    for name, value in values.items():
        if value is None:
            continue
        if name == "stop":
            params.stop.extend([value] if isinstance(value, str) else value)
        else:
            setattr(params, name, value)
    return params


def generate_request(
    prompt: str | None = None,
    *,
    messages: Iterable[Message] | None = None,
    adapter: str = "",
    request_id: str = "",
    **params: Any,
) -> inference_pb2.GenerateRequest:
    return inference_pb2.GenerateRequest(
        prompt=prompt or "",
        messages=chat_messages(messages),
        adapter=adapter,
        parameters=parameters(**params),
        request_id=request_id,
    )


def tokenize_request(text: str | None = None, *, messages: Iterable[Message] | None = None) -> inference_pb2.TokenizeRequest:
    return inference_pb2.TokenizeRequest(text=text or "", messages=chat_messages(messages))

"""Building request messages from keyword arguments, shared by the sync and asyncio clients."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, Union

from tuneserve.v1 import adapters_pb2, common_pb2, inference_pb2

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


IMPORT_FILES = ("adapter_config.json", "adapter_model.safetensors", "README.md")
CHUNK_BYTES = 1 << 20


def import_messages(directory: str | Path, name: str, make_current: bool = True, source: str = "") -> Iterator[adapters_pb2.ImportAdapterRequest]:
    """The ImportAdapter stream for a PEFT directory: a header, then each file in 1 MiB chunks."""
    directory = Path(directory)
    pickles = sorted(p.name for p in directory.glob("*") if p.suffix in (".bin", ".pt", ".pth", ".pkl", ".ckpt"))
    if pickles and not (directory / "adapter_model.safetensors").is_file():
        raise ValueError(f"{directory} has only pickle weights ({', '.join(pickles)}); save the adapter with safetensors")
    for required in IMPORT_FILES[:2]:
        if not (directory / required).is_file():
            raise ValueError(f"{directory} has no {required}; is it a PEFT adapter directory?")
    yield adapters_pb2.ImportAdapterRequest(header=adapters_pb2.ImportHeader(name=name, make_current=make_current, source=source or f"import of {directory.name}"))
    for file_name in IMPORT_FILES:
        path = directory / file_name
        if not path.is_file():
            continue
        with path.open("rb") as f:
            while chunk := f.read(CHUNK_BYTES):
                yield adapters_pb2.ImportAdapterRequest(chunk=adapters_pb2.FileChunk(file_name=file_name, data=chunk))

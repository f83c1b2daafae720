"""Rebuilding a gRPC method handler around new behaviour, whatever kind of RPC it serves.

Interceptors (status mapping, authentication) wrap or replace a method's behaviour; grpc builds
each of the four kinds (unary or streaming request, unary or streaming response) with its own
function, chosen here once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Literal

import grpc

Kind = Literal["unary_unary", "stream_unary", "unary_stream", "stream_stream"]
_BUILDERS: dict[Kind, Callable[..., grpc.RpcMethodHandler]] = {
    "unary_unary": grpc.unary_unary_rpc_method_handler,
    "stream_unary": grpc.stream_unary_rpc_method_handler,
    "unary_stream": grpc.unary_stream_rpc_method_handler,
    "stream_stream": grpc.stream_stream_rpc_method_handler,
}


def kind_of(handler: grpc.RpcMethodHandler) -> Kind:
    for kind in _BUILDERS:
        if getattr(handler, kind, None):
            return kind
    raise ValueError("a method handler without behaviour")


def behavior_of(handler: grpc.RpcMethodHandler) -> Callable[..., Any]:
    behavior: Callable[..., Any] = getattr(handler, kind_of(handler))
    return behavior


def with_behavior(
    handler: grpc.RpcMethodHandler, behavior: Callable[..., Any], request_deserializer: Callable[[bytes], Any] | None = None
) -> grpc.RpcMethodHandler:
    """`handler`'s kind and serializers around `behavior` (and, if given, another request deserializer)."""
    return _BUILDERS[kind_of(handler)](
        behavior,
        request_deserializer=request_deserializer or handler.request_deserializer,
        response_serializer=handler.response_serializer,
    )

"""Request bytes that do not decode: which field is at fault, so the caller gets a usable error.

protobuf refuses a whole message when one string field holds invalid UTF-8 and does not say which
field. gRPC would then answer UNKNOWN with a Python exception's text. Instead, the status
interceptor decodes requests through `tolerant`, which hands the servicer an `Undecodable` in
place of the message; the interceptor raises its error, INVALID_ARGUMENT naming the field, found
by walking the wire format.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from google.protobuf.descriptor import Descriptor, FieldDescriptor

from common.errors import InvalidRequest

_VARINT, _FIXED64, _LENGTH_DELIMITED, _FIXED32 = 0, 1, 2, 5


class Undecodable:
    """Stands in for a request message that failed to decode."""

    def __init__(self, type_name: str, field: str | None) -> None:
        self.type_name = type_name
        self.field = field

    def error(self) -> InvalidRequest:
        if self.field is not None:
            return InvalidRequest(self.field, "is not valid UTF-8; string fields must hold UTF-8 text")
        return InvalidRequest("", f"the request is not a valid {self.type_name} message; it could not be decoded")


def _varint(data: bytes, pos: int) -> tuple[int, int]:
    value, shift = 0, 0
    while True:
        if pos >= len(data) or shift > 63:
            raise ValueError("truncated varint")
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return value, pos


def invalid_utf8_field(descriptor: Descriptor, data: bytes, prefix: str = "") -> str | None:
    """Path (`messages[1].content`) of the first string field in `data` that is not UTF-8, if any."""
    seen: dict[int, int] = {}
    pos = 0
    try:
        while pos < len(data):
            key, pos = _varint(data, pos)
            number, wire_type = key >> 3, key & 7
            if wire_type == _VARINT:
                _, pos = _varint(data, pos)
            elif wire_type in (_FIXED64, _FIXED32):
                pos += 8 if wire_type == _FIXED64 else 4
            elif wire_type == _LENGTH_DELIMITED:
                length, pos = _varint(data, pos)
                chunk, pos = data[pos : pos + length], pos + length
                field = descriptor.fields_by_number.get(number)
                if field is None:
                    continue
                name = prefix + field.name
                if field.is_repeated:
                    name += f"[{seen.get(number, 0)}]"
                    seen[number] = seen.get(number, 0) + 1
                if field.type == FieldDescriptor.TYPE_STRING:
                    try:
                        chunk.decode("utf-8")
                    except UnicodeDecodeError:
                        return name
                elif field.type == FieldDescriptor.TYPE_MESSAGE and field.message_type is not None:
                    inner = invalid_utf8_field(field.message_type, chunk, name + ".")
                    if inner is not None:
                        return inner
            else:
                return None  # groups, or not the wire format at all
    except ValueError:
        return None
    return None


def tolerant(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    """`deserializer` that returns an `Undecodable` instead of raising."""
    message_class = getattr(deserializer, "__self__", None)
    descriptor = getattr(message_class, "DESCRIPTOR", None)
    if deserializer is None or descriptor is None:
        return deserializer

    def deserialize(data: bytes) -> Any:
        try:
            return deserializer(data)
        except Exception:  # protobuf's DecodeError, or anything else a broken message raises
            return Undecodable(descriptor.full_name, invalid_utf8_field(descriptor, data))

    return deserialize

"""Proto enums to the names the code uses, through the generated helpers, and unknown numbers refused.

proto3 keeps enum numbers it does not know, so every enum field of a request is read here: a
number the API does not define is INVALID_ARGUMENT naming the field, never a KeyError.
"""

from __future__ import annotations

from typing import Any

from common.errors import InvalidRequest


def enum_choice(enum: Any, value: int, prefix: str, field: str) -> str:
    """'most_similar_last' for DEMONSTRATION_ORDER_MOST_SIMILAR_LAST, through the generated helpers.

    A value the enum does not define (proto3 keeps unknown numbers) is INVALID_ARGUMENT naming `field`.
    """
    try:
        name = str(enum.Name(value))
    except ValueError:
        known = ", ".join(f"{n} ({v})" for n, v in enum.items())
        raise InvalidRequest(field, f"has no value {value}; use one of {known}") from None
    return name.removeprefix(prefix).lower()

"""Rollout policies: a weighted split of an adapter name's traffic between its versions.

A policy lives beside the name's `current` pointer in the store (`rollout.json`), written
atomically and re-read when the store changes, like the pointer. Which version a request gets is a
pure function of the name, the request's routing key and the weights: the key hashes to a point
in [0, 1), and the versions own consecutive intervals in version order, so a key always lands on
the same version, and changing the weights moves only the keys whose interval changed hands.
Requests without a key are placed at random.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from pydantic import BaseModel, ConfigDict, field_validator

POLICY_FILE = "rollout.json"
TOTAL_WEIGHT = 100
MAX_ARMS = 8


class RolloutPolicy(BaseModel):
    """Percent of the bare name's traffic per version; the weights add up to 100."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weights: dict[int, int]
    """Version -> percent of requests; every version listed gets at least 1%."""

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: dict[int, int]) -> dict[int, int]:
        if not 2 <= len(value) <= MAX_ARMS:
            raise ValueError(f"a split needs 2 to {MAX_ARMS} versions, got {len(value)}")
        for version, weight in value.items():
            if version < 1:
                raise ValueError(f"version {version} is not a version number (1 or more)")
            if not 1 <= weight <= TOTAL_WEIGHT - 1:
                raise ValueError(f"the weight of version {version} must be 1 to {TOTAL_WEIGHT - 1} percent, got {weight}")
        if sum(value.values()) != TOTAL_WEIGHT:
            raise ValueError(f"the weights must add up to {TOTAL_WEIGHT}, they add up to {sum(value.values())}")
        return dict(sorted(value.items()))

    def describe(self) -> str:
        return " ".join(f"{version}={weight}" for version, weight in self.weights.items())

    def to_json(self) -> bytes:
        return (self.model_dump_json() + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> RolloutPolicy:
        return cls.model_validate_json(data)


def position(name: str, routing_key: str) -> float:
    """Where a routing key lands in [0, 1) for `name`, the same on every server and every day."""
    digest = hashlib.sha256(f"{name}\0{routing_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def choose_version(policy: RolloutPolicy, name: str, routing_key: str, rng: Any = random) -> int:
    """The version a request with `routing_key` ("" for none: random) gets under `policy`."""
    point = position(name, routing_key) if routing_key else rng.random()
    edge = 0
    for version, weight in policy.weights.items():
        edge += weight
        if point * TOTAL_WEIGHT < edge:
            return version
    return next(reversed(policy.weights))

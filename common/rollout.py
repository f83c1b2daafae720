"""Rollout policies: how an adapter name's traffic is split between its versions, which version
gets a shadow copy of it, and the guard rule that ends a split whose canary does worse.

A policy lives beside the name's `current` pointer in the store (`rollout.json`), written
atomically and re-read when the store changes, like the pointer. Which version a request gets is a
pure function of the name, the request's routing key and the weights: the key hashes to a point
in [0, 1), and the versions own consecutive intervals in version order, so a key always lands on
the same version, and changing the weights moves only the keys whose interval changed hands.
Requests without a key are placed at random. Version 0 is the prompting arm: the base model
without an adapter (for a task, with the task's few-shot demonstrations).
"""

from __future__ import annotations

import hashlib
import random
import time
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

POLICY_FILE = "rollout.json"
TOTAL_WEIGHT = 100
MAX_ARMS = 8
PROMPT_ARM = 0


class GuardRule(BaseModel):
    """When a canary is rolled back by itself: compared with the control arm (the serving version),
    once both arms have `min_samples` requests (or, for accuracy, labelled feedback)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    min_samples: int = Field(50, ge=1, le=1_000_000)
    """Requests (for accuracy: labelled feedback) each arm needs before the rule judges it."""

    max_error_rate_increase: float = Field(0.05, ge=0, le=1)
    """Most a canary's error rate may exceed the control's (0.05 = 5 points)."""

    max_latency_ratio: float = Field(2.0, ge=1)
    """Most a canary's median latency may be, as a multiple of the control's."""

    max_accuracy_drop: float = Field(0.05, ge=0, le=1)
    """Most a canary's feedback accuracy may fall below the control's, when the drop is also significant (p < 0.05)."""


class RolloutPolicy(BaseModel):
    """A name's split (percent of bare-name traffic per version), shadow version and guard rule."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    weights: dict[int, int] = {}
    """Version -> percent of requests, adding up to 100; empty: the serving version answers all."""

    shadow: int = Field(0, ge=0)
    """Version that gets a copy of every bare-name request, answered and recorded but never returned; 0: none."""

    guard: GuardRule | None = None
    """Rolls the split back by itself when a canary does worse than the control; None: only by hand."""

    started_at: float = Field(default_factory=time.time)
    """When the policy was set (Unix seconds): the experiment report counts requests from then on."""

    @field_validator("weights")
    @classmethod
    def _weights(cls, value: dict[int, int]) -> dict[int, int]:
        if not value:
            return value
        if not 2 <= len(value) <= MAX_ARMS:
            raise ValueError(f"a split needs 2 to {MAX_ARMS} versions, got {len(value)}")
        for version, weight in value.items():
            if version < 0:
                raise ValueError(f"version {version} is not a version number (1 or more, or 0 for the prompting arm)")
            if not 1 <= weight <= TOTAL_WEIGHT - 1:
                raise ValueError(f"the weight of version {version} must be 1 to {TOTAL_WEIGHT - 1} percent, got {weight}")
        if sum(value.values()) != TOTAL_WEIGHT:
            raise ValueError(f"the weights must add up to {TOTAL_WEIGHT}, they add up to {sum(value.values())}")
        return dict(sorted(value.items()))

    @model_validator(mode="after")
    def _something(self) -> RolloutPolicy:
        if not self.weights and not self.shadow:
            raise ValueError("a rollout needs a split (weights) or a shadow version")
        if self.shadow and self.shadow in self.weights:
            raise ValueError(f"version {self.shadow} cannot be both an arm of the split and the shadow")
        return self

    @property
    def versions(self) -> list[int]:
        """Every version the policy sends traffic (or a shadow copy) to."""
        return [*self.weights, *([self.shadow] if self.shadow else [])]

    def describe(self) -> str:
        split = " ".join(f"{version}={weight}" for version, weight in self.weights.items())
        return " ".join(part for part in (split, f"shadow={self.shadow}" if self.shadow else "") if part)

    def without_split(self) -> RolloutPolicy | None:
        """What is left once the split ends: the shadow alone, or nothing."""
        return self.model_copy(update={"weights": {}, "guard": None}) if self.shadow else None

    def to_json(self) -> bytes:
        return (self.model_dump_json() + "\n").encode()

    @classmethod
    def from_json(cls, data: bytes | str) -> RolloutPolicy:
        return cls.model_validate_json(data)


def position(name: str, routing_key: str) -> float:
    """Where a routing key lands in [0, 1) for `name`, the same on every server and every day."""
    digest = hashlib.sha256(f"{name}\0{routing_key}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


def choose_version(policy: RolloutPolicy, name: str, routing_key: str, rng: Any = random) -> int | None:
    """The version a request with `routing_key` ("" for none: random) gets under `policy`; None
    when the policy has no split (the serving version answers)."""
    if not policy.weights:
        return None
    point = position(name, routing_key) if routing_key else rng.random()
    edge = 0
    for version, weight in policy.weights.items():
        edge += weight
        if point * TOTAL_WEIGHT < edge:
            return version
    return next(reversed(policy.weights))

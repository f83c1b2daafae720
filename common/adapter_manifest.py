"""Adapter names, references (`name`, `name@3`) and the `tuneserve.json` manifest of a version."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from common.errors import InvalidRequest

MANIFEST_FILE = "tuneserve.json"
CONFIG_FILE = "adapter_config.json"
WEIGHTS_FILE = "adapter_model.safetensors"
MAX_NAME_CHARS = 128
# Versions are plain ASCII decimals from 1 up to this bound: what fits the API's uint32 fields
# with room to spare. '²', '١', a 20-digit or a 5,000-digit number are not versions.
MAX_VERSION = 999_999_999
# Weight files that would need unpickling (arbitrary code) to read; never stored nor loaded.
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".pkl", ".pickle", ".ckpt")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_VERSION = re.compile(r"[1-9][0-9]{0,8}")


def parse_version(text: str) -> int | None:
    """The version a directory name or pointer spells, or None when it is not one."""
    return int(text) if _VERSION.fullmatch(text) else None


def is_valid_name(name: str) -> bool:
    return 0 < len(name) <= MAX_NAME_CHARS and bool(_NAME.fullmatch(name)) and ".." not in name


def check_name(name: str, field: str = "adapter") -> str:
    """A name is a safe single path segment: letters, digits, '.', '_', '-', no '..', <= 128 chars."""
    if not name:
        raise InvalidRequest(field, "adapter name is empty")
    if len(name) > MAX_NAME_CHARS:
        raise InvalidRequest(field, f"adapter name has {len(name)} characters; at most {MAX_NAME_CHARS} are allowed")
    if not is_valid_name(name):
        raise InvalidRequest(
            field,
            f"adapter name {name!r} may only use letters, digits, '.', '_' and "
            "'-', must start with a letter or digit, and may not contain '..'",
        )
    return name


@dataclass(frozen=True)
class AdapterRef:
    """What a request asks for: a name and, when pinned, a version."""

    name: str
    version: int | None = None

    @classmethod
    def parse(cls, text: str, field: str = "adapter") -> AdapterRef:
        name, sep, version = text.partition("@")
        check_name(name, field)
        if not sep:
            return cls(name)
        number = parse_version(version)
        if number is None:
            raise InvalidRequest(field, f"version in {text[:160]!r} must be a whole number from 1 to {MAX_VERSION}, as in {name}@3")
        return cls(name, number)

    def __str__(self) -> str:
        return self.name if self.version is None else f"{self.name}@{self.version}"


class AdapterManifest(BaseModel):
    """`tuneserve.json`: what a stored adapter version is, what it was trained on, and its files."""

    model_config = ConfigDict(extra="allow")

    format_version: int = 1
    """Version of this manifest format."""
    name: str
    """Adapter name in the store."""
    version: int = Field(0, ge=0, le=MAX_VERSION)
    """Version number in the store; set when published. It must agree with the version's directory."""
    base_fingerprint: str
    """Fingerprint of the base model the adapter was trained on; the server refuses any other."""
    base_model: str = ""
    """Human-readable name of that base model."""
    architecture: str = ""
    """Architecture of that base model, e.g. LlamaForCausalLM."""
    rank: int = Field(ge=1)
    """LoRA rank r."""
    alpha: float = Field(gt=0)
    """LoRA alpha; the delta is scaled by alpha / r (alpha / sqrt(r) with rsLoRA)."""
    use_rslora: bool = False
    """Whether the scaling is rank-stabilised."""
    target_modules: list[str]
    """Base modules that carry LoRA weights, e.g. q_proj, v_proj."""
    files: dict[str, str]
    """sha256 of every file of the version, by file name."""
    created: datetime = Field(default_factory=lambda: datetime.now(timezone.utc))
    """When the version was made."""
    source: str = ""
    """Where it came from: a trainer job, or an import of someone else's PEFT directory."""
    job_id: str = ""
    """The trainer job that published this version, so that a job resumed after a crash finds it instead of publishing twice."""
    task: dict[str, Any] | None = None
    """The task spec the adapter was trained with (prompt template, labels); see server.tasks."""
    eval_report: dict[str, Any] | None = None
    """The trainer's evaluation of this adapter against the base and few-shot prompting."""

    @property
    def content_hash(self) -> str:
        """Identity of the weights and config: what any state cached per adapter is keyed by."""
        blob = "".join(f"{name}:{digest}\n" for name, digest in sorted(self.files.items()))
        return hashlib.sha256(blob.encode()).hexdigest()[:32]
